// `burnwatch agent`: the host agent alone, shipping to a gateway anywhere.
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../agent/agent.ts';
import { parseCommandArgs, durationOption, UsageError } from './args.ts';
import { untilSignal } from './signals.ts';
import { agentApiKey } from './api-key.ts';
import { runAgentInstall, runAgentUninstall } from './agent-install.ts';
import { checkKernelSupportForAgent, requireUsableKernel } from '../agent/kernel-support.ts';

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
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.endpoint) throw new UsageError('--endpoint is required');
  const apiKey = agentApiKey({ flag: values['api-key'], file: values['api-key-file'] }, process.env, (line) => console.error(`[agent] warning: ${line}`));
  // Before anything loads: an unsupported kernel is refused with the list of what works and what not.
  for (const line of requireUsableKernel(checkKernelSupportForAgent())) console.error(`[agent] ${line}`);
  const agent = new Agent({
    endpoint: values.endpoint,
    apiKey,
    intervalMs: durationOption(values.interval, 'interval', 10_000),
    spoolDir: values['spool-dir'] ?? path.join(os.homedir(), '.burnwatch', 'spool'),
  });
  await agent.start();
  console.error(`[agent] shipping to ${values.endpoint}; Ctrl-C stops and flushes`);
  await untilSignal();
  await agent.stop();
  return 0;
}
