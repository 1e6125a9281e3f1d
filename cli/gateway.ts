// `burnwatch gateway`: the OTLP gateway and query API alone, on an embedded DuckDB or a Prometheus server.
import os from 'node:os';
import path from 'node:path';
import { startGateway, LOCAL_TENANT, DEFAULT_SERVER_TIMEOUTS } from '../lambda/local/server.ts';
import { DEFAULT_ADMISSION_LIMITS } from '../lambda/gateway/admission.ts';
import { DEFAULT_SERIES_LIMITS } from '../lambda/gateway/series-limit.ts';
import { countOption, durationOption, parseCommandArgs, portOption } from './args.ts';
import { resolveLocalApiKey } from './api-key.ts';
import { untilSignal } from './signals.ts';
import { SLO_HELP, SLO_OPTIONS, sloSettings } from './slo-options.ts';
import { describeStorage, openMetricStore, parseStorageOption, STORAGE_HELP, type StorageChoice } from './storage-option.ts';
import { startEvaluationLoop } from '../lambda/slo/loop.ts';

const HELP = `Usage: burnwatch gateway [--port 8787] [--host 127.0.0.1] [--storage duckdb:DIR|prometheus:URL] [--data-dir DIR]

Serves POST /v1/metrics (OTLP/HTTP, protobuf or JSON, gzip) and the query API, and
evaluates SLOs and burn-rate alerts (docs/slo.md).

Options:
  --port N               port (default 8787)
  --host ADDR            address to listen on (default 127.0.0.1)
${STORAGE_HELP}
  --data-dir DIR         data directory (default ~/.burnwatch)
  --max-pending-writes N writes held at once (storing or queued) before answering 429 with
                         Retry-After (default 64)
  --max-active-series N  series with a point in the last hour one tenant may have; points of
                         further series are refused and counted (default 50000)
  --headers-timeout D    close a connection whose request headers take longer (default 10s)
  --request-timeout D    close a connection whose whole request takes longer (default 30s)
  -h, --help             this help

${SLO_HELP}

The API key is $BURNWATCH_API_KEY, else DATA_DIR/api-key (generated when missing).`;

export async function runGateway(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    storage: { type: 'string' },
    'data-dir': { type: 'string' },
    'max-pending-writes': { type: 'string' },
    'max-active-series': { type: 'string' },
    'headers-timeout': { type: 'string' },
    'request-timeout': { type: 'string' },
    ...SLO_OPTIONS,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let dataDir = values['data-dir'];
  const storage: StorageChoice | undefined = values.storage === undefined ? undefined : parseStorageOption(values.storage);
  if (storage?.kind === 'duckdb') dataDir = storage.dataDir;
  dataDir = path.resolve(dataDir ?? path.join(os.homedir(), '.burnwatch'));
  const log = (line: string) => console.log(line);
  const slo = sloSettings(values, log); // before the key: a usage error must not create files
  const key = resolveLocalApiKey(dataDir);
  if (key.source === 'generated') console.log(`API key (generated, kept in ${key.file}; shown once): ${key.key}`);
  const gateway = await startGateway({
    port: portOption(values.port, 'port', 8787),
    host: values.host ?? '127.0.0.1',
    dataDir,
    apiKeys: { [key.key]: LOCAL_TENANT },
    store: openMetricStore(storage),
    slo: slo.engine,
    admission: { maxPendingWrites: countOption(values['max-pending-writes'], 'max-pending-writes', DEFAULT_ADMISSION_LIMITS.maxPendingWrites) },
    seriesLimits: { maxActiveSeries: countOption(values['max-active-series'], 'max-active-series', DEFAULT_SERIES_LIMITS.maxActiveSeries) },
    timeouts: {
      headersMs: durationOption(values['headers-timeout'], 'headers-timeout', DEFAULT_SERVER_TIMEOUTS.headersMs),
      requestMs: durationOption(values['request-timeout'], 'request-timeout', DEFAULT_SERVER_TIMEOUTS.requestMs),
    },
  });
  console.log(`gateway listening on ${gateway.url} (${describeStorage(storage, dataDir)})`);
  const evaluator = startEvaluationLoop({ engine: gateway.slo, tenant: LOCAL_TENANT, intervalMs: slo.intervalMs, log });
  await untilSignal();
  await evaluator.stop();
  await gateway.close();
  return 0;
}
