// The app without a server: Hono's app.request runs the real handlers on a real Request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayApp } from './app.ts';
import { SelfMetrics } from './self-metrics.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import { ExportMetricsServiceRequest } from '../otlp/schema.ts';

const body = Buffer.from(ExportMetricsServiceRequest.encode(
  ExportMetricsServiceRequest.fromObject({
    resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', gauge: { dataPoints: [{ timeUnixNano: '1000', asDouble: 1 }] } }] }] }],
  }),
).finish());

test('a storage failure is a 503 with Retry-After (the sender keeps the batch), logged once', async () => {
  const store = await DuckDbStore.open({ path: ':memory:' });
  const logged: string[] = [];
  const selfMetrics = new SelfMetrics();
  const app = createGatewayApp({ store, apiKeys: new Map([['k', 't']]), log: (m) => logged.push(m), selfMetrics });
  const post = () => app.request('/v1/metrics', { method: 'POST', body, headers: { authorization: 'Bearer k', 'content-type': 'application/x-protobuf' } });

  assert.equal((await post()).status, 200);
  await store.close();
  const res = await post();
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '5');
  assert.deepEqual(await res.json(), { error: { code: 'storage_unavailable', message: 'storage is unavailable; retry later' } });
  assert.equal(logged.length, 1);
  assert.match(logged[0], /storage write failed/);
  assert.match(selfMetrics.render(), /^burnwatch_gateway_requests_total\{route="\/v1\/metrics",status="503"\} 1$/m);
  assert.match(selfMetrics.render(), /^burnwatch_gateway_points_accepted_total 1$/m);
});

test('a failing query is a 500 in the error shape, with the cause in the log and not in the answer', async () => {
  const store = await DuckDbStore.open({ path: ':memory:' });
  const logged: string[] = [];
  const app = createGatewayApp({ store, apiKeys: { k: 't' }, log: (m) => logged.push(m) });
  await store.close();
  const res = await app.request('/v1/services', { headers: { authorization: 'Bearer k' } });
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: { code: 'internal', message: 'internal error; see the gateway log' } });
  assert.match(logged[0], /GET \/v1\/services failed: Error: the DuckDB store is closed/);
});
