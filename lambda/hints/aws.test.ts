// The AWS hints function's path: the same engine over the Timestream store (emulated at the SDK
// boundary, test/lib), for an alert transition as SNS delivers it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHintsHandler } from '../aws/hints.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import { transition } from '../../test/lib/alert-fixtures.ts';
import { snsEvent } from '../../test/lib/lambda-events.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { conditions, healthy, INTERVAL_MS, writeWorld } from './testkit.ts';

test('a firing alert on the frontend gets the Redis peer behind the backend as hint 1, from Timestream', async () => {
  const emulator = new TimestreamEmulator();
  try {
    const store = new TimestreamStore({ database: 'burnwatch-test', pointsTable: 'points', seriesTable: 'series', writeClient: emulator.writeClient, queryClient: emulator.queryClient });
    const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const faultAt = end - 6 * 60_000;
    await writeWorld(store, 'acme', {
      endMs: end,
      intervals: (25 * 60_000) / INTERVAL_MS,
      at: (_i, endMs) => {
        const t = healthy();
        if (endMs > faultAt) t.redisLatency = 0.3;
        return conditions(t);
      },
    });
    const alert = { ...transition, service: 'frontend', slo_id: 'frontend:latency', since: new Date(faultAt + 2 * 60_000).toISOString(), at: new Date(end).toISOString() };
    const lines: string[] = [];
    const { results } = await createHintsHandler(() => ({ metricStore: store }), (l) => lines.push(l))(snsEvent([JSON.stringify(alert)]));
    assert.equal(results.length, 1);
    const r = results[0];
    assert.equal(r.status, 'computed');
    // The window: from 10 minutes before the episode began (≥ 15 minutes) to the transition.
    assert.deepEqual([r.from, r.to], [(end - 15 * 60_000) / 1000, end / 1000]);
    assert.ok(r.hints.length >= 1 && r.hints.length <= 3);
    assert.deepEqual([r.hints[0].kind, r.hints[0].service, r.hints[0].peer, r.hints[0].chain], ['slow_dependency', 'backend', '127.0.0.1:6379', ['frontend', 'backend']]);
    assert.match(lines[0], /burnwatch hints: slow_dependency: redis GET on 127\.0\.0\.1:6379 from backend/);
  } finally {
    emulator.restore();
  }
});
