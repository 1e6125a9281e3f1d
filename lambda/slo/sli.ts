// From raw points to per-bucket good/total rollups (one bucket a minute by default).
//
// Availability: every request counts; a bad one is a server error — HTTP status ≥ 500, or one of
// the gRPC codes UNKNOWN(2), DEADLINE_EXCEEDED(4), UNIMPLEMENTED(12), INTERNAL(13),
// UNAVAILABLE(14), DATA_LOSS(15) (lambda/query/outcome.ts, shared with the query API).
// Latency: good = duration ≤ threshold, counted from whole histogram buckets; the bucket that
// straddles the threshold counts as slow, and `effectiveThreshold` records the boundary really
// used (thresholdResolution: under 2.2% below the threshold at the agent's scale 5).

import { createHash } from 'node:crypto';
import { thresholdResolution, type ThresholdResolution } from '../../common/exphist.ts';
import { pointLatency } from '../query/accumulate.ts';
import { fetchDeltas } from '../query/deltas.ts';
import { isServerError } from '../query/outcome.ts';
import { msToNs } from '../query/time.ts';
import { serviceOf } from '../storage/series.ts';
import type { AttributeValue, MetricPoint, MetricStore } from '../storage/types.ts';
import { FILTER_SHORTHANDS, HTTP_DURATION_PREFIX, type SloDefinition } from './definitions.ts';
import type { RollupRow } from './store.ts';

/** What a rollup depends on: two SLOs with equal keys share their rollups (objective and window do not matter). */
export function sliKey(slo: SloDefinition, resolutionMs: number): string {
  const identity = JSON.stringify([slo.service, slo.kind, [...slo.metrics].sort(), sortedFilter(slo.filter), slo.thresholdSeconds ?? null, resolutionMs]);
  return createHash('sha256').update(identity).digest('hex').slice(0, 24);
}

function sortedFilter(filter: SloDefinition['filter']): [string, string[]][] {
  return Object.keys(filter)
    .sort()
    .map((k) => [k, [...filter[k]].sort()]);
}

/** Whether a series passes an SLI filter; HTTP shorthands (route, method, status) map to rpc.* on gRPC metrics. */
export function matchesFilter(point: MetricPoint, filter: SloDefinition['filter']): boolean {
  const isHttp = point.series.metric.startsWith(HTTP_DURATION_PREFIX);
  for (const [key, accepted] of Object.entries(filter)) {
    const short = Object.hasOwn(FILTER_SHORTHANDS, key) ? FILTER_SHORTHANDS[key] : undefined;
    const attr = short ? (isHttp ? short.http : short.rpc) : key;
    const v = Object.hasOwn(point.series.attributes, attr) ? point.series.attributes[attr] : Object.hasOwn(point.series.resource, attr) ? point.series.resource[attr] : undefined;
    if (!accepted.includes(attrText(v))) return false;
  }
  return true;
}

function attrText(v: AttributeValue | undefined): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * The requests one point adds to an SLI: good and total, and for latency the boundary really
 * used. A latency point whose buckets cannot answer the threshold (pointLatency: the bucket that
 * straddles it holds requests and its lower bound is far below it) adds nothing to good or total:
 * its requests are `unknown`, with the reason, instead of a burn the buckets would invent.
 */
export function countPoint(
  p: MetricPoint,
  slo: Pick<SloDefinition, 'kind' | 'thresholdSeconds'>,
  resolution: ResolutionCache,
): { good: number; total: number; effective?: number; unknown?: number; unknownReason?: string } | undefined {
  if (slo.kind === 'availability') {
    let n: number;
    if (p.kind === 'exponential_histogram' || p.kind === 'histogram') n = p.count;
    else if (p.kind === 'sum') n = p.value;
    else return undefined;
    return { good: isServerError(p.series) ? 0 : n, total: n };
  }
  if (p.kind !== 'exponential_histogram' && p.kind !== 'histogram') return undefined; // counters and gauges carry no durations
  if (p.count === 0) return { good: 0, total: 0 };
  const v = pointLatency(p, slo.thresholdSeconds!, (t, scale) => resolution.resolve(t, scale))!;
  return v.known ? { good: v.good, total: v.total, effective: v.effective } : { good: 0, total: 0, unknown: v.unknown, unknownReason: v.reason };
}

