// The cost of the kernel signals (TCP, scheduler, memory, block, lifecycle tracepoints) on a
// busy Go service, measured side by side in one run, as bench/agent-overhead.ts does: the
// fixture on CPU 0, wrk on CPU 1, rounds alternating without / with an agent that runs only
// kernel-signal collectors. The scheduler probes (a hit at every context switch and wakeup)
// are the hottest and are measured alone too. Only ratios are results.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { manage, tempDir, waitFor, ROOT } from '../test/lib/processes.ts';
import { BENCH_KEY, CONNECTIONS, ROUNDS, RUN_SECONDS, cpuSeconds, mean, signed, startBenchGateway, startPinnedFixture, wrk } from './lib.ts';
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

interface ProgStats {
  runs: number;
  ns: number;
}

interface ProgInfo {
  id: number;
  name?: string;
  type: string;
  run_cnt?: number;
  run_time_ns?: number;
}

function loadedPrograms(): ProgInfo[] {
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as ProgInfo[];
}

/**
 * Run counts and time of the programs with the given ids (the bench agent's: other agents on
 * the machine load programs of the same names), by (truncated) name, from the kernel's BPF stats.
 */
function progStats(ids: Set<number>): Map<string, ProgStats> {
  const out = new Map<string, ProgStats>();
  for (const p of loadedPrograms()) {
    if (!ids.has(p.id) || !p.name) continue;
    const s = out.get(p.name) ?? { runs: 0, ns: 0 };
    s.runs += p.run_cnt ?? 0;
    s.ns += p.run_time_ns ?? 0;
    out.set(p.name, s);
  }
  return out;
}

function startKernelAgent(set: string, endpoint: string) {
  return manage(
    spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/kernel-signals-agent.ts'), set, endpoint, BENCH_KEY, tempDir('bw-bench-spool')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

export async function run(): Promise<string[]> {
  const { endpoint, gateway } = await startBenchGateway();
  const fixture = await startPinnedFixture();
  const url = `${fixture.url}/hello`;
  const results: string[] = [];
  // The kernel's own per-program accounting: hits and ns per hit, independent of VM noise.
  const statsWas = fs.readFileSync(BPF_STATS, 'utf8').trim();
  fs.writeFileSync(BPF_STATS, '1');
  try {
    wrk(url); // warm-up
    for (const set of (process.env.BENCH_KERNEL_SETS ?? 'all,sched').split(',')) {
      const off: number[] = [];
      const on: number[] = [];
      const agentShare: number[] = [];
      const hits = new Map<string, ProgStats>();
      let onSeconds = 0;
      for (let round = 0; round < ROUNDS; round++) {
        off.push(wrk(url).requestsPerSecond);
        const others = new Set(loadedPrograms().map((p) => p.id));
        const agent = startKernelAgent(set, endpoint);
        await waitFor('kernel agent', () => (agent.output().includes('ready') ? true : undefined), 30_000, 50);
        const mine = new Set(loadedPrograms().filter((p) => p.type === 'tracing' && !others.has(p.id)).map((p) => p.id));
        if (/not attached|unavailable/.test(agent.output())) results.push(`  (${set}: ${agent.output().trim().split('\n').join('; ')})`);
        const cpu0 = cpuSeconds(agent.child.pid!);
        const before = progStats(mine);
        const t0 = process.hrtime.bigint();
        on.push(wrk(url).requestsPerSecond);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        agentShare.push((cpuSeconds(agent.child.pid!) - cpu0) / wall);
        onSeconds += wall;
        for (const [name, s] of progStats(mine)) {
          const b = before.get(name) ?? { runs: 0, ns: 0 };
          const h = hits.get(name) ?? { runs: 0, ns: 0 };
          hits.set(name, { runs: h.runs + s.runs - b.runs, ns: h.ns + s.ns - b.ns });
        }
        await agent.stop('SIGINT');
      }
      off.push(wrk(url).requestsPerSecond);
      const ratio = mean(on) / mean(off);
      const perRequestUs = (1 / mean(on) - 1 / mean(off)) * 1e6;
      const label = set === 'all' ? 'all kernel signals' : set === 'sched' ? 'scheduler probes alone' : `${set} alone`;
      results.push(
        `${label.padEnd(24)} with/without = ${ratio.toFixed(3)}  ` +
          `(${mean(on).toFixed(0)} vs ${mean(off).toFixed(0)} req/s, ${signed(perRequestUs, 1)} µs a request on one core); ` +
          `agent CPU = ${(mean(agentShare) * 100).toFixed(1)}% of one core`,
      );
      console.log(results[results.length - 1]);
      const busy = [...hits].filter(([, h]) => h.runs > 0).sort((a, b) => b[1].ns - a[1].ns);
      const line = busy.map(([n, h]) => `${n} ${(h.runs / onSeconds).toFixed(0)}/s × ${(h.ns / h.runs).toFixed(0)} ns`).join(', ');
      const cpuShare = busy.reduce((t, [, h]) => t + h.ns, 0) / 1e9 / onSeconds;
      results.push(`  in-kernel probe time ${(cpuShare * 100).toFixed(2)}% of one core: ${line || 'no hits'}`);
      console.log(results[results.length - 1]);
    }
  } finally {
    fs.writeFileSync(BPF_STATS, statsWas);
    await fixture.stop();
    await gateway.stop();
  }
  return [`Go 1.19 net/http fixture /hello on CPU 0 (GOMAXPROCS=1), wrk -t1 -c${CONNECTIONS} -d${RUN_SECONDS}s on CPU 1, ${ROUNDS} alternating rounds, agent interval 1 s:`, ...results];
}
