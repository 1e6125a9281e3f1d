// The query engine: one metric of one service over a time range, grouped by attributes and
// optionally by step, aggregated. The query API, /v1/services and the SLO evaluator all read
// through it (design §3.6), on top of the storage's one fetch primitive.

import { TooManyPointsError, type MetricPoint, type MetricStore } from '../storage/types.ts';
import { invalidParameter } from '../errors.ts';
import type { BucketBounds } from '../../common/exphist.ts';
import { Accumulator, AGGREGATIONS, checkAggregationFits, quantileOf, type Aggregation } from './accumulate.ts';
import { fetchDeltas } from './deltas.ts';
import { labelValue } from './outcome.ts';
import { nsToSeconds, parseStep, parseTime } from './time.ts';

export interface MetricQuery {
  tenant: string;
  service: string;
  metric: string;
  agg: Aggregation;
  /** Points whose end time is in [fromNs, toNs). */
  fromNs: bigint;
  toNs: bigint;
  /** Attribute names (point attributes first, then resource attributes) to group by. */
  by: string[];
  /** Bucket width; buckets are aligned to multiples of it since the epoch. */
  stepNs?: bigint;
}

/**
 * A percentile from explicit-bucket histograms carries the bucket it comes from: the true value
 * lies in (lower, upper], and senders' bounds can be wide (the OpenTelemetry SDKs' default
 * [0, 5, 10, …] puts every request of a seconds metric in (0, 5]). Clients that read [t, v] are
 * unaffected.
 */
export type QueryPoint = [unixSeconds: number, value: number] | [unixSeconds: number, value: number, bucket: BucketBounds];

export interface QuerySeries {
  labels: Record<string, string>;
  points: QueryPoint[];
}

export interface QueryResult {
  series: QuerySeries[];
}

/** Most buckets a stepped query may ask for (Prometheus' limit, for the same reason). */
export const MAX_BUCKETS = 11_000;
/** Longest range one query reads: the dashboard's longest (30 d) and a calendar month fit. */
export const MAX_QUERY_RANGE_MS = 32 * 86_400_000;
/**
 * Most raw points one query holds in memory (about 0.5 KB each): a range holding more gets a 400
 * instead of exhausting a Lambda's memory. Backends stop reading past it (PointQuery.limit).
 */
export const MAX_QUERY_POINTS = 500_000;
const MAX_GROUP_BY = 10;
// count, rate and errors are 0 over an interval with no requests; ratios and percentiles have no value.
const ZERO_WHEN_EMPTY: ReadonlySet<Aggregation> = new Set(['count', 'rate', 'errors']);

export async function runQuery(store: MetricStore, q: MetricQuery, maxPoints = MAX_QUERY_POINTS): Promise<QueryResult> {
  let points: MetricPoint[];
  try {
    points = await fetchDeltas(store, { tenant: q.tenant, metric: q.metric, service: q.service, fromNs: q.fromNs, toNs: q.toNs, limit: maxPoints });
  } catch (err) {
    if (err instanceof TooManyPointsError) {
      throw invalidParameter('from', `the range holds more than ${err.limit} points of ${q.metric} for ${q.service}, the most one query reads; narrow from/to`);
    }
    throw err;
  }
  checkAggregationFits(q.agg, q.metric, new Set(points.map((p) => p.kind)));

  const firstBucket = q.stepNs ? (q.fromNs / q.stepNs) * q.stepNs : q.fromNs;
  const groups = new Map<string, { labels: Record<string, string>; buckets: Map<bigint, Accumulator> }>();
  for (const p of points) {
    // fromEntries: a `by` name such as "__proto__" is a label, not the object's prototype.
    const labels: Record<string, string> = Object.fromEntries(
      q.by.flatMap((key) => {
        const v = labelValue(p.series, key);
        return v === undefined ? [] : [[key, v]];
      }),
    );
    const key = JSON.stringify(q.by.map((k) => (Object.hasOwn(labels, k) ? labels[k] : null)));
    let group = groups.get(key);
    if (!group) {
      group = { labels, buckets: new Map() };
      groups.set(key, group);
    }
    const bucket = q.stepNs ? (p.endNs / q.stepNs) * q.stepNs : firstBucket;
    let acc = group.buckets.get(bucket);
    if (!acc) {
      acc = new Accumulator();
      group.buckets.set(bucket, acc);
    }
    acc.add(p);
  }

  const series: QuerySeries[] = [];
  for (const { labels, buckets } of groups.values()) {
    const out: QueryPoint[] = [];
    if (q.stepNs) {
      const seconds = nsToSeconds(q.stepNs);
      for (let b = firstBucket; b < q.toNs; b += q.stepNs) {
        const acc = buckets.get(b);
        const p = acc ? answer(acc, q.agg, nsToSeconds(b), seconds) : ZERO_WHEN_EMPTY.has(q.agg) ? ([nsToSeconds(b), 0] as QueryPoint) : undefined;
        if (p) out.push(p);
      }
    } else {
      const p = answer(buckets.get(firstBucket)!, q.agg, nsToSeconds(q.toNs), nsToSeconds(q.toNs - q.fromNs));
      if (p) out.push(p);
    }
    if (out.length > 0) series.push({ labels, points: out });
  }
  series.sort((a, b) => compareLabels(a.labels, b.labels, q.by));
  return { series };
}

