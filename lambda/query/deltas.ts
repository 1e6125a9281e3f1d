// Cumulative points → what happened in each interval, so every aggregation downstream adds deltas.
//
// Points are stored as sent (design: "store as given but mark temporality"). A cumulative series
// reports running totals since its start time; the increase between two snapshots with the same
// start is their difference. A snapshot whose start time changed, or whose totals went down, is a
// restart and counts whole.
//
// The first snapshot of a series in a queried range [from, to) is the delicate one. OpenTelemetry
// SDKs send cumulative temporality by default, so nearly every such series started long before
// the range, and its first snapshot holds everything since then. Its increase inside the range is
// its difference from the series' last snapshot *before* the range, so `fetchDeltas` looks for
// that snapshot (widening the lookback step by step, and only while some series still needs one):
// - found with the same start time: the difference counts (ending inside the range);
// - none exists since the series' start: nothing was reported before, so it counts whole;
// - the lookback ran out before the series' start: the increase is unknown, and the snapshot is
//   only a baseline (documented limit: a cumulative series silent for longer than the lookback
//   loses its first report after the silence rather than having years of totals counted at once).
// Points ending before the range are never emitted: a baseline only subtracts.

import {
  subtractExplicitHistogramsOnSharedBounds,
  subtractHistograms,
  type ExpHistogram,
  type ExplicitHistogram,
} from '../../common/exphist.ts';
import { seriesId } from '../storage/series.ts';
import { fetchPointsOfMetrics } from '../storage/multi-metric.ts';
import { TooManyPointsError } from '../storage/types.ts';
import type { ExplicitHistogramValue, ExponentialHistogramValue, MetricPoint, MetricStore, MetricsPointQuery, PointQuery } from '../storage/types.ts';

const MINUTE_NS = 60_000_000_000n;

/**
 * How far before a range a cumulative series' last snapshot is searched, in widening steps. The
 * first step covers every usual export interval (10 s–60 s) with one small fetch; the later ones
 * run only for series that were silent that long.
 */
export const BASELINE_LOOKBACK_NS: readonly bigint[] = [10n * MINUTE_NS, 60n * MINUTE_NS, 6n * 60n * MINUTE_NS, 24n * 60n * MINUTE_NS];

/** A series' snapshot before the range, or 'none' when it certainly has none since its start. */
export type Baseline = MetricPoint | 'none';

/**
 * The delta points of one metric over [q.fromNs, q.toNs). `carry` (optional) holds the last
 * cumulative snapshot per series of an adjacent earlier range read the same way (a caller walking
 * time in chunks passes the same map each time); it is used as baselines and updated.
 */
export function fetchDeltas(store: MetricStore, q: PointQuery, carry?: Map<string, MetricPoint>): Promise<MetricPoint[]> {
  const { metric, ...rest } = q;
  return fetchDeltasOfMetrics(store, { ...rest, metrics: [metric] }, carry);
}

/** fetchDeltas over several metrics, each read (and each baseline lookback) one round trip for all. */
export async function fetchDeltasOfMetrics(store: MetricStore, q: MetricsPointQuery, carry?: Map<string, MetricPoint>): Promise<MetricPoint[]> {
  const fetched = await fetchPointsOfMetrics(store, q);
  // Raw points, before any becomes a baseline: a backend that stopped at limit + 1 is caught here.
  if (q.limit !== undefined && fetched.length > q.limit) throw new TooManyPointsError(q.limit);
  const baselines = new Map<string, Baseline>();
  // Series whose first snapshot in the range started before it, with that start.
  const wanted = new Map<string, bigint>();
  for (const [id, first] of firstCumulative(fetched)) {
    if (first.startNs >= q.fromNs) continue;
    const carried = carry?.get(id);
    if (carried) baselines.set(id, carried);
    else wanted.set(id, first.startNs);
  }
  let upper = q.fromNs;
  for (const step of BASELINE_LOOKBACK_NS) {
    // A snapshot of the same run ends after the run's start: no need to look further back than that.
    if (![...wanted.values()].some((start) => start < upper)) break;
    const lower = q.fromNs - step;
    const { limit: _limit, ...unlimited } = q;
    const earlier = await fetchPointsOfMetrics(store, { ...unlimited, fromNs: lower, toNs: upper });
    for (const [id, last] of lastCumulative(earlier)) {
      if (!wanted.has(id)) continue;
      baselines.set(id, last);
      wanted.delete(id);
    }
    upper = lower;
  }
  for (const [id, start] of wanted) if (start >= upper) baselines.set(id, 'none');
  if (carry) for (const [id, last] of lastCumulative(fetched)) carry.set(id, last);
  return toDeltas(fetched, q.fromNs, baselines);
}

