import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  boundaryTableNs,
  bucketIndexForNanos,
  bucketIndexForSeconds,
  bucketLowerBound,
  bucketUpperBound,
  countAtMost,
  downscale,
  histogramFromBuckets,
  KERNEL_MAX_SCALE,
  mergeHistograms,
  MIN_SCALE,
  quantile,
  relativeError,
  thresholdResolution,
  type ExpHistogram,
} from './exphist.ts';
import { cmpNsToBoundary, edgeValuesNs, randomU64, refIndexNs, refIndexSeconds, rng } from '../test/lib/exphist-reference.ts';

const U64 = 1n << 64n;

/** The textbook float formula, trusted only away from boundaries. */
function floatIndexNs(v: number, s: number): { index: number; nearBoundary: boolean } {
  const x = Math.log2(v / 1e9) * 2 ** s;
  return { index: Math.ceil(x) - 1, nearBoundary: Math.abs(x - Math.round(x)) < 1e-9 * (1 + Math.abs(x)) };
}

function nextUp(v: number, ulps = 1): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(ulps));
  return view.getFloat64(0);
}

const KERNEL_SCALES = Array.from({ length: KERNEL_MAX_SCALE - MIN_SCALE + 1 }, (_, k) => MIN_SCALE + k);

// ---------------------------------------------------------------------------
// The nanosecond table and the kernel's algorithm

test('boundary table: floor of every boundary in [1 ns, 2^64 ns), verified by exact powers', () => {
  const t = boundaryTableNs(KERNEL_MAX_SCALE);
  assert.equal(t.maxScale, 5);
  assert.equal(t.firstIndex, -956);
  assert.equal(t.bounds.length, 2048);
  assert.equal(boundaryTableNs(), t, 'memoised');
  t.bounds.forEach((b, k) => {
    const i = t.firstIndex + k;
    // b = floor(boundary_i) ⇔ b ≤ boundary_i < b + 1
    assert.ok(cmpNsToBoundary(b, 5, i) <= 0 && cmpNsToBoundary(b + 1n, 5, i) > 0, `bounds[${k}] (i=${i}) = ${b}`);
  });
  // The range is complete: the boundary below the first is under 1 ns, the one after the last is ≥ 2^64 ns.
  assert.ok(cmpNsToBoundary(1n, 5, t.firstIndex - 1) > 0);
  assert.ok(cmpNsToBoundary(U64, 5, t.firstIndex + t.bounds.length) <= 0);
  assert.equal(t.bounds[956], 1_000_000_000n, 'boundary 2^0 s is exactly 1e9 ns');
  assert.throws(() => boundaryTableNs(9), /maxScale must be an integer in \[0, 8\]/);
});

test('other table scales agree with scale 5 on shared boundaries', () => {
  const t5 = boundaryTableNs(5);
  for (const s of [0, 3, 6]) {
    const t = boundaryTableNs(s);
    const step = 2 ** (5 - s);
    for (let k = 0; k < t.bounds.length; k++) {
      const i5 = (t.firstIndex + k) * (s <= 5 ? step : 1 / (2 ** (s - 5)));
      if (!Number.isInteger(i5)) continue;
      const j = i5 - t5.firstIndex;
      if (j >= 0 && j < t5.bounds.length) assert.equal(t.bounds[k], t5.bounds[j], `scale ${s} index ${t.firstIndex + k}`);
    }
  }
});

test('bucketIndexForNanos is exact on every boundary and its neighbours, at every kernel scale', () => {
  const values = edgeValuesNs(boundaryTableNs(KERNEL_MAX_SCALE).bounds);
  let checked = 0;
  for (const v of values) {
    for (const s of KERNEL_SCALES) {
      const want = refIndexNs(v, s);
      assert.equal(bucketIndexForNanos(v, s), want, `v=${v} ns scale ${s}`);
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(bucketIndexForNanos(Number(v), s), want);
      checked++;
    }
  }
  assert.ok(checked > 80_000, `checked ${checked}`);
  // 1e9·2^k ns is exactly the upper boundary of bucket k·2^s − 1.
  assert.equal(bucketIndexForNanos(1_000_000_000, 5), -1);
  assert.equal(bucketIndexForNanos(1_000_000_001, 5), 0);
  assert.equal(bucketIndexForNanos(500_000_000, 5), -33);
  assert.equal(bucketIndexForNanos(4_000_000_000, 0), 1);
});

