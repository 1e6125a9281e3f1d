// Exponential-histogram math shared by the agent, the gateway and the query engine.
//
// Bucket i of a histogram at scale s holds values in (base^i, base^(i+1)] with
// base = 2^(2^-s): exactly OTLP's ExponentialHistogram and Prometheus' native
// histograms (schema = scale). Values on the wire are seconds.
//
// The kernel measures nanoseconds but must produce the index of the value *in
// seconds*. 1e9 is not a power of any base, so an index computed on nanoseconds
// cannot be converted afterwards. Instead the kernel compares the integer
// nanosecond value against a table of the bucket boundaries expressed in
// nanoseconds and rounded down, T[i] = floor(1e9 · 2^(i / 2^KERNEL_MAX_SCALE)).
// For an integer v and any real B, v > B ⇔ v > floor(B) and v ≤ B ⇔ v ≤ floor(B),
// so "T[i] < v ≤ T[i+1]" is exactly "v ns lies in bucket i" — no rounding anywhere.
// Lower scales follow by an arithmetic shift because buckets nest. The table is
// computed here with BigInt and printed into the BPF build by exphist-table-gen.ts,
// so the kernel and TypeScript share one computation.

export interface ExpHistogram {
  scale: number;
  /** Values that were exactly zero (none for durations, kept for OTLP fidelity). */
  zeroCount: number;
  /** Index of counts[0]. */
  offset: number;
  counts: number[];
  count: number;
  sum: number;
  min?: number;
  max?: number;
}

export const DEFAULT_SCALE = 5;
/** OTLP's scale range (the Prometheus native-histogram schema range is narrower: -4..8). */
export const MIN_SCALE = -10;
export const MAX_SCALE = 20;
/**
 * The scale of the kernel's boundary table. The kernel (and bucketIndexForNanos)
 * supports MIN_SCALE..KERNEL_MAX_SCALE; a finer kernel scale needs a regenerated,
 * larger table (2^scale · 64 entries).
 */
export const KERNEL_MAX_SCALE = 5;

const NS_PER_S = 1_000_000_000n;
const U64_MAX = (1n << 64n) - 1n;
/** Largest scale a nanosecond table can be built for: the table has ~64·2^scale entries. */
const TABLE_MAX_SCALE = 8;

function checkScale(scale: number, min: number, max: number, field = 'scale'): void {
  if (!Number.isInteger(scale) || scale < min || scale > max) {
    throw new RangeError(`${field} must be an integer in [${min}, ${max}], got ${scale}`);
  }
}