function answer(acc: Accumulator, agg: Aggregation, at: number, seconds: number): QueryPoint | undefined {
  const q = quantileOf(agg);
  if (q === undefined) {
    const v = acc.value(agg, seconds);
    return v === undefined ? undefined : [at, v];
  }
  const r = acc.quantileBucket(q);
  if (!r) return undefined;
  return r.bucket ? [at, r.value, r.bucket] : [at, r.value];
}

function compareLabels(a: Record<string, string>, b: Record<string, string>, keys: readonly string[]): number {
  const label = (l: Record<string, string>, k: string) => (Object.hasOwn(l, k) ? l[k] : '');
  for (const k of keys) {
    const c = label(a, k).localeCompare(label(b, k), 'en', { numeric: true });
    if (c !== 0) return c;
  }
  return 0;
}

const QUERY_PARAMS = ['service', 'metric', 'agg', 'from', 'to', 'by', 'step'] as const;

/** `GET /v1/query` parameters → a MetricQuery (without tenant); 400 naming the parameter on anything wrong. */
export function parseQueryParams(params: URLSearchParams, nowMs: number): Omit<MetricQuery, 'tenant'> {
  for (const name of new Set(params.keys())) {
    if (!(QUERY_PARAMS as readonly string[]).includes(name)) {
      throw invalidParameter(name, `unknown parameter (known: ${QUERY_PARAMS.join(', ')})`);
    }
    if (params.getAll(name).length > 1) throw invalidParameter(name, 'given more than once');
  }
  const required = (name: string): string => {
    const v = params.get(name)?.trim();
    if (!v) throw invalidParameter(name, 'required');
    return v;
  };
  const service = required('service');
  const metric = required('metric');
  const agg = required('agg');
  if (!(AGGREGATIONS as readonly string[]).includes(agg)) {
    throw invalidParameter('agg', `"${agg}" is not one of ${AGGREGATIONS.join(', ')}`);
  }
  const fromNs = parseTime(params.get('from') ?? '-15m', nowMs, 'from');
  const toNs = parseTime(params.get('to') ?? 'now', nowMs, 'to');
  if (fromNs >= toNs) throw invalidParameter('from', 'must be before to');
  if (toNs - fromNs > BigInt(MAX_QUERY_RANGE_MS) * 1_000_000n) {
    const days = Number((toNs - fromNs) / 86_400_000_000_000n);
    throw invalidParameter('from', `the range from ${params.get('from') ?? '-15m'} to ${params.get('to') ?? 'now'} is ${days} days; at most ${MAX_QUERY_RANGE_MS / 86_400_000} days per query`);
  }

  const byText = params.get('by');
  const by = byText === null ? [] : byText.split(',').map((s) => s.trim());
  if (by.some((k) => k === '')) throw invalidParameter('by', 'attribute names must not be empty (comma-separated, e.g. by=http.route,http.response.status_code)');
  if (new Set(by).size !== by.length) throw invalidParameter('by', 'names an attribute twice');
  if (by.length > MAX_GROUP_BY) throw invalidParameter('by', `at most ${MAX_GROUP_BY} attributes`);

  const stepText = params.get('step');
  let stepNs: bigint | undefined;
  if (stepText !== null) {
    stepNs = parseStep(stepText, 'step');
    const buckets = (toNs - (fromNs / stepNs) * stepNs + stepNs - 1n) / stepNs;
    if (buckets > BigInt(MAX_BUCKETS)) {
      throw invalidParameter('step', `${stepText} gives ${buckets} buckets over the range; at most ${MAX_BUCKETS} (use a larger step)`);
    }
  }
  return { service, metric, agg: agg as Aggregation, fromNs, toNs, by, ...(stepNs !== undefined ? { stepNs } : {}) };
}