/**
 * Delta points from points whose end time is in [fromNs, …). `baselines` gives, per series id,
 * its last snapshot before the range ('none': it has none, so the first counts whole); a series
 * without one whose first snapshot started before the range only sets its baseline.
 */
export function toDeltas(points: readonly MetricPoint[], fromNs: bigint, baselines: ReadonlyMap<string, Baseline> = new Map()): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (const [id, list] of cumulativeSeries(points, out)) {
    const baseline = baselines.get(id);
    let prev: MetricPoint | undefined = baseline === 'none' ? undefined : baseline;
    for (const p of list) {
      if (prev && prev.startNs === p.startNs) out.push(difference(p, prev) ?? p);
      else if (prev || p.startNs >= fromNs || baseline === 'none') out.push(p);
      prev = p;
    }
  }
  return out;
}

/** Cumulative points grouped by series, each group in end-time order; the others go to `passThrough`. */
function cumulativeSeries(points: readonly MetricPoint[], passThrough?: MetricPoint[]): Map<string, MetricPoint[]> {
  const cumulative = new Map<string, MetricPoint[]>();
  for (const p of points) {
    if (p.kind === 'gauge' || p.temporality === 'delta') {
      passThrough?.push(p);
      continue;
    }
    const id = seriesId(p.series);
    const list = cumulative.get(id);
    if (list) list.push(p);
    else cumulative.set(id, [p]);
  }
  for (const list of cumulative.values()) list.sort((a, b) => (a.endNs < b.endNs ? -1 : a.endNs > b.endNs ? 1 : 0));
  return cumulative;
}

function firstCumulative(points: readonly MetricPoint[]): Map<string, MetricPoint> {
  return new Map([...cumulativeSeries(points)].map(([id, list]) => [id, list[0]]));
}

function lastCumulative(points: readonly MetricPoint[]): Map<string, MetricPoint> {
  return new Map([...cumulativeSeries(points)].map(([id, list]) => [id, list[list.length - 1]]));
}

/** later − earlier as a delta point over (earlier.end, later.end]; undefined on a reset. */
function difference(later: MetricPoint, earlier: MetricPoint): MetricPoint | undefined {
  const times = { series: later.series, startNs: earlier.endNs, endNs: later.endNs };
  if (later.kind === 'sum' && earlier.kind === 'sum') {
    const value = later.value - earlier.value;
    if (later.monotonic && value < 0) return undefined;
    return { ...later, ...times, temporality: 'delta', value };
  }
  if (later.kind === 'exponential_histogram' && earlier.kind === 'exponential_histogram') {
    const d = subtractHistograms(toExpHistogram(later), toExpHistogram(earlier));
    if (!d) return undefined;
    return { ...times, kind: 'exponential_histogram', temporality: 'delta', count: d.count, sum: d.sum, scale: d.scale, zeroCount: d.zeroCount, offset: d.offset, counts: d.counts };
  }
  if (later.kind === 'histogram' && earlier.kind === 'histogram') {
    // One run (same start): bounds that differ are the same histogram seen coarser, not a restart.
    const d = subtractExplicitHistogramsOnSharedBounds(toExplicitHistogram(later), toExplicitHistogram(earlier));
    if (!d) return undefined;
    return { ...times, kind: 'histogram', temporality: 'delta', ...d };
  }
  return undefined;
}

export function toExpHistogram(p: ExponentialHistogramValue): ExpHistogram {
  const h: ExpHistogram = { scale: p.scale, zeroCount: p.zeroCount, offset: p.offset, counts: p.counts, count: p.count, sum: p.sum ?? 0 };
  if (p.min !== undefined) h.min = p.min;
  if (p.max !== undefined) h.max = p.max;
  return h;
}

export function toExplicitHistogram(p: ExplicitHistogramValue): ExplicitHistogram {
  const h: ExplicitHistogram = { bounds: p.bounds, counts: p.counts, count: p.count };
  if (p.sum !== undefined) h.sum = p.sum;
  if (p.min !== undefined) h.min = p.min;
  if (p.max !== undefined) h.max = p.max;
  return h;
}
