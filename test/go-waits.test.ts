// Lock wait and GC assist (issue 22 items 4, 5) on real Go 1.19 processes of the lockserver
// fixture: requests that queue on an RWMutex are measured against their known critical
// sections, and the same handlers run one at a time show no wait; an allocating handler
// shows GC assist time and a computing one none.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoWaitsCollector, waitingFunction } from '../agent/collectors/go-waits.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import type { DiscoveredProcess } from '../agent/discovery.ts';
import { ElfFile } from '../agent/goinspect/elf.ts';
import { inspectGoBinary, type GoBinaryInfo } from '../agent/goinspect/index.ts';
import { GoFunctionTable } from '../agent/goinspect/pclntab.ts';
import { x86CallSites } from '../agent/goinspect/instructions.ts';
import { GO_ATTR, GO_METRIC, HTTP_SERVER_DURATION } from '../common/catalogue.ts';
import { buildGoFixture } from './helpers/go.ts';
import { manage, tempDir, waitFor, type Managed } from './lib/processes.ts';

interface Server {
  proc: Managed;
  pid: number;
  base: string;
  info: GoBinaryInfo;
}

const servers: Server[] = [];
let waits: GoWaitsCollector;
let http: HttpServerCollector;

async function startServer(bin: string): Promise<Server> {
  const portFile = path.join(tempDir('bw-lockserver'), 'port');
  const proc = manage(spawn(bin, ['-port-file', portFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const port = await waitFor('lockserver port', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) || undefined, 10_000, 20);
  const pid = proc.child.pid!;
  const info = await inspectGoBinary(`/proc/${pid}/exe`);
  if ('reason' in info) throw new Error(info.reason);
  const s = { proc, pid, base: `http://127.0.0.1:${port}`, info };
  servers.push(s);
  const dp = { pid, exePath: `/proc/${pid}/exe`, exeDeleted: false, fileKey: info.fileKey, serviceName: 'lockserver' } as DiscoveredProcess;
  waits.attachGo(dp, info);
  await waits.whenAttached(pid);
  assert.ok(waits.isAttached(pid), `go-waits attached to pid ${pid}`);
  http.attachGo(dp, info);
  return s;
}

async function get(url: string): Promise<void> {
  const res = await fetch(url);
  await res.text();
  assert.equal(res.status, 200, url);
}

type Point = { attributes: Record<string, unknown>; value: ExponentialHistogram };
async function collectPoints(): Promise<{ pid: number; metric: string; point: Point }[]> {
  const window = { startNs: 1n, endNs: 2n, serviceOf: () => 'lockserver' };
  const out: { pid: number; metric: string; point: Point }[] = [];
  for (const c of [waits, http]) {
    for (const { pid, metrics } of await c.collect(window)) {
      for (const m of metrics as MetricData[]) for (const p of m.dataPoints as Point[]) out.push({ pid: pid!, metric: m.descriptor.name, point: p });
    }
  }
  return out;
}

function total(points: Awaited<ReturnType<typeof collectPoints>>, pid: number, metric: string, match: (attrs: Record<string, unknown>) => boolean = () => true) {
  const ps = points.filter((p) => p.pid === pid && p.metric === metric && match(p.point.attributes));
  return { count: ps.reduce((n, p) => n + p.point.value.count, 0), sum: ps.reduce((n, p) => n + (p.point.value.sum ?? 0), 0) };
}

before(async () => {
  waits = new GoWaitsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_waits.bpf.o') });
  http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
});

after(async () => {
  waits?.close();
  http?.close();
  await Promise.all(servers.map((s) => s.proc.stop()));
});

test('the waiting function is the first frame outside package sync and the runtime', () => {
  assert.equal(waitingFunction(['sync.(*Mutex).lockSlow', 'sync.(*RWMutex).Lock', 'main.writeHandler', 'net/http.HandlerFunc.ServeHTTP']), 'main.writeHandler');
  assert.equal(waitingFunction([undefined, 'main.(*cache).get']), 'main.(*cache).get');
  assert.equal(waitingFunction(['sync.(*Mutex).lockSlow', 'runtime.goexit']), undefined);
});

test('call sites: only direct calls of the callee, with the instruction after each', () => {
  // At 0x1000: call 0x2000; mov rax, rbx; call 0x3000; call 0x2000; ret
  const rel = (at: number, target: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(target - (at + 5));
    return [...b];
  };
  const code = Uint8Array.from([0xe8, ...rel(0x1000, 0x2000), 0x48, 0x89, 0xd8, 0xe8, ...rel(0x1008, 0x3000), 0xe8, ...rel(0x100d, 0x2000), 0xc3]);
  const fail = (a: number): never => {
    throw new Error(`undecodable at ${a}`);
  };
  assert.deepEqual(x86CallSites(code, 0x1000, 0x2000, fail), [
    { call: 0x1000, next: 0x1005 },
    { call: 0x100d, next: 0x1012 },
  ]);
  assert.deepEqual(x86CallSites(code, 0x1000, 0x4000, fail), []);
});

test('.gopclntab names the function around an address as the symbol table does', async () => {
  const bin = await buildGoFixture('lockserver');
  const elf = await ElfFile.open(bin);
  try {
    const table = await GoFunctionTable.read(elf);
    const syms = await elf.symbols();
    for (const name of ['main.writeHandler', 'runtime.semacquire1', 'sync.(*Mutex).lockSlow', 'net/http.(*conn).serve']) {
      const s = syms.get(name);
      assert.ok(s, `${name} in .symtab`);
      assert.equal(table.nameAt(s.value), name);
      assert.equal(table.nameAt(s.value + s.size - 1), name, `${name}'s last byte`);
    }
    assert.equal(table.nameAt(0x1000), undefined, 'an address below the Go text');
  } finally {
    await elf.close();
  }
});

test('requests queued on an RWMutex: lock wait is the critical sections they waited for, and most of their time', async () => {
  const bin = await buildGoFixture('lockserver');
  const s = await startServer(bin);
  const info = s.info.probeSets.goLockWait;
  assert.ok(info, 'goLockWait resolved');
  // N requests arrive together and each holds the write lock for HOLD: the i-th waits i·HOLD.
  const N = 6;
  const HOLD = 0.1;
  await Promise.all(Array.from({ length: N }, () => get(`${s.base}/write?hold=${HOLD * 1000}ms`)));
  const points = await collectPoints();
  const wait = total(points, s.pid, GO_METRIC.lockWait, (a) => a[GO_ATTR.codeFunction] === 'main.writeHandler');
  const requests = total(points, s.pid, HTTP_SERVER_DURATION);
  assert.equal(requests.count, N);
  assert.equal(wait.count, N - 1, 'every request but the first waited once');
  const expected = (HOLD * N * (N - 1)) / 2;
  assert.ok(Math.abs(wait.sum - expected) < 0.1 * expected, `lock wait ${wait.sum.toFixed(3)} s ≈ ${expected} s (the critical sections queued behind)`);
  const share = wait.sum / requests.sum;
  // (N-1)/(N+1) of request time is waiting; the rest is the critical sections themselves.
  assert.ok(share > 0.5 && Math.abs(share - (N - 1) / (N + 1)) < 0.08, `lock wait share ${share.toFixed(2)} of request time`);
  const other = total(points, s.pid, GO_METRIC.lockWait, (a) => a[GO_ATTR.codeFunction] !== 'main.writeHandler');
  assert.ok(other.sum < 0.01, `no other waiting function of note (${other.sum} s)`);
});

test('readers behind a writer wait in RLock, named by their handler', async () => {
  const bin = await buildGoFixture('lockserver');
  const s = await startServer(bin);
  const writer = get(`${s.base}/write?hold=400ms`);
  await new Promise((r) => setTimeout(r, 100)); // the writer holds the lock by then
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 5 }, () => get(`${s.base}/read`)));
  const readersMs = performance.now() - t0;
  await writer;
  const points = await collectPoints();
  const wait = total(points, s.pid, GO_METRIC.lockWait, (a) => a[GO_ATTR.codeFunction] === 'main.readHandler');
  assert.equal(wait.count, 5);
  // Each reader waited from its arrival to the writer's unlock: at most what the client saw.
  assert.ok(wait.sum <= (5 * readersMs) / 1000 + 0.005, `read waits ${wait.sum.toFixed(3)} s within the ${readersMs.toFixed(0)} ms the readers took`);
  assert.ok(wait.sum >= 5 * 0.2, `read waits ${wait.sum.toFixed(3)} s: each reader waited most of the writer's remaining 300 ms`);
});

