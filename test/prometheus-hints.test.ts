// The hints engine unchanged over the Prometheus backend: the AWS hints function's path (as on
// AMP) over a real Prometheus 2.42, with the same world and the same expected first hint as the
// Timestream test (lambda/hints/aws.test.ts).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHintsHandler } from '../lambda/aws/hints.ts';
import { PrometheusStore } from '../lambda/storage/prometheus.ts';
import { writeSlowRedisWorld } from '../lambda/hints/testkit.ts';
import { transition } from './lib/alert-fixtures.ts';
import { snsEvent } from './lib/lambda-events.ts';
import { startPrometheus, type PrometheusServer } from './lib/prometheus-server.ts';

let server: PrometheusServer;
before(async () => {
  server = await startPrometheus();
});
after(async () => {
  await server.stop();
});

test('a firing alert on the frontend gets the Redis peer behind the backend as hint 1, from Prometheus', async () => {
  const store = new PrometheusStore({ remoteWriteUrl: server.remoteWriteUrl, queryUrl: server.url });
  const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const faultAt = end - 6 * 60_000;
  await writeSlowRedisWorld(store, 'acme', { endMs: end, faultAtMs: faultAt, minutes: 25 });
  const alert = { ...transition, service: 'frontend', slo_id: 'frontend:latency', since: new Date(faultAt + 2 * 60_000).toISOString(), at: new Date(end).toISOString() };
  const lines: string[] = [];
  const { results } = await createHintsHandler(() => ({ metricStore: store }), (l) => lines.push(l))(snsEvent([JSON.stringify(alert)]));
  assert.equal(results.length, 1);
  const r = results[0];
  assert.equal(r.status, 'computed');
  assert.deepEqual([r.from, r.to], [(end - 15 * 60_000) / 1000, end / 1000]);
  assert.ok(r.hints.length >= 1 && r.hints.length <= 3);
  assert.deepEqual([r.hints[0].kind, r.hints[0].service, r.hints[0].peer, r.hints[0].chain], ['slow_dependency', 'backend', '127.0.0.1:6379', ['frontend', 'backend']]);
  assert.match(lines[0], /burnwatch hints: slow_dependency: redis GET on 127\.0\.0\.1:6379 from backend/);
});