test('bucketIndexForNanos matches the float formula over millions of values, exact reference near boundaries', () => {
  const r = rng(1);
  const scales = [5, 4, 3, 0, -3];
  let near = 0;
  let far = 0;
  for (let k = 0; k < 3_000_000; k++) {
    // log-uniform doubles over [1 ns, 2^53 ns], integers
    const v = Math.floor(2 ** (r() * 53));
    const s = scales[k % scales.length];
    const got = bucketIndexForNanos(v, s);
    const f = floatIndexNs(v, s);
    if (f.nearBoundary) {
      near++;
      assert.equal(got, refIndexNs(BigInt(v), s), `v=${v} scale ${s}`);
    } else {
      far++;
      if (got !== f.index) assert.equal(got, f.index, `v=${v} scale ${s}`);
    }
  }
  assert.ok(far > 2_900_000, `far ${far} near ${near}`);
});

test('bucketIndexForNanos equals the exact reference for random u64 values across the whole range', () => {
  const r = rng(2);
  for (let k = 0; k < 400_000; k++) {
    const v = randomU64(r);
    const s = KERNEL_SCALES[k % KERNEL_SCALES.length];
    assert.equal(bucketIndexForNanos(v, s), refIndexNs(v, s), `v=${v} scale ${s}`);
  }
});

test('bucketIndexForNanos: 0 ns shares the 1 ns bucket; bad input is rejected by name', () => {
  for (const s of KERNEL_SCALES) assert.equal(bucketIndexForNanos(0, s), bucketIndexForNanos(1, s));
  assert.equal(bucketIndexForNanos(0n), -957);
  assert.equal(bucketIndexForNanos(U64 - 1n), 1091);
  assert.throws(() => bucketIndexForNanos(-1), /ns must be an integer in \[0, 2\^64\)/);
  assert.throws(() => bucketIndexForNanos(1.5), /ns must be an integer/);
  assert.throws(() => bucketIndexForNanos(NaN), /ns must be an integer/);
  assert.throws(() => bucketIndexForNanos(U64), /ns must be an integer/);
  assert.throws(() => bucketIndexForNanos(2 ** 64), /ns must be an integer/);
  assert.throws(() => bucketIndexForNanos(1000, 6), /scale must be an integer in \[-10, 5\]/);
  assert.throws(() => bucketIndexForNanos(1000, -11), /scale must be/);
});

test('the generated C header carries the same table', () => {
  const gen = fileURLToPath(new URL('./exphist-table-gen.ts', import.meta.url));
  const header = execFileSync(process.execPath, ['--import', 'tsx', gen], { encoding: 'utf8' });
  const t = boundaryTableNs(KERNEL_MAX_SCALE);
  const define = (name: string) => Number(new RegExp(`#define ${name} \\(?(-?\\d+)\\)?`).exec(header)?.[1]);
  assert.equal(define('EXPHIST_MAX_SCALE'), KERNEL_MAX_SCALE);
  assert.equal(define('EXPHIST_MIN_SCALE'), MIN_SCALE);
  assert.equal(define('EXPHIST_FIRST_INDEX'), t.firstIndex);
  assert.equal(define('EXPHIST_BOUNDS_LEN'), t.bounds.length);
  const size = define('EXPHIST_BOUNDS_SIZE');
  assert.equal(size & (size - 1), 0, 'size is a power of two');
  const body = header.slice(header.indexOf('exphist_bounds_ns['), header.lastIndexOf('};'));
  const values = [...body.matchAll(/0x([0-9a-f]{16})ULL/g)].map((m) => BigInt(`0x${m[1]}`));
  assert.equal(values.length, size);
  assert.deepEqual(values.slice(0, t.bounds.length), [...t.bounds]);
  for (const pad of values.slice(t.bounds.length)) assert.equal(pad, U64 - 1n);
});

