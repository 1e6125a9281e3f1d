// Go instrumentation in depth, all real: PostgreSQL, Redis and etcd servers on loopback, a Go
// frontend (net/http → gRPC, HTTP client) and backend (gRPC → lib/pq, redigo, etcd client;
// HTTP /redis5 → go-redis v5),
// the go_calls BPF object attached by the agent, spans shipped to the gateway and read back
// through GET /v1/slow. Known injected delays decide every expected number.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { bucketLowerBound, bucketUpperBound, relativeError } from '../common/exphist.ts';
import { GO_METRIC } from '../common/catalogue.ts';
import { startGateway, LOCAL_TENANT, type RunningGateway } from '../lambda/local/server.ts';
import { startTopology, get, type Topology } from './lib/go-topology.ts';
import { getJson, manage, tempDir, waitFor } from './lib/processes.ts';
import { buildGoFixture } from './helpers/go.ts';
import { spawn } from 'node:child_process';
import path from 'node:path';

const KEY = 'go-calls-test-key';
/** What a loaded 2-core CI VM may add to an injected delay (scheduling, the round trip). */
const SLACK = 0.1;
let topo: Topology;
let gateway: RunningGateway;
let agent: Agent;
let collector: GoCallsCollector;
const agentLog: string[] = [];

/** The traffic, in order; each entry is one /order request (query string) and how many times. */
const PLAN: [string, number][] = [
  ['etcd=1&ping_ms=5', 5], // fast: gRPC + SQL + Redis + etcd + outbound HTTP
  ['pg_ms=300', 2], // slow in PostgreSQL
  ['redis_ms=250&spawn=1&spawn_grpc=1', 1], // slow in Redis, both calls made from spawned goroutines
  ['ping_ms=300', 1], // slow in the frontend's outbound HTTP call
  ['sleep_ms=160&pg_ms=150', 1], // slow, but no sub-call dominates in the backend
  ['fail=1', 1], // gRPC NotFound
  ['ping_ms=1&ping_status=503', 1], // the outbound HTTP call answers 503
];
/** Direct backend /redis5 requests (go-redis v5): each makes SET, GET and, with ms > 0, EVAL. */
const REDIS5_PLAN: [string, number][] = [
  ['ms=0', 2],
  ['ms=0&miss=1', 1], // one more GET, of a missing key: redis.Nil, not an error
  ['ms=0&bad=1', 1], // an unknown command: the one error (answered 500)
  ['ms=120', 1],
];

type Point = { attributes: Record<string, unknown>; value: ExponentialHistogram | number };
let metrics: { pid: number; metrics: MetricData[] }[] = [];
let redis5Metrics: typeof metrics = [];

function points(pid: number, metric: string, match: Record<string, unknown> = {}, from = metrics): Point[] {
  return from
    .filter((m) => m.pid === pid)
    .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === metric).flatMap((d) => d.dataPoints as Point[]))
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
}

function count(pid: number, metric: string, match: Record<string, unknown> = {}): number {
  return points(pid, metric, match).reduce((n, p) => n + (typeof p.value === 'number' ? p.value : p.value.count), 0);
}

/** The bucket bounds (s) of a histogram holding exactly one value. */
function onlyBucket(h: ExponentialHistogram): [number, number] {
  const i = h.positive.bucketCounts.findIndex((c) => c > 0);
  assert.equal(h.count, 1);
  return [bucketLowerBound(h.positive.offset + i, h.scale), bucketUpperBound(h.positive.offset + i, h.scale)];
}

before(async () => {
  topo = await startTopology();
  gateway = await startGateway({ port: 0, dataDir: tempDir('bw-go-calls-gw'), apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
  // The HTTP server probes (and so the HTTP request roots of the slow breakdown) are http-server's.
  const http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  collector = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 100, log: (l) => agentLog.push(l), httpServer: http });
  agent = new Agent({
    endpoint: gateway.url,
    apiKey: KEY,
    spoolDir: tempDir('bw-go-calls-spool'),
    intervalMs: 3_600_000,
    discoveryIntervalMs: 200,
    log: (l) => agentLog.push(l),
    collectors: () => [http, collector],
  });
  await agent.start();
  for (const pid of [topo.backend.child.pid!, topo.frontend.child.pid!]) {
    await waitFor(`the agent to watch pid ${pid}`, () => (agent.services().has(pid) ? true : undefined), 15_000, 100);
    await collector.whenAttached(pid);
    assert.ok(collector.isAttached(pid), `pid ${pid} not attached: ${agentLog.join('\n')}`);
  }

  for (const [query, n] of PLAN) {
    for (let i = 0; i < n; i++) {
      const status = await get(topo.frontendPort, `/order?${query}`);
      assert.equal(status, query === 'fail=1' ? 502 : 200, query);
    }
  }
  for (let i = 0; i < 2; i++) assert.equal(await get(topo.frontendPort, '/gc'), 200);
  assert.equal(await get(topo.frontendPort, '/watch'), 200);
  metrics = (await collector.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined })) as typeof metrics;
  // go-redis traffic lands on the same series as redigo's; a drain of its own keeps them apart.
  for (const [query, n] of REDIS5_PLAN) {
    for (let i = 0; i < n; i++) assert.equal(await get(topo.backendHttpPort, `/redis5?${query}`), query.includes('bad=1') ? 500 : 200, query);
  }
  redis5Metrics = (await collector.collect({ startNs: 2n, endNs: 3n, serviceOf: () => undefined })) as typeof metrics;
});

