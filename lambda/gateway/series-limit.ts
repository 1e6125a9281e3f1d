// A per-tenant bound on active series: series that had a point within the last activeWindowMs.
// One sender with an unbounded attribute (a user id, a raw URL) would otherwise create a series
// per value, and every series costs memory and storage for good. Points of series already active
// always pass; a new series is admitted while the tenant is under its limit and refused after,
// with a partial-success message that names the limit, and counted. Memory stays bounded: each
// tenant keeps at most maxActiveSeries ids, oldest sighting first, so expiry is a prefix scan.

import { seriesId } from '../storage/series.ts';
import type { MetricPoint } from '../storage/types.ts';
import { formatDuration } from '../../common/duration.ts';

export interface SeriesLimits {
  /** Active series a tenant may have; a point of a series beyond it is refused. */
  maxActiveSeries: number;
  /** A series with no point for this long stops counting against the limit. */
  activeWindowMs: number;
}

export const DEFAULT_SERIES_LIMITS: SeriesLimits = { maxActiveSeries: 50_000, activeWindowMs: 3_600_000 };

export interface SeriesAdmission {
  accepted: MetricPoint[];
  /** Points of refused series. */
  refusedPoints: number;
  /** Distinct series this request tried to add past the limit. */
  refusedSeries: number;
  /** Set when something was refused: names the limit and what to do. */
  message?: string;
}

export class ActiveSeriesLimit {
  readonly limits: SeriesLimits;
  /** tenant → series id → last time a point of it arrived (ms); Map order is oldest sighting first. */
  private readonly active = new Map<string, Map<string, number>>();
  private readonly refused = new Map<string, { points: number; series: number }>();

  constructor(limits: Partial<SeriesLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_SERIES_LIMITS, ...limits };
    const { maxActiveSeries, activeWindowMs } = this.limits;
    if (!(Number.isInteger(maxActiveSeries) && maxActiveSeries >= 1)) throw new RangeError(`maxActiveSeries must be an integer ≥ 1, got ${maxActiveSeries}`);
    if (!(activeWindowMs > 0)) throw new RangeError(`activeWindowMs must be > 0, got ${activeWindowMs}`);
  }

  admit(tenant: string, points: readonly MetricPoint[]): SeriesAdmission {
    const nowMs = this.now();
    const seen = this.tenantMap(tenant);
    this.expire(seen, nowMs);
    const accepted: MetricPoint[] = [];
    const refusedIds = new Set<string>();
    let refusedPoints = 0;
    for (const point of points) {
      const id = seriesId(point.series);
      if (seen.has(id)) {
        seen.delete(id); // re-insert: keeps the map ordered by last sighting
        seen.set(id, nowMs);
        accepted.push(point);
      } else if (seen.size < this.limits.maxActiveSeries) {
        seen.set(id, nowMs);
        accepted.push(point);
      } else {
        refusedIds.add(id);
        refusedPoints++;
      }
    }
    if (refusedPoints === 0) return { accepted, refusedPoints: 0, refusedSeries: 0 };
    const counts = this.refused.get(tenant) ?? { points: 0, series: 0 };
    counts.points += refusedPoints;
    counts.series += refusedIds.size;
    this.refused.set(tenant, counts);
    return {
      accepted,
      refusedPoints,
      refusedSeries: refusedIds.size,
      message:
        `${refusedPoints} point(s) of ${refusedIds.size} new series refused: the tenant has reached its limit of ` +
        `${this.limits.maxActiveSeries} active series (series with a point in the last ${formatDuration(this.limits.activeWindowMs)}); ` +
        'drop unbounded attributes (ids, raw paths) or raise the limit (--max-active-series)',
    };
  }

  /** Active series per tenant, and what each tenant had refused since start (for /metrics). */
  snapshot(): { tenant: string; active: number; refusedPoints: number; refusedSeries: number }[] {
    const nowMs = this.now();
    const tenants = new Set([...this.active.keys(), ...this.refused.keys()]);
    return [...tenants].sort().map((tenant) => {
      const seen = this.active.get(tenant);
      if (seen) this.expire(seen, nowMs);
      const r = this.refused.get(tenant);
      return { tenant, active: seen?.size ?? 0, refusedPoints: r?.points ?? 0, refusedSeries: r?.series ?? 0 };
    });
  }

  private tenantMap(tenant: string): Map<string, number> {
    let m = this.active.get(tenant);
    if (!m) this.active.set(tenant, (m = new Map()));
    return m;
  }

  private expire(seen: Map<string, number>, nowMs: number): void {
    const cutoff = nowMs - this.limits.activeWindowMs;
    for (const [id, lastMs] of seen) {
      // Ordered by last sighting, so the first one still active ends the scan. A clock stepped
      // back leaves entries "in the future": they simply stay active a little longer.
      if (lastMs > cutoff) break;
      seen.delete(id);
    }
  }
}
