// Exponential-histogram math shared by the agent, the gateway and the query engine.
//
// Bucket i of a histogram at scale s holds values in (base^i, base^(i+1)] with
// base = 2^(2^-s): exactly OTLP's ExponentialHistogram and Prometheus' native
// histograms (schema = scale). Values on the wire are seconds.

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

/** Lower bound (exclusive) of bucket `index` at `scale`, in the histogram's unit. */
export function bucketLowerBound(index: number, scale: number): number {
  return Math.pow(2, index * Math.pow(2, -scale));
}

/** Upper bound (inclusive) of bucket `index` at `scale`. */
export function bucketUpperBound(index: number, scale: number): number {
  return bucketLowerBound(index + 1, scale);
}

/** The largest relative error of a value reported as its bucket's upper bound: base - 1. */
export function relativeError(scale: number): number {
  return Math.pow(2, Math.pow(2, -scale)) - 1;
}

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
  let min: number | undefined;
  let max: number | undefined;
  for (const h of scaled) {
    h.counts.forEach((c, i) => (counts[h.offset - offset + i] += c));
    if (h.min !== undefined) min = min === undefined ? h.min : Math.min(min, h.min);
    if (h.max !== undefined) max = max === undefined ? h.max : Math.max(max, h.max);
  }
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

/** How many recorded values are ≤ threshold, counting whole buckets whose upper bound is ≤ it. */
export function countAtMost(h: ExpHistogram, threshold: number): number {
  let n = threshold >= 0 ? h.zeroCount : 0;
  for (let i = 0; i < h.counts.length; i++) {
    if (bucketUpperBound(h.offset + i, h.scale) <= threshold) n += h.counts[i];
  }
  return n;
}