// ---------------------------------------------------------------------------
// Exact helpers

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** floor(sqrt(a)) for a ≥ 0, exactly. */
function isqrt(a: bigint): bigint {
  if (a < 2n) return a;
  // Start from a float estimate scaled a little upwards: Newton's iteration from
  // above decreases monotonically to floor(sqrt(a)) and stops there.
  const shift = Math.max(0, bitLength(a) - 104) & ~1;
  const approx = Math.sqrt(Number(a >> BigInt(shift))) * (1 + 2 ** -40) + 1;
  let x = (BigInt(Math.ceil(approx)) << BigInt(shift / 2)) + 1n;
  for (;;) {
    const y = (x + a / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  if (x * x > a || (x + 1n) * (x + 1n) <= a) throw new Error(`isqrt failed for ${a}`);
  return x;
}

/** floor(1e9 · 2^(i / 2^scale)) exactly: 2^scale successive integer square roots of floor(1e9^n · 2^i). */
function boundaryNs(i: number, scale: number): bigint {
  const n = 2 ** scale;
  const p = NS_PER_S ** BigInt(n);
  // floor(sqrt(floor(y))) = floor(sqrt(y)) for real y ≥ 0, so rounding A down
  // first and taking integer square roots s times gives floor(y^(1/2^s)).
  let x = i >= 0 ? p << BigInt(i) : p >> BigInt(-i);
  for (let k = 0; k < scale; k++) x = isqrt(x);
  return x;
}

/** v = m · 2^e exactly, with m odd (v > 0 finite). */
function decompose(v: number): { m: bigint; e: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (biased === 0) {
    e = -1074;
  } else {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  while ((m & 1n) === 0n) {
    m >>= 1n;
    e++;
  }
  return { m, e };
}

/**
 * Sign of v^(2^s) − 2^k for v = m · 2^e (m odd), s ≥ 0, exactly. Uses interval
 * arithmetic with truncated squarings (m^(2^20) would have millions of bits) and
 * widens the precision until the interval excludes 2^k, which it must: for odd
 * m > 1, m^(2^s) is never a power of two.
 */
function comparePowToPow2(m: bigint, e: number, s: number, k: number): number {
  const n = 2 ** s;
  if (m === 1n) return Math.sign(e * n - k);
  for (let precision = 64; ; precision *= 2) {
    let lo = m;
    let hi = m;
    let x = 0; // m^(2^j) ∈ [lo, hi] · 2^x
    for (let j = 0; j < s; j++) {
      lo *= lo;
      hi *= hi;
      x *= 2;
      const excess = bitLength(hi) - precision;
      if (excess > 0) {
        const sh = BigInt(excess);
        lo >>= sh;
        hi = ((hi - 1n) >> sh) + 1n;
        x += excess;
      }
    }
    const t = k - x - e * n; // compare the interval [lo, hi] with 2^t
    if (t < 0) return 1;
    const p = 1n << BigInt(t);
    if (lo >= p) return 1;
    if (hi <= p) return -1;
  }
}

// ---------------------------------------------------------------------------
// Bucket boundaries in seconds

/** Lower bound (exclusive) of bucket `index` at `scale`, in the histogram's unit. Exact at powers of two. */
export function bucketLowerBound(index: number, scale: number): number {
  if (scale <= 0) return 2 ** (index * 2 ** -scale);
  const n = 2 ** scale;
  const q = Math.floor(index / n);
  const r = index - q * n;
  // 2 ** integer is exact; only the fractional part carries rounding (≤ 1 ulp).
  return r === 0 ? 2 ** q : 2 ** q * 2 ** (r / n);
}

/** Upper bound (inclusive) of bucket `index` at `scale`. Exact at powers of two. */
export function bucketUpperBound(index: number, scale: number): number {
  return bucketLowerBound(index + 1, scale);
}

/** The largest relative error of a value reported as its bucket's upper bound: base - 1. */
export function relativeError(scale: number): number {
  return Math.pow(2, Math.pow(2, -scale)) - 1;
}

/**
 * Index of the bucket holding `v` (seconds, or any unit) at `scale`, exactly: a
 * float estimate corrected by exact comparisons of v^(2^scale) with powers of two,
 * so values on or next to a boundary land where the OTLP definition puts them.
 * For user-space callers (thresholds, other senders' data); the agent's values
 * come from the kernel through bucketIndexForNanos' table.
 */
export function bucketIndexForSeconds(v: number, scale: number = DEFAULT_SCALE): number {
  checkScale(scale, MIN_SCALE, MAX_SCALE);
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new RangeError(`value must be a positive finite number, got ${v}`);
  }
  const { m, e } = decompose(v);
  if (scale <= 0) {
    // Scale 0: ceil(log2 v) - 1, read off the binary exponent; lower scales nest.
    const index0 = m === 1n ? e - 1 : e + bitLength(m) - 1;
    return index0 >> -scale;
  }
  const n = 2 ** scale;
  const x = Math.log2(v) * n;
  let i = Math.ceil(x) - 1;
  // Math.log2 is within a few ulps, so a value clearly between two boundaries
  // needs no exact check; the margin is orders of magnitude above that error.
  if (Math.abs(x - Math.round(x)) > 1e-10 * (Math.abs(x) + 1)) return i;
  // Bucket i ⇔ 2^i < v^n ≤ 2^(i+1).
  while (comparePowToPow2(m, e, scale, i) <= 0) i--;
  while (comparePowToPow2(m, e, scale, i + 1) > 0) i++;
  return i;
}

/** Whether `v` (> 0) is exactly a bucket boundary at `scale` (only powers of two can be). */
function isBoundary(v: number, scale: number): boolean {
  const { m, e } = decompose(v);
  return m === 1n && (scale >= 0 || e % 2 ** -scale === 0);
}

/** Largest index i whose bucket lies wholly at or below `threshold` (> 0): upper bound ≤ threshold. */
function lastBucketAtMost(threshold: number, scale: number): number {
  const j = bucketIndexForSeconds(threshold, scale);
  return isBoundary(threshold, scale) ? j : j - 1;
}

/**
 * How a latency threshold (seconds) is resolved by a histogram at `scale`:
 * countAtMost counts exactly the values ≤ `below` (the largest bucket boundary ≤
 * threshold), so values in (below, threshold] are counted as slower than the
 * threshold. `exact` when the threshold is itself a boundary; otherwise the
 * relative gap (threshold − below) / threshold is below 1 − 1/base.
 */
export function thresholdResolution(threshold: number, scale: number = DEFAULT_SCALE): ThresholdResolution {
  checkScale(scale, MIN_SCALE, MAX_SCALE);
  if (!(threshold > 0) || !Number.isFinite(threshold)) {
    throw new RangeError(`threshold must be a positive finite number of seconds, got ${threshold}`);
  }
  const last = lastBucketAtMost(threshold, scale);
  const exact = isBoundary(threshold, scale);
  const below = exact ? threshold : bucketUpperBound(last, scale);
  const above = exact ? threshold : bucketUpperBound(last + 1, scale);
  return { below, above, exact, relativeGap: (threshold - below) / threshold, lastIndex: last };
}

export interface ThresholdResolution {
  below: number;
  above: number;
  exact: boolean;
  relativeGap: number;
  /** Index of the last bucket wholly at or below the threshold; the next one straddles it unless `exact`. */
  lastIndex: number;
}

// ---------------------------------------------------------------------------
// Nanoseconds (the kernel's unit) → bucket index in seconds

export interface NsBoundaryTable {
  /** The scale the table is built for; lower scales use index >> (maxScale - scale). */
  maxScale: number;
  /** Bucket index of bounds[0]; bounds[k] is the lower boundary of bucket firstIndex + k. */
  firstIndex: number;
  /** floor(1e9 · 2^((firstIndex + k) / 2^maxScale)) for every boundary in [1 ns, 2^64 ns). */
  bounds: readonly bigint[];
}

interface TableWithFloats extends NsBoundaryTable {
  /** bounds rounded to doubles, for searching number inputs without BigInt. */
  approx: Float64Array;
}

const tables = new Map<number, TableWithFloats>();

/**
 * The nanosecond boundary table at `maxScale` (memoised): every i with
 * 1 ≤ floor(1e9 · 2^(i/2^maxScale)) < 2^64, exact (BigInt integer roots). At
 * scale 5 that is i ∈ [-956, 1091], 2048 entries.
 */
export function boundaryTableNs(maxScale: number = KERNEL_MAX_SCALE): NsBoundaryTable {
  return tableFor(maxScale);
}

function tableFor(maxScale: number): TableWithFloats {
  checkScale(maxScale, 0, TABLE_MAX_SCALE, 'maxScale');
  const cached = tables.get(maxScale);
  if (cached) return cached;
  const n = 2 ** maxScale;
  // Float estimates of the range's ends, then exact adjustment.
  let first = Math.floor(-Math.log2(1e9) * n);
  while (boundaryNs(first, maxScale) >= 1n) first--;
  while (boundaryNs(first, maxScale) < 1n) first++;
  let last = Math.floor((64 - Math.log2(1e9)) * n);
  while (boundaryNs(last, maxScale) > U64_MAX) last--;
  while (boundaryNs(last + 1, maxScale) <= U64_MAX) last++;
  const bounds: bigint[] = [];
  for (let i = first; i <= last; i++) bounds.push(boundaryNs(i, maxScale));
  const table: TableWithFloats = {
    maxScale,
    firstIndex: first,
    bounds: Object.freeze(bounds),
    approx: Float64Array.from(bounds, (b) => Number(b)),
  };
  tables.set(maxScale, table);
  return table;
}

/** Number of table entries strictly below v (the kernel's search, in TypeScript). */
function countBelow(t: TableWithFloats, v: number | bigint): number {
  let lo = 0;
  let hi = t.bounds.length;
  if (typeof v === 'number') {
    // Rounding is monotonic, so a strict float comparison decides; only an equal
    // rounded value needs the exact BigInt comparison.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = t.approx[mid];
      if (b < v || (b === v && t.bounds[mid] < BigInt(v))) lo = mid + 1;
      else hi = mid;
    }
  } else {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t.bounds[mid] < v) lo = mid + 1;
      else hi = mid;
    }
  }
  return lo;
}

