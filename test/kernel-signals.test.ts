// Kernel signals for root causes, induced for real and checked for attribution to the right
// process (and peer, device, cgroup): packet loss with nftables, a CPU hog on the target's
// core, fresh memory, direct I/O, the OOM killer in a memory-limited cgroup, a rebuilt
// program. Each collector is loaded as the agent loads it (bpf/build/*.bpf.o).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import type { Collector, CollectedMetrics } from '../agent/collectors/types.ts';
import { TcpCollector } from '../agent/collectors/tcp.ts';
import { SchedCollector, SCHED_PROGRAMS } from '../agent/collectors/sched.ts';
import { MemoryCollector } from '../agent/collectors/memory.ts';
import { BlockCollector, blockDeviceName } from '../agent/collectors/block.ts';
import { LifecycleCollector } from '../agent/collectors/lifecycle.ts';
import { loadKernelSignals } from '../agent/collectors/kernel-maps.ts';
import { KERNEL_ATTR, KERNEL_METRIC } from '../common/catalogue.ts';
import { compileC } from './helpers/cc.ts';
import { dropPacketsToPort, memoryLimitedCgroup } from './helpers/kernel-faults.ts';
import { ROOT, waitFor } from './lib/processes.ts';

const run = promisify(execFile);
const opts = { objectDir: BPF_OBJECT_DIR, log: () => {} };

interface Point {
  attributes: Record<string, unknown>;
  value: number | ExponentialHistogram;
}

let lastEnd = epochNowNs();
async function collect(c: Collector): Promise<CollectedMetrics[]> {
  const startNs = lastEnd;
  lastEnd = epochNowNs();
  return c.collect({ startNs, endNs: lastEnd, serviceOf: () => undefined });
}

/** Collects (keeping everything collected) until `done` holds for all of it. */
async function collectUntil(c: Collector, what: string, done: (all: CollectedMetrics[]) => boolean): Promise<CollectedMetrics[]> {
  const all: CollectedMetrics[] = [];
  return waitFor(what, async () => {
    all.push(...(await collect(c)));
    return done(all) ? all : undefined;
  }, 5_000, 50);
}

function pointsOf(collected: CollectedMetrics[], pid: number | undefined, metric: string): Point[] {
  return collected
    .filter((c) => c.pid === pid)
    .flatMap((c) => c.metrics.filter((m) => m.descriptor.name === metric).flatMap((m) => m.dataPoints as Point[]));
}

const sumValues = (ps: Point[]) => ps.reduce((n, p) => n + (p.value as number), 0);
const histCount = (ps: Point[]) => ps.reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0);
const histSum = (ps: Point[]) => ps.reduce((n, p) => n + ((p.value as ExponentialHistogram).sum ?? 0), 0);

/** Runs a program to its end; resolves with its pid and how it ended. */
function runToEnd(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ pid: number; code: number | null; signal: string | null; stdout: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ pid: child.pid!, code, signal, stdout }));
  });
}

describe('tcp: retransmits, resets and connects per (process, peer)', () => {
  let tcp: TcpCollector;
  before(() => (tcp = new TcpCollector(opts)));
  after(() => tcp.close());

  test('packet loss to one port shows as retransmits of the client to that peer only', async (t) => {
    const client = await compileC('echo-client');
    const echo = () => net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
    const lossy = echo();
    const clean = echo();
    t.after(() => {
      lossy.close();
      clean.close();
    });
    await Promise.all([lossy, clean].map((s) => new Promise((r) => s.once('listening', r))));
    const lossyPort = (lossy.address() as net.AddressInfo).port;
    const cleanPort = (clean.address() as net.AddressInfo).port;
    const drop = dropPacketsToPort(lossyPort, 4);
    t.after(() => drop.remove());

    // ~10 of 40 round trips lose a segment; each loss costs an RTO (≥ 200 ms).
    const r = await runToEnd(client, ['40', String(lossyPort), String(cleanPort)]);
    drop.remove();
    assert.equal(r.stdout.trim(), 'ok', 'the client completed its round trips');
    const got = await collect(tcp);

    const retrans = pointsOf(got, r.pid, KERNEL_METRIC.tcpRetransmits);
    const toLossy = retrans.filter((p) => p.attributes[KERNEL_ATTR.serverPort] === lossyPort);
    assert.ok(sumValues(toLossy) > 0, `retransmits to the lossy port: ${JSON.stringify(retrans)}`);
    assert.equal(toLossy[0].attributes[KERNEL_ATTR.serverAddress], '127.0.0.1');
    assert.deepEqual(retrans.filter((p) => p.attributes[KERNEL_ATTR.serverPort] === cleanPort), [], 'no retransmits to the clean peer');

    const connects = pointsOf(got, r.pid, KERNEL_METRIC.tcpConnectDuration);
    const cleanConnect = connects.find((p) => p.attributes[KERNEL_ATTR.serverPort] === cleanPort);
    assert.equal(cleanConnect && histCount([cleanConnect]), 1, 'one connect to the clean peer, in the histogram');
    assert.ok(pointsOf(got, r.pid, KERNEL_METRIC.tcpSmoothedRtt).length >= 1, 'srtt sampled at close');
  });

  test('a refused connect is a failure and a reset received, for the peer (IPv4 and IPv6)', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '::1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const refused = (host: string) => new Promise<void>((resolve) => net.connect(closedPort, host).once('error', () => resolve()));
    await refused('127.0.0.1');
    await refused('::1');
    const got = await collect(tcp);
    const failures = pointsOf(got, process.pid, KERNEL_METRIC.tcpConnectFailures).filter((p) => p.attributes[KERNEL_ATTR.serverPort] === closedPort);
    assert.deepEqual(failures.map((p) => [p.attributes[KERNEL_ATTR.serverAddress], p.value]).sort(), [['127.0.0.1', 1], ['::1', 1]]);
    const resets = pointsOf(got, process.pid, KERNEL_METRIC.tcpResets).filter((p) => p.attributes[KERNEL_ATTR.serverPort] === closedPort);
    assert.ok(resets.every((p) => p.attributes[KERNEL_ATTR.resetDirection] === 'received'));
    assert.equal(sumValues(resets), 2);
  });
});

