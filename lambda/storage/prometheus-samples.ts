// One MetricPoint as Prometheus float samples, and back, exactly.
//
// Representation (docs/storage-prometheus.md): every point becomes a few samples stamped with its
// END time, one per field, each field its own series (label `otel_field`). A delta point is
// stored as is — its own sample, never added into a running total — because a running total
// needs state that a restarted or second stateless gateway does not have. Resending a point
// therefore writes identical samples at identical timestamps, which Prometheus drops as
// duplicates: counts stay exact whichever gateway wrote a point and however often.
//
// Prometheus timestamps are milliseconds and sample values float64, while a point's identity is
// its start and end in nanoseconds. So the end's sub-millisecond part and the start ride in
// samples of their own (`start_ms`, `ns_rem`), written only when non-zero. Counts are integers
// far below 2^53, so float64 holds them exactly.
//
// Exponential histograms may go as native histograms (one sample holding count, sum, zero count
// and every bucket; PrometheusStore's `nativeHistograms`, off by default: 2.42 refuses them out
// of order) when the scale is one Prometheus has (schema −4..8). Prometheus 2.42 takes them over
// remote write behind `--enable-feature=native-histograms`. Its
// query API drops empty buckets, states no schema and native histograms keep no min/max, so the
// offset, bucket count, min and max ride beside them as float samples, and the scale as a label:
// the point reads back exactly. Explicit histograms, other scales, and servers without native
// histograms get per-bucket float samples, exact on any remote-write store.

import { LABEL } from './prometheus-labels.ts';
import type { NativeHistogramSample } from './prometheus-remote-write.ts';
import type { ExponentialHistogramValue, MetricPoint, PointValue, SeriesRef } from './types.ts';

const NS_PER_MS = 1_000_000n;

/** One sample of a point: which field, the labels that set its kind, its value and time. */
export interface FieldSample {
  /** Suffix of the Prometheus metric name; '' for the value of a gauge or sum. */
  nameSuffix: string;
  field: string;
  value: number;
  /** Set for the `histogram` field: a native histogram sample rather than a float. */
  histogram?: Omit<NativeHistogramSample, 'timestampMs'>;
}

/** The fields whose presence means a point exists (one per point, whatever its kind and form). */
export const MAIN_FIELDS = ['value', 'count', 'histogram'] as const;

/** Prometheus's native-histogram schemas (the OTLP scale of the same buckets). */
const MIN_SCHEMA = -4;
const MAX_SCHEMA = 8;

/**
 * Whether a point can go as a native histogram and read back exactly: a scale Prometheus has,
 * integer counts, a sum (a native histogram always has one), and bucket bounds that are finite
 * non-zero float64 (|index · 2^-scale| well inside float64's exponent range).
 */
export function nativeHistogramFits(p: ExponentialHistogramValue): boolean {
  const whole = (n: number) => Number.isSafeInteger(n) && n >= 0;
  const exponent = (i: number) => Math.abs(i * 2 ** -p.scale);
  return (
    Number.isInteger(p.scale) && p.scale >= MIN_SCHEMA && p.scale <= MAX_SCHEMA &&
    p.sum !== undefined && whole(p.count) && whole(p.zeroCount) && p.counts.every(whole) &&
    exponent(p.offset) < 1000 && exponent(p.offset + p.counts.length + 1) < 1000
  );
}

/** Labels a point's kind adds to its series' labels (a change of kind makes new series). */
export function kindLabels(p: PointValue): Record<string, string> {
  switch (p.kind) {
    case 'gauge':
      return { [LABEL.kind]: 'gauge' };
    case 'sum':
      return { [LABEL.kind]: 'sum', [LABEL.temporality]: p.temporality, [LABEL.monotonic]: String(p.monotonic) };
    case 'histogram':
      return { [LABEL.kind]: 'histogram', [LABEL.temporality]: p.temporality, [LABEL.bounds]: JSON.stringify(p.bounds) };
    case 'exponential_histogram':
      return { [LABEL.kind]: 'exponential_histogram', [LABEL.temporality]: p.temporality, [LABEL.scale]: String(p.scale) };
  }
}

/** The point's end in Prometheus milliseconds (floor, so the remainder is never negative). */
export function endMs(p: MetricPoint): number {
  return floorMs(p.endNs);
}

/**
 * The samples of one point; the first is its main field, whose presence means the point exists.
 * `native`: the server takes native histograms.
 */
export function pointFields(p: MetricPoint, native: boolean): FieldSample[] {
  const out: FieldSample[] = [];
  const add = (field: string, value: number, nameSuffix = `_${field}`) => out.push({ field, value, nameSuffix });
  if (native && p.kind === 'exponential_histogram' && nativeHistogramFits(p)) {
    out.push({
      field: 'histogram',
      nameSuffix: '',
      value: 0,
      histogram: {
        count: p.count, sum: p.sum ?? 0, schema: p.scale, zeroCount: p.zeroCount,
        offset: p.offset + 1, counts: p.counts, gauge: p.temporality === 'delta',
      },
    });
    addTimes(p, add);
    if (p.min !== undefined) add('min', p.min);
    if (p.max !== undefined) add('max', p.max);
    add('offset', p.offset);
    add('length', p.counts.length);
    return out;
  }
  if (p.kind === 'gauge' || p.kind === 'sum') add('value', p.value, '');
  else add('count', p.count, '_count');
  addTimes(p, add);
  if (p.kind === 'histogram' || p.kind === 'exponential_histogram') {
    if (p.sum !== undefined) add('sum', p.sum);
    if (p.min !== undefined) add('min', p.min);
    if (p.max !== undefined) add('max', p.max);
  }
  if (p.kind === 'histogram') {
    add('length', p.counts.length);
    p.counts.forEach((c, i) => {
      if (c !== 0) add(`bucket:${i}`, c, '_bucket');
    });
  }
  if (p.kind === 'exponential_histogram') {
    add('zero_count', p.zeroCount);
    add('offset', p.offset);
    add('length', p.counts.length);
    // Only populated buckets (as for explicit ones): the offset and length restore the zeros.
    p.counts.forEach((c, i) => {
      if (c !== 0) add(`bucket:${p.offset + i}`, c, '_bucket');
    });
  }
  return out;
}

