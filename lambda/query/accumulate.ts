// Adds up delta points of one group (one series of the answer, one step bucket) and answers the
// aggregations from the sums. Histogram math is common/exphist.ts'; this only decides what to add.

import {
  countAtMost,
  explicitCountAtMost,
  explicitQuantile,
  explicitThresholdBelow,
  mergeExplicitHistograms,
  mergeHistogramsWithin,
  quantile,
  thresholdResolution,
  type ExpHistogram,
  type ExplicitHistogram,
} from '../../common/exphist.ts';
import { ApiError } from '../errors.ts';
import type { MetricPoint, PointKind } from '../storage/types.ts';
import { toExpHistogram, toExplicitHistogram } from './deltas.ts';
import { isServerError } from './outcome.ts';

export const AGGREGATIONS = ['count', 'rate', 'errors', 'error_ratio', 'p50', 'p90', 'p95', 'p99', 'max'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

const QUANTILES: Partial<Record<Aggregation, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export interface LatencyCount {
  /** Values at or below the threshold, counted from whole buckets. */
  good: number;
  /**
   * The largest bucket boundary ≤ the threshold over the points counted: values in
   * (effectiveThreshold, threshold] were counted as slower than the threshold.
   */
  effectiveThreshold?: number;
}

export class Accumulator {
  count = 0;
  errors = 0;
  private readonly exp: ExpHistogram[] = [];
  private readonly explicit: ExplicitHistogram[] = [];
  private max: number | undefined;
  private good = 0;
  private effectiveThreshold: number | undefined;
  private readonly resolved = new Map<number, number>();

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
        if (this.latencyThreshold !== undefined && p.count > 0) {
          this.good += countAtMost(h, this.latencyThreshold);
          this.lowerEffective(this.resolutionAt(p.scale));
        }
        break;
      }
      case 'histogram': {
        const h = toExplicitHistogram(p);
        this.explicit.push(h);
        n = p.count;
        max = p.max ?? explicitQuantile(h, 1);
        if (this.latencyThreshold !== undefined && p.count > 0) {
          this.good += explicitCountAtMost(h, this.latencyThreshold);
          // No bound at or below the threshold: nothing can be counted as fast enough.
          this.lowerEffective(explicitThresholdBelow(p.bounds, this.latencyThreshold) ?? 0);
        }
        break;
      }
    }
    this.count += n;
    if (isServerError(p.series)) this.errors += n;
    if (max !== undefined) this.takeMax(max);
  }

  latency(): LatencyCount {
    const out: LatencyCount = { good: this.good };
    if (this.effectiveThreshold !== undefined) out.effectiveThreshold = this.effectiveThreshold;
    return out;
  }

  /** The q-quantile of the histograms added; undefined with no values. */
  quantile(q: number): number | undefined {
    if (this.exp.length > 0 && this.explicit.length > 0) {
      throw new ApiError(400, 'invalid_parameter', 'percentiles cannot combine exponential and explicit-bucket histograms of one metric; narrow the query (e.g. by service)');
    }
    if (this.exp.length > 0) return quantile(mergeHistogramsWithin(this.exp)!, q);
    if (this.explicit.length > 0) return explicitQuantile(mergeExplicitHistograms(this.explicit)!, q);
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

  /** thresholdResolution is exact (BigInt comparisons): worth computing once per scale. */
  private resolutionAt(scale: number): number {
    let below = this.resolved.get(scale);
    if (below === undefined) {
      below = thresholdResolution(this.latencyThreshold!, scale).below;
      this.resolved.set(scale, below);
    }
    return below;
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
