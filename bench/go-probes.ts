// Per-probe cost of the Go call probes (bpf/go_calls.bpf.c) and of the lock-wait and GC-assist
// probes (bpf/go_waits.bpf.c), measured side by side in one run: the probebench fixture (pinned
// to CPU 0, GOMAXPROCS=1) times N calls of one kind in a loop, with the kind's collector
// attached and without, alternating. The overhead of a kind is the difference of the mean ns
// per call; the ratio is the throughput ratio. The futex tracepoints (bpf/futex.bpf.c) are
// measured the same way on a C program handing a turn between two threads on CPU 0.
// Uprobe hits per call (entry probes on the prologue's `jbe`, RET probes counted apart):
//   goroutine: 1 entry (lineage)            http: 1 entry + 1 RET (of 15 RET sites)
//   redis: 1 entry + 1 RET                  sql: 2 entries (queryDC, putConn)
//   grpc: 4 entries (client 2 + in-process server 2)
//   gc: 4 entries (two stop-the-world pauses per runtime.GC)
//   lock (go-waits): one contended sync.Mutex acquisition = 2 call-site probes (emulated calls)
//   alloc (go-waits): 256 small allocations; an assist now and then = 1 entry + 1 after-call
//   probe (single-stepped); the hits per call are counted from the collector's own output
// Each kind (and futex) then gets one more probed run with kernel.bpf_stats_enabled: ns per run
// and runs per call of each BPF program, the figure that stays put on a loaded machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { GoWaitsCollector } from '../agent/collectors/go-waits.ts';
import { FutexCollector } from '../agent/collectors/futex.ts';
import type { CollectedMetrics } from '../agent/collectors/types.ts';
import { compileC } from '../test/helpers/cc.ts';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { FIXTURE_BIN, manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { buildGoFixture } from '../test/helpers/go.ts';
import { mean, signed } from './lib.ts';
import { processPrograms, programNames, runTimeByName, withBpfStats } from './bpf-run-time.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Calls per measurement: about a second each with the probes on. */
const ALL_KINDS: { kind: string; n: number; hits: string; collector?: 'go-waits' }[] = [
  { kind: 'noop', n: 2_000_000, hits: 'no probe (control)' },
  { kind: 'goroutine', n: 100_000, hits: '1 entry' },
  { kind: 'sql', n: 50_000, hits: '2 entries' },
  { kind: 'redis', n: 10_000, hits: '1 entry + 1 RET' },
  { kind: 'http', n: 5_000, hits: '1 entry + 1 RET' },
  { kind: 'grpc', n: 3_000, hits: '4 entries' },
  { kind: 'gc', n: 200, hits: '4 entries' },
  { kind: 'lock', n: 50_000, hits: '2 calls', collector: 'go-waits' },
  { kind: 'alloc', n: 20_000, hits: 'see below', collector: 'go-waits' },
];

/** Waits the go-waits collector recorded (histogram counts), from its drained output. */
function waitsCounted(collected: CollectedMetrics[]): number {
  let n = 0;
  for (const c of collected) for (const m of c.metrics) for (const p of m.dataPoints as { value: { count: number } }[]) n += p.value.count;
  return n;
}

const KINDS = process.env.BENCH_GO_KINDS ? ALL_KINDS.filter((k) => process.env.BENCH_GO_KINDS!.split(',').includes(k.kind)) : ALL_KINDS;

async function nsPerCall(base: string, kind: string, n: number): Promise<number> {
  const res = await fetch(`${base}/bench?kind=${kind}&n=${n}`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`probebench ${kind}: ${res.status} ${text}`);
  return Number(text);
}

export async function run(): Promise<string[]> {
  await buildGoFixture('probebench');
  const portFile = path.join(tempDir('bw-probebench'), 'port');
  const fixture = manage(
    spawn('taskset', ['-c', '0', path.join(FIXTURE_BIN, 'probebench'), '-port-file', portFile], {
      env: { ...process.env, GOMAXPROCS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  // The HTTP server probes make each bench request a slow-breakdown root, as in an agent with deep
  // probes on: go-calls' client and database programs then do their lineage work per call.
  const http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log: (l) => console.log(l) });
  const calls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), log: (l) => console.log(l), httpServer: http });
  const waits = new GoWaitsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_waits.bpf.o'), log: (l) => console.log(l) });
  const results: string[] = [];
  try {
    const port = await waitFor('probebench', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) || undefined, 10_000, 20);
    const base = `http://127.0.0.1:${port}`;
    const pid = fixture.child.pid!;
    const exe = `/proc/${pid}/exe`;
    const info = await inspectGoBinary(exe);
    if ('reason' in info) throw new Error(info.reason);
    http.attachGo({ pid, exePath: exe, exeDeleted: false, fileKey: info.fileKey, serviceName: 'probebench', serviceNameSource: 'executable', startTime: 0, startTimeUnixMs: 0 }, info);
    const collectorCpu: number[] = [];
    const window = { startNs: 1n, endNs: 2n, serviceOf: () => 'probebench' };
    for (const { kind, n, hits, collector: which } of KINDS) {
      const collector = which === 'go-waits' ? waits : calls;
      await nsPerCall(base, kind, Math.ceil(n / 10)); // warm-up
      const off: number[] = [];
      const on: number[] = [];
      const cpuShare: number[] = [];
      let counted = 0;
      for (let round = 0; round < ROUNDS; round++) {
        off.push(await nsPerCall(base, kind, n));
        await collector.attach(pid, exe, info, 'probebench');
        await collector.collect(window); // from here on, this round's hits only
        // Drain as the agent does, so the collector's own work is part of the figure.
        const drained: CollectedMetrics[] = [];
        const timer = setInterval(() => void collector.collect(window).then((c) => drained.push(...c)), 1000);
        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        on.push(await nsPerCall(base, kind, n));
        const wall = Number(process.hrtime.bigint() - t0) / 1e3;
        const cpu = process.cpuUsage(cpu0);
        cpuShare.push((cpu.user + cpu.system) / wall);
        clearInterval(timer);
        collector.detach(pid);
        drained.push(...(await collector.collect(window)));
        if (which === 'go-waits') counted += waitsCounted(drained);
      }
      off.push(await nsPerCall(base, kind, n));
      let programs = '';
      if (kind !== 'noop') {
        await collector.attach(pid, exe, info, 'probebench');
        try {
          programs = await programCosts(() => nsPerCall(base, kind, n), n);
        } finally {
          collector.detach(pid);
          await collector.collect(window);
        }
      }
      const extra = mean(on) - mean(off);
      const perWait = which === 'go-waits' && counted > 0 ? `; ${(counted / (n * ROUNDS)).toFixed(4)} waits a call, ${signed(extra / (counted / (n * ROUNDS)), 0)} ns a wait` : '';
      const line =
        `${kind.padEnd(10)} ${hits.padEnd(18)} ${mean(off).toFixed(0).padStart(9)} → ${mean(on).toFixed(0).padStart(9)} ns/call: ` +
        `${signed(extra, 0)} ns a call, throughput ratio ${(mean(off) / mean(on)).toFixed(3)}${perWait}; ` +
        (kind === 'noop' ? '' : `agent CPU ${(mean(cpuShare) * 100).toFixed(1)}% of one core`);
      // The control's on-phase lasts milliseconds: the HTTP request itself would dominate the share.
      if (kind !== 'noop') collectorCpu.push(...cpuShare);
      results.push(line);
      console.log(line);
      if (programs) {
        results.push(`           BPF (bpf_stats, one more probed run): ${programs}`);
        console.log(results[results.length - 1]);
      }
    }
    results.push(`agent (collector, in-process) CPU while probed calls ran: ${(mean(collectorCpu) * 100).toFixed(1)}% of one core`);
    console.log(results[results.length - 1]);
  } finally {
    calls.close();
    http.close();
    waits.close();
    await fixture.stop();
  }
  if (!process.env.BENCH_GO_KINDS || process.env.BENCH_GO_KINDS.split(',').includes('futex')) results.push(...(await futexCost()));
  return [`probebench (Go 1.19, CPU 0, GOMAXPROCS=1), ${ROUNDS} alternating rounds per kind, mean ns per call without → with the kind's probes (go-calls; lock and alloc: go-waits):`, ...results];
}