// ---------------------------------------------------------------------------
// Seconds

test('bucketIndexForSeconds is exact at powers of two for every scale', () => {
  for (let s = MIN_SCALE; s <= 20; s++) {
    for (let k = -1074; k <= 1023; k += s > 12 ? 7 : 1) {
      const want = s >= 0 ? k * 2 ** s - 1 : Math.ceil(k / 2 ** -s) - 1;
      assert.equal(bucketIndexForSeconds(2 ** k, s), want, `2^${k} scale ${s}`);
    }
  }
});

test('bucketIndexForSeconds equals the exact reference on and around float boundaries', () => {
  const r = rng(3);
  for (const s of [1, 2, 3, 5, 6, 8]) {
    for (let k = 0; k < 2000; k++) {
      const i = Math.floor((r() * 80 - 40) * 2 ** s);
      const b = bucketUpperBound(i, s);
      for (const v of [nextUp(b, -2), nextUp(b, -1), b, nextUp(b, 1), nextUp(b, 2)]) {
        assert.equal(bucketIndexForSeconds(v, s), refIndexSeconds(v, s), `v=${v} scale ${s}`);
      }
    }
  }
  for (let k = 0; k < 20_000; k++) {
    const v = 2 ** (r() * 120 - 60);
    const s = k % 9;
    assert.equal(bucketIndexForSeconds(v, s), refIndexSeconds(v, s), `v=${v} scale ${s}`);
  }
  // Subnormal and extreme values.
  for (const v of [Number.MIN_VALUE, 3 * Number.MIN_VALUE, Number.MAX_VALUE, 2 ** -1022 * 1.5]) {
    for (const s of [0, 1, 3]) assert.equal(bucketIndexForSeconds(v, s), refIndexSeconds(v, s), `v=${v} scale ${s}`);
  }
});

test('bucketIndexForSeconds at high scales nests into lower scales and matches the float formula', () => {
  const r = rng(4);
  for (let k = 0; k < 20_000; k++) {
    const s = 12 + (k % 9);
    const i = Math.floor((r() * 40 - 20) * 2 ** s);
    const b = bucketUpperBound(i, s);
    for (const v of [nextUp(b, -1), b, nextUp(b, 1)]) {
      const got = bucketIndexForSeconds(v, s);
      assert.equal(got >> (s - 8), bucketIndexForSeconds(v, 8), `v=${v} scale ${s}`);
      assert.ok(Math.abs(got - i) <= 1, `v=${v} scale ${s}: ${got} vs ${i}`);
    }
  }
  assert.throws(() => bucketIndexForSeconds(0), /value must be a positive finite number/);
  assert.throws(() => bucketIndexForSeconds(-1), /positive finite/);
  assert.throws(() => bucketIndexForSeconds(Infinity), /positive finite/);
  assert.throws(() => bucketIndexForSeconds(1, 21), /scale must be an integer in \[-10, 20\]/);
});

test('nanoseconds and seconds agree where the seconds value is exact', () => {
  for (let k = -9; k <= 34; k++) {
    const ns = k >= 0 ? 1e9 * 2 ** k : 1e9 / 2 ** -k;
    for (const s of KERNEL_SCALES) assert.equal(bucketIndexForNanos(BigInt(ns), s), bucketIndexForSeconds(2 ** k, s));
  }
});

test('bucket bounds are exact at powers of two and within an ulp elsewhere', () => {
  for (let k = -60; k <= 60; k++) {
    assert.equal(bucketLowerBound(k * 32, 5), 2 ** k);
    assert.equal(bucketUpperBound(k * 32 - 1, 5), 2 ** k);
    assert.equal(bucketLowerBound(k, 0), 2 ** k);
    assert.equal(bucketLowerBound(k, -2), 2 ** (4 * k));
  }
  for (let i = -100; i <= 100; i++) {
    const b = bucketLowerBound(i, 5);
    assert.ok(Math.abs(b / 2 ** (i / 32) - 1) < 4e-16, `index ${i}`);
    assert.ok(b < bucketUpperBound(i, 5));
  }
  assert.ok(Math.abs(relativeError(5) - 0.02190) < 1e-5);
});