/**
 * Bucket index at `scale` of a duration of `ns` nanoseconds, expressed in seconds
 * (the OTLP unit) — the kernel's exphist_index, step for step: search the
 * boundary table, then shift down to the wanted scale. Exact for 1 ≤ ns < 2^64;
 * 0 ns is counted in the bucket of 1 ns (durations have no zero bucket here).
 */
export function bucketIndexForNanos(ns: number | bigint, scale: number = DEFAULT_SCALE): number {
  checkScale(scale, MIN_SCALE, KERNEL_MAX_SCALE);
  let v: number | bigint = ns;
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) throw new RangeError(`ns must be an integer in [0, 2^64), got ${v}`);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) v = Number(v);
  } else if (!Number.isInteger(v) || v < 0 || v >= 2 ** 64) {
    throw new RangeError(`ns must be an integer in [0, 2^64), got ${v}`);
  }
  const t = tableFor(KERNEL_MAX_SCALE);
  const index = t.firstIndex - 1 + countBelow(t, v);
  return index >> (KERNEL_MAX_SCALE - scale);
}

/** Nanoseconds (integer, possibly beyond 2^53 as a bigint) to seconds. */
export function nanosToSeconds(ns: number | bigint): number {
  return Number(ns) / 1e9;
}

export interface HistogramFromBucketsOptions {
  /** Smallest and largest recorded durations, when the collector tracked them. */
  minNs?: number | bigint;
  maxNs?: number | bigint;
}

