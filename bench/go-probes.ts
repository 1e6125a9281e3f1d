// Per-probe cost of the Go call probes (bpf/go_calls.bpf.c), measured side by side in one
// run: the probebench fixture (pinned to CPU 0, GOMAXPROCS=1) times N calls of one kind in a
// loop, with the go-calls collector attached and without, alternating. The overhead of a
// kind is the difference of the mean ns per call; the ratio is the throughput ratio.
// Uprobe hits per call (entry probes on the prologue's `jbe`, RET probes counted apart):
//   goroutine: 1 entry (lineage)            http: 1 entry + 1 RET (of 15 RET sites)
//   redis: 1 entry + 1 RET                  sql: 2 entries (queryDC, putConn)
//   grpc: 4 entries (client 2 + in-process server 2)
//   gc: 4 entries (two stop-the-world pauses per runtime.GC)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { FIXTURE_BIN, manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { buildGoFixture } from '../test/helpers/go.ts';
import { mean, signed } from './lib.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Calls per measurement: about a second each with the probes on. */
const ALL_KINDS: { kind: string; n: number; hits: string }[] = [
  { kind: 'noop', n: 2_000_000, hits: 'no probe (control)' },
  { kind: 'goroutine', n: 100_000, hits: '1 entry' },
  { kind: 'sql', n: 50_000, hits: '2 entries' },
  { kind: 'redis', n: 10_000, hits: '1 entry + 1 RET' },
  { kind: 'http', n: 5_000, hits: '1 entry + 1 RET' },
  { kind: 'grpc', n: 3_000, hits: '4 entries' },
  { kind: 'gc', n: 200, hits: '4 entries' },
];

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
  const collector = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), log: (l) => console.log(l) });
  const results: string[] = [];
  try {
    const port = await waitFor('probebench', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) || undefined, 10_000, 20);
    const base = `http://127.0.0.1:${port}`;
    const pid = fixture.child.pid!;
    const exe = `/proc/${pid}/exe`;
    const info = await inspectGoBinary(exe);
    if ('reason' in info) throw new Error(info.reason);
    const collectorCpu: number[] = [];
    for (const { kind, n, hits } of KINDS) {
      await nsPerCall(base, kind, Math.ceil(n / 10)); // warm-up
      const off: number[] = [];
      const on: number[] = [];
      const cpuShare: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        off.push(await nsPerCall(base, kind, n));
        await collector.attach(pid, exe, info, 'probebench');
        // Drain as the agent does, so the collector's own work is part of the figure.
        const timer = setInterval(() => void collector.collect({ startNs: 1n, endNs: 2n, serviceOf: () => 'probebench' }), 1000);
        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        on.push(await nsPerCall(base, kind, n));
        const wall = Number(process.hrtime.bigint() - t0) / 1e3;
        const cpu = process.cpuUsage(cpu0);
        cpuShare.push((cpu.user + cpu.system) / wall);
        clearInterval(timer);
        collector.detach(pid);
      }
      off.push(await nsPerCall(base, kind, n));
      const line =
        `${kind.padEnd(10)} ${hits.padEnd(18)} ${mean(off).toFixed(0).padStart(9)} → ${mean(on).toFixed(0).padStart(9)} ns/call: ` +
        `${signed(mean(on) - mean(off), 0)} ns a call, throughput ratio ${(mean(off) / mean(on)).toFixed(3)}; ` +
        (kind === 'noop' ? '' : `agent CPU ${(mean(cpuShare) * 100).toFixed(1)}% of one core`);
      // The control's on-phase lasts milliseconds: the HTTP request itself would dominate the share.
      if (kind !== 'noop') collectorCpu.push(...cpuShare);
      results.push(line);
      console.log(line);
    }
    results.push(`agent (collector, in-process) CPU while probed calls ran: ${(mean(collectorCpu) * 100).toFixed(1)}% of one core`);
    console.log(results[results.length - 1]);
  } finally {
    collector.close();
    await fixture.stop();
  }
  return [`probebench (Go 1.19, CPU 0, GOMAXPROCS=1), ${ROUNDS} alternating rounds per kind, mean ns per call without → with the go-calls probes:`, ...results];
}

