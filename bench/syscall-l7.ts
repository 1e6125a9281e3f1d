// The cost of the syscall-tracepoint L7 path (bpf/l7_syscalls.bpf.c) on a non-Go server, side
// by side in one run: Node's http server pinned to CPU 0, wrk on CPU 1, rounds alternating
// without / with the collector loaded. With it, the kernel's BPF stats
// (kernel.bpf_stats_enabled) give each program's runs and run time, so the per-hit cost is
// the kernel's own figure, not a difference of noisy throughputs. The programs run for the
// host's socket-type calls (syscalls:sys_enter_read & co, not every syscall), so runs per
// request include other processes' reads, writes and closes.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import { SchedCollector } from '../agent/collectors/sched.ts';
import { ROOT, manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { ROUNDS, RUN_SECONDS, fixedRate, mean, startPinnedFixture, wrk } from './lib.ts';
import { parseProgFdinfo, withBpfStats } from './bpf-run-time.ts';
import { BpfObject } from '../agent/bpf.ts';
import { btfLayout } from '../test/lib/btf-layout.ts';

/** Where the object comes from: BENCH_L7_OBJECT_DIR compares another build (e.g. HEAD's) side by side with the working tree's. */
const OBJECT_DIR = process.env.BENCH_L7_OBJECT_DIR ?? BPF_OBJECT_DIR;
/** Another build (a directory of .bpf.o) to run paired with this one on the very same events (pairedBuilds). */
const PAIR_DIR = process.env.BENCH_L7_PAIR_DIR;
const PAIR_RATE = Number(process.env.BENCH_RED_RATE ?? 10_000);

interface ProgRun {
  runs: bigint;
  ns: bigint;
}

/** Name, runs and run time of each BPF program this process holds, by program id (fdinfo → prog_id → bpftool). */
function ownProgramsById(): Map<number, ProgRun & { name: string }> {
  const names = new Map<number, string>();
  for (const p of JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[]) {
    if (p.name) names.set(p.id, p.name);
  }
  const out = new Map<number, ProgRun & { name: string }>();
  for (const fd of fs.readdirSync('/proc/self/fdinfo')) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const p = parseProgFdinfo(text); // a link's fd names its program too, without the stats
    if (p) out.set(p.progId, { name: names.get(p.progId) ?? `prog ${p.progId}`, runs: p.runCount, ns: p.runTimeNs });
  }
  return out;
}

/** Runs and run time of this process's BPF programs, by program name. */
function ownPrograms(): Map<string, ProgRun> {
  const out = new Map<string, ProgRun>();
  for (const p of ownProgramsById().values()) {
    const prev = out.get(p.name) ?? { runs: 0n, ns: 0n };
    out.set(p.name, { runs: prev.runs + p.runs, ns: prev.ns + p.ns });
  }
  return out;
}

/** The collector over the build in `dir`; a build from before series ids has no series_seed to set. */
function l7CollectorOf(dir: string): SyscallL7Collector {
  const log = (l: string) => console.error(l);
  try {
    return new SyscallL7Collector({ objectDir: dir, log });
  } catch (e) {
    if (!String(e).includes("'series_seed'")) throw e;
    return new SyscallL7Collector({ objectDir: dir, log, seriesSeed: null });
  }
}

/**
 * This build and `otherDir`'s, loaded at once (syscall-l7 and sched objects of each) under the
 * Go fixture's /hello at a fixed rate, not covered by uprobes: every program of both builds
 * runs on the very same events, so ns a run compares the code alone — the machine's load moves
 * both the same way, which side-by-side rounds cannot give on a shared VM. Load order alternates
 * by round (the later program may find caches warmed by the earlier).
 */