// ---------------------------------------------------------------------------
// Histograms

/** A histogram of the given ns values at `scale`, built value by value. */
function histogramOf(ns: readonly number[], scale: number): ExpHistogram {
  const buckets = new Map<number, number>();
  for (const v of ns) {
    const i = bucketIndexForNanos(v, scale);
    buckets.set(i, (buckets.get(i) ?? 0) + 1);
  }
  const sum = ns.reduce((a, b) => a + b, 0);
  return histogramFromBuckets(scale, buckets, sum, { minNs: Math.min(...ns), maxNs: Math.max(...ns) });
}

function randomLatenciesNs(r: () => number, n: number): number[] {
  // 50 µs .. 5 s, log-uniform
  return Array.from({ length: n }, () => Math.round(5e4 * 10 ** (r() * 5)));
}

test('histogramFromBuckets turns kernel buckets into a dense seconds histogram', () => {
  const h = histogramFromBuckets(5, new Map([[3, 2], [-1, 5], [0, 0], [1, 1]]), 7_500_000_000n, { minNs: 900_000_000, maxNs: 2n * 10n ** 9n });
  assert.deepEqual(h, { scale: 5, zeroCount: 0, offset: -1, counts: [5, 0, 1, 0, 2], count: 8, sum: 7.5, min: 0.9, max: 2 });
  const empty = histogramFromBuckets(3, [], 0);
  assert.deepEqual(empty, { scale: 3, zeroCount: 0, offset: 0, counts: [], count: 0, sum: 0 });
  assert.throws(() => histogramFromBuckets(5, [[1.5, 1]], 0), /bucket index must be an integer/);
  assert.throws(() => histogramFromBuckets(5, [[1, -1]], 0), /count of bucket 1 must be a non-negative integer/);
  assert.throws(() => histogramFromBuckets(5, [[1, 1]], -5), /sumNs must be a non-negative/);
  assert.throws(() => histogramFromBuckets(25, [[1, 1]], 0), /scale must be/);
});

test('downscale equals a histogram built directly at the lower scale', () => {
  const ns = randomLatenciesNs(rng(5), 20_000);
  const h5 = histogramOf(ns, 5);
  for (let s = 5; s >= MIN_SCALE; s--) {
    const direct = histogramOf(ns, s);
    const down = downscale(h5, s);
    assert.deepEqual(down, direct, `scale ${s}`);
  }
  assert.throws(() => downscale(h5, 6), /cannot upscale/);
});

test('mergeHistograms sums at the lowest scale', () => {
  const r = rng(6);
  const a = randomLatenciesNs(r, 5000);
  const b = randomLatenciesNs(r, 7000).map((v) => v * 3);
  const merged = mergeHistograms([histogramOf(a, 5), histogramOf(b, 2)]);
  const direct = histogramOf([...a, ...b], 2);
  assert.ok(merged);
  assert.equal(merged.scale, 2);
  assert.equal(merged.offset, direct.offset);
  assert.deepEqual(merged.counts, direct.counts);
  assert.equal(merged.count, direct.count);
  assert.equal(merged.min, direct.min);
  assert.equal(merged.max, direct.max);
  assert.ok(Math.abs(merged.sum - direct.sum) < 1e-9 * direct.sum);
  assert.equal(mergeHistograms([]), undefined);
  const withEmpty = mergeHistograms([histogramFromBuckets(4, [], 0), histogramOf(a, 4)]);
  assert.deepEqual(withEmpty?.counts, histogramOf(a, 4).counts);
});

