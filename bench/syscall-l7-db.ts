// The cost of the syscall L7 path on database clients (Redis RESP, PostgreSQL wire), side by
// side in one run: the server pinned to CPU 0, its own benchmark client (redis-benchmark,
// pgbench) on CPU 1 over one connection, rounds alternating without / with the collector
// loaded. With it, kernel.bpf_stats_enabled gives each program's runs and run time (the
// kernel's own per-run figure), and the collector says how many calls it measured.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import { GO_METRIC } from '../common/catalogue.ts';
import { startPostgres } from '../test/lib/go-topology.ts';
import { startRedis } from '../test/lib/db-wire.ts';
import { tempDir } from '../test/lib/processes.ts';
import { processPrograms, programNames, runTimeByName, withBpfStats } from './bpf-run-time.ts';
import { ROUNDS, RUN_SECONDS, mean } from './lib.ts';

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

interface Workload {
  name: string;
  /** Runs the client once on CPU 1; resolves with its pid and calls per second. */
  run(): Promise<{ pid: number; callsPerSecond: number; calls: number }>;
}

async function runClient(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ pid: number; out: string }> {
  const child = spawn('taskset', ['-c', '1', cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${cmd} exited ${code}: ${out}`);
  return { pid: child.pid!, out };
}

function redisWorkload(port: number): Workload {
  // One connection, one command at a time (no -P): every command is a request/response pair.
  const n = 20_000 * RUN_SECONDS;
  return {
    name: `redis-benchmark -c 1 -t get,set (${n} each)`,
    async run() {
      const started = process.hrtime.bigint();
      const r = await runClient('redis-benchmark', ['-p', String(port), '-c', '1', '-n', String(n), '-t', 'get,set', '-q', '--csv']);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return { pid: r.pid, callsPerSecond: (2 * n) / seconds, calls: 2 * n };
    },
  };
}

function pgWorkload(port: number, mode: 'simple' | 'extended'): Workload {
  return {
    name: `pgbench -S -c 1 -M ${mode} (${RUN_SECONDS}s)`,
    async run() {
      const r = await runClient(PGBENCH, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-S', '-c', '1', '-M', mode, '-T', String(RUN_SECONDS), 'postgres']);
      const tx = Number(/number of transactions actually processed: (\d+)/.exec(r.out)?.[1] ?? NaN);
      const tps = Number(/tps = ([\d.]+)/.exec(r.out)?.[1] ?? NaN);
      return { pid: r.pid, callsPerSecond: tps, calls: tx };
    },
  };
}

async function measure(w: Workload): Promise<string[]> {
  const off: number[] = [];
  const on: number[] = [];
  const byProgram = new Map<string, { runTimeNs: number; runCount: number }>();
  let calls = 0;
  let measured = 0;
  await w.run(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    off.push((await w.run()).callsPerSecond);
    const l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l) });
    try {
      await withBpfStats(async () => {
        const before = processPrograms(process.pid);
        const res = await w.run();
        for (const p of runTimeByName(before, processPrograms(process.pid), programNames())) {
          const e = byProgram.get(p.name) ?? { runTimeNs: 0, runCount: 0 };
          byProgram.set(p.name, { runTimeNs: e.runTimeNs + p.runTimeNs, runCount: e.runCount + p.runCount });
        }
        on.push(res.callsPerSecond);
        calls += res.calls;
        const got = await l7.collect({ startNs: 1n, endNs: epochNowNs(), serviceOf: () => undefined });
        for (const c of got.filter((c) => c.pid === res.pid)) {
          for (const m of c.metrics) if (m.descriptor.name === GO_METRIC.dbClientDuration) for (const p of m.dataPoints) measured += (p.value as { count: number }).count;
        }
      });
    } finally {
      l7.close();
    }
  }
  const lines = [
    `${w.name}, ${ROUNDS} rounds: ${mean(off).toFixed(0)} calls/s without, ${mean(on).toFixed(0)} with the syscall L7 programs: ratio ${(mean(on) / mean(off)).toFixed(3)}`,
    `  calls measured by the syscall path: ${measured} of ${calls}`,
  ];
  let totalNs = 0;
  for (const [name, p] of byProgram) {
    if (p.runCount === 0) continue;
    totalNs += p.runTimeNs;
    lines.push(`  ${name}: ${(p.runTimeNs / p.runCount).toFixed(0)} ns a run, ${(p.runCount / calls).toFixed(2)} runs per call (all the host's syscalls)`);
  }
  lines.push(`  in-kernel time per call (all runs on the host / calls): ${(totalNs / calls / 1000).toFixed(2)} µs`);
  return lines;
}

export async function run(): Promise<string[]> {
  const dir = tempDir('bw-l7-db-bench');
  fs.chmodSync(dir, 0o755);
  const lines: string[] = [];
  const redis = await startRedis(dir);
  const pg = await startPostgres(dir);
  try {
    // The servers on CPU 0, their clients on CPU 1.
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(Number(execFileSync('redis-cli', ['-p', String(redis.port), 'INFO', 'server'], { encoding: 'utf8' }).match(/process_id:(\d+)/)![1]))]);
    const postmaster = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(postmaster)]); // backends fork from it and inherit
    await runClient(PGBENCH, ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-s', '1', '-q', 'postgres']);
    lines.push(...(await measure(redisWorkload(redis.port))));
    lines.push(...(await measure(pgWorkload(pg.port, 'simple'))));
    lines.push(...(await measure(pgWorkload(pg.port, 'extended'))));
  } finally {
    await redis.stop();
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const l of lines) console.log(l);
  return lines;
}