after(async () => {
  await agent?.stop(2_000);
  await gateway?.close();
  await topo?.stop();
});

const ok = (q: string) => q !== 'fail=1';
const times = (pred: (q: string) => boolean) => PLAN.filter(([q]) => pred(q)).reduce((n, [, k]) => n + k, 0);

test('gRPC server and client calls are counted per method, status and peer', () => {
  const backend = topo.backend.child.pid!;
  const frontend = topo.frontend.child.pid!;
  const check = { 'rpc.system': 'grpc', 'rpc.service': 'grpc.health.v1.Health', 'rpc.method': 'Check' };
  assert.equal(count(backend, GO_METRIC.rpcServerDuration, { ...check, 'rpc.grpc.status_code': 0 }), times(ok));
  assert.equal(count(backend, GO_METRIC.rpcServerDuration, { ...check, 'rpc.grpc.status_code': 5 }), 1);
  const peer = { 'server.address': '127.0.0.1', 'server.port': topo.backendGrpcPort };
  assert.equal(count(frontend, GO_METRIC.rpcClientDuration, { ...check, ...peer, 'rpc.grpc.status_code': 0 }), times(ok));
  assert.equal(count(frontend, GO_METRIC.rpcClientDuration, { ...check, ...peer, 'rpc.grpc.status_code': 5 }), 1);
  // The /watch stream: one client stream and one server stream, each ending Unimplemented (12).
  const watch = { 'rpc.system': 'grpc', 'rpc.service': 'grpc.health.v1.Health', 'rpc.method': 'Watch', 'rpc.grpc.status_code': 12 };
  assert.equal(count(frontend, GO_METRIC.rpcClientDuration, { ...watch, ...peer }), 1);
  assert.equal(count(backend, GO_METRIC.rpcServerDuration, watch), 1);
  assert.equal(count(frontend, GO_METRIC.rpcClientDuration), times(() => true) + 1, 'no other gRPC client series');
});

test('etcd client calls are gRPC client calls to the etcd peer', () => {
  const backend = topo.backend.child.pid!;
  const etcd = { 'rpc.system': 'grpc', 'rpc.service': 'etcdserverpb.KV', 'server.address': '127.0.0.1', 'server.port': topo.etcdPort, 'rpc.grpc.status_code': 0 };
  const withEtcd = times((q) => q.includes('etcd=1'));
  assert.equal(count(backend, GO_METRIC.rpcClientDuration, { ...etcd, 'rpc.method': 'Put' }), withEtcd);
  assert.equal(count(backend, GO_METRIC.rpcClientDuration, { ...etcd, 'rpc.method': 'Range' }), withEtcd);
});

