// Reads over several metrics at once, through a backend's own multi-metric query when it has one
// (MetricStore.fetchPointsOfMetrics, firstPointNs) and one read per metric when it does not, so a
// new backend works before it implements them.

import type { FirstPointQuery, MetricPoint, MetricStore, MetricsPointQuery } from './types.ts';

export async function fetchPointsOfMetrics(store: MetricStore, q: MetricsPointQuery): Promise<MetricPoint[]> {
  if (q.metrics.length === 0 || q.fromNs >= q.toNs) return [];
  const { metrics, ...rest } = q;
  if (metrics.length === 1) return store.fetchPoints({ ...rest, metric: metrics[0] });
  if (store.fetchPointsOfMetrics) return store.fetchPointsOfMetrics(q);
  return (await Promise.all(metrics.map((metric) => store.fetchPoints({ ...rest, metric })))).flat();
}

/** Where a backfill of these metrics may start: the backend's answer, or `fromNs` when it cannot tell. */
export async function firstPointNs(store: MetricStore, q: FirstPointQuery): Promise<bigint | undefined> {
  if (q.metrics.length === 0 || q.fromNs >= q.toNs) return undefined;
  return store.firstPointNs ? store.firstPointNs(q) : q.fromNs;
}
