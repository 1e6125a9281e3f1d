// One check shared by every backend's hints test: the AWS hints function's path over a store
// holding the slow-Redis world. A firing latency alert on the frontend must name the Redis peer
// behind the backend first — whatever the store (Timestream, Prometheus/AMP).

import assert from 'node:assert/strict';
import { createHintsHandler } from '../../lambda/aws/hints.ts';
import { writeSlowRedisWorld } from '../../lambda/hints/testkit.ts';
import type { MetricStore } from '../../lambda/storage/types.ts';
import { transition } from './alert-fixtures.ts';
import { snsEvent } from './lambda-events.ts';

/** Writes the world, fires the alert through the hints handler and checks its answer; returns the alert's window start (ms). */
export async function checkFrontendAlertHints(store: MetricStore): Promise<{ windowFromMs: number }> {
  const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const faultAt = end - 6 * 60_000;
  await writeSlowRedisWorld(store, 'acme', { endMs: end, faultAtMs: faultAt, minutes: 25 });
  const alert = { ...transition, service: 'frontend', slo_id: 'frontend:latency', since: new Date(faultAt + 2 * 60_000).toISOString(), at: new Date(end).toISOString() };
  const lines: string[] = [];
  const { results } = await createHintsHandler(() => ({ metricStore: store }), (l) => lines.push(l))(snsEvent([JSON.stringify(alert)]));
  assert.equal(results.length, 1);
  const r = results[0];
  assert.equal(r.status, 'computed');
  // The window: from 10 minutes before the episode began (≥ 15 minutes) to the transition.
  const windowFromMs = end - 15 * 60_000;
  assert.deepEqual([r.from, r.to], [windowFromMs / 1000, end / 1000]);
  assert.ok(r.hints.length >= 1 && r.hints.length <= 3);
  assert.deepEqual([r.hints[0].kind, r.hints[0].service, r.hints[0].peer, r.hints[0].chain], ['slow_dependency', 'backend', '127.0.0.1:6379', ['frontend', 'backend']]);
  assert.match(lines[0], /burnwatch hints: slow_dependency: redis GET on 127\.0\.0\.1:6379 from backend/);
  return { windowFromMs };
}
