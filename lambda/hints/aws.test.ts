// The AWS hints function's path: the same engine over the Timestream store (emulated at the SDK
// boundary, test/lib), for an alert transition as SNS delivers it. Every read is bounded to the
// window and the baseline before it (a query is billed by what it scans; series records are
// daily, so a bound falls back to the UTC day it is in), never read from the epoch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../errors.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import { checkFrontendAlertHints } from '../../test/lib/alert-hints-check.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { computeHints } from './engine.ts';
import { MAX_BASELINE_NS } from './frame.ts';
import { conditions, healthy, INTERVAL_MS, writeWorld } from './testkit.ts';

const DAY_NS = 86_400_000_000_000n;

/** The lowest time bound of each query sent (every query TimestreamStore sends has one). */
function lowerBoundsNs(queries: readonly string[]): bigint[] {
  return queries.map((sql) => {
    const m = /time >= from_nanoseconds\((\d+)\)/.exec(sql);
    assert.ok(m, `a query without a lower time bound: ${sql}`);
    return BigInt(m[1]);
  });
}

/** Nothing read before the UTC day holding the baseline's earliest start. */
function assertBoundedReads(queries: readonly string[], windowFromMs: number): void {
  const floor = ((BigInt(windowFromMs) * 1_000_000n - MAX_BASELINE_NS) / DAY_NS) * DAY_NS;
  const bounds = lowerBoundsNs(queries);
  const early = queries.filter((_, i) => bounds[i] < floor);
  assert.deepEqual(early, [], `reads before ${floor} ns`);
}

test('a firing alert on the frontend gets the Redis peer behind the backend as hint 1, from Timestream', async () => {
  const emulator = new TimestreamEmulator();
  try {
    const store = new TimestreamStore({ database: 'burnwatch-test', pointsTable: 'points', seriesTable: 'series', writeClient: emulator.writeClient, queryClient: emulator.queryClient });
    const { windowFromMs } = await checkFrontendAlertHints(store);
    // The service check, the listeners behind the backend's port and the frame's reads alike.
    assert.ok(emulator.queries.some((q) => q.includes('"series"')), 'series were read');
    assertBoundedReads(emulator.queries, windowFromMs);
  } finally {
    emulator.restore();
  }
});

test('a service whose data ended days before the window and its baseline: a 404 naming the range searched, from bounded reads', async () => {
  const emulator = new TimestreamEmulator();
  try {
    const store = new TimestreamStore({ database: 'burnwatch-test', pointsTable: 'points', seriesTable: 'series', writeClient: emulator.writeClient, queryClient: emulator.queryClient, now: () => emulator.now() });
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const lastData = now - 3 * 86_400_000;
    // Written when it happened (the memory store), as an agent would have.
    emulator.now = () => lastData + 60_000;
    await writeWorld(store, 'acme', { endMs: lastData, intervals: (25 * 60_000) / INTERVAL_MS, at: () => conditions(healthy()) });
    emulator.now = () => now;
    const before = emulator.queries.length;
    const from = now - 15 * 60_000;
    await assert.rejects(computeHints({ metricStore: store }, 'acme', 'frontend', from, now, now), (err: unknown) => {
      assert.ok(err instanceof ApiError && err.status === 404, String(err));
      assert.equal(err.message, `service "frontend": no data has been received for it from ${new Date(from - 3_600_000).toISOString()} to ${new Date(now).toISOString()} (the window and the hour before it)`);
      return true;
    });
    const sent = emulator.queries.slice(before);
    assert.ok(sent.length > 0);
    assertBoundedReads(sent, from);
    // The same service over a window holding its data is known, and analysed.
    const then = await computeHints({ metricStore: store }, 'acme', 'frontend', lastData - 15 * 60_000, lastData, now);
    assert.equal(then.service, 'frontend');
  } finally {
    emulator.restore();
  }
});
