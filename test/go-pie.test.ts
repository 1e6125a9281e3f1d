// The Go topology built with -buildmode=pie, watched by the real agent: itabs and variables
// are found through each process's load bias, so SQL and Redis peers, db.system, gRPC status
// codes and the goroutine count are what the non-PIE build gives. The backend's gRPC calls
// (HTTP/2 on grpc-go's own transport) are not counted as HTTP server requests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { withElfFile } from '../agent/goinspect/elf.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { GO_METRIC, HTTP_SERVER_DURATION } from '../common/catalogue.ts';
import { startGateway, LOCAL_TENANT, type RunningGateway } from '../lambda/local/server.ts';
import { startTopology, get, type Topology } from './lib/go-topology.ts';
import { manage, tempDir, waitFor, type Managed } from './lib/processes.ts';
import { spawn } from 'node:child_process';

const KEY = 'go-pie-test-key';
let topo: Topology;
let gateway: RunningGateway;
let agent: Agent;
let calls: GoCallsCollector;
let http: HttpServerCollector;
const agentLog: string[] = [];
let metrics: { pid: number; metrics: MetricData[] }[] = [];
let httpMetrics: { pid: number; metrics: MetricData[] }[] = [];

/** /order requests (query, times) and the frontend's answer. */
const PLAN: [string, number, number][] = [
  ['etcd=1&ping_ms=1', 4, 200], // gRPC + SQL + Redis + etcd + outbound HTTP
  ['fail=1', 2, 502], // gRPC NotFound
  ['ping_ms=1&ping_status=503', 1, 200],
];
const times = (pred: (q: string) => boolean) => PLAN.filter(([q]) => pred(q)).reduce((n, [, k]) => n + k, 0);
const ok = (q: string) => q !== 'fail=1';

type Point = { attributes: Record<string, unknown>; value: ExponentialHistogram | number };
function count(from: typeof metrics, pid: number, metric: string, match: Record<string, unknown> = {}): number {
  return from
    .filter((m) => m.pid === pid)
    .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === metric).flatMap((d) => d.dataPoints as Point[]))
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + (typeof p.value === 'number' ? p.value : p.value.count), 0);
}

before(async () => {
  topo = await startTopology({ pie: true, frontendService: 'pie-frontend', backendService: 'pie-backend' });
  for (const bin of [topo.frontendBin, topo.backendBin]) {
    assert.equal(await withElfFile(bin, async (elf) => elf.type), 3, `${bin} is a PIE (ET_DYN)`);
  }
  gateway = await startGateway({ port: 0, dataDir: tempDir('bw-go-pie-gw'), apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
  http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  calls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 100, log: (l) => agentLog.push(l), httpServer: http });
  agent = new Agent({
    endpoint: gateway.url,
    apiKey: KEY,
    spoolDir: tempDir('bw-go-pie-spool'),
    intervalMs: 3_600_000,
    discoveryIntervalMs: 200,
    log: (l) => agentLog.push(l),
    collectors: () => [calls, http],
  });
  await agent.start();
  for (const pid of [topo.backend.child.pid!, topo.frontend.child.pid!]) {
    await waitFor(`the agent to watch pid ${pid}`, () => (agent.services().has(pid) ? true : undefined), 15_000, 100);
    await calls.whenAttached(pid);
    assert.ok(calls.isAttached(pid), `pid ${pid} not attached: ${agentLog.join('\n')}`);
    await waitFor(`the http-server probes on pid ${pid}`, () => (http.isAttached(pid) ? true : undefined), 15_000, 100);
  }
  for (const [query, n, status] of PLAN) {
    for (let i = 0; i < n; i++) assert.equal(await get(topo.frontendPort, `/order?${query}`), status, query);
  }
  metrics = (await calls.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined })) as typeof metrics;
  httpMetrics = (await http.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined })) as typeof metrics;
});

after(async () => {
  await agent?.stop(2_000);
  await gateway?.close();
  await topo?.stop();
});