test('outbound HTTP calls carry method, peer and status; the 300 ms one lands in its bucket', () => {
  const frontend = topo.frontend.child.pid!;
  const attrs = { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': topo.backendHttpPort, 'http.response.status_code': 200 };
  assert.equal(count(frontend, GO_METRIC.httpClientDuration, attrs), times((q) => q.includes('ping_ms') && !q.includes('503')));
  assert.equal(count(frontend, GO_METRIC.httpClientDuration, { ...attrs, 'http.response.status_code': 503 }), 1);
  assert.equal(count(frontend, GO_METRIC.httpClientDuration), times((q) => q.includes('ping_ms')));
  const h = points(frontend, GO_METRIC.httpClientDuration, attrs)[0].value as ExponentialHistogram;
  assert.ok(h.max! >= 0.3 && h.max! < 0.3 + SLACK, `max ${h.max}`);
});

test('SQL operations: db.system from the driver, the PostgreSQL peer, the operation word only', () => {
  const backend = topo.backend.child.pid!;
  const select = { 'db.system': 'postgresql', 'db.operation.name': 'SELECT', 'server.address': '127.0.0.1', 'server.port': topo.pgPort };
  // One `SELECT 1` per successful request, plus `SELECT pg_sleep($1)` where pg_ms is set.
  assert.equal(count(backend, GO_METRIC.dbClientDuration, select), times(ok) + times((q) => q.includes('pg_ms')));
  assert.equal(count(backend, GO_METRIC.dbClientDuration, { 'db.system': 'postgresql' }), times(ok) + times((q) => q.includes('pg_ms')));
  const h = points(backend, GO_METRIC.dbClientDuration, select)[0].value as ExponentialHistogram;
  assert.ok(h.max! >= 0.3 && h.max! < 0.3 + SLACK, `max ${h.max}`);
});

test('Redis commands per command and peer; the 250 ms EVAL within one bucket of the truth', () => {
  const backend = topo.backend.child.pid!;
  const redis = { 'db.system': 'redis', 'server.address': '127.0.0.1', 'server.port': topo.redisPort };
  assert.equal(count(backend, GO_METRIC.dbClientDuration, { ...redis, 'db.operation.name': 'SET' }), times(ok));
  assert.equal(count(backend, GO_METRIC.dbClientDuration, { ...redis, 'db.operation.name': 'GET' }), times(ok));
  const evals = points(backend, GO_METRIC.dbClientDuration, { ...redis, 'db.operation.name': 'EVAL' });
  assert.equal(evals.length, 1);
  const h = evals[0].value as ExponentialHistogram;
  const [lo, hi] = onlyBucket(h);
  // The kernel's bucket holds the kernel's exact duration (the sum of one value), and is one
  // bucket wide: base − 1 ≈ 2.2% at scale 5. The server busy-waits 250 ms of it.
  assert.ok(lo < h.sum! && h.sum! <= hi, `sum ${h.sum} outside its bucket (${lo}, ${hi}]`);
  assert.ok(hi / lo - 1 <= 2 * relativeError(5) + 1e-9, `bucket (${lo}, ${hi}] wider than one bucket`);
  assert.ok(h.sum! >= 0.25 && h.sum! < 0.25 + SLACK, `EVAL took ${h.sum} s`);
});

test('go-redis v5 commands per command and peer, redis.Nil not an error; the 120 ms EVAL within one bucket of the truth', () => {
  const backend = topo.backend.child.pid!;
  const redis = { 'db.system': 'redis', 'server.address': '127.0.0.1', 'server.port': topo.redisPort };
  const requests = REDIS5_PLAN.reduce((n, [, k]) => n + k, 0);
  const got = (op: string) => points(backend, GO_METRIC.dbClientDuration, { ...redis, 'db.operation.name': op }, redis5Metrics);
  const total = (ps: Point[]) => ps.reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0);
  assert.equal(total(got('SET')), requests);
  assert.equal(total(got('GET')), requests + 1);
  assert.equal(total(points(backend, GO_METRIC.dbClientDuration, { 'error.type': 'error' }, redis5Metrics)), 1);
  assert.equal(total(got('NOSUCHCMD').filter((p) => p.attributes['error.type'] === 'error')), 1);
  assert.equal(total(points(backend, GO_METRIC.dbClientDuration, {}, redis5Metrics)), 2 * requests + 3, 'SET and GET per request, the miss, the bad one, one EVAL; no other series');
  const evals = got('EVAL');
  assert.equal(evals.length, 1);
  const h = evals[0].value as ExponentialHistogram;
  const [lo, hi] = onlyBucket(h);
  assert.ok(lo < h.sum! && h.sum! <= hi, `sum ${h.sum} outside its bucket (${lo}, ${hi}]`);
  assert.ok(hi / lo - 1 <= 2 * relativeError(5) + 1e-9, `bucket (${lo}, ${hi}] wider than one bucket`);
  assert.ok(h.sum! >= 0.12 && h.sum! < 0.12 + SLACK, `EVAL took ${h.sum} s`);
});

test('GC stop-the-world pauses and cycles are recorded for a process that forces GC', () => {
  const frontend = topo.frontend.child.pid!;
  assert.ok(count(frontend, GO_METRIC.gcPause, { 'burnwatch.go.gc.phase': 'sweep_termination' }) >= 2);
  assert.ok(count(frontend, GO_METRIC.gcPause, { 'burnwatch.go.gc.phase': 'mark_termination' }) >= 2);
  assert.ok(count(frontend, GO_METRIC.gcCycles) >= 2);
  const pause = points(frontend, GO_METRIC.gcPause)[0].value as ExponentialHistogram;
  assert.ok(pause.max! > 0 && pause.max! < 0.1, `pause max ${pause.max}`);
});