test('quantile is never below the true value and at most base − 1 above it', () => {
  const ns = randomLatenciesNs(rng(7), 10_000);
  const sorted = [...ns].sort((x, y) => x - y);
  for (const scale of [5, 3, 0]) {
    const h = histogramOf(ns, scale);
    for (const q of [0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) {
      const truth = sorted[Math.max(1, Math.ceil(q * ns.length)) - 1] / 1e9;
      const got = quantile(h, q);
      assert.ok(got !== undefined);
      assert.ok(got >= truth * (1 - 1e-12), `q=${q} scale ${scale}: ${got} < ${truth}`);
      assert.ok(got <= truth * (1 + relativeError(scale)) * (1 + 1e-12), `q=${q} scale ${scale}: ${got} ≫ ${truth}`);
    }
    assert.equal(quantile(h, 1), sorted.at(-1)! / 1e9, 'clamped to the recorded max');
  }
  assert.equal(quantile(histogramFromBuckets(5, [], 0), 0.5), undefined);
  assert.throws(() => quantile(histogramOf(ns, 5), 1.5), /quantile must be within \[0, 1\]/);
});

test('countAtMost counts whole buckets below the threshold, exactly at boundaries', () => {
  const ns = randomLatenciesNs(rng(8), 20_000);
  const h = histogramOf(ns, 5);
  for (const t of [0.0001, 0.025, 0.1, 0.25, 0.3, 0.5, 1, 2, 2.5]) {
    const res = thresholdResolution(t, 5);
    // Reference: a value counts when its whole bucket is ≤ t; buckets are compared
    // with exact integers through the ns table's neighbour, the seconds index of t.
    const tIndex = refIndexSeconds(t, 5);
    const lastIncluded = res.exact ? tIndex : tIndex - 1;
    const want = ns.filter((v) => refIndexNs(BigInt(v), 5) <= lastIncluded).length;
    assert.equal(countAtMost(h, t), want, `threshold ${t}`);
    // Every value ≤ below is counted; none above the threshold is.
    assert.ok(ns.filter((v) => v / 1e9 <= res.below * (1 - 1e-12)).length <= want);
    assert.ok(ns.filter((v) => v / 1e9 <= t).length >= want);
    assert.ok(res.relativeGap >= 0 && res.relativeGap < relativeError(5));
  }
  assert.equal(thresholdResolution(0.5).exact, true);
  assert.equal(thresholdResolution(0.5).below, 0.5);
  assert.equal(thresholdResolution(0.3).exact, false);
  assert.ok(thresholdResolution(0.3).below < 0.3 && thresholdResolution(0.3).above > 0.3);
  // A bucket ending exactly at 1 s is included at threshold 1 s.
  const edge = histogramFromBuckets(5, [[-1, 3], [0, 4]], 0);
  assert.equal(countAtMost(edge, 1), 3);
  assert.equal(countAtMost(edge, nextUp(1, -1)), 0);
  assert.equal(countAtMost(edge, Infinity), 7);
  assert.equal(countAtMost({ ...edge, zeroCount: 2, count: 9 }, 0), 2);
  assert.equal(countAtMost(edge, -1), 0);
  assert.throws(() => countAtMost(edge, NaN), /threshold must be a number/);
  assert.throws(() => thresholdResolution(0), /threshold must be a positive finite number of seconds/);
});

test('merging keeps min/max only when every histogram with values had them', () => {
  const withMax = { scale: 0, zeroCount: 0, offset: 0, counts: [1], count: 1, sum: 1.5, min: 1.5, max: 1.5 };
  const withoutMax = { scale: 0, zeroCount: 0, offset: 3, counts: [1], count: 1, sum: 12 };
  const empty = { scale: 0, zeroCount: 0, offset: 0, counts: [], count: 0, sum: 0 };
  const merged = mergeHistograms([withMax, withoutMax])!;
  assert.equal(merged.max, undefined, 'an unknown max must not clamp quantiles to the other input max');
  assert.equal(quantile(merged, 1), 16);
  const both = mergeHistograms([withMax, empty])!;
  assert.equal(both.max, 1.5, 'an empty histogram does not make the bound unknown');
  assert.equal(both.min, 1.5);
});
