// A storage backend over the Prometheus protocols: remote write in, the HTTP query API out. It
// serves a self-hosted Prometheus (or any compatible store) and Amazon Managed Service for
// Prometheus, whose SigV4 signing arrives as an injected `fetch`.
//
// docs/storage-prometheus.md explains the representation; in short: each point is a handful of
// float samples at its end time (prometheus-samples.ts), labelled with the tenant, the usual
// OTel → Prometheus names and the exact series as JSON (prometheus-labels.ts). Every PromQL text
// is built by prometheus-promql.ts, which cannot build one without a tenant.
//
// Prometheus appends a remote-write request all or nothing: one refused sample (too old for the
// out-of-order window, or a different value at a stored timestamp) fails the whole request with
// 400. So a refused request is split in halves until the refused points are alone; those are
// reported (WriteResult.rejected, or as duplicates when an identical identity holds other
// values: the first write wins, as in DuckDB) and everything else is stored.

import { parseRetryAfter } from '../../common/retry-after.ts';
import { seriesId } from './series.ts';
import { LABEL, prometheusMetricName, seriesFromLabels, seriesLabels } from './prometheus-labels.ts';
import { rangeSelector, regexLiteral, tenantSelector, type Matcher } from './prometheus-promql.ts';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, type TimeSeries } from './prometheus-remote-write.ts';
import { endMs, floorMs, kindLabels, MAIN_FIELDS, nativeHistogramFields, pointFields, pointFromFields, type NativeHistogramJson, type PointSamples } from './prometheus-samples.ts';
import type { FirstPointQuery, MetricPoint, MetricsPointQuery, MetricStore, PointQuery, SeriesQuery, SeriesRef, StoreRejection, WriteResult } from './types.ts';

export interface PrometheusStoreOptions {
  /** The full remote-write URL: Prometheus `…/api/v1/write`, AMP `…/workspaces/ID/api/v1/remote_write`. */
  remoteWriteUrl: string;
  /** The query API base: requests go to `${queryUrl}/api/v1/query` and `/api/v1/series`. */
  queryUrl: string;
  /** Used for every request; AMP's SigV4 signing wraps it. Defaults to globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
  /**
   * Send exponential histograms as native histograms (default false). Off by default because
   * Prometheus 2.42 refuses out-of-order native histograms ("out of order sample", even inside
   * the out-of-order window), and the agent's spool replays old batches. A server that answers
   * that it has none (2.42 without `--enable-feature=native-histograms`) switches this store to
   * per-bucket float samples for good; the refused request is resent so.
   */
  nativeHistograms?: boolean;
  /** Points per remote-write request (default 500: a few thousand samples, well under AMP's limits). */
  maxPointsPerRequest?: number;
  /** Attempts per request on 429, 5xx and network errors (default 5), then a clear error. */
  maxAttempts?: number;
  /** Backoff when the server sends no Retry-After; doubles per attempt, with full jitter (default 200 ms). */
  baseDelayMs?: number;
  /** A longer Retry-After is cut to this (default 30 s): a write must not hang a gateway. */
  maxRetryDelayMs?: number;
  /** One request (attempt) is abandoned after this long (default 30 s) and counts as a failed attempt. */
  requestTimeoutMs?: number;
  /** fetchPoints reads a longer range in pieces of this length (default 1 day), so no query meets the server's sample limit. */
  maxQueryRangeMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Conflicts and refusals are reported here (default: stderr). */
  log?: (message: string) => void;
}

/** A request the server answered with an error status, after any retries. */
export class PrometheusHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    message: string,
  ) {
    super(message);
    this.name = 'PrometheusHttpError';
  }
}

/**
 * Appender errors that no retry can fix. Prometheus 2.42 answers most with 400 but "too old
 * sample" (older than the out-of-order window) with 500, so a 5xx with one of these is a refusal.
 */
const REFUSED_SAMPLE = /too old sample|out of bounds|out of order sample|duplicate sample for timestamp/i;

/** Statuses worth another attempt: overload (429, 503) and other server-side failures. */
function retryable(status: number, body: string): boolean {
  return status === 429 || (status >= 500 && !REFUSED_SAMPLE.test(body) && !NATIVE_OFF_TEXT.test(body));
}

/** Prometheus 2.42 without the feature flag answers native histograms with 500 and these words. */
const NATIVE_OFF_TEXT = /native histograms are disabled/i;
const NATIVE_HISTOGRAMS_OFF = Symbol('native histograms off');

