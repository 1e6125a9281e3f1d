// Adds up delta points of one group (one series of the answer, one step bucket) and answers the
// aggregations from the sums. Histogram math is common/exphist.ts'; this only decides what to add.

import {
  explicitQuantileBucket,
  explicitSplitAtThreshold,
  mergeExplicitHistograms,
  mergeHistogramsWithin,
  quantile,
  splitAtThreshold,
  thresholdResolution,
  thresholdVerdict,
  type BucketBounds,
  type ExpHistogram,
  type ExplicitHistogram,
  type ThresholdResolution,
} from '../../common/exphist.ts';
import { ApiError } from '../errors.ts';
import type { MetricPoint, PointKind } from '../storage/types.ts';
import { toExpHistogram, toExplicitHistogram } from './deltas.ts';
import { isServerError } from './outcome.ts';

export const AGGREGATIONS = ['count', 'rate', 'errors', 'error_ratio', 'p50', 'p90', 'p95', 'p99', 'max'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

const QUANTILES: Partial<Record<Aggregation, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/** The quantile a percentile aggregation asks for (0.99 for p99); undefined for the others. */
export function quantileOf(agg: Aggregation): number | undefined {
  return QUANTILES[agg];
}

export interface LatencyCount {
  /** Values at or below the threshold, counted from whole buckets. */
  good: number;
  /** Values whose side of the threshold the buckets tell (good ones included). */
  total: number;
  /**
   * The largest bucket boundary ≤ the threshold over the points counted: values in
   * (effectiveThreshold, threshold] were counted as slower than the threshold.
   */
  effectiveThreshold?: number;
  /** Values in points whose buckets cannot answer the threshold (pointLatency): in neither good nor total. */
  unknown: number;
  /** Why, for the point with the most of them. */
  unknownReason?: string;
}

/** What one histogram point says about a latency threshold (seconds). */
export type PointLatency =
  | { known: true; good: number; total: number; effective: number }
  | { known: false; unknown: number; reason: string; bucket: BucketBounds };

/**
 * The one rule for latency SLIs, shared by the query engine and the SLO rollups: a point counts
 * when its buckets answer the threshold (thresholdVerdict); otherwise all its values are
 * unknown — the SLI is unknown for that series then, rather than a burn the buckets invented.
 * `resolve` memoises thresholdResolution (exact, BigInt) per scale. undefined for non-histograms.
 */
export function pointLatency(
  p: MetricPoint,
  threshold: number,
  resolve: (threshold: number, scale: number) => ThresholdResolution = thresholdResolution,
): PointLatency | undefined {
  let verdict;
  let advice: string;
  if (p.kind === 'exponential_histogram') {
    verdict = thresholdVerdict(splitAtThreshold(toExpHistogram(p), resolve(threshold, p.scale)), threshold);
    advice = `send a finer scale (at scale 3 or more a boundary is always within 9% of any threshold)`;
  } else if (p.kind === 'histogram') {
    verdict = thresholdVerdict(explicitSplitAtThreshold(toExplicitHistogram(p), threshold), threshold);
    advice = `at the sender, add a bucket boundary at ${threshold} s (an OpenTelemetry View whose explicit bucket boundaries include it), or send exponential histograms`;
  } else {
    return undefined;
  }
  if (verdict.known) return { known: true, good: verdict.good, total: p.count, effective: verdict.effective };
  return { known: false, unknown: p.count, reason: `${verdict.reason}; ${advice}`, bucket: verdict.bucket };
}

export class Accumulator {
  count = 0;
  errors = 0;
  private readonly exp: ExpHistogram[] = [];
  private readonly explicit: ExplicitHistogram[] = [];
  private max: number | undefined;
  private good = 0;
  private known = 0;
  private unknown = 0;
  private unknownReason: { reason: string; values: number } | undefined;
  private effectiveThreshold: number | undefined;
  private readonly resolved = new Map<number, ThresholdResolution>();

  /** `latencyThreshold` (seconds): also count histogram values at or below it (latency SLIs). */
  constructor(private readonly latencyThreshold?: number) {}

  add(p: MetricPoint): void {
    let n: number;
    let max: number | undefined;
    switch (p.kind) {
      case 'gauge':
        this.takeMax(p.value);
        return;
      case 'sum':
        n = p.value;
        max = p.value;
        break;
      case 'exponential_histogram': {
        const h = toExpHistogram(p);
        this.exp.push(h);
        n = p.count;
        max = p.max ?? quantile(h, 1);
        break;
      }
      case 'histogram': {
        const h = toExplicitHistogram(p);
        this.explicit.push(h);
        n = p.count;
        max = p.max ?? explicitQuantileBucket(h, 1)?.value;
        break;
      }
    }
    if (this.latencyThreshold !== undefined && n > 0) this.addLatency(p);
    this.count += n;
    if (isServerError(p.series)) this.errors += n;
    if (max !== undefined) this.takeMax(max);
  }

  latency(): LatencyCount {
    const out: LatencyCount = { good: this.good, total: this.known, unknown: this.unknown };
    if (this.effectiveThreshold !== undefined) out.effectiveThreshold = this.effectiveThreshold;
    if (this.unknownReason) out.unknownReason = this.unknownReason.reason;
    return out;
  }

  /** The q-quantile of the histograms added; undefined with no values. */
  quantile(q: number): number | undefined {
    return this.quantileBucket(q)?.value;
  }

  /** The q-quantile and, from explicit buckets, the bucket it comes from (an exponential bucket is at most 2^(2^-scale) − 1 wide, relative, and says so by its scale). */
  quantileBucket(q: number): { value: number; bucket?: BucketBounds } | undefined {
    if (this.exp.length > 0 && this.explicit.length > 0) {
      throw new ApiError(400, 'invalid_parameter', 'percentiles cannot combine exponential and explicit-bucket histograms of one metric; narrow the query (e.g. by service)');
    }
    if (this.exp.length > 0) {
      const value = quantile(mergeHistogramsWithin(this.exp)!, q);
      return value === undefined ? undefined : { value };
    }
    if (this.explicit.length > 0) return explicitQuantileBucket(mergeExplicitHistograms(this.explicit)!, q);
    return undefined;
  }

  /** The aggregation over `seconds` of time; undefined when it has no value (no data, or 0/0). */
  value(agg: Aggregation, seconds: number): number | undefined {
    switch (agg) {
      case 'count':
        return this.count;
      case 'rate':
        return seconds > 0 ? this.count / seconds : undefined;
      case 'errors':
        return this.errors;
      case 'error_ratio':
        return this.count > 0 ? this.errors / this.count : undefined;
      case 'max':
        return this.max;
      default:
        return this.quantile(QUANTILES[agg]!);
    }
  }

  private addLatency(p: MetricPoint): void {
    const v = pointLatency(p, this.latencyThreshold!, (t, scale) => this.resolutionAt(t, scale));
    if (!v) return;
    if (v.known) {
      this.good += v.good;
      this.known += v.total;
      this.lowerEffective(v.effective);
      return;
    }
    this.unknown += v.unknown;
    if (!this.unknownReason || v.unknown > this.unknownReason.values) this.unknownReason = { reason: v.reason, values: v.unknown };
  }

  /** thresholdResolution is exact (BigInt comparisons): worth computing once per scale. */
  private resolutionAt(threshold: number, scale: number): ThresholdResolution {
    let r = this.resolved.get(scale);
    if (r === undefined) {
      r = thresholdResolution(threshold, scale);
      this.resolved.set(scale, r);
    }
    return r;
  }

  private takeMax(v: number): void {
    this.max = this.max === undefined ? v : Math.max(this.max, v);
  }

  private lowerEffective(v: number): void {
    this.effectiveThreshold = this.effectiveThreshold === undefined ? v : Math.min(this.effectiveThreshold, v);
  }
}

/** Which point kinds an aggregation is defined on; a 400 naming the metric when the data is of another kind. */
export function checkAggregationFits(agg: Aggregation, metric: string, kinds: ReadonlySet<PointKind>): void {
  const histograms = agg in QUANTILES;
  for (const kind of kinds) {
    const ok = histograms
      ? kind === 'histogram' || kind === 'exponential_histogram'
      : agg === 'max' || kind !== 'gauge';
    if (!ok) {
      const need = histograms ? 'a histogram metric' : 'a counter or histogram metric';
      throw new ApiError(400, 'invalid_parameter', `agg: ${agg} needs ${need}, but ${metric} has ${kind} points`);
    }
  }
}
