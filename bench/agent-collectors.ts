// Where the agent's own CPU goes, collector by collector (issue 20 item 4): the agent with no
// collector, then with each default collector alone, idle (no load), pinned to CPU 1, its CPU
// from /proc over two default intervals. The agent's CPU does not grow with requests (the
// kernel aggregates them; see agent-overhead), so what each collector costs per interval and
// per process on the host is the figure. Rounds alternate over the collectors, order rotated.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCollectors } from '../agent/agent.ts';
import { manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { BENCH_KEY, ROUNDS, cpuSeconds, raiseBenchPriority, startBenchGateway } from './lib.ts';
import { median, spread } from './stats.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Two of the agent's default 10-s intervals. */
const WINDOW_SECONDS = Number(process.env.BENCH_COLLECTOR_SECONDS ?? 20);

/** The default collectors' names, as this build has them (one that cannot load here is left out). */
function collectorNames(): string[] {
  const all = defaultCollectors(() => {});
  const names = all.map((c) => c.name);
  for (const c of all) c.close();
  return names;
}

async function idleShare(names: string, endpoint: string): Promise<number> {
  const agent = manage(
    spawn('taskset', ['-c', '1', process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/collector-agent.ts'), names, endpoint, BENCH_KEY, tempDir('bw-bench-spool')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  try {
    await waitFor(`agent with ${names}`, () => (agent.output().includes('ready') ? true : undefined), 60_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the first discovery's attaches
    const cpu0 = cpuSeconds(agent.child.pid!);
    await new Promise((resolve) => setTimeout(resolve, WINDOW_SECONDS * 1000));
    return (cpuSeconds(agent.child.pid!) - cpu0) / WINDOW_SECONDS;
  } finally {
    await agent.stop('SIGINT');
  }
}

export async function run(): Promise<string[]> {
  const nice = raiseBenchPriority();
  const sets = ['none', ...collectorNames()];
  const { endpoint, gateway } = await startBenchGateway();
  const shares = new Map<string, number[]>(sets.map((s) => [s, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < sets.length; i++) {
        const set = sets[(i + r) % sets.length];
        const share = await idleShare(set, endpoint);
        shares.get(set)!.push(share * 100);
        console.log(`  round ${r + 1} ${set}: ${(share * 100).toFixed(2)}% of a core`);
      }
    }
  } finally {
    await gateway.stop();
  }
  const base = median(shares.get('none')!);
  return [
    `the agent idle on CPU 1 (nice ${nice}), CPU from /proc over ${WINDOW_SECONDS}s, ${ROUNDS} rounds, order rotated; median (min–max) % of a core, and the median's difference from no collector`,
    ...sets.map((s) => `${s.padEnd(12)} ${spread(shares.get(s)!, 2)}%${s === 'none' ? '' : `  (${median(shares.get(s)!) - base >= 0 ? '+' : ''}${(median(shares.get(s)!) - base).toFixed(2)})`}`),
  ];
}