/** Prometheus's words for a sample at a stored timestamp with another value. */
const CONFLICT = /duplicate sample for timestamp/i;

/** The fields of which every point has one (prometheus-samples.ts): one series per burnwatch series and kind. */
const MAIN_FIELD_RE = MAIN_FIELDS.join('|');

/** `otel_metric` equal to one metric, or any of several (an exact-match regular expression). */
function metricMatcher(metrics: readonly string[]): Matcher {
  return metrics.length === 1
    ? { label: LABEL.metric, op: '=', value: metrics[0] }
    : { label: LABEL.metric, op: '=~', value: metrics.map(regexLiteral).join('|') };
}

/** Pieces of a range read at once; a range of more pieces than MAX_PIECES is open-ended, read whole. */
const QUERY_CONCURRENCY = 4;
const MAX_PIECES = 400;

/** Query time bounds Prometheus accepts (ms); point times beyond them cannot be stored anyway. */
const MAX_QUERY_MS = 4_000_000_000_000;

export class PrometheusStore implements MetricStore {
  private readonly fetch_: typeof globalThis.fetch;
  private readonly maxPointsPerRequest: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxQueryRangeNs: bigint;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly log: (message: string) => void;
  /** Points refused as a conflicting rewrite of a stored identity; for self-metrics and tests. */
  conflicts = 0;
  /** Whether exponential histograms go as native histograms (see the option). */
  nativeHistograms: boolean;

  constructor(private readonly opts: PrometheusStoreOptions) {
    for (const key of ['remoteWriteUrl', 'queryUrl'] as const) {
      try {
        new URL(opts[key]);
      } catch {
        throw new Error(`PrometheusStore: ${key} is not a URL: ${JSON.stringify(opts[key])}`);
      }
    }
    this.fetch_ = opts.fetch ?? globalThis.fetch;
    this.nativeHistograms = opts.nativeHistograms ?? false;
    this.maxPointsPerRequest = opts.maxPointsPerRequest ?? 500;
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.baseDelayMs = opts.baseDelayMs ?? 200;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.maxQueryRangeNs = BigInt(opts.maxQueryRangeMs ?? 86_400_000) * 1_000_000n;
    if (this.maxQueryRangeNs <= 0n) throw new Error('PrometheusStore: maxQueryRangeMs must be positive');
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? ((m) => console.error(m));
  }

  async write(tenant: string, points: readonly MetricPoint[]): Promise<WriteResult> {
    if (tenant === '') throw new Error('PrometheusStore.write: empty tenant');
    // A repeat within the batch (same series, kind and end millisecond) is a duplicate here: in
    // one request Prometheus cannot tell it from the first.
    const seen = new Set<string>();
    const unique: number[] = [];
    let duplicates = 0;
    points.forEach((p, i) => {
      const key = `${seriesId(p.series)}\0${JSON.stringify(kindLabels(p))}\0${endMs(p)}`;
      if (seen.has(key)) duplicates++;
      else {
        seen.add(key);
        unique.push(i);
      }
    });
    const rejected: StoreRejection[] = [];
    let conflicts = 0;
    for (let start = 0; start < unique.length; start += this.maxPointsPerRequest) {
      const outcome = await this.writeSplitting(tenant, points, unique.slice(start, start + this.maxPointsPerRequest));
      rejected.push(...outcome.rejected);
      conflicts += outcome.conflicts.length;
      if (outcome.conflicts.length > 0) {
        this.log(`burnwatch prometheus: ${outcome.conflicts.length} point(s) conflict with a stored point of the same series and end time; the stored one is kept (first: ${outcome.conflicts[0].reason})`);
      }
    }
    this.conflicts += conflicts;
    if (rejected.length > 0) this.log(`burnwatch prometheus: ${rejected.length} point(s) refused: ${rejected[0].reason}`);
    // Prometheus answers an identical resend like a first write, so resent points count as
    // inserted; they store nothing new (the samples are duplicates it drops).
    const result: WriteResult = { inserted: unique.length - rejected.length - conflicts, duplicates: duplicates + conflicts };
    if (rejected.length > 0) result.rejected = rejected.sort((a, b) => a.index - b.index);
    return result;
  }

  fetchPoints(q: PointQuery): Promise<MetricPoint[]> {
    const { metric, ...rest } = q;
    return this.fetchPointsOfMetrics({ ...rest, metrics: [metric] });
  }

