// Latency heatmap (`GET /v1/heatmap`): per time step, how many requests fell in each latency
// bucket — the exponential histograms merged as stored, brought down to a coarse scale so a
// column has a few dozen rows rather than hundreds. Explicit-bucket points (other senders) have
// bounds of their own that do not line up with these rows: they are counted as skipped.

import { bucketLowerBound, downscale, mergeHistograms, type ExpHistogram } from '../../common/exphist.ts';
import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import type { MetricStore } from '../storage/types.ts';
import { fetchDeltas, toExpHistogram } from './deltas.ts';
import { nsToSeconds } from './time.ts';

/** Scale 1: each row is √2 wider than the one below (≈ 3 rows per doubling of latency). */
export const HEATMAP_SCALE = 1;

export interface Heatmap {
  /** Start of each column, unix seconds. */
  times: number[];
  /** Lower bound (seconds) of each row, ascending; row i holds (bounds[i], bounds[i+1]]. */
  bounds: number[];
  /** counts[row][column]. */
  counts: number[][];
  scale: number;
  /** Requests in explicit-bucket points, not drawn. */
  skipped: number;
}

export interface HeatmapQuery {
  tenant: string;
  service: string;
  metric?: string;
  fromNs: bigint;
  toNs: bigint;
  stepNs: bigint;
}

export async function latencyHeatmap(store: MetricStore, q: HeatmapQuery): Promise<Heatmap> {
  const points = await fetchDeltas(store, { tenant: q.tenant, metric: q.metric ?? HTTP_SERVER_DURATION, service: q.service, fromNs: q.fromNs, toNs: q.toNs });
  const first = (q.fromNs / q.stepNs) * q.stepNs;
  const columns = Number((q.toNs - first + q.stepNs - 1n) / q.stepNs);
  const perColumn: ExpHistogram[][] = Array.from({ length: columns }, () => []);
  let skipped = 0;
  for (const p of points) {
    if (p.kind === 'exponential_histogram') {
      const h = toExpHistogram(p);
      perColumn[Number((p.endNs - first) / q.stepNs)]?.push(h.scale > HEATMAP_SCALE ? downscale(h, HEATMAP_SCALE) : h);
    } else if (p.kind === 'histogram') {
      skipped += p.count;
    }
  }
  const merged = perColumn.map((hs) => mergeHistograms(hs));
  // A sender at a scale below HEATMAP_SCALE brings every column down to it (buckets nest).
  const scale = Math.min(HEATMAP_SCALE, ...merged.flatMap((h) => (h ? [h.scale] : [])));
  const columnsAt = merged.map((h) => (h && h.scale > scale ? downscale(h, scale) : h));
  const filled = columnsAt.filter((h): h is ExpHistogram => h !== undefined && h.counts.length > 0);
  const low = filled.length ? Math.min(...filled.map((h) => h.offset)) : 0;
  const high = filled.length ? Math.max(...filled.map((h) => h.offset + h.counts.length)) : 0;
  const counts = Array.from({ length: high - low }, () => new Array<number>(columns).fill(0));
  columnsAt.forEach((h, c) => h?.counts.forEach((n, i) => (counts[h.offset - low + i][c] = n)));
  return {
    times: Array.from({ length: columns }, (_, c) => nsToSeconds(first + BigInt(c) * q.stepNs)),
    bounds: Array.from({ length: high - low }, (_, i) => bucketLowerBound(low + i, scale)),
    counts,
    scale,
    skipped,
  };
}