test('tcp: sockets pushed out of the bounded owner map are counted as evictions', async (t) => {
  const tcp = new TcpCollector({ ...opts, socketMapEntries: 4 });
  t.after(() => tcp.close());
  let accepted = 0;
  const server = net.createServer(() => accepted++).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  const sockets: net.Socket[] = [];
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  // 10 connections held open: 10 outbound and 10 accepted sockets to remember, room for 4.
  for (let i = 0; i < 10; i++) {
    await new Promise<void>((resolve) => sockets.push(net.connect(port, '127.0.0.1', () => resolve())));
  }
  await waitFor('the accepted side', () => (accepted === 10 ? true : undefined), 5_000, 10);
  await collect(tcp);
  const evicted = tcp.takeDrops().get('socket_map_evicted') ?? 0;
  assert.ok(evicted >= 16 && evicted <= 20, `20 sockets into 4 slots: ${evicted} evictions counted`);
});

describe('sched: run-queue latency and CPU time per process', () => {
  let sched: SchedCollector;
  before(() => (sched = new SchedCollector(opts)));
  after(() => sched.close());

  test('a CPU hog on the target\'s core raises the target\'s run-queue latency', async (t) => {
    const spin = await compileC('spin');
    // On-CPU time is added at each switch-out, and a spinner alone on a core may not switch
    // until it exits — which can come just after the parent saw the exit and the collect
    // flipped the generation: collect twice, the straggler lands in the second.
    const collectSettled = async () => [...(await collect(sched)), ...(await collect(sched))];
    await collect(sched);
    const alone = await runToEnd('taskset', ['-c', '1', spin, '1000']);
    const aloneGot = await collectSettled();

    // A hog at a higher priority (nice -10: ~10× the target's weight) on the same core: the
    // effect stands out even when other work on the machine already makes the target wait.
    const hog = spawn('nice', ['-n', '-10', 'taskset', '-c', '1', spin, '3000'], { stdio: 'ignore' });
    t.after(() => hog.kill('SIGKILL'));
    const contended = await runToEnd('taskset', ['-c', '1', spin, '1000']);
    hog.kill('SIGKILL');
    const contendedGot = await collectSettled();

    const aloneLat = pointsOf(aloneGot, alone.pid, KERNEL_METRIC.runqueueLatency);
    const contendedLat = pointsOf(contendedGot, contended.pid, KERNEL_METRIC.runqueueLatency);
    assert.ok(contendedLat.length >= 1, 'the target has a run-queue histogram');
    const waitedAlone = histSum(aloneLat);
    const waitedContended = histSum(contendedLat);
    const cpuAlone = sumValues(pointsOf(aloneGot, alone.pid, KERNEL_METRIC.cpuTime)) / 1e9;
    const cpuContended = sumValues(pointsOf(contendedGot, contended.pid, KERNEL_METRIC.cpuTime)) / 1e9;
    t.diagnostic(`alone: ${cpuAlone.toFixed(3)} s on CPU, ${waitedAlone.toFixed(3)} s waiting; beside the hog: ${cpuContended.toFixed(3)} s, ${waitedContended.toFixed(3)} s`);

    // Beside a hog of ~10× its weight the target gets ~10% of the core and waits for the rest
    // (more, never less, when other work shares the core); alone it waits only for that other work.
    const waitShare = waitedContended / (waitedContended + cpuContended);
    assert.ok(waitShare > 0.8, `beside the hog the target waited ${(waitShare * 100).toFixed(0)}% of its time`);
    assert.ok(waitedContended > waitedAlone, `waited ${waitedContended}s beside the hog vs ${waitedAlone}s alone`);
    assert.ok(cpuContended < cpuAlone, `on-CPU beside the hog ${cpuContended}s < alone ${cpuAlone}s`);
    // A spinning task is always running or runnable: the two add up to its wall time (less
    // what the hypervisor steals from the virtual CPU).
    const accounted = cpuAlone + waitedAlone;
    assert.ok(accounted > 0.8 && accounted < 1.2, `alone: ${cpuAlone}s on CPU + ${waitedAlone}s waiting ≈ 1 s of wall time`);
  });

  test('a tracepoint missing on the kernel is reported and the other programs still attach', () => {
    const logged: string[] = [];
    const loaded = loadKernelSignals({
      signal: 'sched',
      objectPath: path.join(BPF_OBJECT_DIR, 'sched.bpf.o'),
      programs: SCHED_PROGRAMS.map((p) => (p.name === 'sched_wakeup_new' ? { ...p, tracepoint: 'bw_no_such_tracepoint' } : p)),
      log: (l) => logged.push(l),
    });
    try {
      assert.equal(loaded.links.length, SCHED_PROGRAMS.length - 1);
      assert.deepEqual(loaded.unavailable.map((u) => u.program), ['sched_wakeup_new']);
      assert.equal(logged.length, 1);
      assert.match(logged[0], /sched_wakeup_new.*bw_no_such_tracepoint/);
    } finally {
      for (const l of loaded.links) l.detach();
      loaded.obj.close();
    }
  });
});

