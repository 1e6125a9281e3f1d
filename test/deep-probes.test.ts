// The go-calls collector's costly probes on and off per process, all real: the Go topology
// (frontend: net/http → gRPC + HTTP client; backend: gRPC → PostgreSQL, Redis, etcd) with the
// go_calls object attached without them, then with them, then without again. The kernel's own
// count of uprobe attachments (the perf-event fds this process holds) says nothing leaks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { inspectGoBinary, type GoBinaryInfo } from '../agent/goinspect/index.ts';
import { GO_METRIC } from '../common/catalogue.ts';
import { startTopology, get, type Topology } from './lib/go-topology.ts';

let topo: Topology;
let collector: GoCallsCollector;
let frontend: number;
let backend: number;
let baselineFds: number;

/** Uprobes this process holds attached: libbpf keeps one perf-event fd per attachment. */
function perfEventFds(): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[perf_event]') n++;
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return n;
}

type Collected = { pid: number; metrics: MetricData[] }[];
let windowNs = 1n;
async function drain(): Promise<Collected> {
  const startNs = windowNs;
  windowNs += 1n;
  return (await collector.collect({ startNs, endNs: windowNs, serviceOf: () => undefined })) as Collected;
}

function histograms(collected: Collected, pid: number, metric: string): ExponentialHistogram[] {
  return collected
    .filter((m) => m.pid === pid)
    .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === metric).flatMap((d) => d.dataPoints as { value: unknown }[]))
    .map((p) => p.value as ExponentialHistogram);
}

function count(collected: Collected, pid: number, metric: string): number {
  return histograms(collected, pid, metric).reduce((n, h) => n + h.count, 0);
}

async function info(pid: number): Promise<GoBinaryInfo> {
  const i = await inspectGoBinary(`/proc/${pid}/exe`);
  if ('reason' in i) throw new Error(i.reason);
  return i;
}

before(async () => {
  topo = await startTopology();
  frontend = topo.frontend.child.pid!;
  backend = topo.backend.child.pid!;
  baselineFds = perfEventFds();
  collector = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 50, deepProbes: false });
  await collector.attach(frontend, `/proc/${frontend}/exe`, await info(frontend), topo.frontendService);
  await collector.attach(backend, `/proc/${backend}/exe`, await info(backend), topo.backendService);
});

after(async () => {
  collector?.close();
  await topo?.stop();
});

test('without deep probes only the always-on RED (gRPC server) counts; with them the client and database calls do; off again, every uprobe is gone', async () => {
  const redFds = perfEventFds();
  assert.ok(redFds > baselineFds, 'the gRPC server and GC probes are attached');
  assert.deepEqual(collector.deepPids(), []);
  assert.deepEqual(collector.deepCoverage(frontend), { httpClient: true, db: false });
  assert.deepEqual(collector.deepCoverage(backend), { httpClient: false, db: true });

  await drain();
  for (let i = 0; i < 3; i++) assert.equal(await get(topo.frontendPort, '/order?ping_ms=1'), 200);
  const shallow = await drain();
  assert.equal(count(shallow, backend, GO_METRIC.rpcServerDuration), 3, 'gRPC server RED is always on');
  assert.equal(count(shallow, frontend, GO_METRIC.rpcClientDuration), 0);
  assert.equal(count(shallow, frontend, GO_METRIC.httpClientDuration), 0);
  assert.equal(count(shallow, backend, GO_METRIC.dbClientDuration), 0);

  await Promise.all([collector.setDeepProbes(frontend, true), collector.setDeepProbes(backend, true)]);
  const deepFds = perfEventFds();
  assert.ok(deepFds > redFds, `deep probes add uprobes (${redFds} → ${deepFds})`);
  assert.deepEqual(collector.deepPids().sort(), [frontend, backend].sort());
  // Asking twice attaches nothing more.
  await collector.setDeepProbes(frontend, true);
  assert.equal(perfEventFds(), deepFds);

  for (let i = 0; i < 3; i++) assert.equal(await get(topo.frontendPort, '/order?ping_ms=1'), 200);
  const deep = await drain();
  assert.equal(count(deep, backend, GO_METRIC.rpcServerDuration), 3);
  assert.equal(count(deep, frontend, GO_METRIC.rpcClientDuration), 3);
  assert.equal(count(deep, frontend, GO_METRIC.httpClientDuration), 3);
  assert.ok(count(deep, backend, GO_METRIC.dbClientDuration) >= 6, 'SQL and Redis calls of each order');

  // A slow order while deep: its breakdown names the slow PostgreSQL query.
  collector.takeSlowRequests();
  assert.equal(await get(topo.frontendPort, '/order?pg_ms=300'), 200);
  await new Promise((r) => setTimeout(r, 300));
  const slow = collector.takeSlowRequests().filter((r) => r.pid === backend);
  assert.equal(slow.length, 1);
  assert.ok(slow[0].subcalls.some((s) => s.kind === 'sql' && s.durationNs >= 290_000_000n), JSON.stringify(slow[0].subcalls, (_, v) => (typeof v === 'bigint' ? String(v) : v)));

  await Promise.all([collector.setDeepProbes(frontend, false), collector.setDeepProbes(backend, false)]);
  assert.equal(perfEventFds(), redFds, 'detaching the deep probes leaves only the always-on ones');
  assert.deepEqual(collector.deepPids(), []);
  await drain();
  assert.equal(await get(topo.frontendPort, '/order?ping_ms=1'), 200);
  const again = await drain();
  assert.equal(count(again, backend, GO_METRIC.rpcServerDuration), 1);
  assert.equal(count(again, frontend, GO_METRIC.httpClientDuration), 0);
});

