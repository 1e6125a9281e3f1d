// `burnwatch up`: the whole stack on this host in one process — gateway and query API
// on an embedded DuckDB, the eBPF agent shipping to it over real OTLP/HTTP, SLO
// evaluation and a live table; `--demo` adds a Go service with traffic and a fault.
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../agent/agent.ts';
import { startGateway, LOCAL_TENANT } from '../lambda/local/server.ts';
import { serviceTable } from '../lambda/query/service-table.ts';
import { parseCommandArgs, portOption, durationOption } from './args.ts';
import { resolveLocalApiKey } from './api-key.ts';
import { renderTable } from './table.ts';
import { startDemo, type Demo } from './demo.ts';
import { untilSignal } from './signals.ts';
import { SLO_HELP, SLO_OPTIONS, sloSettings } from './slo-options.ts';
import { PROBE_HELP, PROBE_OPTIONS, probeSettings } from './probe-options.ts';
import { describeStorage, openMetricStore, parseStorageOption, STORAGE_HELP } from './storage-option.ts';
import { startEvaluationLoop, type EvaluationLoop } from '../lambda/slo/loop.ts';

const HELP = `Usage: burnwatch up [--demo] [--port 8787] [--data-dir DIR] [--storage prometheus:URL] [--interval 10s]

Runs the whole burnwatch stack on this host (as root, for eBPF): the gateway and
query API on an embedded DuckDB, the agent watching every Go process, default SLOs
for each service found, and a live table printed every interval.

Options:
  --demo            also start a Go demo service with traffic and a scheduled fault
  --port N          gateway port on 127.0.0.1 (default 8787)
  --host ADDR       address to listen on (default 127.0.0.1)
  --data-dir DIR    DuckDB file, spool and API key (default ~/.burnwatch)
${STORAGE_HELP}
  --interval D      agent export and table interval (default 10s)
${PROBE_HELP}
  -h, --help        this help

${SLO_HELP}

The API key is $BURNWATCH_API_KEY when set; otherwise one is generated on the first
run, kept in DATA_DIR/api-key and printed once. Ctrl-C stops everything and flushes.`;

export async function runUp(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    demo: { type: 'boolean' },
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    storage: { type: 'string' },
    interval: { type: 'string' },
    ...SLO_OPTIONS,
    ...PROBE_OPTIONS,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const port = portOption(values.port, 'port', 8787);
  const intervalMs = durationOption(values.interval, 'interval', 10_000);
  const storage = values.storage === undefined ? undefined : parseStorageOption(values.storage);
  const dataDir = path.resolve((storage?.kind === 'duckdb' ? storage.dataDir : values['data-dir']) ?? path.join(os.homedir(), '.burnwatch'));
  const log = (line: string) => console.log(line);

  const slo = sloSettings(values, log); // before the key: a usage error must not create files
  const probes = probeSettings(values);
  const key = resolveLocalApiKey(dataDir);
  if (key.source === 'generated') log(`API key (generated, kept in ${key.file}; shown once): ${key.key}`);

  const gateway = await startGateway({ port, host: values.host ?? '127.0.0.1', dataDir, apiKeys: { [key.key]: LOCAL_TENANT }, store: openMetricStore(storage), slo: slo.engine });
  log(`gateway and query API on ${gateway.url} (${describeStorage(storage, dataDir)})`);
  log(`dashboard: ${gateway.url}/ (sign in with the API key)`);

  let agent: Agent | undefined;
  let demo: Demo | undefined;
  let table: NodeJS.Timeout | undefined;
  let evaluator: EvaluationLoop | undefined;
  try {
    evaluator = startEvaluationLoop({ engine: gateway.slo, tenant: LOCAL_TENANT, intervalMs: slo.intervalMs, log });
    agent = new Agent({
      endpoint: gateway.url,
      apiKey: key.key,
      intervalMs,
      spoolDir: path.join(dataDir, 'spool'),
      ...probes,
      log: (l) => log(`agent: ${l}`),
    });
    await agent.start();
    if (values.demo) demo = await startDemo({ log });
    log(`watching Go processes; a table every ${intervalMs / 1000}s. Ctrl-C stops and flushes.`);
    const startedMs = Date.now();
    table = setInterval(() => {
      // A one-minute window keeps the table live; the rate counts only time the stack ran.
      const nowMs = Date.now();
      gateway.slo
        .statuses(LOCAL_TENANT, nowMs)
        .then((slos) => serviceTable(gateway.store, { tenant: LOCAL_TENANT, nowMs, windowMs: 60_000, sinceMs: startedMs, slos }))
        .then((rows) => log(renderTable(rows)))
        .catch((err) => log(`table: ${(err as Error).message}`));
    }, intervalMs);
    await untilSignal();
  } finally {
    if (table) clearInterval(table);
    await evaluator?.stop();
    await demo?.stop();
    await agent?.stop();
    await gateway.close();
  }
  log('stopped');
  return 0;
}
