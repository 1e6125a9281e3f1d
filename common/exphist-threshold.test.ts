// Latency thresholds against histogram buckets: counted exactly where a bound equals the
// threshold, counted (slightly strictly) when a bound is near below it, and unknown — with the
// bucket — when the bucket that straddles it is wide and holds values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_THRESHOLD_GAP,
  explicitQuantileBucket,
  explicitSplitAtThreshold,
  splitAtThreshold,
  thresholdResolution,
  thresholdVerdict,
  type ExplicitHistogram,
} from './exphist.ts';

const explicit = (bounds: number[], counts: number[], max?: number): ExplicitHistogram => ({ bounds, counts, count: counts.reduce((a, c) => a + c, 0), ...(max !== undefined ? { max } : {}) });

test('explicit buckets: exact on a bound, strict within the gap, unknown past it when the straddling bucket holds values', () => {
  // A bound equals the threshold: values ≤ 0.3 are exactly the first two buckets.
  assert.deepEqual(thresholdVerdict(explicitSplitAtThreshold(explicit([0.1, 0.3, 1], [5, 3, 2, 0]), 0.3), 0.3), { known: true, good: 8, effective: 0.3 });
  // 0.28 is 6.7% below 0.3: within the gap, the straddling bucket counts as slow.
  assert.deepEqual(thresholdVerdict(explicitSplitAtThreshold(explicit([0.28, 0.5], [5, 3, 0]), 0.3), 0.3), { known: true, good: 5, effective: 0.28 });
  // The SDK's default bounds on a seconds metric: everything in (0, 5].
  const v = thresholdVerdict(explicitSplitAtThreshold(explicit([0, 5, 10], [0, 200, 0, 0]), 0.3), 0.3);
  assert.equal(v.known, false);
  assert.ok(!v.known && v.straddling === 200);
  assert.deepEqual(!v.known && v.bucket, { lower: 0, upper: 5 });
  assert.match(!v.known ? v.reason : '', /the bucket \(0, 5\] holds values and straddles the threshold 0\.3: the nearest bound below it is 0 \(100% lower\)/);
  // The same bounds with the straddling bucket empty: the count is exact whatever its width.
  assert.deepEqual(thresholdVerdict(explicitSplitAtThreshold(explicit([0.25, 0.5], [9, 0, 1]), 0.3), 0.3), { known: true, good: 9, effective: 0.25 });
  // Below the first bound and past the last: unbounded buckets.
  const first = thresholdVerdict(explicitSplitAtThreshold(explicit([5], [3, 0]), 0.3), 0.3);
  assert.deepEqual(!first.known && first.bucket, { lower: null, upper: 5 });
  const last = thresholdVerdict(explicitSplitAtThreshold(explicit([0.001], [0, 3]), 0.3), 0.3);
  assert.deepEqual(!last.known && last.bucket, { lower: 0.001, upper: null });
  // Count and sum without buckets (OTLP allows it): nothing can be placed.
  const none = thresholdVerdict(explicitSplitAtThreshold({ bounds: [], counts: [], count: 4 }, 0.3), 0.3);
  assert.deepEqual(!none.known && [none.straddling, none.bucket], [4, { lower: null, upper: null }]);
});

test('exponential buckets: at the agent scale a boundary is always near; at scale 0 a wide straddling bucket is unknown', () => {
  const h = (scale: number, offset: number, counts: number[]) => ({ scale, zeroCount: 0, offset, counts, count: counts.reduce((a, c) => a + c, 0), sum: 0 });
  const r5 = thresholdResolution(0.3, 5);
  assert.ok(r5.relativeGap < MAX_THRESHOLD_GAP);
  const straddle5 = r5.lastIndex + 1;
  assert.deepEqual(thresholdVerdict(splitAtThreshold(h(5, straddle5 - 1, [4, 6]), r5), 0.3), { known: true, good: 4, effective: r5.below });
  // Scale 0: 0.3 lies in (0.25, 0.5], 16.7% wide below it.
  const r0 = thresholdResolution(0.3, 0);
  assert.deepEqual([r0.below, r0.above], [0.25, 0.5]);
  const v = thresholdVerdict(splitAtThreshold(h(0, -3, [7, 2]), r0), 0.3); // (0.125, 0.25]: 7, (0.25, 0.5]: 2
  assert.deepEqual(!v.known && [v.straddling, v.bucket], [2, { lower: 0.25, upper: 0.5 }]);
  assert.deepEqual(thresholdVerdict(splitAtThreshold(h(0, -3, [7]), r0), 0.3), { known: true, good: 7, effective: 0.25 });
  // A threshold on a boundary (0.5 = 2^-1) is exact at every scale.
  assert.deepEqual(thresholdVerdict(splitAtThreshold(h(0, -2, [3, 1]), thresholdResolution(0.5, 0)), 0.5), { known: true, good: 3, effective: 0.5 });
});

test('explicit quantiles name the bucket they come from', () => {
  const hist = explicit([0, 5, 10], [0, 99, 1, 0], 7);
  assert.deepEqual(explicitQuantileBucket(hist, 0.5), { value: 5, bucket: { lower: 0, upper: 5 } });
  assert.deepEqual(explicitQuantileBucket(hist, 1), { value: 7, bucket: { lower: 5, upper: 10 } }, 'clamped to the max');
  assert.deepEqual(explicitQuantileBucket(explicit([1], [0, 2]), 0.5), { value: 1, bucket: { lower: 1, upper: null } }, 'the +Inf bucket without a max');
  assert.equal(explicitQuantileBucket(explicit([1], [0, 0]), 0.5), undefined);
});
