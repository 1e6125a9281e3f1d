// Cumulative points → what happened in each interval, so every aggregation downstream adds deltas.
//
// Points are stored as sent (design: "store as given but mark temporality"). A cumulative series
// reports running totals since its start time; the increase between two snapshots with the same
// start is their difference. The first snapshot of a series in the queried range counts whole
// only if the series started inside the range; otherwise it is just the baseline. A snapshot
// whose start time changed, or whose totals went down, is a restart and counts whole.

import {
  subtractExplicitHistograms,
  subtractHistograms,
  type ExpHistogram,
  type ExplicitHistogram,
} from '../../common/exphist.ts';
import { seriesId } from '../storage/series.ts';
import type { ExplicitHistogramValue, ExponentialHistogramValue, MetricPoint } from '../storage/types.ts';

export function toDeltas(points: readonly MetricPoint[], fromNs: bigint): MetricPoint[] {
  const out: MetricPoint[] = [];
  const cumulative = new Map<string, MetricPoint[]>();
  for (const p of points) {
    if (p.kind === 'gauge' || p.temporality === 'delta') {
      out.push(p);
      continue;
    }
    const id = seriesId(p.series);
    const list = cumulative.get(id);
    if (list) list.push(p);
    else cumulative.set(id, [p]);
  }
  for (const list of cumulative.values()) {
    list.sort((a, b) => (a.endNs < b.endNs ? -1 : a.endNs > b.endNs ? 1 : 0));
    let prev: MetricPoint | undefined;
    for (const p of list) {
      if (prev && prev.startNs === p.startNs) out.push(difference(p, prev) ?? p);
      else if (prev || p.startNs >= fromNs) out.push(p);
      prev = p;
    }
  }
  return out;
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
    const d = subtractExplicitHistograms(toExplicitHistogram(later), toExplicitHistogram(earlier));
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