  async fetchPointsOfMetrics(q: MetricsPointQuery): Promise<MetricPoint[]> {
    if (q.metrics.length === 0) return [];
    // Pieces from the end backwards, a few at a time: a 30-day SLO window is 30 queries of one
    // day, each well under Prometheus's per-query sample limit (query.max-samples, 50 M).
    const from = q.fromNs < 0n ? 0n : q.fromNs;
    const pieces: [bigint, bigint][] = [];
    if (q.toNs - from > BigInt(MAX_PIECES) * this.maxQueryRangeNs) {
      pieces.push([from, q.toNs]); // an open-ended range: one query, bounded by the data
    } else {
      for (let to = q.toNs; to > from; to -= this.maxQueryRangeNs) pieces.push([to - this.maxQueryRangeNs > from ? to - this.maxQueryRangeNs : from, to]);
    }
    const out: MetricPoint[] = [];
    for (let i = 0; i < pieces.length; i += QUERY_CONCURRENCY) {
      const batch = pieces.slice(i, i + QUERY_CONCURRENCY).map(([fromNs, toNs]) => this.fetchPiece({ ...q, fromNs, toNs }));
      for (const points of await Promise.all(batch)) out.push(...points);
      // The caller refuses more than `limit` points: stop reading (PointQuery.limit's contract).
      if (q.limit !== undefined && out.length > q.limit) break;
    }
    return out;
  }

