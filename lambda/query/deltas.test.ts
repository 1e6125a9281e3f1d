// fetchDeltas on a real (in-memory) DuckDB store: where a cumulative series' first snapshot in a
// range takes its baseline from, and how many reads that costs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../storage/duckdb.ts';
import type { MetricPoint, MetricStore, PointQuery, SeriesRef } from '../storage/types.ts';
import { fetchDeltas } from './deltas.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const NOW = Date.UTC(2026, 10, 20, 12, 0);
const ns = (ms: number) => BigInt(ms) * 1_000_000n;

const ref = (name: string): SeriesRef => ({ metric: 'jobs', unit: '1', resource: { 'service.name': name }, attributes: {} });
const cumulative = (name: string, startMs: number, endMs: number, value: number): MetricPoint => ({
  series: ref(name), startNs: ns(startMs), endNs: ns(endMs), kind: 'sum', temporality: 'cumulative', monotonic: true, value,
});

/** The real store, counting its reads. */
class Counting implements MetricStore {
  fetches: PointQuery[] = [];
  constructor(private readonly store: DuckDbStore) {}
  write(tenant: string, points: readonly MetricPoint[]) {
    return this.store.write(tenant, points);
  }
  fetchPoints(q: PointQuery) {
    this.fetches.push(q);
    return this.store.fetchPoints(q);
  }
  listSeries(q: Parameters<MetricStore['listSeries']>[0]) {
    return this.store.listSeries(q);
  }
  close() {
    return this.store.close();
  }
}

async function setup(t: import('node:test').TestContext, points: MetricPoint[]) {
  const store = new Counting(await DuckDbStore.open({ path: ':memory:' }));
  t.after(() => store.close());
  await store.write('t', points);
  store.fetches = [];
  return store;
}

const total = (points: MetricPoint[], name: string) => points.filter((p) => p.series.resource['service.name'] === name).reduce((n, p) => n + (p.kind === 'sum' ? p.value : 0), 0);

test('the baseline is the last snapshot before the range, however long the series was quiet (up to a day)', async (t) => {
  const store = await setup(t, [
    // Every 30 s since 2 h ago: +1 per snapshot.
    ...Array.from({ length: 240 }, (_, i) => cumulative('steady', NOW - 2 * HOUR, NOW - 2 * HOUR + (i + 1) * 30_000, i + 1)),
    // Silent for 3 hours: its last snapshot before the range is 3 h old.
    cumulative('quiet', NOW - 10 * HOUR, NOW - 3 * HOUR, 100),
    cumulative('quiet', NOW - 10 * HOUR, NOW - 5 * MIN, 130),
    // Started 20 minutes ago; its first report is in the range: nothing before it, so all of it counts.
    cumulative('new', NOW - 20 * MIN, NOW - 5 * MIN, 9),
    // Started two days ago, nothing reported for over a day: its increase is unknown.
    cumulative('lost', NOW - 48 * HOUR, NOW - 30 * HOUR, 1000),
    cumulative('lost', NOW - 48 * HOUR, NOW - 5 * MIN, 1500),
    cumulative('lost', NOW - 48 * HOUR, NOW - 1 * MIN, 1502),
  ]);
  const deltas = await fetchDeltas(store, { tenant: 't', metric: 'jobs', fromNs: ns(NOW - 15 * MIN), toNs: ns(NOW) });
  assert.equal(total(deltas, 'steady'), 30, '30 snapshots in the range, each +1: the first one too');
  assert.equal(total(deltas, 'quiet'), 30);
  assert.equal(total(deltas, 'new'), 9);
  assert.equal(total(deltas, 'lost'), 2, 'only what the range itself shows');
  assert.ok(deltas.every((p) => p.endNs >= ns(NOW - 15 * MIN)), 'nothing ending before the range');
  // The range, then the lookback widening 10 min → 1 h → 6 h → 1 d while some series still needs a baseline.
  assert.deepEqual(store.fetches.map((q) => Number(q.toNs - q.fromNs) / 60e9), [15, 10, 50, 300, 1080]);
});

test('one read when nothing needs a baseline; chunks read in order carry baselines from one to the next', async (t) => {
  const store = await setup(t, [
    ...Array.from({ length: 12 }, (_, i) => cumulative('steady', NOW - HOUR, NOW - HOUR + (i + 1) * 5 * MIN - MIN, 10 * (i + 1))),
  ]);
  // Started inside the range: no lookback.
  assert.equal(total(await fetchDeltas(store, { tenant: 't', metric: 'jobs', fromNs: ns(NOW - 2 * HOUR), toNs: ns(NOW) }), 'steady'), 120);
  assert.equal(store.fetches.length, 1);
  store.fetches = [];
  const carry = new Map<string, MetricPoint>();
  let sum = 0;
  for (let from = NOW - 2 * HOUR; from < NOW; from += 20 * MIN) {
    sum += total(await fetchDeltas(store, { tenant: 't', metric: 'jobs', fromNs: ns(from), toNs: ns(from + 20 * MIN) }, carry), 'steady');
  }
  assert.equal(sum, 120, 'every increase counted once across chunks');
  assert.equal(store.fetches.length, 6, 'each chunk read once: its baseline came from the chunk before');
});
