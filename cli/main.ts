// `burnwatch <command>`: dispatches to one module per command; each owns its --help.
import { runUp } from './up.ts';
import { runAgent } from './agent.ts';
import { runGateway } from './gateway.ts';
import { runSlo } from './slo.ts';
import { runGate } from './gate.ts';
import { runHints } from './hints.ts';
import { runDoctor } from './doctor.ts';
import { runProbe } from './probe.ts';
import { runStatus } from './status.ts';
import { UsageError } from './args.ts';
import { DirectoryLockedError } from '../agent/export/dir-lock.ts';
import { UnsupportedKernelError } from '../agent/kernel-support.ts';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  up: { summary: 'run the whole stack on this host (gateway, agent, SLOs, live table)', run: runUp },
  agent: { summary: 'run the host agent and ship OTLP to a gateway', run: runAgent },
  gateway: { summary: 'run the gateway and query API on an embedded DuckDB', run: runGateway },
  slo: { summary: 'SLO status as a table (slo status [SERVICE])', run: runSlo },
  gate: { summary: 'release gate: exit 1 when SERVICE burned more than --max-burn of its budget', run: runGate },
  hints: { summary: 'root-cause hints for SERVICE over a window (hints SERVICE [--from --to])', run: runHints },
  probe: { summary: 'attach the costly Go probes to SERVICE for a while (probe SERVICE [--for 10m])', run: runProbe },
  status: { summary: 'which services have deep probes and why; what each agent attached', run: runStatus },
  doctor: { summary: 'what the agent can measure on this kernel (BTF, uprobes, tracepoints)', run: runDoctor },
};

const USAGE = `burnwatch — SLOs and error-budget burn for Go services, from eBPF

Usage: burnwatch <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`)
  .join('\n')}

Run 'burnwatch <command> --help' for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const c = COMMANDS[command];
  if (!c) {
    console.error(`burnwatch: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  // Everything this process writes (DuckDB files, the spool, the API key) is for its owner only.
  process.umask(0o077);
  try {
    return await c.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`burnwatch ${command}: ${err.message}\nRun 'burnwatch ${command} --help' for usage.`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof DirectoryLockedError || err instanceof UnsupportedKernelError) {
      console.error(`burnwatch ${command}: ${err.message}`);
    } else if (code === 'EADDRINUSE') {
      console.error(`burnwatch ${command}: ${(err as Error).message} — another process has that port; choose one with --port`);
    } else if (code === 'EACCES' || code === 'EPERM') {
      console.error(`burnwatch ${command}: ${(err as Error).message} — eBPF and /proc need root: run as root`);
    } else {
      console.error(`burnwatch ${command}: ${(err as Error).stack ?? err}`);
    }
    return 1;
  }
}
