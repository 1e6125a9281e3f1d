// `burnwatch agent`: the host agent alone, shipping to a gateway anywhere.
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../agent/agent.ts';
import { parseCommandArgs, durationOption, UsageError } from './args.ts';
import { untilSignal } from './signals.ts';
import { PROBE_HELP, PROBE_OPTIONS, probeSettings } from './probe-options.ts';
import { agentApiKey } from './api-key.ts';
import { runAgentInstall, runAgentUninstall } from './agent-install.ts';
import { checkKernelSupportForAgent, requireUsableKernel } from '../agent/kernel-support.ts';
import { runV8SingleThreaded } from '../agent/v8-threads.ts';
import { PrometheusExposition } from '../agent/export/prometheus-exposition.ts';
import { parseListenAddress, serveExposition, type ExpositionServer } from '../agent/export/prometheus-listener.ts';

const HELP = `Usage: burnwatch agent --endpoint URL [--api-key-file FILE] [--interval 10s] [--spool-dir DIR]
       burnwatch agent install|uninstall ...   (the agent as a systemd service; install --help)

Watches every Go process on this host with eBPF (run as root) and ships OTLP/HTTP
metrics to the gateway at URL (e.g. http://127.0.0.1:8787). Batches are spooled to
disk before they are sent, so a gateway outage loses nothing up to the spool bound.

Options:
  --endpoint URL     gateway base URL (required)
  --api-key-file F   read the API key from file F (keep it mode 0600)
                     (default: $BURNWATCH_API_KEY)
  --api-key KEY      the key itself: works, but every user can read it in ps
  --interval D       how often to drain and export (default 10s)
  --spool-dir DIR    where unsent batches wait (default ~/.burnwatch/spool); one
                     agent per directory (a second one is refused)
${PROBE_HELP}
  --prometheus-listen [HOST]:PORT
                     also serve what is measured for Prometheus to scrape at
                     http://HOST:PORT/metrics (e.g. :9464); see docs/prometheus.md
  -h, --help         this help`;

export async function runAgent(argv: string[]): Promise<number> {
  if (argv[0] === 'install') return runAgentInstall(argv.slice(1));
  if (argv[0] === 'uninstall') return runAgentUninstall(argv.slice(1));
  const { values } = parseCommandArgs(argv, {
    endpoint: { type: 'string' },
    'api-key': { type: 'string' },
    'api-key-file': { type: 'string' },
    interval: { type: 'string' },
    'spool-dir': { type: 'string' },
    ...PROBE_OPTIONS,
    'prometheus-listen': { type: 'string' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.endpoint) throw new UsageError('--endpoint is required');
  runV8SingleThreaded((line) => console.error(`[agent] ${line}`));
  const probes = probeSettings(values);
  const listen = values['prometheus-listen'];
  let scrapeAt: ReturnType<typeof parseListenAddress> | undefined;
  try {
    scrapeAt = listen === undefined ? undefined : parseListenAddress(listen);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const apiKey = agentApiKey({ flag: values['api-key'], file: values['api-key-file'] }, process.env, (line) => console.error(`[agent] warning: ${line}`));
  // Before anything loads: an unsupported kernel is refused with the list of what works and what not.
  for (const line of requireUsableKernel(checkKernelSupportForAgent())) console.error(`[agent] ${line}`);
  const exposition = scrapeAt && new PrometheusExposition();
  // Listening first: a port already taken stops the agent before it takes the spool or loads probes.
  const scrape: ExpositionServer | undefined =
    exposition && scrapeAt && (await serveExposition(exposition, scrapeAt).catch((err: Error) => Promise.reject(new Error(`--prometheus-listen ${listen}: ${err.message}`))));
  let agent: Agent;
  try {
    agent = new Agent({
      endpoint: values.endpoint,
      apiKey,
      intervalMs: durationOption(values.interval, 'interval', 10_000),
      spoolDir: values['spool-dir'] ?? path.join(os.homedir(), '.burnwatch', 'spool'),
      ...probes,
      ...(exposition ? { onBatch: (resources) => exposition.add(resources) } : {}),
    });
  } catch (err) {
    await scrape?.close();
    throw err;
  }
  await agent.start();
  console.error(`[agent] shipping to ${values.endpoint}; Ctrl-C stops and flushes`);
  if (scrape) console.error(`[agent] Prometheus scrape endpoint on ${listen} (/metrics)`);
  await untilSignal();
  await agent.stop();
  await scrape?.close();
  return 0;
}