/** Another process of the PIE frontend binary, watched by the agent; resolves once attached. */
async function anotherFrontend(): Promise<Managed> {
  const m = manage(
    spawn(topo.frontendBin, ['-backend-grpc', `127.0.0.1:${topo.backendGrpcPort}`, '-backend-http', `127.0.0.1:${topo.backendHttpPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OTEL_SERVICE_NAME: 'pie-frontend-2' },
    }),
  );
  const pid = m.child.pid!;
  await waitFor('the agent to watch the second frontend', () => (agent.services().has(pid) ? true : undefined), 15_000, 100);
  await calls.whenAttached(pid);
  assert.ok(calls.isAttached(pid));
  return m;
}

async function stopAndForget(m: Managed): Promise<void> {
  const pid = m.child.pid!;
  await m.stop();
  await waitFor('the exited process to be detached', () => (calls.isAttached(pid) ? undefined : true), 15_000, 100);
  await calls.collect({ startNs: 3n, endNs: 4n, serviceOf: () => undefined }); // its last data read, its slot freed
  assert.equal(calls.slotOf(pid), undefined);
}

test('PIE: each process of one binary gets a slot of its own (its own load bias), freed when it exits', async () => {
  const first = topo.frontend.child.pid!;
  const second = await anotherFrontend();
  const slot = calls.slotOf(second.child.pid!);
  assert.notEqual(slot, undefined);
  assert.notEqual(slot, calls.slotOf(first));
  await stopAndForget(second);
  const third = await anotherFrontend();
  try {
    assert.equal(calls.slotOf(third.child.pid!), slot, 'the freed slot is used again');
  } finally {
    await stopAndForget(third);
  }
});

test('PIE: SQL calls carry db.system and the PostgreSQL peer; Redis commands their peer', () => {
  const backend = topo.backend.child.pid!;
  const select = { 'db.system': 'postgresql', 'db.operation.name': 'SELECT', 'server.address': '127.0.0.1', 'server.port': topo.pgPort };
  assert.equal(count(metrics, backend, GO_METRIC.dbClientDuration, select), times(ok));
  assert.equal(count(metrics, backend, GO_METRIC.dbClientDuration, { 'db.system': 'other_sql' }), 0);
  const redis = { 'db.system': 'redis', 'server.address': '127.0.0.1', 'server.port': topo.redisPort };
  assert.equal(count(metrics, backend, GO_METRIC.dbClientDuration, { ...redis, 'db.operation.name': 'SET' }), times(ok));
  assert.equal(count(metrics, backend, GO_METRIC.dbClientDuration, { ...redis, 'db.operation.name': 'GET' }), times(ok));
  // Every SQL and Redis call has its peer: none without one.
  const all = count(metrics, backend, GO_METRIC.dbClientDuration);
  assert.equal(all, 3 * times(ok));
});

test('PIE: gRPC status codes on both sides, with the client peer', () => {
  const backend = topo.backend.child.pid!;
  const frontend = topo.frontend.child.pid!;
  const check = { 'rpc.system': 'grpc', 'rpc.service': 'grpc.health.v1.Health', 'rpc.method': 'Check' };
  const peer = { 'server.address': '127.0.0.1', 'server.port': topo.backendGrpcPort };
  assert.equal(count(metrics, backend, GO_METRIC.rpcServerDuration, { ...check, 'rpc.grpc.status_code': 0 }), times(ok));
  assert.equal(count(metrics, backend, GO_METRIC.rpcServerDuration, { ...check, 'rpc.grpc.status_code': 5 }), times((q) => !ok(q)));
  assert.equal(count(metrics, frontend, GO_METRIC.rpcClientDuration, { ...check, ...peer, 'rpc.grpc.status_code': 0 }), times(ok));
  assert.equal(count(metrics, frontend, GO_METRIC.rpcClientDuration, { ...check, ...peer, 'rpc.grpc.status_code': 5 }), times((q) => !ok(q)));
  const etcd = { 'rpc.service': 'etcdserverpb.KV', 'server.address': '127.0.0.1', 'server.port': topo.etcdPort, 'rpc.grpc.status_code': 0 };
  assert.equal(count(metrics, backend, GO_METRIC.rpcClientDuration, { ...etcd, 'rpc.method': 'Put' }), times((q) => q.includes('etcd=1')));
});

test('PIE: outbound HTTP with its peer; server requests per route and status; gRPC calls are not HTTP requests', () => {
  const backend = topo.backend.child.pid!;
  const frontend = topo.frontend.child.pid!;
  const ping = { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': topo.backendHttpPort };
  assert.equal(count(metrics, frontend, GO_METRIC.httpClientDuration, { ...ping, 'http.response.status_code': 200 }), 4);
  assert.equal(count(metrics, frontend, GO_METRIC.httpClientDuration, { ...ping, 'http.response.status_code': 503 }), 1);
  const route = (r: string, status: number) => ({ 'http.request.method': 'GET', 'http.route': r, 'http.response.status_code': status });
  assert.equal(count(httpMetrics, frontend, HTTP_SERVER_DURATION, route('/order', 200)), times(ok));
  assert.equal(count(httpMetrics, frontend, HTTP_SERVER_DURATION, route('/order', 502)), times((q) => !ok(q)));
  assert.equal(count(httpMetrics, frontend, HTTP_SERVER_DURATION), PLAN.reduce((n, [, k]) => n + k, 0));
  // The backend served 7 gRPC calls (HTTP/2 on grpc-go's transport) and 5 HTTP /ping: only the latter are HTTP requests.
  assert.equal(count(httpMetrics, backend, HTTP_SERVER_DURATION, route('/ping', 200)), 4);
  assert.equal(count(httpMetrics, backend, HTTP_SERVER_DURATION, route('/ping', 503)), 1);
  assert.equal(count(httpMetrics, backend, HTTP_SERVER_DURATION), 5);
  assert.equal(http.inflightCount(), 0);
});

test('PIE: the goroutine count is read through the load bias', async () => {
  const frontend = topo.frontend.child.pid!;
  const got = await calls.collect({ startNs: 2n, endNs: 3n, serviceOf: () => undefined });
  const user = Number(await (await fetch(`http://127.0.0.1:${topo.frontendPort}/goroutines`)).text());
  const point = got.find((m) => m.pid === frontend)?.metrics.find((m) => m.descriptor.name === GO_METRIC.goroutines)?.dataPoints[0];
  assert.ok(point, 'a goroutine count for the PIE frontend');
  const live = point.value as number;
  assert.ok(live >= user && live <= user + 16, `counted ${live}, runtime says ${user} user goroutines`);
});

test('PIE: a process gone before its load bias is read is refused and not left attached', async () => {
  const info = await inspectGoBinary(topo.frontendBin);
  assert.ok('probeSets' in info);
  const gone = manage(spawn(topo.frontendBin, ['-backend-grpc', '127.0.0.1:1', '-backend-http', '127.0.0.1:1'], { stdio: 'ignore' }));
  const pid = gone.child.pid!;
  await gone.stop('SIGKILL');
  await assert.rejects(calls.attach(pid, topo.frontendBin, info, 'gone'), /ENOENT|no such|not in/i);
  assert.equal(calls.isAttached(pid), false);
  assert.equal(calls.slotOf(pid), undefined);
});