interface SlowView {
  trace_id: string;
  start: number;
  route: string;
  status: number;
  duration: number;
  subcalls: { kind: string; peer: string; operation: string; start_offset: number; duration: number; error: boolean }[];
  dominant: { kind: string; peer: string; operation: string; duration: number; share: number } | null;
}

/**
 * Every injected delay makes a request take at least 250 ms. A request only just over the
 * 200 ms threshold is incidental — e.g. an etcd write waiting on the disk's fsync — and is
 * left out, so the assertions count only what the test injected.
 */
const INJECTED_MIN_S = 0.24;

async function slow(service: string, expected: number, which = (q: SlowView) => q.duration >= INJECTED_MIN_S): Promise<SlowView[]> {
  return waitFor(`${expected} slow requests of ${service}`, async () => {
    await agent.collectNow();
    const r = await getJson(`${gateway.url}/v1/slow?service=${service}&from=-10m&to=now`, KEY);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const wanted = (r.body.requests as SlowView[]).filter(which);
    return wanted.length >= expected ? wanted : undefined;
  }, 20_000, 300);
}

test('GET /v1/slow: the backend\'s slow requests name the dominant sub-call and its share', async () => {
  const all = await slow('topo-backend', 5);
  assert.equal(all.length, 5, JSON.stringify(all));
  // The backend's HTTP /ping that slept 300 ms is a slow request of its own, with no sub-calls.
  const ping = all.filter((r) => r.route === '/ping');
  assert.equal(ping.length, 1);
  assert.deepEqual([ping[0].status, ping[0].subcalls, ping[0].dominant], [200, [], null]);
  const requests = all.filter((r) => r.route !== '/ping');
  const pgPeer = `127.0.0.1:${topo.pgPort}`;
  const bySql = requests.filter((r) => r.dominant?.kind === 'sql');
  assert.equal(bySql.length, 2);
  for (const r of bySql) {
    assert.equal(r.route, '/grpc.health.v1.Health/Check');
    assert.equal(r.status, 0);
    assert.deepEqual({ ...r.dominant, duration: 0, share: 0 }, { kind: 'sql', peer: pgPeer, operation: 'SELECT', duration: 0, share: 0 });
    assert.ok(r.dominant!.duration >= 0.3 && r.dominant!.duration < 0.3 + SLACK, `dominant ${r.dominant!.duration} s`);
    assert.ok(r.dominant!.share > 0.9 && r.dominant!.share <= 1, `share ${r.dominant!.share}`);
    assert.ok(Math.abs(r.dominant!.share - r.dominant!.duration / r.duration) < 1e-9);
    assert.deepEqual(r.subcalls.map((s) => `${s.kind} ${s.operation}`), ['sql SELECT', 'sql SELECT', 'redis SET', 'redis GET']);
  }
  // Both Redis calls ran on a goroutine the handler spawned: lineage attributes them.
  const byRedis = requests.filter((r) => r.dominant?.kind === 'redis');
  assert.equal(byRedis.length, 1);
  assert.deepEqual(byRedis[0].subcalls.map((s) => `${s.kind} ${s.operation} ${s.peer}`), [
    `sql SELECT ${pgPeer}`, `redis SET 127.0.0.1:${topo.redisPort}`, `redis EVAL 127.0.0.1:${topo.redisPort}`, `redis GET 127.0.0.1:${topo.redisPort}`,
  ]);
  assert.equal(byRedis[0].dominant!.operation, 'EVAL');
  // 160 ms sleeping + 150 ms in PostgreSQL: slow, but no sub-call is over 200 ms.
  const none = requests.filter((r) => r.dominant === null);
  assert.equal(none.length, 1);
  assert.ok(none[0].duration > 0.3);
  const pgSleep = none[0].subcalls.find((s) => s.kind === 'sql' && s.duration > 0.1)!;
  assert.ok(pgSleep.start_offset >= 0.16 && pgSleep.duration >= 0.15 && pgSleep.duration <= 0.2, JSON.stringify(pgSleep));
});