/** thresholdResolution is exact (BigInt comparisons): worth computing once per (threshold, scale). */
export class ResolutionCache {
  private readonly cache = new Map<string, ThresholdResolution>();
  resolve(threshold: number, scale: number): ThresholdResolution {
    const k = `${threshold}/${scale}`;
    let v = this.cache.get(k);
    if (v === undefined) {
      v = thresholdResolution(threshold, scale);
      this.cache.set(k, v);
    }
    return v;
  }
  below(threshold: number, scale: number): number {
    return this.resolve(threshold, scale).below;
  }
}

export interface RollupJob {
  key: string;
  slo: SloDefinition;
  /** Recompute buckets starting in [fromMs, toMs). */
  fromMs: number;
}

/** Longest raw-data range fetched at once, so a backfill over 30 days never holds it all in memory. */
const FETCH_CHUNK_MS = 6 * 3_600_000;

/**
 * Good/total per bucket for each job, from the raw points whose end time falls in the bucket.
 * Only buckets with requests are returned: a bucket absent means "no data", not "all good".
 */
export async function computeRollups(
  metricStore: MetricStore,
  tenant: string,
  jobs: readonly RollupJob[],
  toMs: number,
  resolutionMs: number,
): Promise<Map<string, RollupRow[]>> {
  const out = new Map<string, Map<number, RollupRow>>();
  const byMetric = new Map<string, RollupJob[]>();
  for (const job of jobs) {
    out.set(job.key, new Map());
    for (const m of job.slo.metrics) byMetric.set(m, [...(byMetric.get(m) ?? []), job]);
  }
  const resolution = new ResolutionCache();
  for (const [metric, metricJobs] of byMetric) {
    const byService = new Map<string, RollupJob[]>();
    for (const j of metricJobs) byService.set(j.slo.service, [...(byService.get(j.slo.service) ?? []), j]);
    const fromMs = Math.min(...metricJobs.map((j) => j.fromMs));
    // Each chunk's cumulative series take their baselines from the chunk before.
    const carry = new Map<string, MetricPoint>();
    for (let chunk = fromMs; chunk < toMs; chunk += FETCH_CHUNK_MS) {
      const chunkEnd = Math.min(toMs, chunk + FETCH_CHUNK_MS);
      for (const p of await fetchDeltas(metricStore, { tenant, metric, fromNs: msToNs(chunk), toNs: msToNs(chunkEnd) }, carry)) {
        const service = serviceOf(p.series);
        const candidates = service === undefined ? undefined : byService.get(service);
        if (!candidates) continue;
        const endMs = Number(p.endNs / 1_000_000n);
        const bucket = Math.floor(endMs / resolutionMs) * resolutionMs;
        for (const job of candidates) {
          if (bucket < job.fromMs || !matchesFilter(p, job.slo.filter)) continue;
          const c = countPoint(p, job.slo, resolution);
          if (!c || (c.total === 0 && !c.unknown)) continue;
          const rows = out.get(job.key)!;
          const row = rows.get(bucket);
          if (!row) {
            rows.set(bucket, { bucketMs: bucket, good: c.good, total: c.total, effectiveThreshold: c.effective ?? null, ...(c.unknown ? { unknown: c.unknown, unknownReason: c.unknownReason } : {}) });
          } else {
            row.good += c.good;
            row.total += c.total;
            if (c.effective !== undefined) row.effectiveThreshold = row.effectiveThreshold === null ? c.effective : Math.min(row.effectiveThreshold, c.effective);
            if (c.unknown) {
              row.unknown = (row.unknown ?? 0) + c.unknown;
              row.unknownReason ??= c.unknownReason;
            }
          }
        }
      }
    }
  }
  return new Map([...out].map(([k, rows]) => [k, [...rows.values()].sort((a, b) => a.bucketMs - b.bucketMs)]));
}