test('the same handlers one request at a time: no lock wait', async () => {
  const bin = await buildGoFixture('lockserver');
  const s = await startServer(bin);
  for (let i = 0; i < 20; i++) {
    await get(`${s.base}/write?hold=5ms`);
    await get(`${s.base}/read`);
  }
  const points = await collectPoints();
  const requests = total(points, s.pid, HTTP_SERVER_DURATION);
  assert.equal(requests.count, 40);
  const wait = total(points, s.pid, GO_METRIC.lockWait);
  assert.ok(wait.sum < 0.001 * requests.sum + 0.0005, `lock wait ${wait.sum} s of ${requests.sum.toFixed(3)} s request time`);
  assert.equal(total(points, s.pid, GO_METRIC.lockWait, (a) => String(a[GO_ATTR.codeFunction]).startsWith('main.')).count, 0);
});

test('allocation-heavy requests stall in GC assist; computing ones do not', async () => {
  const bin = await buildGoFixture('lockserver');
  const alloc = await startServer(bin);
  const spin = await startServer(bin);
  await Promise.all([
    Promise.all(Array.from({ length: 4 }, () => get(`${alloc.base}/alloc?n=2000000`))),
    Promise.all(Array.from({ length: 4 }, () => get(`${spin.base}/spin?n=20000000`))),
  ]);
  const points = await collectPoints();
  const assist = total(points, alloc.pid, GO_METRIC.gcAssist);
  const allocRequests = total(points, alloc.pid, HTTP_SERVER_DURATION);
  assert.equal(allocRequests.count, 4);
  assert.ok(assist.count > 0 && assist.sum > 0, `GC assist while allocating: ${assist.count} assists, ${assist.sum} s`);
  assert.ok(assist.sum < allocRequests.sum, 'assist time is part of the requests, never more');
  const none = total(points, spin.pid, GO_METRIC.gcAssist);
  assert.equal(total(points, spin.pid, HTTP_SERVER_DURATION).count, 4);
  assert.ok(none.sum < 0.001, `no GC assist while computing (${none.count} assists, ${none.sum} s)`);
  assert.equal(waits.takeDrops().get('inflight_unfinished') ?? 0, 0, 'every assist that started ended');
});

test('a PIE build: the SemacquireMutex return site is found through the load bias', async () => {
  const bin = await buildGoFixture('lockserver', { pie: true });
  const s = await startServer(bin);
  await Promise.all(Array.from({ length: 3 }, () => get(`${s.base}/write?hold=50ms`)));
  const wait = total(await collectPoints(), s.pid, GO_METRIC.lockWait, (a) => a[GO_ATTR.codeFunction] === 'main.writeHandler');
  assert.equal(wait.count, 2);
  assert.ok(Math.abs(wait.sum - 0.15) < 0.03, `PIE lock wait ${wait.sum.toFixed(3)} s ≈ 0.15 s`);
});