async function pairedBuilds(otherDir: string): Promise<string[]> {
  const builds = [{ label: `this build (${OBJECT_DIR})`, dir: OBJECT_DIR }, { label: `other build (${otherDir})`, dir: otherDir }];
  const totals = builds.map(() => new Map<string, ProgRun>());
  let requests = 0;
  const go = await startPinnedFixture();
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const owner = new Map<number, number>();
      const loaded: { close(): void }[] = [];
      try {
        for (const b of r % 2 ? [1, 0] : [0, 1]) {
          const before = new Set(ownProgramsById().keys());
          loaded.push(l7CollectorOf(builds[b].dir));
          loaded.push(new SchedCollector({ objectDir: builds[b].dir, log: (l) => console.error(l) }));
          for (const id of ownProgramsById().keys()) if (!before.has(id)) owner.set(id, b);
        }
        await withBpfStats(() => {
          const before = ownProgramsById();
          requests += fixedRate(`${go.url}/hello`, PAIR_RATE, RUN_SECONDS).requests;
          for (const [id, p] of ownProgramsById()) {
            const b = owner.get(id);
            if (b === undefined) continue;
            const t = totals[b].get(p.name) ?? { runs: 0n, ns: 0n };
            totals[b].set(p.name, { runs: t.runs + p.runs - (before.get(id)?.runs ?? 0n), ns: t.ns + p.ns - (before.get(id)?.ns ?? 0n) });
          }
        });
      } finally {
        for (const l of loaded) l.close();
      }
    }
  } finally {
    await go.stop();
  }
  const lines = [`Go fixture /hello at ${PAIR_RATE}/s (not covered: parsed both sides), ${ROUNDS}×${RUN_SECONDS}s, both builds loaded at once (same events), ${requests} requests:`];
  const names = [...new Set(totals.flatMap((t) => [...t.keys()]))].sort();
  for (const name of names) {
    const cells = totals.map((t) => t.get(name) ?? { runs: 0n, ns: 0n });
    if (cells.every((c) => c.runs === 0n)) continue;
    const fmt = (c: ProgRun) => (c.runs === 0n ? '-' : `${(Number(c.ns) / Number(c.runs)).toFixed(0)} ns a run, ${(Number(c.ns) / requests).toFixed(0)} ns/req`);
    lines.push(`  ${name} (${(Number(cells[0].runs) / requests).toFixed(2)} runs/req): ${builds.map((b, i) => `${b.label.split(' (')[0]} ${fmt(cells[i])}`).join('; ')}`);
  }
  const sum = (t: Map<string, ProgRun>) => [...t.values()].reduce((a, c) => a + Number(c.ns), 0) / requests;
  lines.push(`  every program: this build ${sum(totals[0]).toFixed(0)} ns/req; other build ${sum(totals[1]).toFixed(0)} ns/req (${builds[1].label})`);
  return lines;
}

function sub(a: Map<string, ProgRun>, b: Map<string, ProgRun>): Map<string, ProgRun> {
  return new Map([...a].map(([k, v]) => [k, { runs: v.runs - (b.get(k)?.runs ?? 0n), ns: v.ns - (b.get(k)?.ns ?? 0n) }]));
}

/** CPU seconds (user + system) of `dd bs=1` moving `bytes` bytes on CPU 1: one read and one write a byte. */
function ddCpuSeconds(bytes: number): number {
  const out = execFileSync('bash', ['-c', `TIMEFORMAT='%U %S'; { time taskset -c 1 dd if=/dev/zero of=/dev/null bs=1 count=${bytes} 2>/dev/null; } 2>&1`], { encoding: 'utf8' });
  const [user, sys] = out.trim().split(' ').map(Number);
  return user + sys;
}

/**
 * What a read/write on an untracked fd pays with this path's programs, against empty programs
 * on the same tracepoints (bpftrace): the floor of the mechanism, from the CPU time of a loop
 * of 1-byte reads and writes. Rounds alternate; the least CPU of each kind is kept (noise on a
 * shared machine only ever adds).
 */