/**
 * The futex tracepoints' cost: a C program hands a turn between two threads on CPU 0 through a
 * mutex and a condition variable (per round trip two futex waits and their wakes: four
 * sys_enter_futex and four sys_exit_futex hits), timed with the futex collector loaded and not.
 */
async function futexCost(): Promise<string[]> {
  const bin = await compileC('futex-pingpong');
  const N = 20_000;
  const roundTrip = () => Number(execFileSync('taskset', ['-c', '0', bin, String(N)], { encoding: 'utf8' }).trim());
  roundTrip(); // warm-up
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push(roundTrip());
    const futex = new FutexCollector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.log(l) });
    try {
      on.push(roundTrip());
    } finally {
      futex.close();
    }
  }
  off.push(roundTrip());
  const futex = new FutexCollector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.log(l) });
  let programs: string;
  try {
    // Host-wide tracepoints: other processes' futex calls run the programs too.
    programs = await programCosts(async () => roundTrip(), N);
  } finally {
    futex.close();
  }
  const extra = mean(on) - mean(off);
  const line =
    `futex      ~2 waits + 2 wakes${mean(off).toFixed(0).padStart(9)} → ${mean(on).toFixed(0).padStart(9)} ns/round trip: ` +
    `${signed(extra, 0)} ns a round trip, ${signed(extra / 4, 0)} ns a futex call (enter + exit), throughput ratio ${(mean(off) / mean(on)).toFixed(3)}`;
  console.log(line);
  const bpf = `           BPF (bpf_stats, one more run; runs counted host-wide): ${programs}`;
  console.log(bpf);
  return [`futex tracepoints (syscalls:sys_{enter,exit}_futex), C threads handing a turn on CPU 0, ${ROUNDS} alternating rounds, mean ns per round trip without → with:`, line, bpf];
}

/**
 * The kernel's own accounting of the programs that ran during `body` (kernel.bpf_stats_enabled,
 * on for this run only: it adds two clock reads per run, kept out of the timed rounds): ns a run
 * and runs per call, per program. Stable under load where the timed difference is not; a uprobe's
 * trap (≈2 µs at a `jbe`, more when single-stepped) is not in it.
 */
async function programCosts(body: () => Promise<unknown>, calls: number): Promise<string> {
  return withBpfStats(async () => {
    const before = processPrograms(process.pid);
    await body();
    const ran = runTimeByName(before, processPrograms(process.pid), programNames()).filter((p) => p.runCount > 0);
    return ran.map((p) => `${p.name} ${(p.runTimeNs / p.runCount).toFixed(0)} ns × ${(p.runCount / calls).toFixed(3)}/call`).join(', ') || 'no program ran';
  });
}