test('GET /v1/slow: the frontend\'s slow requests point at the backend call, across goroutines too', async () => {
  const requests = await slow('topo-frontend', 5);
  assert.equal(requests.length, 5, JSON.stringify(requests));
  const grpcPeer = `127.0.0.1:${topo.backendGrpcPort}`;
  const byGrpc = requests.filter((r) => r.dominant?.kind === 'grpc');
  // pg_ms=300 ×2, redis_ms=250 (called from a spawned goroutine), sleep_ms+pg_ms: the gRPC call is the request.
  assert.equal(byGrpc.length, 4);
  for (const r of byGrpc) {
    assert.equal(r.route, '/order');
    assert.equal(r.status, 200);
    assert.equal(r.dominant!.peer, grpcPeer);
    assert.equal(r.dominant!.operation, '/grpc.health.v1.Health/Check');
    assert.ok(r.dominant!.share > 0.9);
  }
  const byHttp = requests.filter((r) => r.dominant?.kind === 'http');
  assert.equal(byHttp.length, 1);
  assert.deepEqual({ ...byHttp[0].dominant, duration: 0, share: 0 }, { kind: 'http', peer: `127.0.0.1:${topo.backendHttpPort}`, operation: 'GET', duration: 0, share: 0 });
  assert.deepEqual(byHttp[0].subcalls.map((s) => s.kind), ['http', 'grpc']);
});

test('goroutine count: read from the process memory, the runtime\'s own count plus its system goroutines', async () => {
  const frontend = topo.frontend.child.pid!;
  const got = await collector.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined });
  const res = await fetch(`http://127.0.0.1:${topo.frontendPort}/goroutines`);
  const user = Number(await res.text());
  const point = got.find((m) => m.pid === frontend)!.metrics.find((m) => m.descriptor.name === GO_METRIC.goroutines)!.dataPoints[0];
  const live = point.value as number;
  // NumGoroutine leaves out the runtime's own (GC workers, sweeper, scavenger, finalizer, …).
  assert.ok(live >= user && live <= user + 16, `counted ${live}, runtime says ${user} user goroutines`);
});

test('a later process of the same binary shares the load and its slot; it is detached when it exits', async () => {
  const second = manage(
    spawn(topo.frontendBin, ['-backend-grpc', `127.0.0.1:${topo.backendGrpcPort}`, '-backend-http', `127.0.0.1:${topo.backendHttpPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OTEL_SERVICE_NAME: 'topo-frontend-2' },
    }),
  );
  const pid = second.child.pid!;
  try {
    await waitFor('the agent to watch the second frontend', () => (agent.services().has(pid) ? true : undefined), 15_000, 100);
    await collector.whenAttached(pid);
    assert.ok(collector.isAttached(pid));
    assert.equal(collector.slotOf(pid), collector.slotOf(topo.frontend.child.pid!));
  } finally {
    await second.stop();
  }
  await waitFor('the exited process to be detached', () => (collector.isAttached(pid) ? undefined : true), 15_000, 100);
});

test('a stripped binary: std probes from the offsets table, library probes skipped with one log line and a self-metric each', async () => {
  const bin = await buildGoFixture('topo-backend', { stripped: true });
  collector.takeDrops();
  const stripped = manage(spawn(bin, [], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_SERVICE_NAME: 'topo-backend-stripped' } }));
  const pid = stripped.child.pid!;
  try {
    await waitFor('the agent to watch the stripped backend', () => (agent.services().has(pid) ? true : undefined), 15_000, 100);
    await collector.whenAttached(pid);
    assert.ok(collector.isAttached(pid));
    const lines = agentLog.filter((l) => l.includes(`pid ${pid} `) && l.includes('skipped'));
    // GOPATH builds carry no module versions, so without DWARF grpc/redigo/lib/pq cannot be resolved.
    for (const set of ['grpcServer', 'grpcClient', 'redigo']) {
      assert.equal(lines.filter((l) => l.includes(`probe set ${set} skipped`)).length, 1, `${set}: ${lines.join('\n')}`);
    }
    assert.ok(lines.every((l) => /no DWARF offset and no offsets-table entry/.test(l)), lines.join('\n'));
    const drops = collector.takeDrops();
    assert.equal(drops.get('skipped_grpcServer'), 1);
    assert.equal(drops.get('skipped_redigo'), 1);
  } finally {
    await stripped.stop();
  }
});

test('the slow threshold is per service: 50 ms for the backend makes a 100 ms request a slow one', async () => {
  collector.setSlowThreshold(topo.backend.child.pid!, 50_000_000n);
  assert.equal(await get(topo.frontendPort, '/order?sleep_ms=100'), 200);
  // Only this request takes 100–200 ms: under the default threshold, over the backend's 50 ms.
  const fast = await slow('topo-backend', 1, (r) => r.duration >= 0.1 && r.duration < 0.2);
  assert.equal(fast.length, 1, JSON.stringify(fast));
  assert.ok(fast[0].duration >= 0.1);
  assert.equal(fast[0].dominant, null);
});