async function tracepointMechanisms(): Promise<string[]> {
  const bytes = 3_000_000;
  const cpu = { none: [] as number[], raw: [] as number[], perSyscall: [] as number[] };
  for (let r = 0; r < ROUNDS + 2; r++) {
    cpu.none.push(ddCpuSeconds(bytes));
    const l7 = new SyscallL7Collector({ objectDir: OBJECT_DIR, log: (l) => console.error(l) });
    try {
      cpu.raw.push(ddCpuSeconds(bytes));
    } finally {
      l7.close();
    }
    const probes = 'tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_exit_read, tracepoint:syscalls:sys_enter_write, tracepoint:syscalls:sys_exit_write { }';
    const bt = manage(spawn('bpftrace', ['-e', probes], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await waitFor('bpftrace to attach', () => /Attaching/.test(bt.output()) || undefined, 30_000, 50);
      cpu.perSyscall.push(ddCpuSeconds(bytes));
    } finally {
      await bt.stop('SIGINT');
    }
  }
  const added = (xs: number[]) => (((Math.min(...xs) - Math.min(...cpu.none)) / (2 * bytes)) * 1e9).toFixed(0);
  return [
    `a read/write on an untracked fd (dd bs=1, ${2 * bytes} syscalls, least CPU of ${ROUNDS + 2} rounds): ` +
      `+${added(cpu.raw)} ns with the syscall L7 programs, +${added(cpu.perSyscall)} ns with empty programs on sys_{enter,exit}_{read,write}`,
  ];
}

/**
 * Rounds alternating without / with the syscall L7 programs against `url` (a server of pid
 * `pid`); `prepare` runs on each freshly loaded collector (e.g. to mark the server covered).
 */
async function sideBySide(label: string, url: string, pid: number, prepare: (l7: SyscallL7Collector) => void = () => {}): Promise<string[]> {
  wrk(url, 1); // warm-up
  const off: number[] = [];
  const on: number[] = [];
  const perProgram = new Map<string, ProgRun>();
  let requests = 0;
  let measured = 0;
  for (let r = 0; r < ROUNDS; r++) {
    off.push(wrk(url).requestsPerSecond);
    const l7 = new SyscallL7Collector({ objectDir: OBJECT_DIR, log: (l) => console.error(l) });
    try {
      prepare(l7);
      await withBpfStats(async () => {
        const before = ownPrograms();
        const rps = wrk(url).requestsPerSecond;
        for (const [k, v] of sub(ownPrograms(), before)) {
          const p = perProgram.get(k) ?? { runs: 0n, ns: 0n };
          perProgram.set(k, { runs: p.runs + v.runs, ns: p.ns + v.ns });
        }
        on.push(rps);
        requests += rps * RUN_SECONDS;
      });
      const got = await l7.collect({ startNs: 1n, endNs: epochNowNs(), serviceOf: () => undefined });
      for (const c of got.filter((c) => c.pid === pid)) {
        for (const m of c.metrics) if (m.descriptor.name === 'http.server.request.duration') for (const p of m.dataPoints) measured += (p.value as { count: number }).count;
      }
    } finally {
      l7.close();
    }
  }
  const lines = [
    `${label}, ${ROUNDS}×${RUN_SECONDS}s rounds: ${mean(off).toFixed(0)} req/s without, ${mean(on).toFixed(0)} with the syscall L7 programs: ratio ${(mean(on) / mean(off)).toFixed(3)}`,
    `  server requests measured by the syscall path: ${measured} of ~${requests.toFixed(0)} served (wrk's count is rate × duration)`,
  ];
  let totalNs = 0n;
  let totalRuns = 0n;
  for (const [name, p] of perProgram) {
    if (p.runs === 0n) continue;
    totalNs += p.ns;
    totalRuns += p.runs;
    lines.push(`  ${name}: ${p.runs} runs, ${(Number(p.ns) / Number(p.runs)).toFixed(0)} ns a run (bpf_stats run_time_ns / run_cnt), ${(Number(p.runs) / requests).toFixed(2)} runs per request`);
  }
  lines.push(`  program runs per request (every program): ${(Number(totalRuns) / requests).toFixed(2)}`);
  lines.push(`  in-kernel time per request (every run on the host, wrk's included / requests): ${(Number(totalNs) / requests / 1000).toFixed(2)} µs`);
  return lines;
}

/**
 * The HTTP/1 parser alone, in the kernel: bpf/l7_parsers_test.bpf.c parses a hello-world
 * request head and response head `repeat` times in one BPF_PROG_TEST_RUN and times the loop
 * itself (bpf_ktime_get_ns) — stable on a loaded machine, unlike throughput. Least of 5 runs.
 */
export function parserCost(): string[] {
  const file = path.join(OBJECT_DIR, 'l7_parsers_test.bpf.o');
  if (!fs.existsSync(file)) return [`(no ${file}: parser micro-benchmark skipped)`];
  const obj = BpfObject.open(file);
  try {
    obj.load();
    const ctx = btfLayout(file, 'l7_parsers_test_ctx');
    if (ctx.at.repeat === undefined) return ['(this build of the parsers harness has no repeat: parser micro-benchmark skipped)'];
    const repeat = 100_000;
    const cases: [string, string, number][] = [
      ['request head (wrk)', 'GET /hello HTTP/1.1\r\nHost: 127.0.0.1:34567\r\n\r\n', 0],
      ['response head (Node http)', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 30 Nov 2026 15:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 6\r\n\r\nhello\n', 1],
    ];
    return cases.map(([label, text, response]) => {
      const bytes = Buffer.from(text, 'latin1');
      const c = Buffer.alloc(ctx.size);
      c.writeUInt32LE(response, ctx.at.response);
      c.writeUInt32LE(response, ctx.at.proto); // L7_PROTO_HTTP1 for a response, unknown for a request
      c.writeUInt32LE(bytes.length, ctx.at.n);
      c.writeUInt32LE(repeat, ctx.at.repeat);
      bytes.copy(c, ctx.at.buf);
      const ns: number[] = [];
      for (let r = 0; r < 5; r++) ns.push(Number(obj.program('l7_parsers_test').testRun({ ctxIn: c }).ctxOut!.readBigUInt64LE(ctx.at.elapsed_ns)) / repeat);
      return `HTTP/1 parser, ${label}, ${bytes.length} bytes: ${Math.min(...ns).toFixed(0)} ns a parse (BPF_PROG_TEST_RUN, least of 5 × ${repeat})`;
    });
  } finally {
    obj.close();
  }
}

export async function run(): Promise<string[]> {
  if (PAIR_DIR) {
    const lines = await pairedBuilds(PAIR_DIR);
    for (const l of lines) console.log(l);
    return lines;
  }
  const lines: string[] = [...parserCost()];
  const portFile = path.join(tempDir('bw-l7-bench'), 'port');
  const node = manage(spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/node-http-server.ts'), portFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    const port = await waitFor('node server', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8')) || undefined, 10_000, 20);
    // wrk connects after the programs load, so its side of each request is parsed too.
    lines.push(...(await sideBySide('node http server /hello (parsed)', `http://127.0.0.1:${port}/hello`, node.child.pid!)));
  } finally {
    await node.stop();
  }
  // A Go server whose requests the uprobes measure: what the syscall path still costs it.
  const go = await startPinnedFixture();
  try {
    const cover = (l7: SyscallL7Collector) => l7.setUprobeCoverage(go.pid, { httpServer: true, httpClient: true, db: true });
    lines.push(...(await sideBySide('Go fixture /hello, covered by uprobes (not parsed)', `${go.url}/hello`, go.pid, cover)));
  } finally {
    await go.stop();
  }
  lines.push(...(await tracepointMechanisms()));
  for (const l of lines) console.log(l);
  return lines;
}
