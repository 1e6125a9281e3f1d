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
import { fetchDeltasOfMetrics } from '../query/deltas.ts';
import { isServerError } from '../query/outcome.ts';
import { msToNs } from '../query/time.ts';
import { firstPointNs } from '../storage/multi-metric.ts';
import { serviceOf } from '../storage/series.ts';
import type { AttributeValue, MetricPoint, MetricStore } from '../storage/types.ts';
import { FILTER_SHORTHANDS, HTTP_DURATION_PREFIX, type SloDefinition } from './definitions.ts';
import type { RollupBatch, RollupRow } from './store.ts';

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
export const FETCH_CHUNK_MS = 6 * 3_600_000;
/** Chunks read at once during a backfill (each is one query per table on Timestream). */
export const DEFAULT_CHUNK_CONCURRENCY = 4;

export interface RollupRunOptions {
  /** Stores rows of one chunk: each batch's key is complete over [batch.fromMs, toMs). Called in time order per key. */
  save: (batches: RollupBatch[], toMs: number) => Promise<void>;
  /** Asked before every chunk but the up-to-date keys' and the backfill's first (those always run, so each refresh progresses): false leaves the rest for later. */
  mayStart?: () => boolean;
  /** Wraps each chunk (read, count, save): a budget measures it here. */
  time?: <T>(task: () => Promise<T>) => Promise<T>;
  concurrency?: number;
  chunkMs?: number;
}

export interface RollupRunResult {
  /** Chunks read and saved. */
  chunks: number;
  /** Chunks left for a later refresh because the budget ran out. */
  left: number;
  /** Jobs none of whose chunks was saved. */
  unstarted: number;
  /** Where reading began: the first day with data when a job reached further back. */
  readFromMs: number | undefined;
}

interface Chunk {
  fromMs: number;
  toMs: number;
  jobs: RollupJob[];
}

/**
 * Brings each job's rollups up to `toMs`, chunk by chunk: good/total per bucket from the raw
 * points whose end time falls in the bucket (a bucket absent means "no data", not "all good").
 *
 * A backfill reads only from the first day with data (a new deployment has one, not 30), all
 * metrics of a chunk in one read, several chunks at once, and saves each chunk as soon as the
 * chunks before it (for the same key) are saved: the watermark moves with every chunk, and a
 * refresh stopped by its budget resumes where it stopped. Keys already up to date get a chunk of
 * their own that runs first, so another's backfill never starves them.
 */
