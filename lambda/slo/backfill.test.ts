// Backfill under a deadline (issue 17 item 1), on the local stores (real DuckDB): a new service's
// SLOs backfill one chunk per refresh when the deadline has passed (the first chunk always runs),
// from the first day with data rather than 30 days back, while the SLOs already up to date keep
// being evaluated every refresh — and the result equals a backfill in one go.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import type { MetricPoint } from '../storage/types.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import { SloEngine } from './engine.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 10, 30, 12, 0);

function requests(service: string, endMs: number, count: number, status = 200): MetricPoint {
  const endNs = BigInt(endMs) * 1_000_000n;
  return {
    series: { metric: HTTP_SERVER_DURATION, unit: 's', resource: { 'service.name': service }, attributes: { 'http.response.status_code': status } },
    startNs: endNs - 10_000_000_000n, endNs, kind: 'exponential_histogram', temporality: 'delta', count, sum: count * 0.01, scale: 5, zeroCount: 0, offset: -213, counts: [count],
  };
}

/** A point every 10 minutes over [fromMs, toMs). */
function traffic(service: string, fromMs: number, toMs: number): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let t = fromMs; t < toMs; t += 10 * MIN) out.push(requests(service, t, 10), ...(t % HOUR === 0 ? [requests(service, t, 1, 500)] : []));
  return out;
}

test('a past deadline backfills one chunk a refresh (beside the up-to-date chunk), from the first day with data; up-to-date SLOs are never starved', async () => {
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  const sloStore = await DuckDbSloStore.open(':memory:');
  await metricStore.write('t', traffic('old', NOW - 5 * DAY, NOW));
  // Brought up to date without a deadline, as the local stack does.
  await new SloEngine({ metricStore, sloStore }).cycle('t', NOW);

  // A new service appears with two days of (replayed) data.
  await metricStore.write('t', traffic('new', NOW - 2 * DAY + 7 * MIN, NOW + MIN));
  await metricStore.write('t', traffic('old', NOW, NOW + 10 * MIN));
  const expected = await new SloEngine({ metricStore, sloStore: await DuckDbSloStore.open(':memory:') }).statuses('t', NOW + 20 * MIN);

  const refreshes: { chunks: number; left: number }[] = [];
  let at = NOW;
  for (let i = 0; i < 30; i++) {
    at += MIN;
    const engine = new SloEngine({ metricStore, sloStore, deadlineMs: 0 });
    const cycle = await engine.cycle('t', at);
    refreshes.push({ chunks: cycle.rollups!.chunks, left: cycle.rollups!.left });
    // The up-to-date service is evaluated at every refresh, whatever the backfill has left.
    for (const r of cycle.slos.filter((s) => s.service === 'old')) {
      assert.equal(r.covered_to, undefined, `${r.id} at refresh ${i}`);
      assert.ok(r.total > 0);
    }
    if (i === 0) {
      // 2 days of data: about 8 chunks of 6 h, not the 120 of a 30-day window.
      assert.ok(cycle.rollups!.left >= 7 && cycle.rollups!.left <= 10, JSON.stringify(cycle.rollups));
      // Its backfill has begun: figures stop where the watermark is, and no alert steps on them.
      assert.ok(cycle.slos.filter((s) => s.service === 'new').every((r) => r.covered_to !== undefined), JSON.stringify(cycle.slos));
      // A read-only reader (the AWS gateway) answers at the evaluator's time, not at the backfill's watermark.
      const read = await new SloEngine({ metricStore, sloStore, refreshOnRead: false }).statuses('t', at + 30_000);
      for (const r of read) {
        assert.equal(r.evaluated_at, new Date(at).toISOString(), r.id);
        assert.equal(r.covered_to !== undefined, r.service === 'new', r.id);
      }
    }
    if (cycle.rollups!.left === 0) break;
  }
  // Each refresh: the up-to-date keys' chunk and one chunk of the backfill, nothing more past the deadline.
  // The last: the new keys have caught up and share the up-to-date chunk.
  assert.deepEqual(refreshes.map((r) => r.chunks), [...refreshes.slice(1).map(() => 2), 1], JSON.stringify(refreshes));
  assert.equal(refreshes[refreshes.length - 1].left, 0);

  const atEnd = NOW + 20 * MIN;
  const got = await new SloEngine({ metricStore, sloStore }).statuses('t', atEnd);
  const figures = (r: (typeof got)[number]) => ({ id: r.id, good: r.good, total: r.total, covered_to: r.covered_to });
  assert.deepEqual(got.map(figures), expected.map(figures));
  await metricStore.close();
  await sloStore.close();
});

test('no data at all: one refresh records every SLO as complete, and the next reads only the last minutes', async () => {
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  const sloStore = await DuckDbSloStore.open(':memory:');
  const engine = new SloEngine({ metricStore, sloStore, deadlineMs: 0 });
  const slo = { id: 'empty', service: 'nobody', kind: 'availability' as const, objective: 0.999, metrics: [HTTP_SERVER_DURATION], filter: {}, window: { kind: 'rolling' as const, ms: 30 * DAY }, rules: [], source: 'api' as const };
  await engine.refresh('t', NOW, [slo]);
  assert.deepEqual(engine.lastRun.get('t'), { chunks: 1, left: 0, unstarted: 0, readFromMs: NOW - 6 * HOUR });
  const coverage = [...(await sloStore.rollupCoverage('t')).values()];
  assert.deepEqual(coverage, [{ fromMs: NOW - 30 * DAY, toMs: NOW }]);
  await engine.refresh('t', NOW + MIN, [slo]);
  // From the watermark less the late-data margin (10 buckets).
  assert.deepEqual(engine.lastRun.get('t'), { chunks: 1, left: 0, unstarted: 0, readFromMs: NOW - 10 * MIN });
  await metricStore.close();
  await sloStore.close();
});