  /** The points of one piece of a range: one range selector, then the exact [fromNs, toNs) filter. */
  private async fetchPiece(q: MetricsPointQuery): Promise<MetricPoint[]> {
    if (q.fromNs >= q.toNs) return [];
    const fromMs = clampMs(floorMs(q.fromNs));
    const toMs = clampMs(floorMs(q.toNs - 1n)); // the last millisecond an end time < toNs can be in
    if (toMs < fromMs) return [];
    const matchers: Matcher[] = [metricMatcher(q.metrics)];
    if (q.service !== undefined) matchers.push({ label: LABEL.service, op: '=', value: q.service });
    // +1: Prometheus 2 includes the range's left end and Prometheus 3 excludes it; either way
    // fromMs is inside, and the exact bounds are applied below.
    const query = rangeSelector(tenantSelector(q.tenant, matchers), toMs - fromMs + 1);
    const data = await this.api<{
      resultType: string;
      result: { metric: Record<string, string>; values?: [number, string][]; histograms?: [number, NativeHistogramJson][] }[];
    }>('/api/v1/query', {
      query,
      time: (toMs / 1000).toFixed(3),
    });
    if (data.resultType !== 'matrix') throw new Error(`Prometheus answered a range selector with a ${data.resultType}, not a matrix`);
    // Group the field series of one burnwatch series and kind, then each timestamp's fields.
    const groups = new Map<string, { labels: Record<string, string>; byTime: Map<number, PointSamples> }>();
    for (const r of data.result) {
      const field = r.metric[LABEL.field];
      if (field === undefined) continue;
      const labels = { ...r.metric };
      delete labels[LABEL.name];
      delete labels[LABEL.field];
      const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { labels, byTime: new Map() }));
      const at = (t: number) => {
        const ms = Math.round(t * 1000);
        let fields = group.byTime.get(ms);
        if (!fields) group.byTime.set(ms, (fields = new Map()));
        return fields;
      };
      for (const [t, v] of r.values ?? []) at(t).set(field, sampleValue(v));
      for (const [t, h] of r.histograms ?? []) nativeHistogramFields(h, Number(labels[LABEL.scale] ?? 0), at(t));
    }
    const points: MetricPoint[] = [];
    for (const { labels, byTime } of groups.values()) {
      const series = seriesFromLabels(labels);
      for (const [ms, fields] of byTime) {
        const p = pointFromFields(series, labels, ms, fields);
        if (p && p.endNs >= q.fromNs && p.endNs < q.toNs) points.push(p);
      }
    }
    return points;
  }

  async listSeries(q: SeriesQuery): Promise<SeriesRef[]> {
    // One field every point has (value or count) names each series once per kind.
    const match = tenantSelector(q.tenant, [
      { label: LABEL.metric, op: '=', value: q.metric },
      { label: LABEL.field, op: '=~', value: MAIN_FIELD_RE },
    ]);
    // Prometheus answers with series that have data near the range (whole head or block
    // ranges): wider than asked, which SeriesQuery allows.
    const data = await this.api<Record<string, string>[]>('/api/v1/series', {
      'match[]': match,
      start: (clampMs(floorMs(q.fromNs ?? 0n)) / 1000).toFixed(3),
      end: (clampMs(q.toNs === undefined ? MAX_QUERY_MS : floorMs(q.toNs)) / 1000).toFixed(3),
    });
    const out = new Map<string, SeriesRef>();
    for (const labels of data) {
      const id = labels[LABEL.seriesId];
      if (id !== undefined && !out.has(id)) out.set(id, seriesFromLabels(labels));
    }
    return [...out.values()];
  }

  /**
   * The earliest end time of a point in [fromNs, toNs), or undefined: one range query counting
   * points per UTC day, then the points of the first day that has any.
   */
  async firstPointNs(q: FirstPointQuery): Promise<bigint | undefined> {
    if (q.metrics.length === 0 || q.fromNs >= q.toNs) return undefined;
    const dayMs = 86_400_000;
    const fromMs = clampMs(floorMs(q.fromNs));
    const toMs = clampMs(floorMs(q.toNs - 1n));
    // Float fields only (count_over_time counts no native histogram samples in 2.42): `offset`
    // stands for an exponential histogram in either form.
    const selector = tenantSelector(q.tenant, [metricMatcher(q.metrics), { label: LABEL.field, op: '=~', value: 'value|count|offset' }]);
    // Evaluated at each UTC day's last millisecond, over that day.
    const firstEnd = Math.floor(fromMs / dayMs) * dayMs + dayMs - 1;
    const lastEnd = Math.floor(toMs / dayMs) * dayMs + dayMs - 1;
    const data = await this.api<{ result: { values?: [number, string][] }[] }>('/api/v1/query_range', {
      query: `count(count_over_time(${rangeSelector(selector, dayMs)}))`,
      start: (firstEnd / 1000).toFixed(3),
      end: (lastEnd / 1000).toFixed(3),
      step: String(dayMs / 1000),
    });
    const days = (data.result[0]?.values ?? []).map(([t]) => Math.round(t * 1000)).sort((a, b) => a - b);
    // A day's count may come from a point just outside [fromNs, toNs) (its edges, or the 1 ms
    // Prometheus 2 adds on the left): read the candidate days' points for the exact answer.
    for (const endMs of days) {
      const fromNs = maxBigint(q.fromNs, BigInt(endMs - dayMs) * 1_000_000n);
      const toNs = minBigint(q.toNs, BigInt(endMs + 1) * 1_000_000n);
      const points = await this.fetchPiece({ tenant: q.tenant, metrics: q.metrics, fromNs, toNs });
      if (points.length > 0) return points.reduce((min, p) => (p.endNs < min ? p.endNs : min), points[0].endNs);
    }
    return undefined;
  }

  async close(): Promise<void> {}

  /** Writes points (indexes into `points`), halving a refused request until the refused points stand alone. */
  private async writeSplitting(tenant: string, points: readonly MetricPoint[], indexes: number[]): Promise<WriteOutcome> {
    const refusal = await this.remoteWrite(toTimeSeries(tenant, indexes.map((i) => points[i]), this.nativeHistograms));
    if (refusal === undefined) return { rejected: [], conflicts: [] };
    if (refusal === NATIVE_HISTOGRAMS_OFF) {
      this.nativeHistograms = false;
      this.log('burnwatch prometheus: the server takes no native histograms; exponential histograms go as per-bucket samples from now on');
      return this.writeSplitting(tenant, points, indexes);
    }
    if (indexes.length === 1) {
      const r = { index: indexes[0], reason: refusal };
      return CONFLICT.test(refusal) ? { rejected: [], conflicts: [r] } : { rejected: [r], conflicts: [] };
    }
    const mid = indexes.length >> 1;
    const a = await this.writeSplitting(tenant, points, indexes.slice(0, mid));
    const b = await this.writeSplitting(tenant, points, indexes.slice(mid));
    return { rejected: [...a.rejected, ...b.rejected], conflicts: [...a.conflicts, ...b.conflicts] };
  }

  /** One remote-write request; undefined when stored, else the server's reason for refusing it, or NATIVE_HISTOGRAMS_OFF. */
  private async remoteWrite(series: TimeSeries[]): Promise<string | typeof NATIVE_HISTOGRAMS_OFF | undefined> {
    // A Buffer view: fetch's BodyInit type wants an ArrayBuffer-backed view.
    const body = Buffer.from(encodeWriteRequest(series));
    const res = await this.request('remote write', this.opts.remoteWriteUrl, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body });
    if (res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const text = (await res.text()).trim();
    if (NATIVE_OFF_TEXT.test(text) && series.some((s) => s.histograms?.length)) return NATIVE_HISTOGRAMS_OFF;
    if (res.status === 400 || REFUSED_SAMPLE.test(text)) return `Prometheus refused the samples: ${text || 'no reason given'}`;
    throw new PrometheusHttpError(res.status, text, `Prometheus remote write to ${this.opts.remoteWriteUrl} failed with ${res.status}: ${text || res.statusText}`);
  }

  /** A query API call (POST form, so long selectors fit); the `data` of a success answer. */
  private async api<T>(path: string, params: Record<string, string>): Promise<T> {
    const url = `${this.opts.queryUrl.replace(/\/+$/, '')}${path}`;
    const res = await this.request(`query ${path}`, url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    const text = await res.text();
    let parsed: { status?: string; data?: T; error?: string; errorType?: string } | undefined;
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    if (!res.ok || parsed?.status !== 'success' || parsed.data === undefined) {
      const why = parsed?.error ? `${parsed.errorType ?? 'error'}: ${parsed.error}` : text.slice(0, 500) || res.statusText;
      throw new PrometheusHttpError(res.status, text, `Prometheus ${path} at ${url} failed with ${res.status}: ${why}`);
    }
    return parsed.data;
  }

  /** fetch with bounded retries on 429/5xx (honouring Retry-After) and network errors. */
  private async request(what: string, url: string, init: RequestInit): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetch_(url, { ...init, signal: AbortSignal.timeout(this.requestTimeoutMs) });
      } catch (err) {
        if (attempt >= this.maxAttempts) {
          throw new Error(`Prometheus ${what} to ${url}: gave up after ${attempt} attempts: ${(err as Error).message}`, { cause: err });
        }
        await this.sleep(this.backoff(attempt, null));
        continue;
      }
      if (res.status !== 429 && res.status < 500) return res;
      const text = (await res.clone().text()).trim();
      if (!retryable(res.status, text)) return res;
      if (attempt >= this.maxAttempts) {
        throw new PrometheusHttpError(
          res.status,
          text,
          `Prometheus ${what} to ${url}: still ${res.status} after ${attempt} attempts${res.headers.get('retry-after') ? ` (Retry-After ${res.headers.get('retry-after')})` : ''}: ${text || res.statusText}`,
        );
      }
      await this.sleep(this.backoff(attempt, res.headers.get('retry-after')));
    }
  }

  /** The server's Retry-After (seconds or an HTTP date) when it sent one, else jittered exponential backoff; capped. */
  private backoff(attempt: number, retryAfter: string | null): number {
    const asked = parseRetryAfter(retryAfter, Date.now());
    const ms = asked ?? Math.round(this.random() * this.baseDelayMs * 2 ** (attempt - 1));
    return Math.min(Math.max(ms, 0), this.maxRetryDelayMs);
  }
}