/**
 * Builds a seconds histogram from sparse (bucket index → count) pairs, as drained
 * from the kernel (indices are already seconds indices at `scale`). `count` is the
 * sum of the counts, as OTLP requires.
 */
export function histogramFromBuckets(
  scale: number,
  buckets: Iterable<readonly [number, number]>,
  sumNs: number | bigint,
  options: HistogramFromBucketsOptions = {},
): ExpHistogram {
  checkScale(scale, MIN_SCALE, MAX_SCALE);
  const entries: [number, number][] = [];
  for (const [index, c] of buckets) {
    if (!Number.isInteger(index)) throw new RangeError(`bucket index must be an integer, got ${index}`);
    if (!Number.isInteger(c) || c < 0) {
      throw new RangeError(`count of bucket ${index} must be a non-negative integer, got ${c}`);
    }
    if (c > 0) entries.push([index, c]);
  }
  if (typeof sumNs === 'number' ? !(sumNs >= 0) || !Number.isFinite(sumNs) : sumNs < 0n) {
    throw new RangeError(`sumNs must be a non-negative number of nanoseconds, got ${sumNs}`);
  }
  let offset = 0;
  let counts: number[] = [];
  let count = 0;
  if (entries.length > 0) {
    offset = Math.min(...entries.map(([i]) => i));
    const end = Math.max(...entries.map(([i]) => i));
    counts = new Array<number>(end - offset + 1).fill(0);
    for (const [i, c] of entries) {
      counts[i - offset] += c;
      count += c;
    }
  }
  const h: ExpHistogram = { scale, zeroCount: 0, offset, counts, count, sum: nanosToSeconds(sumNs) };
  if (options.minNs !== undefined) h.min = nanosToSeconds(options.minNs);
  if (options.maxNs !== undefined) h.max = nanosToSeconds(options.maxNs);
  return h;
}

// ---------------------------------------------------------------------------
// Operations on histograms

/** Re-expresses a histogram at a lower scale: buckets nest, so index i becomes i >> (from - to). */
export function downscale(h: ExpHistogram, toScale: number): ExpHistogram {
  if (toScale > h.scale) throw new RangeError(`cannot upscale a histogram from ${h.scale} to ${toScale}`);
  const shift = h.scale - toScale;
  if (shift === 0 || h.counts.length === 0) return { ...h, scale: toScale, counts: [...h.counts] };
  const first = h.offset >> shift;
  const last = (h.offset + h.counts.length - 1) >> shift;
  const counts = new Array<number>(last - first + 1).fill(0);
  h.counts.forEach((c, i) => {
    counts[((h.offset + i) >> shift) - first] += c;
  });
  return { ...h, scale: toScale, offset: first, counts };
}

