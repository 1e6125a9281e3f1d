// The agent's V8 runs single-threaded (issue 20 item 4). Its JavaScript work is small and
// comes in bursts (one drain and encode per interval, a /proc scan every 2 s), and V8's
// background threads — concurrent marking and sweeping, the concurrent optimising compiler —
// cost more in wake-ups and hand-offs than they save: idle on a busy host, interleaved
// (`npm run bench -- agent-idle`, 6 rounds), 1.97% of a core against 2.48% with the threads
// (docs/benchmarks.md, "Where the cost goes"). NODE_OPTIONS does not accept the flag, and
// the agent is started many ways (systemd unit, container entrypoint, by hand), so the agent
// command restarts itself with it: execve, so the pid, cgroup and stdio stay the same.
// BURNWATCH_V8_THREADS=on keeps V8's threads (to compare, or should a Node release misbehave).
import { replaceProcess } from './bpf.ts';

export const SINGLE_THREADED_FLAG = '--single-threaded';

/** The command line that runs this process again with V8 single-threaded; undefined when it already is. */
export function singleThreadedCommand(execPath: string, execArgv: readonly string[], argv: readonly string[]): string[] | undefined {
  if (execArgv.includes(SINGLE_THREADED_FLAG)) return undefined;
  // argv[0] is node itself (as invoked); execPath is what to run.
  return [execPath, SINGLE_THREADED_FLAG, ...execArgv, ...argv.slice(1)];
}

/**
 * Restarts this process with V8 single-threaded unless it already is; call before any work (no
 * probe loaded, no file opened). When execve fails the agent goes on as it is, and says so.
 */
export function runV8SingleThreaded(log: (line: string) => void): void {
  if (process.env.BURNWATCH_V8_THREADS === 'on') return;
  const command = singleThreadedCommand(process.execPath, process.execArgv, process.argv);
  if (!command) return;
  try {
    replaceProcess(process.execPath, command, process.env);
  } catch (err) {
    log(`cannot restart with ${SINGLE_THREADED_FLAG} (${(err as Error).message}); V8's background threads stay on`);
  }
}