/** One keep-alive connection: net/http serves all its requests on one goroutine. */
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
function order(query: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: topo.frontendPort, path: `/order?${query}`, agent: keepAlive }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a request whose deep probes detached mid-flight is never ended by a later attach: no duration spans two requests', async () => {
  await collector.setDeepProbes(frontend, true);
  await drain();
  collector.takeSlowRequests();
  // Request 1 starts with the probes on; they all go while it runs (its outbound call outlasts
  // the detach, which waits for the kernel at each uprobe).
  let firstDone = false;
  const first = order('ping_ms=8000').then((s) => ((firstDone = true), s));
  await sleep(250);
  const fds = perfEventFds();
  const t0 = performance.now();
  await collector.setDeepProbes(frontend, false);
  const detachMs = performance.now() - t0;
  console.log(`# detached ${fds - perfEventFds()} deep uprobes of one process in ${detachMs.toFixed(0)} ms`);
  assert.equal(firstDone, false, 'request 1 must still run once its probes are gone');
  assert.equal(await first, 200);
  // Request 2, on the same connection and goroutine, starts without them; they come back while it runs.
  const second = order('ping_ms=1500');
  await sleep(250);
  await collector.setDeepProbes(frontend, true);
  assert.equal(await second, 200);
  await sleep(300);
  // Request 2 lasts ≈1.5 s: anything much longer would be request 1's start ended by request 2's end.
  for (const r of collector.takeSlowRequests().filter((x) => x.pid === frontend)) {
    assert.ok(r.durationNs < 3_000_000_000n, `a slow record of ${r.durationNs} ns spans two requests`);
  }
  for (const h of histograms(await drain(), frontend, GO_METRIC.httpClientDuration)) {
    assert.ok((h.max ?? 0) < 3, `an outbound call of ${h.max} s spans two requests`);
  }
  await collector.setDeepProbes(frontend, false);
  keepAlive.destroy();
});

test('a process that exits while deep is detached cleanly', async () => {
  await collector.setDeepProbes(backend, true);
  const before = perfEventFds();
  await topo.backend.stop();
  collector.processExited(backend);
  assert.ok(perfEventFds() < before);
  assert.deepEqual(collector.deepPids(), []);
  await collector.setDeepProbes(backend, false); // a late request for a gone process is a no-op
  await collector.setDeepProbes(frontend, false);
  collector.processExited(frontend);
  assert.equal(perfEventFds(), baselineFds, 'no uprobe left attached');
});