/** Sums histograms, bringing all to the lowest scale among them. */
export function mergeHistograms(hs: readonly ExpHistogram[]): ExpHistogram | undefined {
  if (hs.length === 0) return undefined;
  const scale = Math.min(...hs.map((h) => h.scale));
  const scaled = hs.map((h) => downscale(h, scale));
  const nonEmpty = scaled.filter((h) => h.counts.length > 0);
  const offset = nonEmpty.length ? Math.min(...nonEmpty.map((h) => h.offset)) : 0;
  const end = nonEmpty.length ? Math.max(...nonEmpty.map((h) => h.offset + h.counts.length)) : 0;
  const counts = new Array<number>(end - offset).fill(0);
  for (const h of scaled) h.counts.forEach((c, i) => (counts[h.offset - offset + i] += c));
  // A bound is known only when every histogram holding values knew its own: taking the
  // max of those that did would clamp quantiles below values the others recorded.
  const holding = scaled.filter((h) => h.count > 0);
  const min = holding.every((h) => h.min !== undefined) && holding.length ? Math.min(...holding.map((h) => h.min!)) : undefined;
  const max = holding.every((h) => h.max !== undefined) && holding.length ? Math.max(...holding.map((h) => h.max!)) : undefined;
  return {
    scale,
    zeroCount: scaled.reduce((a, h) => a + h.zeroCount, 0),
    offset,
    counts,
    count: scaled.reduce((a, h) => a + h.count, 0),
    sum: scaled.reduce((a, h) => a + h.sum, 0),
    min,
    max,
  };
}

/**
 * The q-quantile (0..1) as the upper bound of the bucket holding the rank — the
 * Prometheus convention, so the reported value is never below the true one and at
 * most (base - 1) above it. Clamped to the recorded max when there is one.
 */
export function quantile(h: ExpHistogram, q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  if (h.count === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = h.zeroCount;
  if (seen >= rank) return 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i];
    if (seen >= rank) {
      const upper = bucketUpperBound(h.offset + i, h.scale);
      return h.max !== undefined ? Math.min(upper, h.max) : upper;
    }
  }
  return h.max;
}

/**
 * How many recorded values are ≤ threshold, counting whole buckets whose upper
 * bound is ≤ it (decided exactly, so a threshold on a boundary such as 0.5 s
 * includes the bucket that ends there). See thresholdResolution for the error.
 */
export function countAtMost(h: ExpHistogram, threshold: number): number {
  if (Number.isNaN(threshold)) throw new RangeError('threshold must be a number, got NaN');
  if (threshold < 0) return 0;
  let n = h.zeroCount;
  if (threshold === 0) return n;
  const last = threshold === Infinity ? Infinity : lastBucketAtMost(threshold, h.scale);
  for (let i = 0; i < h.counts.length && h.offset + i <= last; i++) n += h.counts[i];
  return n;
}

// ---------------------------------------------------------------------------
// Added for the query engine (lambda/query): merging many senders' histograms within a bucket
// budget, cumulative → delta, and OTLP explicit-bucket histograms (what OpenTelemetry SDKs send
// by default). Kept apart from the kernel-facing math above.

/** The bucket budget of OpenTelemetry SDKs' exponential aggregation (maxSize 160). */
export const DEFAULT_MAX_BUCKETS = 160;

/**
 * Sums histograms at the finest scale at which the result spans at most `maxBuckets` buckets.
 * mergeHistograms alone keeps the lowest input scale, and two senders at scale 20 with values an
 * order of magnitude apart would need millions of buckets. min/max stay only when every input
 * has them: a max missing from one input could be anything.
 */
