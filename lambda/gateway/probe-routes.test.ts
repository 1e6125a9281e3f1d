// The probe API on the real app over real DuckDB stores: requests with their field-by-field 400s,
// alerts turning services deep, withdrawal, and the agents' reports read back for status.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayApp } from './app.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import { DuckDbSloStore } from '../slo/duckdb-store.ts';
import { SloEngine } from '../slo/engine.ts';
import type { AlertRecord } from '../slo/store.ts';
import { encodeMetrics, exponentialHistogramMetric, resourceMetrics } from '../../agent/export/otlp.ts';
import { AgentSelfMetrics } from '../../agent/export/self-metrics.ts';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { ATTR, HTTP_SERVER_DURATION, METRICS } from '../../common/catalogue.ts';

// Ahead of the wall clock: the agent self-metrics below refuse to end before they were made.
let nowMs = Math.floor(Date.now() / 1000) * 1000 + 60_000;
let store: DuckDbStore;
let sloStore: DuckDbSloStore;
let app: ReturnType<typeof createGatewayApp>;
const auth = { authorization: 'Bearer k' };

const call = (path: string, init: RequestInit = {}) => app.request(path, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
const post = (body: unknown) => call('/v1/probes', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const ns = (ms: number) => BigInt(ms) * 1_000_000n;

async function ingest(resources: Parameters<typeof encodeMetrics>[0]): Promise<void> {
  const res = await call('/v1/metrics', { method: 'POST', body: Buffer.from(encodeMetrics(resources)), headers: { 'content-type': 'application/x-protobuf' } });
  assert.equal(res.status, 200, await res.text());
}

before(async () => {
  store = await DuckDbStore.open({ path: ':memory:' });
  sloStore = await DuckDbSloStore.open(':memory:');
  app = createGatewayApp({ store, apiKeys: { k: 't' }, now: () => nowMs, slo: new SloEngine({ metricStore: store, sloStore, log: () => undefined }) });
  // checkout-api served requests a minute ago.
  const h = histogramFromBuckets(5, [[0, 3]], 3_000_000n);
  await ingest([
    resourceMetrics({ [ATTR.serviceName]: 'checkout-api', [ATTR.hostName]: 'h1' }, [
      exponentialHistogramMetric(METRICS[HTTP_SERVER_DURATION], [{ attributes: { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: '/', [ATTR.httpStatus]: 200 }, startTimeNs: ns(nowMs - 70_000), endTimeNs: ns(nowMs - 60_000), histogram: h }]),
    ]),
  ]);
});

after(async () => {
  await store.close();
  await sloStore.close();
});

test('bad probe requests get a 400 naming the field; an unknown service a 404', async () => {
  const cases: [unknown, number, RegExp][] = [
    ['{not json', 400, /^body: not JSON/],
    [[1], 400, /^body: must be a JSON object/],
    [{}, 400, /^service: required/],
    [{ service: '  ' }, 400, /^service: required/],
    [{ service: 'a\nb' }, 400, /^service: at most 256 characters, no control characters/],
    [{ service: 'checkout-api', for: 10 }, 400, /^for: must be a duration string/],
    [{ service: 'checkout-api', for: 'soon' }, 400, /^for: invalid duration "soon"/],
    [{ service: 'checkout-api', for: '0s' }, 400, /^for: must be more than 0 and at most 1d/],
    [{ service: 'checkout-api', for: '25h' }, 400, /^for: must be more than 0 and at most 1d/],
    [{ service: 'checkout-api', until: 'x' }, 400, /^until: unknown field/],
    [{ service: 'checkout-apj' }, 404, /^service: no service "checkout-apj" reported requests in the last 24h/],
  ];
  for (const [body, status, message] of cases) {
    const res = await post(body);
    assert.equal(res.status, status, JSON.stringify(body));
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.match(error.message, message, JSON.stringify(body));
  }
  assert.deepEqual(await (await call('/v1/probes')).json(), { services: [] }, 'nothing was stored');
});

test('a manual request is listed with the time it has left, ends by itself and can be withdrawn', async () => {
  const res = await post({ service: 'checkout-api', for: '10m' });
  assert.equal(res.status, 201);
  const { request } = (await res.json()) as { request: { until_ms: number; for: string } };
  assert.equal(request.until_ms, nowMs + 600_000);
  assert.equal(request.for, '10m');
  nowMs += 60_000;
  assert.deepEqual(await (await call('/v1/probes')).json(), {
    services: [{ service: 'checkout-api', reason: 'manual', until_ms: request.until_ms, remaining_ms: 540_000 }],
  });
  nowMs += 540_000;
  assert.deepEqual(await (await call('/v1/probes')).json(), { services: [] }, 'ended');

  assert.equal((await post({ service: 'checkout-api' })).status, 201); // default --for 10m
  assert.equal((await call('/v1/probes/checkout-api', { method: 'DELETE' })).status, 204);
  assert.deepEqual(await (await call('/v1/probes')).json(), { services: [] }, 'withdrawn');
  const again = await call('/v1/probes/checkout-api', { method: 'DELETE' });
  assert.equal(again.status, 404);
});

test('a pending alert makes its service deep within a second (the answer agents share), and resolving it ends that', async () => {
  const record = (state: AlertRecord['state']): AlertRecord => ({
    alert_id: 'checkout-api:availability/page-1h-5m#1', slo_id: 'checkout-api:availability', service: 'checkout-api', rule: 'page-1h-5m', severity: 'page',
    state, since_ms: nowMs - 5_000, state_since_ms: nowMs - 5_000, condition_since_ms: state === 'resolved' ? null : nowMs - 5_000, episode: 1, updated_ms: nowMs,
    burn_rates: {} as AlertRecord['burn_rates'], budget_remaining: 0.9, evidence: {} as AlertRecord['evidence'],
  });
  assert.deepEqual(await (await call('/v1/probes')).json(), { services: [] });
  await sloStore.saveAlerts('t', [record('pending')], []);
  nowMs += 1_000; // the agents' answers are shared for up to a second
  assert.deepEqual(await (await call('/v1/probes')).json(), {
    services: [{ service: 'checkout-api', reason: 'alert', since_ms: nowMs - 6_000, slos: ['checkout-api:availability'] }],
  });
  const [stored] = await sloStore.loadAlerts('t');
  await sloStore.saveAlerts('t', [{ ...record('resolved'), version: stored.version }], []);
  nowMs += 1_000;
  assert.deepEqual(await (await call('/v1/probes')).json(), { services: [] });
});

test('status: the desired set and what each agent reports attached, from its self-metric', async () => {
  assert.equal((await post({ service: 'checkout-api', for: '5m' })).status, 201);
  let state: { pid: number; service: string; deep: boolean; reason?: string; serverRed?: string }[] = [
    { pid: 11, service: 'checkout-api', deep: true, reason: 'manual', serverRed: 'syscalls' },
    { pid: 12, service: 'search', deep: false },
  ];
  // Only the probe gauge matters here: the other self-metrics read stats this stub lacks.
  const only = (rm: ReturnType<AgentSelfMetrics['collect']>) => ({ ...rm, scopeMetrics: rm.scopeMetrics.map((s) => ({ ...s, metrics: s.metrics.filter((m) => m.descriptor.name === 'burnwatch.agent.probes.deep') })) });
  const collect = (endMs: number) => {
    const s = new AgentSelfMetrics(
      { spool: { stats: () => ({ batches: 0, bytes: 0, droppedBatches: 0, droppedForAge: 0, droppedForDiskFull: 0, corrupt: 0, droppedBytes: 0, droppedBytesForAge: 0, droppedBytesForDiskFull: 0, corruptBytes: 0 }) as never }, shipper: { stats: () => ({ sentBatches: 0, rejectedBatches: 0, warnedBatches: 0, retries: 0 }) as never }, deepProbes: { mode: 'adaptive', state: () => state } },
      { resource: { [ATTR.serviceName]: 'burnwatch-agent', [ATTR.hostName]: 'h1', [ATTR.processPid]: 1 } },
    );
    return only(s.collect(ns(endMs)));
  };
  await ingest([collect(nowMs - 20_000)]);
  state = [{ pid: 11, service: 'checkout-api', deep: true, reason: 'manual', serverRed: 'syscalls' }]; // pid 12 exited
  await ingest([collect(nowMs - 10_000)]);
  const body = (await (await call('/v1/probes/status')).json()) as { services: unknown[]; processes: unknown[] };
  assert.deepEqual(body.services, [{ service: 'checkout-api', reason: 'manual', until_ms: nowMs + 300_000, remaining_ms: 300_000 }]);
  assert.deepEqual(body.processes, [{ host: 'h1', service: 'checkout-api', pid: 11, deep: true, reason: 'manual', mode: 'adaptive', server_red: 'syscalls', at_ms: nowMs - 10_000 }]);
});
