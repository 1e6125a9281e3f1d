// The cheapest exact RED path for a Go HTTP server, on numbers (issue 20 items 3, 4): the same
// Go fixture measured by the Go uprobes (http-server collector) and by the syscall tracepoints
// (syscall-l7 collector), alternating with neither, in one run. Fixture on CPU 0, load and
// agent on CPU 1. What a request costs the service: closed-loop throughput ratio, service CPU
// per request at a fixed rate (uprobe traps and tracepoint programs both run in the service's
// threads, so both land here), and the programs' own run time (kernel.bpf_stats_enabled), which
// excludes the trap itself — the difference between the two is what the trap costs.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manage, tempDir, waitFor, type Managed } from '../test/lib/processes.ts';
import { BENCH_KEY, CONNECTIONS, ROUNDS, RUN_SECONDS, cpuSeconds, fixedRate, raiseBenchPriority, startBenchGateway, startPinnedFixture, wrk } from './lib.ts';
import { median, roundRatios, spread } from './stats.ts';
import { processBpfRunTime, withBpfStats } from './bpf-run-time.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Below what either path saturates at on this VM, so CPU per request compares like for like. */
const RATE = Number(process.env.BENCH_RED_RATE ?? 10_000);
const FIXED_SECONDS = Number(process.env.BENCH_FIXED_SECONDS ?? 10);
const PATHS = ['none', 'uprobe', 'syscall'] as const;
type RedPath = (typeof PATHS)[number];
/** The agent's collector behind each path: alone, the syscall path counts the Go server itself (no uprobe covers it). */
const COLLECTOR: Record<Exclude<RedPath, 'none'>, string> = { uprobe: 'http-server', syscall: 'syscall-l7' };

interface Measured {
  rps: number;
  serviceCpuUs: number;
  bpfNs: number;
  bpfRuns: number;
  p99Us: number;
}

async function startRedPathAgent(redPath: Exclude<RedPath, 'none'>, endpoint: string): Promise<Managed> {
  const agent = manage(
    spawn('taskset', ['-c', '1', process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/collector-agent.ts'), COLLECTOR[redPath], endpoint, BENCH_KEY, tempDir('bw-bench-spool')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await waitFor(`${redPath} agent`, () => (agent.output().includes('ready') ? true : undefined), 60_000, 50);
  return agent;
}

async function measure(redPath: RedPath, endpoint: string): Promise<Measured> {
  // A fresh fixture per run: the uprobes and the syscall path's connection state start clean.
  const fixture = await startPinnedFixture();
  let agent: Managed | undefined;
  try {
    if (redPath !== 'none') {
      agent = await startRedPathAgent(redPath, endpoint);
      // The uprobe path attaches on discovery (every 2 s): wait until the fixture is instrumented.
      if (redPath === 'uprobe') await waitFor('uprobes attached', () => (agent!.output().includes(`instrumenting pid ${fixture.pid} `) ? true : undefined), 30_000, 50);
    }
    const url = `${fixture.url}/hello`;
    wrk(url, 1); // warm-up
    const rps = wrk(url).requestsPerSecond;
    return await withBpfStats(() => {
      const bpf0 = agent && processBpfRunTime(agent.child.pid!);
      const cpu0 = cpuSeconds(fixture.pid);
      const fixed = fixedRate(url, RATE, FIXED_SECONDS);
      const bpf1 = agent && processBpfRunTime(agent.child.pid!);
      return {
        rps,
        serviceCpuUs: ((cpuSeconds(fixture.pid) - cpu0) / fixed.requests) * 1e6,
        bpfNs: bpf0 && bpf1 ? Number(bpf1.runTimeNs - bpf0.runTimeNs) / fixed.requests : 0,
        bpfRuns: bpf0 && bpf1 ? Number(bpf1.runCount - bpf0.runCount) / fixed.requests : 0,
        p99Us: fixed.p99_us,
      };
    });
  } finally {
    await agent?.stop('SIGINT');
    await fixture.stop();
  }
}

export async function run(): Promise<string[]> {
  const nice = raiseBenchPriority();
  const { endpoint, gateway } = await startBenchGateway();
  const rounds = new Map<RedPath, Measured[]>(PATHS.map((p) => [p, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < PATHS.length; i++) {
        const redPath = PATHS[(i + r) % PATHS.length];
        const m = await measure(redPath, endpoint);
        rounds.get(redPath)!.push(m);
        console.log(`  round ${r + 1} ${redPath}: ${m.rps.toFixed(0)} req/s; at ${RATE}/s service ${m.serviceCpuUs.toFixed(1)} µs CPU/req, BPF ${m.bpfNs.toFixed(0)} ns/req over ${m.bpfRuns.toFixed(1)} runs/req, p99 ${m.p99Us.toFixed(0)} µs`);
      }
    }
  } finally {
    await gateway.stop();
  }
  const none = rounds.get('none')!;
  const lines = [
    `Go 1.19 net/http fixture /hello on CPU 0 (GOMAXPROCS=1), fresh per run; wrk -t1 -c${CONNECTIONS} -d${RUN_SECONDS}s and fixedrate ${RATE}/s for ${FIXED_SECONDS}s on CPU 1; ` +
      `collector process on CPU 1; all at nice ${nice}; ${ROUNDS} rounds, order rotated; median (min–max)`,
    `none: ${spread(none.map((m) => m.rps), 0)} req/s; service ${spread(none.map((m) => m.serviceCpuUs), 1)} µs CPU/req; p99 ${spread(none.map((m) => m.p99Us), 0)} µs`,
  ];
  for (const redPath of ['uprobe', 'syscall'] as const) {
    const ms = rounds.get(redPath)!;
    const added = roundRatios(ms.map((m) => m.serviceCpuUs), none.map((m) => m.serviceCpuUs)).map((x, i) => (x - 1) * none[i].serviceCpuUs);
    lines.push(
      `${redPath === 'uprobe' ? 'Go uprobes (http-server)' : 'syscall tracepoints (syscall-l7)'}: throughput ratio ${spread(roundRatios(ms.map((m) => m.rps), none.map((m) => m.rps)), 3)}; ` +
        `service CPU ${median(added) >= 0 ? '+' : ''}${spread(added, 1)} µs/req (median ${median(ms.map((m) => m.serviceCpuUs)).toFixed(1)}); ` +
        `BPF programs ${spread(ms.map((m) => m.bpfNs), 0)} ns/req over ${spread(ms.map((m) => m.bpfRuns), 1)} runs/req; p99 ${spread(ms.map((m) => m.p99Us), 0)} µs`,
    );
  }
  return lines;
}
