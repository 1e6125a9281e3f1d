// The storage contract: what the gateway writes and what the query engine reads, independent of
// the database behind it (DuckDB locally; Timestream, or whatever replaces it, on AWS).
//
// Why a narrow "fetch the points of one metric" primitive rather than a query language:
// the aggregations burnwatch needs (merging exponential histograms, quantiles, good-event counts
// under a latency threshold) are histogram math that lives once, in common/exphist.ts. Neither
// Timestream SQL nor DuckDB SQL can merge OTLP exponential histograms without a second copy of
// that math, so the backends only select and return points; the engine in lambda/query does
// the rest. The primitive is expressible as one query on any time-series store (filter by
// tenant, metric, service dimension and time), so a new backend implements three methods and
// no caller changes. Pushing rollups down into a backend later stays possible behind the same
// request shape.

/** An attribute value as OTLP AnyValue carries it, normalised to plain JSON. */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export type Temporality = 'delta' | 'cumulative';

/** A series is a metric name plus its resource and point attributes. */
export interface SeriesRef {
  metric: string;
  unit: string;
  resource: Attributes;
  attributes: Attributes;
}

export interface GaugeValue {
  kind: 'gauge';
  value: number;
}

export interface SumValue {
  kind: 'sum';
  temporality: Temporality;
  monotonic: boolean;
  value: number;
}

/** OTLP Histogram: counts[i] is the number of values in (bounds[i-1], bounds[i]], the last one (bounds[n-1], +Inf). */
export interface ExplicitHistogramValue {
  kind: 'histogram';
  temporality: Temporality;
  count: number;
  sum?: number;
  min?: number;
  max?: number;
  bounds: number[];
  counts: number[];
}

/** OTLP ExponentialHistogram (positive buckets only; see common/exphist.ts for the bucket scheme). */
export interface ExponentialHistogramValue {
  kind: 'exponential_histogram';
  temporality: Temporality;
  count: number;
  sum?: number;
  min?: number;
  max?: number;
  scale: number;
  zeroCount: number;
  offset: number;
  counts: number[];
}

export type PointValue = GaugeValue | SumValue | ExplicitHistogramValue | ExponentialHistogramValue;
export type PointKind = PointValue['kind'];

/**
 * One data point. Its identity is (tenant, series, startNs, endNs): writing a point whose
 * identity is already stored changes nothing, so a retried batch never double counts.
 */
export type MetricPoint = PointValue & {
  series: SeriesRef;
  /** Nanoseconds since the epoch; 0 when the sender left it unset (gauges). */
  startNs: bigint;
  endNs: bigint;
};

export interface WriteResult {
  /** Points stored by this write. */
  inserted: number;
  /** Points whose identity was already stored (a retry, or a repeat within the batch). */
  duplicates: number;
  /**
   * Points the backend refused for good (e.g. Timestream: older than the table's retention), by
   * index into the written array. Absent or empty when every point was stored or a duplicate.
   * Callers report these; retrying them cannot succeed.
   */
  rejected?: StoreRejection[];
  /**
   * Points stored but not readable yet (Timestream: older than its memory store keeps, so written
   * to the magnetic store, whose writes become queryable only hours later). Callers report them
   * and recompute what the points feed once `queryableByMs` has passed. Absent when none.
   */
  late?: LateWrite;
}

export interface StoreRejection {
  index: number;
  reason: string;
}

export interface LateWrite {
  /** Indices into the written array, ascending. */
  indices: number[];
  reason: string;
  /** When they should be readable, ms since the epoch. */
  queryableByMs: number;
}

export interface PointQuery {
  tenant: string;
  metric: string;
  /** Only series whose resource `service.name` is this. */
  service?: string;
  /** Points whose end time is in [fromNs, toNs). */
  fromNs: bigint;
  toNs: bigint;
  /**
   * The caller refuses a range holding more points than this (the query engine answers 400): a
   * backend may stop reading once it has more, and then either return more than `limit` points
   * or throw TooManyPointsError, rather than load the whole range into memory.
   */
  limit?: number;
}

/** PointQuery over several metrics at once (one round trip where the backend can). */
export type MetricsPointQuery = Omit<PointQuery, 'metric'> & { metrics: readonly string[] };

export interface SeriesQuery {
  tenant: string;
  metric: string;
  /**
   * Only series with points ending in [fromNs, toNs); a backend may widen the range to whole UTC
   * days. Absent: every series ever stored — on a store billed by data scanned (Timestream),
   * callers that run every minute pass a range.
   */
  fromNs?: bigint;
  toNs?: bigint;
}

/** Where data of some metrics begins: FirstPointQuery's answer bounds a backfill. */
export interface FirstPointQuery {
  tenant: string;
  metrics: readonly string[];
  /** Only series of these services (resource `service.name`); absent: any. */
  services?: readonly string[];
  fromNs: bigint;
  toNs: bigint;
}

/** A backend read more points than PointQuery.limit allows and stopped. */
export class TooManyPointsError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} points in the range`);
    this.name = 'TooManyPointsError';
  }
}

export interface MetricStore {
  /** Stores points durably: resolves only once they would survive a crash. */
  write(tenant: string, points: readonly MetricPoint[]): Promise<WriteResult>;
  /** The stored points of one metric in a time range, any order. */
  fetchPoints(query: PointQuery): Promise<MetricPoint[]>;
  /** The series of a metric stored for the tenant (for "every service seen"), in a range if given. */
  listSeries(query: SeriesQuery): Promise<SeriesRef[]>;
  /**
   * Optional: fetchPoints of several metrics in one round trip (each query is billed on
   * Timestream: 30 s of 4 TCUs at least). Callers go through fetchPointsOfMetrics
   * (multi-metric.ts), which falls back to one fetchPoints per metric.
   */
  fetchPointsOfMetrics?(query: MetricsPointQuery): Promise<MetricPoint[]>;
  /**
   * Optional: the earliest end time of a stored point of these metrics in [fromNs, toNs), or a
   * time before it on the same UTC day; undefined when there is none. A backfill starts there
   * rather than at the window start (a new deployment has days, not 30 of them).
   */
  firstPointNs?(query: FirstPointQuery): Promise<bigint | undefined>;
  close(): Promise<void>;
}