/** The start time and the sub-millisecond parts, which a millisecond timestamp cannot carry. */
function addTimes(p: MetricPoint, add: (field: string, value: number) => void): void {
  if (p.startNs !== 0n) add('start_ms', floorMs(p.startNs));
  // Both sub-millisecond parts in one sample (each < 1e6, so the pair < 1e12: exact in float64).
  const rem = Number(floorMod(p.endNs, NS_PER_MS)) * 1e6 + Number(floorMod(p.startNs, NS_PER_MS));
  if (rem !== 0) add('ns_rem', rem);
}

/** The samples Prometheus returned for one series and one timestamp, by field. */
export type PointSamples = Map<string, number>;

/** A native histogram as the query API writes it: counts as text, buckets as [rule, lower, upper, count]. */
export interface NativeHistogramJson {
  count: string;
  sum: string;
  buckets?: [number, string, string, string][];
}

/**
 * A native histogram's fields, as the float form names them. The API gives bucket bounds, not
 * indexes: Prometheus bucket i ends at 2^(i·2^-schema), one above the OTLP index; the bucket
 * that reaches down to zero or below is the zero bucket.
 */
export function nativeHistogramFields(h: NativeHistogramJson, scale: number, into: PointSamples): void {
  into.set('histogram', 1);
  into.set('count', Number(h.count));
  into.set('sum', Number(h.sum));
  for (const [, lower, upper, count] of h.buckets ?? []) {
    if (Number(lower) <= 0) {
      into.set('zero_count', Number(count));
      continue;
    }
    const index = Math.round(Math.log2(Number(upper)) * 2 ** scale) - 1;
    if (!Number.isSafeInteger(index)) throw new Error(`native histogram bucket (${lower}, ${upper}] has no index at scale ${scale}`);
    into.set(`bucket:${index}`, Number(count));
  }
}

/**
 * Rebuilds a point from its kind labels, timestamp and field samples; undefined when its main
 * field is missing (a write that was cut off half way: the next resend completes it).
 */
export function pointFromFields(series: SeriesRef, labels: Record<string, string>, timestampMs: number, f: PointSamples): MetricPoint | undefined {
  const rem = f.get('ns_rem') ?? 0;
  const endRem = Math.floor(rem / 1e6);
  const startRem = rem - endRem * 1e6;
  const endNs = BigInt(timestampMs) * NS_PER_MS + BigInt(endRem);
  const startMs = f.get('start_ms');
  const startNs = startMs === undefined ? BigInt(startRem) : BigInt(startMs) * NS_PER_MS + BigInt(startRem);
  const base = { series, startNs, endNs };
  const temporality = labels[LABEL.temporality] === 'cumulative' ? 'cumulative' : 'delta';
  const stats = () => {
    const out: { sum?: number; min?: number; max?: number } = {};
    for (const k of ['sum', 'min', 'max'] as const) {
      const v = f.get(k);
      if (v !== undefined) out[k] = v;
    }
    return out;
  };
  switch (labels[LABEL.kind]) {
    case 'gauge': {
      const value = f.get('value');
      return value === undefined ? undefined : { ...base, kind: 'gauge', value };
    }
    case 'sum': {
      const value = f.get('value');
      if (value === undefined) return undefined;
      return { ...base, kind: 'sum', temporality, monotonic: labels[LABEL.monotonic] === 'true', value };
    }
    case 'histogram': {
      const count = f.get('count');
      if (count === undefined) return undefined;
      const bounds = JSON.parse(labels[LABEL.bounds] ?? '[]') as number[];
      const counts = Array.from({ length: f.get('length') ?? 0 }, (_, i) => f.get(`bucket:${i}`) ?? 0);
      return { ...base, kind: 'histogram', temporality, count, ...stats(), bounds, counts };
    }
    case 'exponential_histogram': {
      const count = f.get('count');
      if (count === undefined) return undefined;
      const offset = f.get('offset') ?? 0;
      const counts = Array.from({ length: f.get('length') ?? 0 }, (_, i) => f.get(`bucket:${offset + i}`) ?? 0);
      return {
        ...base,
        kind: 'exponential_histogram',
        temporality,
        count,
        ...stats(),
        scale: Number(labels[LABEL.scale] ?? 0),
        zeroCount: f.get('zero_count') ?? 0,
        offset,
        counts,
      };
    }
    default:
      return undefined;
  }
}

/** The millisecond a nanosecond time falls in (rounded down, also before the epoch). */
export function floorMs(ns: bigint): number {
  return Number(floorDiv(ns, NS_PER_MS));
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

function floorMod(a: bigint, b: bigint): bigint {
  const m = a % b;
  return m < 0n ? m + b : m;
}
