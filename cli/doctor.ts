// `burnwatch doctor`: what the agent can measure on this kernel, before installing it.
import { checkKernelSupport, formatKernelSupport } from '../agent/kernel-support.ts';
import { parseCommandArgs } from './args.ts';

const HELP = `Usage: burnwatch doctor [--json]

Checks what this kernel offers the agent — the bpf() syscall, BTF (/sys/kernel/btf/vmlinux),
uprobes, and each tracepoint the kernel signals attach to — and lists which signals will and
will not work. Needs no root (tracefs aside, everything probed is world-readable).

Exit status: 0 every signal works, 3 some will not, 1 none can (the agent refuses to start).

Options:
  --json      the same as JSON
  -h, --help  this help`;

export async function runDoctor(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { json: { type: 'boolean' } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const support = checkKernelSupport();
  console.log(values.json ? JSON.stringify(support, null, 2) : formatKernelSupport(support));
  if (!support.usable) return 1;
  return support.signals.every((s) => s.works === 'yes') ? 0 : 3;
}
