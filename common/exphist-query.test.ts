// Tests of the query-engine block of exphist.ts: bounded merges, cumulative differences and
// explicit-bucket histograms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bucketIndexForSeconds,
  bucketUpperBound,
  explicitCountAtMost,
  explicitQuantile,
  explicitThresholdBelow,
  mergeExplicitHistograms,
  mergeHistogramsWithin,
  quantile,
  relativeError,
  subtractExplicitHistograms,
  subtractHistograms,
  type ExpHistogram,
} from './exphist.ts';

function histogramOf(values: number[], scale: number): ExpHistogram {
  const indices = values.map((v) => bucketIndexForSeconds(v, scale));
  const offset = Math.min(...indices);
  const counts = new Array<number>(Math.max(...indices) - offset + 1).fill(0);
  for (const i of indices) counts[i - offset]++;
  return { scale, zeroCount: 0, offset, counts, count: values.length, sum: values.reduce((a, b) => a + b, 0), min: Math.min(...values), max: Math.max(...values) };
}

test('mergeHistogramsWithin keeps the result within the bucket budget and every count', () => {
  // Two senders at scale 20 a thousandfold apart: a plain merge would need ~10^7 buckets.
  const a = histogramOf([0.001, 0.0011, 0.0012], 20);
  const b = histogramOf([1, 1.5, 2], 20);
  const merged = mergeHistogramsWithin([a, b])!;
  assert.ok(merged.counts.length <= 160, `${merged.counts.length} buckets at scale ${merged.scale}`);
  assert.equal(merged.counts.reduce((x, y) => x + y, 0), 6);
  assert.equal(merged.count, 6);
  assert.equal(merged.min, 0.001);
  assert.equal(merged.max, 2);
  // Still a valid histogram of those values: quantiles are upper bounds within one bucket.
  const p50 = quantile(merged, 0.5)!;
  assert.ok(p50 >= 0.0012 && p50 <= 0.0012 * (1 + relativeError(merged.scale)), `p50 ${p50}`);
  // The finest scale that fits: one finer would not.
  const span = (s: number) => ((b.offset + b.counts.length - 1) >> (20 - s)) - (a.offset >> (20 - s)) + 1;
  assert.ok(span(merged.scale) <= 160 && span(merged.scale + 1) > 160);
});

test('mergeHistogramsWithin drops min/max when an input lacks them, and handles empty inputs', () => {
  const a = histogramOf([0.1], 5);
  const { max: _max, ...noMax } = histogramOf([0.2], 5);
  const merged = mergeHistogramsWithin([a, noMax])!;
  assert.equal(merged.max, undefined);
  assert.equal(merged.min, 0.1);
  assert.equal(mergeHistogramsWithin([]), undefined);
  const empty: ExpHistogram = { scale: 3, zeroCount: 0, offset: 0, counts: [], count: 0, sum: 0 };
  assert.deepEqual(mergeHistogramsWithin([empty, empty])!.counts, []);
});

test('subtractHistograms gives the interval between cumulative snapshots, across a downscale', () => {
  const earlier = histogramOf([0.1, 0.2], 6);
  const later = histogramOf([0.1, 0.2, 0.4, 0.8], 5);
  const d = subtractHistograms(later, earlier)!;
  assert.equal(d.scale, 5);
  assert.equal(d.count, 2);
  assert.deepEqual(
    d.counts.flatMap((c, i) => (c > 0 ? [[d.offset + i, c]] : [])),
    [[bucketIndexForSeconds(0.4, 5), 1], [bucketIndexForSeconds(0.8, 5), 1]],
  );
  assert.ok(Math.abs(d.sum - 1.2) < 1e-12);
  // A bucket that went down means the series restarted.
  assert.equal(subtractHistograms(histogramOf([0.1], 5), histogramOf([0.1, 0.1], 5)), undefined);
  assert.equal(subtractHistograms(histogramOf([0.1], 5), histogramOf([0.3], 5)), undefined);
});

test('explicit histograms: merge with equal and different bounds, quantiles, counts under a threshold', () => {
  const a = { bounds: [0.1, 0.5, 1], counts: [5, 3, 1, 1], count: 10, max: 2.5 };
  const b = { bounds: [0.1, 0.5, 1], counts: [1, 1, 1, 0], count: 3, max: 0.9 };
  const same = mergeExplicitHistograms([a, b])!;
  assert.deepEqual(same, { bounds: [0.1, 0.5, 1], counts: [6, 4, 2, 1], count: 13, max: 2.5 });
  assert.equal(explicitQuantile(same, 0.4), 0.1); // rank 6 of 13: 6 values ≤ 0.1
  assert.equal(explicitQuantile(same, 0.5), 0.5); // rank 7: 10 values ≤ 0.5
  assert.equal(explicitQuantile(same, 1), 2.5); // the +Inf bucket: the recorded max
  assert.equal(explicitQuantile({ ...same, max: undefined }, 1), 1); // no max: the largest finite bound
  assert.equal(explicitCountAtMost(same, 0.5), 10);
  assert.equal(explicitCountAtMost(same, 0.3), 6);
  assert.equal(explicitCountAtMost(same, Infinity), 13);
  assert.equal(explicitThresholdBelow(same.bounds, 0.3), 0.1);
  assert.equal(explicitThresholdBelow(same.bounds, 0.05), undefined);

  // Different bounds: each bucket lands at its own upper bound in the union.
  const c = { bounds: [0.3], counts: [2, 1], count: 3 };
  const mixed = mergeExplicitHistograms([a, c])!;
  assert.deepEqual(mixed.bounds, [0.1, 0.3, 0.5, 1]);
  assert.deepEqual(mixed.counts, [5, 2, 3, 1, 2]);
  assert.equal(mixed.max, undefined, 'c has no max, so the merged max is unknown');
  assert.equal(explicitCountAtMost(mixed, 0.3), 7);
  assert.equal(explicitCountAtMost(mixed, 0.5), 10);
  assert.equal(explicitQuantile({ bounds: [1], counts: [0, 0], count: 0 }, 0.5), undefined);
});

test('subtractExplicitHistograms: later minus earlier, undefined on a reset or changed bounds', () => {
  const earlier = { bounds: [1, 2], counts: [1, 2, 0], count: 3, sum: 4 };
  const later = { bounds: [1, 2], counts: [3, 2, 1], count: 6, sum: 10 };
  assert.deepEqual(subtractExplicitHistograms(later, earlier), { bounds: [1, 2], counts: [2, 0, 1], count: 3, sum: 6 });
  assert.equal(subtractExplicitHistograms(earlier, later), undefined);
  assert.equal(subtractExplicitHistograms({ ...later, bounds: [1, 3] }, earlier), undefined);
});

test('quantiles of a bounded merge stay within one bucket of the truth', () => {
  const values = Array.from({ length: 1000 }, (_, i) => 0.0005 * (i + 1) ** 1.5);
  const parts = [histogramOf(values.slice(0, 500), 8), histogramOf(values.slice(500), 7)];
  const merged = mergeHistogramsWithin(parts)!;
  const sorted = [...values].sort((x, y) => x - y);
  for (const q of [0.5, 0.9, 0.99]) {
    const truth = sorted[Math.ceil(q * sorted.length) - 1];
    const got = quantile(merged, q)!;
    assert.ok(got >= truth && got <= bucketUpperBound(bucketIndexForSeconds(truth, merged.scale), merged.scale), `q${q}: ${got} vs ${truth}`);
  }
});