describe('memory: page faults and OOM kills', () => {
  let memory: MemoryCollector;
  before(() => (memory = new MemoryCollector(opts)));
  after(() => memory.close());

  test('touching fresh memory gives minor faults, reading an evicted file major ones', async (t) => {
    const faults = await compileC('faults');
    const dir = fs.mkdtempSync(path.join(ROOT, '.bw-faults-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const child = spawn(faults, ['64', path.join(dir, 'file')], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await waitFor('the fault fixture', () => (out.includes('done') ? true : undefined), 20_000, 20);
    // Faults are counted at the thread's next fault or at its exit: let it exit.
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.end();
    await exited;
    const got = await collect(memory);
    const pts = pointsOf(got, child.pid, KERNEL_METRIC.pageFaults);
    const minor = sumValues(pts.filter((p) => p.attributes[KERNEL_ATTR.faultType] === 'minor'));
    const major = sumValues(pts.filter((p) => p.attributes[KERNEL_ATTR.faultType] === 'major'));
    assert.ok(minor >= 16384, `64 MiB of fresh 4 KiB pages: ${minor} minor faults`);
    assert.ok(major >= 100, `4 MiB of evicted file pages: ${major} major faults`);
  });

  test('a process the OOM killer kills in a memory-limited cgroup is reported with its cgroup', async (t) => {
    const alloc = await compileC('alloc');
    const name = `bwtest-oom-${process.pid}`;
    const cg = memoryLimitedCgroup(name, 32 << 20);
    // Started held on stdin, moved into the cgroup, then let go: the exec'd allocator is the victim.
    const child = spawn('sh', ['-c', `read go; exec ${alloc}`], { stdio: ['pipe', 'ignore', 'ignore'] });
    t.after(() => {
      child.kill('SIGKILL');
      cg.remove();
    });
    cg.add(child.pid!);
    const ended = new Promise<string | null>((r) => child.once('exit', (_code, signal) => r(signal)));
    child.stdin!.end('go\n');
    assert.equal(await ended, 'SIGKILL', 'the allocator was killed');
    const got = await collectUntil(memory, 'the OOM event', (all) => pointsOf(all, child.pid, KERNEL_METRIC.oomKills).length > 0);
    const [kill] = pointsOf(got, child.pid, KERNEL_METRIC.oomKills);
    assert.equal(kill.value, 1);
    assert.equal(kill.attributes[KERNEL_ATTR.processPid], child.pid);
    assert.equal(kill.attributes[KERNEL_ATTR.processCommand], 'alloc');
    assert.match(String(kill.attributes[KERNEL_ATTR.cgroupPath]), new RegExp(`/${name}$`));
    assert.ok(got.find((c) => c.pid === child.pid && c.identity), 'the victim\'s identity travels with the kill');
  });
});

describe('block: I/O latency per device and issuing process', () => {
  let block: BlockCollector;
  before(() => (block = new BlockCollector(opts)));
  after(() => block.close());

  test('direct I/O on a file shows as reads and writes of its device, by the issuing process', async (t) => {
    const dir = fs.mkdtempSync(path.join(ROOT, '.bw-dio-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'data');
    const st = fs.statSync(dir);
    const expected = backingDisk(st.dev);
    // Allocated and on disk first, so the direct writes overwrite in place: a direct write that
    // must allocate may be turned into buffered I/O, written back later by a kernel thread.
    assert.equal((await runToEnd('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=1', 'conv=fsync', 'status=none'])).code, 0);
    await collect(block);
    const w = await runToEnd('dd', ['if=/dev/zero', `of=${file}`, 'bs=4k', 'count=256', 'oflag=direct', 'conv=notrunc', 'status=none']);
    const r = await runToEnd('dd', [`if=${file}`, 'of=/dev/null', 'bs=4k', 'iflag=direct', 'status=none']);
    assert.equal(w.code, 0);
    assert.equal(r.code, 0);
    const got = await collect(block);
    const writes = pointsOf(got, w.pid, KERNEL_METRIC.blockIoDuration).filter((p) => p.attributes[KERNEL_ATTR.blockOperation] === 'write');
    const reads = pointsOf(got, r.pid, KERNEL_METRIC.blockIoDuration).filter((p) => p.attributes[KERNEL_ATTR.blockOperation] === 'read');
    t.diagnostic(`dd wrote ${histCount(writes)} and read ${histCount(reads)} requests on ${expected}`);
    assert.deepEqual(new Set(writes.map((p) => p.attributes[KERNEL_ATTR.blockDevice])), new Set([expected]));
    assert.ok(histCount(writes) >= 256, `256 direct writes: ${histCount(writes)}`);
    assert.ok(histCount(reads) >= 256, `256 direct reads: ${histCount(reads)}`);
    assert.ok(histSum(reads) > 0);
  });
});

/** The whole disk a st_dev lives on: a partition's parent, as /sys/dev/block shows it. */
function backingDisk(dev: number): string {
  // glibc's dev_t layout (gnu_dev_major/minor).
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  const sys = fs.realpathSync(`/sys/dev/block/${major}:${minor}`);
  const disk = fs.existsSync(path.join(sys, 'partition')) ? path.dirname(sys) : sys;
  const [maj, min] = fs.readFileSync(path.join(disk, 'dev'), 'utf8').trim().split(':').map(Number);
  return blockDeviceName(maj, min);
}

describe('lifecycle: exec with build id, exit with code or signal', () => {
  let lifecycle: LifecycleCollector;
  before(() => (lifecycle = new LifecycleCollector(opts)));
  after(() => lifecycle.close());

  test('rebuilding and restarting a program shows a new build id; a kill shows its signal', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-deploy-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const bin = path.join(dir, 'bw-version');
    const buildIdOf = async () => /Build ID: ([0-9a-f]+)/.exec((await run('readelf', ['-n', bin])).stdout)![1];
    await compileC('version', { out: bin, defines: { VERSION: 1 } });
    const id1 = await buildIdOf();
    await collect(lifecycle);
    const v1 = await runToEnd(bin, ['300']);
    await compileC('version', { out: bin, defines: { VERSION: 2 } });
    const id2 = await buildIdOf();
    assert.notEqual(id1, id2);
    const v2child = spawn(bin, ['10000'], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.after(() => v2child.kill('SIGKILL'));
    await new Promise((r) => v2child.stdout.once('data', r));
    await new Promise((r) => setTimeout(r, 300)); // a crash some time after the start
    const v2ended = new Promise((r) => v2child.once('exit', r));
    v2child.kill('SIGKILL');
    await v2ended;
    const got = await collectUntil(lifecycle, 'both runs', (all) => pointsOf(all, v2child.pid, KERNEL_METRIC.processExits).length > 0);
    const runs = [
      { pid: v1.pid, id: id1, exit: { [KERNEL_ATTR.exitCode]: 0 } },
      { pid: v2child.pid!, id: id2, exit: { [KERNEL_ATTR.exitCode]: 137, [KERNEL_ATTR.exitSignal]: 'SIGKILL' } },
    ];
    for (const { pid, id, exit } of runs) {
      const expected = { [KERNEL_ATTR.executableName]: 'bw-version', [KERNEL_ATTR.buildId]: id };
      assert.deepEqual(pointsOf(got, pid, KERNEL_METRIC.processStarts).map((p) => [p.attributes, p.value]), [[expected, 1]]);
      assert.deepEqual(pointsOf(got, pid, KERNEL_METRIC.processExits).map((p) => [p.attributes, p.value]), [[{ ...expected, ...exit }, 1]]);
      const identity = got.find((c) => c.pid === pid)?.identity;
      assert.equal(identity?.buildId, id, 'the resource carries the build id too');
    }
  });
});