export async function runRollups(
  metricStore: MetricStore,
  tenant: string,
  jobs: readonly RollupJob[],
  toMs: number,
  resolutionMs: number,
  opts: RollupRunOptions,
): Promise<RollupRunResult> {
  const chunkMs = opts.chunkMs ?? FETCH_CHUNK_MS;
  const live = jobs.filter((j) => j.fromMs < toMs);
  if (live.length === 0) return { chunks: 0, left: 0, unstarted: 0, readFromMs: undefined };
  // Jobs within one chunk of `toMs` are up to date: one chunk of their own, run first, so a
  // backfill never starves them. The others are behind: chunks from where their data begins.
  const current = live.filter((j) => j.fromMs >= toMs - chunkMs);
  const behind = live.filter((j) => j.fromMs < toMs - chunkMs);
  const chunks: Chunk[] = [];
  let readFrom: number | undefined;
  if (behind.length > 0) {
    const minFrom = Math.min(...behind.map((j) => j.fromMs));
    // Where the data of the jobs that are behind begins (a service added today has a day of it).
    const metrics = [...new Set(behind.flatMap((j) => j.slo.metrics))].sort();
    const services = [...new Set(behind.map((j) => j.slo.service))].sort();
    const first = await firstPointNs(metricStore, { tenant, metrics, services, fromNs: msToNs(minFrom), toNs: msToNs(toMs) });
    // No data at all: one empty chunk still records every job as complete.
    const from = first === undefined ? Math.max(minFrom, toMs - chunkMs) : Math.max(minFrom, Math.floor(Number(first / 1_000_000n) / resolutionMs) * resolutionMs);
    readFrom = from;
    // Laid forward from where reading starts, so each refresh resumes with a whole chunk.
    for (let start = from; start < toMs; start += chunkMs) {
      const end = Math.min(toMs, start + chunkMs);
      // A job starting before the data does is in the first chunk, whose save claims its empty start.
      chunks.push({ fromMs: start, toMs: end, jobs: behind.filter((j) => Math.max(j.fromMs, from) < end) });
    }
  }
  if (current.length > 0) {
    const from = Math.min(...current.map((j) => j.fromMs));
    readFrom = Math.min(readFrom ?? from, from);
    chunks.unshift({ fromMs: from, toMs, jobs: current });
  }
  // The up-to-date chunk and the backfill's first always run: every refresh moves both.
  const guaranteed = (current.length > 0 ? 1 : 0) + (behind.length > 0 ? 1 : 0);

  // Per key: its chunks in time order, and how many are saved.
  const keyChunks = new Map<string, number[]>();
  chunks.forEach((c, i) => c.jobs.forEach((j) => keyChunks.set(j.key, [...(keyChunks.get(j.key) ?? []), i])));
  const saved = new Map<string, number>();
  const computed = new Map<number, Map<string, RollupRow[]>>();
  const jobOf = new Map(live.map((j) => [j.key, j]));
  let saving = Promise.resolve();
  const flush = (): Promise<void> => {
    const ready = new Map<number, RollupBatch[]>();
    for (const [key, list] of keyChunks) {
      for (let n = saved.get(key) ?? 0; n < list.length && computed.get(list[n])?.has(key); n++) {
        const i = list[n];
        const batch = { key, fromMs: n === 0 ? jobOf.get(key)!.fromMs : chunks[i].fromMs, rows: computed.get(i)!.get(key)! };
        ready.set(i, [...(ready.get(i) ?? []), batch]);
        saved.set(key, n + 1);
      }
    }
    for (const i of [...ready.keys()].sort((a, b) => a - b)) saving = saving.then(() => opts.save(ready.get(i)!, chunks[i].toMs));
    return saving;
  };

  const time = opts.time ?? ((task) => task());
  let next = 0;
  let done = 0;
  let stopped = false;
  const resolution = new ResolutionCache();
  const worker = async () => {
    while (next < chunks.length && !stopped) {
      if (next >= guaranteed && opts.mayStart && !opts.mayStart()) {
        stopped = true;
        break;
      }
      const i = next++;
      await time(async () => {
        computed.set(i, await countChunk(metricStore, tenant, chunks[i], resolutionMs, resolution));
        await flush();
      });
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? DEFAULT_CHUNK_CONCURRENCY) }, worker));
  await saving;
  const unstarted = [...keyChunks.keys()].filter((k) => !saved.get(k)).length;
  return { chunks: done, left: chunks.length - done, unstarted, readFromMs: readFrom };
}

/** Good/total per bucket of one chunk, for each of its jobs (buckets from the job's start on). */
async function countChunk(metricStore: MetricStore, tenant: string, chunk: Chunk, resolutionMs: number, resolution: ResolutionCache): Promise<Map<string, RollupRow[]>> {
  const out = new Map<string, Map<number, RollupRow>>(chunk.jobs.map((j) => [j.key, new Map()]));
  const byMetricService = new Map<string, RollupJob[]>();
  for (const job of chunk.jobs) {
    for (const m of job.slo.metrics) {
      const k = JSON.stringify([m, job.slo.service]);
      byMetricService.set(k, [...(byMetricService.get(k) ?? []), job]);
    }
  }
  const metrics = [...new Set(chunk.jobs.flatMap((j) => j.slo.metrics))].sort();
  const fromMs = Math.max(chunk.fromMs, Math.min(...chunk.jobs.map((j) => j.fromMs)));
  for (const p of await fetchDeltasOfMetrics(metricStore, { tenant, metrics, fromNs: msToNs(fromMs), toNs: msToNs(chunk.toMs) })) {
    const service = serviceOf(p.series);
    const candidates = service === undefined ? undefined : byMetricService.get(JSON.stringify([p.series.metric, service]));
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
  return new Map([...out].map(([k, rows]) => [k, [...rows.values()].sort((a, b) => a.bucketMs - b.bucketMs)]));
}