export function mergeHistogramsWithin(
  hs: readonly ExpHistogram[],
  maxBuckets: number = DEFAULT_MAX_BUCKETS,
): ExpHistogram | undefined {
  if (hs.length === 0) return undefined;
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1) throw new RangeError(`maxBuckets must be a positive integer, got ${maxBuckets}`);
  let scale = Math.min(...hs.map((h) => h.scale));
  const nonEmpty = hs.filter((h) => h.counts.length > 0);
  const span = (s: number) => {
    let first = Infinity;
    let last = -Infinity;
    for (const h of nonEmpty) {
      const shift = h.scale - s;
      first = Math.min(first, h.offset >> shift);
      last = Math.max(last, (h.offset + h.counts.length - 1) >> shift);
    }
    return last - first + 1;
  };
  while (nonEmpty.length > 0 && scale > MIN_SCALE && span(scale) > maxBuckets) scale--;
  const merged = mergeHistograms(hs.map((h) => downscale(h, scale)))!;
  if (hs.some((h) => h.min === undefined)) delete merged.min;
  if (hs.some((h) => h.max === undefined)) delete merged.max;
  return merged;
}

/**
 * What was recorded between two cumulative snapshots of one series (`later` − `earlier`), at the
 * lower of their scales (an SDK may downscale a cumulative histogram, never upscale it).
 * undefined when some bucket went down: the series was reset, and `later` alone is the delta.
 * min/max of the interval cannot be known and are left out.
 */
export function subtractHistograms(later: ExpHistogram, earlier: ExpHistogram): ExpHistogram | undefined {
  const scale = Math.min(later.scale, earlier.scale);
  const a = downscale(later, scale);
  const b = downscale(earlier, scale);
  const counts = [...a.counts];
  for (let i = 0; i < b.counts.length; i++) {
    if (b.counts[i] === 0) continue;
    const j = b.offset + i - a.offset;
    if (j < 0 || j >= counts.length || counts[j] < b.counts[i]) return undefined;
    counts[j] -= b.counts[i];
  }
  const zeroCount = a.zeroCount - b.zeroCount;
  const count = a.count - b.count;
  if (zeroCount < 0 || count < 0) return undefined;
  return { scale, zeroCount, offset: a.offset, counts, count, sum: a.sum - b.sum };
}

/**
 * OTLP's explicit-bucket Histogram: counts[i] holds values in (bounds[i-1], bounds[i]], the
 * first bucket (-Inf, bounds[0]] and the last (bounds[n-1], +Inf).
 */
export interface ExplicitHistogram {
  bounds: number[];
  counts: number[];
  count: number;
  sum?: number;
  min?: number;
  max?: number;
}

/**
 * Sums explicit histograms. With equal bounds this is exact. With different bounds the result
 * has the union of the bounds and each input bucket is counted in the merged bucket that ends at
 * its own upper bound, so quantiles stay upper bounds (never below the true value) and
 * explicitCountAtMost stays exact at every input's own bounds.
 */
export function mergeExplicitHistograms(hs: readonly ExplicitHistogram[]): ExplicitHistogram | undefined {
  if (hs.length === 0) return undefined;
  const bounds = [...new Set(hs.flatMap((h) => h.bounds))].sort((x, y) => x - y);
  const position = new Map(bounds.map((b, i) => [b, i]));
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const h of hs) {
    h.counts.forEach((c, i) => {
      counts[i < h.bounds.length ? position.get(h.bounds[i])! : bounds.length] += c;
    });
  }
  const merged: ExplicitHistogram = { bounds, counts, count: hs.reduce((a, h) => a + h.count, 0) };
  if (hs.every((h) => h.sum !== undefined)) merged.sum = hs.reduce((a, h) => a + h.sum!, 0);
  if (hs.every((h) => h.min !== undefined)) merged.min = Math.min(...hs.map((h) => h.min!));
  if (hs.every((h) => h.max !== undefined)) merged.max = Math.max(...hs.map((h) => h.max!));
  return merged;
}

/** A bucket of an explicit histogram: (lower, upper], null where it is unbounded. */
export interface BucketBounds {
  lower: number | null;
  upper: number | null;
}

/**
 * The q-quantile as the upper bound of the bucket holding the rank (the convention of quantile()
 * above), clamped to the recorded max. A rank in the +Inf bucket gives the max when known, else
 * the largest finite bound (as Prometheus does).
 */
export function explicitQuantile(h: ExplicitHistogram, q: number): number | undefined {
  return explicitQuantileBucket(h, q)?.value;
}