interface WriteOutcome {
  rejected: StoreRejection[];
  conflicts: StoreRejection[];
}

/** The remote-write series of some points: one series per (burnwatch series, kind, field). */
function toTimeSeries(tenant: string, points: readonly MetricPoint[], native: boolean): TimeSeries[] {
  const out = new Map<string, TimeSeries>();
  const labelsOf = new Map<SeriesRef, Record<string, string>>();
  for (const p of points) {
    let base = labelsOf.get(p.series);
    if (!base) labelsOf.set(p.series, (base = seriesLabels(tenant, p.series)));
    const kind = kindLabels(p);
    const name = prometheusMetricName(p.series.metric, p.series.unit, p.kind === 'sum' && p.monotonic);
    const t = endMs(p);
    for (const f of pointFields(p, native)) {
      const labels = { ...base, ...kind, [LABEL.field]: f.field, [LABEL.name]: `${name}${f.nameSuffix}` };
      const key = `${base[LABEL.seriesId]}\0${JSON.stringify(kind)}\0${f.field}`;
      let ts = out.get(key);
      if (!ts) out.set(key, (ts = { labels, samples: [] }));
      if (f.histogram) (ts.histograms ??= []).push({ ...f.histogram, timestampMs: t });
      else ts.samples.push({ value: f.value, timestampMs: t });
    }
  }
  return [...out.values()];
}

/** A sample value as the query API writes it: decimal text, or NaN, +Inf, -Inf. */
export function sampleValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

function maxBigint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function clampMs(ms: number): number {
  return Math.min(Math.max(ms, 0), MAX_QUERY_MS);
}