/**
 * explicitQuantile and the bucket the value comes from. Explicit bounds are whatever the sender
 * chose (the OpenTelemetry SDKs' default is [0, 5, 10, 25, …, 10000]), so a reader needs the
 * bucket to know how far the value can be from the truth: the true quantile lies in it.
 */
export function explicitQuantileBucket(h: ExplicitHistogram, q: number): { value: number; bucket: BucketBounds } | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  if (h.count === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i];
    if (seen >= rank) {
      const bucket: BucketBounds = { lower: i > 0 ? h.bounds[i - 1] : null, upper: i < h.bounds.length ? h.bounds[i] : null };
      if (i >= h.bounds.length) return { value: h.max ?? h.bounds[h.bounds.length - 1], bucket };
      return { value: h.max !== undefined ? Math.min(h.bounds[i], h.max) : h.bounds[i], bucket };
    }
  }
  // No buckets (OTLP allows count and sum alone): only the max can be said, from an unknown bucket.
  return h.max !== undefined ? { value: h.max, bucket: { lower: null, upper: null } } : undefined;
}

/** How many values are ≤ threshold, counting whole buckets whose upper bound is ≤ it. */
export function explicitCountAtMost(h: ExplicitHistogram, threshold: number): number {
  let n = 0;
  for (let i = 0; i < h.bounds.length && h.bounds[i] <= threshold; i++) n += h.counts[i];
  if (threshold === Infinity && h.counts.length > h.bounds.length) n += h.counts[h.bounds.length];
  return n;
}

/** The value explicitCountAtMost really counts up to: the largest bound ≤ threshold (undefined: none). */
export function explicitThresholdBelow(bounds: readonly number[], threshold: number): number | undefined {
  let below: number | undefined;
  for (const b of bounds) if (b <= threshold) below = b;
  return below;
}

/** `later` − `earlier` for cumulative snapshots with equal bounds; undefined on a reset or changed bounds. */
export function subtractExplicitHistograms(later: ExplicitHistogram, earlier: ExplicitHistogram): ExplicitHistogram | undefined {
  if (later.bounds.length !== earlier.bounds.length || later.bounds.some((b, i) => b !== earlier.bounds[i])) return undefined;
  if (later.counts.length !== earlier.counts.length) return undefined;
  const counts = later.counts.map((c, i) => c - earlier.counts[i]);
  const count = later.count - earlier.count;
  if (count < 0 || counts.some((c) => c < 0)) return undefined;
  const out: ExplicitHistogram = { bounds: [...later.bounds], counts, count };
  if (later.sum !== undefined && earlier.sum !== undefined) out.sum = later.sum - earlier.sum;
  return out;
}

/**
 * `later` − `earlier` for two cumulative snapshots of one run whose bounds may differ: both are
 * first merged down to the bounds they share (a count at a shared bound is exact in either), so the
 * difference is exact there and in count and sum. A zero `earlier` (nothing counted yet) subtracts
 * nothing and keeps `later`'s own buckets. Undefined when the counts went down (a reset).
 *
 * Why runs change bounds: a Prometheus classic histogram arrives as one series per bucket, and a
 * remote-write request may carry only the upper part of one (a batch cut in the middle of it); that
 * part is the same histogram with coarser bounds.
 */
export function subtractExplicitHistogramsOnSharedBounds(later: ExplicitHistogram, earlier: ExplicitHistogram): ExplicitHistogram | undefined {
  if (earlier.count === 0) return { ...later, bounds: [...later.bounds], counts: [...later.counts] };
  const shared = later.bounds.filter((b) => earlier.bounds.includes(b));
  const coarse = (h: ExplicitHistogram): number[] => {
    const out = new Array<number>(shared.length + 1).fill(0);
    let j = 0;
    h.counts.forEach((c, i) => {
      const upper = i < h.bounds.length ? h.bounds[i] : Infinity;
      while (j < shared.length && shared[j] < upper) j++;
      out[j] += c;
    });
    return out;
  };
  return subtractExplicitHistograms({ ...later, bounds: shared, counts: coarse(later) }, { ...earlier, bounds: shared, counts: coarse(earlier) });
}

// ---------------------------------------------------------------------------
// Latency thresholds against any histogram: what can be counted as "at most the threshold", and
// when the buckets cannot tell. A bucket that straddles the threshold holds values on both
// sides of it. When the boundary below the threshold is close (at the agent's scale 5 it is at
// most 2.2% below), counting the straddling bucket as slow errs slightly on the strict side.
// When it is far — the OpenTelemetry SDKs' default explicit bounds [0, 5, 10, …] are meant for
// milliseconds, so a seconds metric puts every request in (0, 5] — counting that bucket either
// way would invent the answer, so the values there are unknown.

/** How far below the threshold (relative) the boundary counted up to may be. */
export const MAX_THRESHOLD_GAP = 0.1;

/** A histogram cut at a threshold. */
export interface ThresholdSplit {
  /** Values in buckets whose upper bound is ≤ the threshold. */
  atMost: number;
  /** Values in the bucket that straddles the threshold (0 when a boundary equals it). */
  straddling: number;
  /** The straddling bucket (lower < threshold < upper), or (threshold, threshold] when a boundary equals it. */
  lower: number;
  upper: number;
}

/** The split of an exponential histogram at the threshold `r` resolves (thresholdResolution at h.scale). */
export function splitAtThreshold(h: ExpHistogram, r: ThresholdResolution): ThresholdSplit {
  let atMost = h.zeroCount;
  for (let i = 0; i < h.counts.length && h.offset + i <= r.lastIndex; i++) atMost += h.counts[i];
  const straddling = r.exact ? 0 : (h.counts[r.lastIndex + 1 - h.offset] ?? 0);
  return { atMost, straddling, lower: r.below, upper: r.above };
}

/** The split of an explicit histogram at `threshold`; bounds below the first one are −Infinity, past the last +Infinity. */
export function explicitSplitAtThreshold(h: ExplicitHistogram, threshold: number): ThresholdSplit {
  // OTLP allows a histogram with count and sum but no buckets: all of it is unplaced.
  if (h.counts.length !== h.bounds.length + 1) return { atMost: 0, straddling: h.count, lower: -Infinity, upper: Infinity };
  let atMost = 0;
  let i = 0;
  for (; i < h.bounds.length && h.bounds[i] <= threshold; i++) atMost += h.counts[i];
  const lower = i > 0 ? h.bounds[i - 1] : -Infinity;
  if (lower === threshold) return { atMost, straddling: 0, lower, upper: threshold };
  return { atMost, straddling: h.counts[i], lower, upper: i < h.bounds.length ? h.bounds[i] : Infinity };
}

export type ThresholdVerdict =
  | {
      known: true;
      /** Values counted as at most the threshold. */
      good: number;
      /** The boundary really counted up to (≤ threshold). */
      effective: number;
    }
  | {
      known: false;
      /** The bucket that straddles the threshold, null where unbounded. */
      bucket: BucketBounds;
      /** Values in it. */
      straddling: number;
      reason: string;
    };

/**
 * Whether a split answers "how many values are ≤ threshold": yes when a boundary equals the
 * threshold or lies within MAX_THRESHOLD_GAP below it (the straddling bucket counts as slower),
 * or when the straddling bucket is empty (then the count is exact whatever its width).
 */
export function thresholdVerdict(split: ThresholdSplit, threshold: number, maxGap: number = MAX_THRESHOLD_GAP): ThresholdVerdict {
  const gap = (threshold - split.lower) / threshold;
  if (split.straddling === 0 || gap <= maxGap) return { known: true, good: split.atMost, effective: Math.max(split.lower, 0) };
  const bucket: BucketBounds = { lower: Number.isFinite(split.lower) ? split.lower : null, upper: Number.isFinite(split.upper) ? split.upper : null };
  const nearest = bucket.lower === null ? 'no bucket bound below it' : `the nearest bound below it is ${bucket.lower} (${round(gap * 100)}% lower)`;
  return {
    known: false,
    bucket,
    straddling: split.straddling,
    reason:
      `the bucket (${bucket.lower ?? '-Inf'}, ${bucket.upper ?? '+Inf'}] holds values and straddles the threshold ${threshold}: ` +
      `${nearest}, more than the ${maxGap * 100}% the SLI tolerates, so they cannot be told good or bad`,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
