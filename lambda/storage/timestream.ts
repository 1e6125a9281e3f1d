// The AWS storage backend: Amazon Timestream for LiveAnalytics, behind the same MetricStore
// contract as DuckDB (the query engine does the aggregation; this only selects points).
//
// AWS closed LiveAnalytics to new customers on 2025-06-20 (docs/aws.md says what a newer account
// uses instead); everything Timestream-specific is in this file and timestream-records.ts, so a
// second AWS backend is another MetricStore and nothing else changes.
//
// Layout (two tables, one database):
// - `points`: one multi-measure record per data point, measure name `point`. Dimensions tenant,
//   series_id, metric and service (the only things queries filter on, so series cardinality stays
//   the number of series); time = the point's end in nanoseconds; measures are typed (BIGINT
//   counts and start time, DOUBLE values, VARCHAR bucket arrays). A point whose record would pass
//   Timestream's 2 KB limit moves its text measures into continuation records (`point.1`, …).
// - `series`: the series' unit, resource and attributes (too big and too repetitive to repeat on
//   every point), one record per series per UTC day it was written, so a range query finds the
//   series it needs in a bounded window and a rewrite is the identical record (a no-op).
//
// Identity: Timestream's is (dimensions, time, measure name), i.e. (tenant, series, end time).
// An identical rewrite is accepted silently; a different record with the same identity is
// rejected, which is a conflict: the first write wins (as in DuckDB) and it is reported. A
// point that repeats an end time with another start time is such a conflict here, where DuckDB
// would keep both — no real sender does that within one series.

import {
  RejectedRecordsException,
  TimestreamWriteClient,
  WriteRecordsCommand,
  type _Record as TsRecord,
} from '@aws-sdk/client-timestream-write';
import { QueryCommand, TimestreamQueryClient, type QueryCommandOutput } from '@aws-sdk/client-timestream-query';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { seriesId } from './series.ts';
import {
  COMMON_TIME_UNIT,
  DAY_NS,
  decodePointRows,
  decodeSeriesRows,
  encodePoint,
  encodeSeries,
  recordLimitViolation,
  parseTimestreamTime,
  POINT_MEASURE,
  seriesDay,
  type Row,
} from './timestream-records.ts';
import {
  TooManyPointsError,
  type FirstPointQuery,
  type MetricPoint,
  type MetricsPointQuery,
  type MetricStore,
  type PointQuery,
  type SeriesQuery,
  type SeriesRef,
  type StoreRejection,
  type WriteResult,
} from './types.ts';

/** Timestream's limit on records per WriteRecords request. */
export const MAX_RECORDS_PER_WRITE = 100;

export interface TimestreamTables {
  database: string;
  pointsTable: string;
  seriesTable: string;
}

export interface TimestreamStoreOptions extends TimestreamTables {
  /** Defaults to new clients for the Lambda's region, with the SDK's own retries off (this store retries). */
  writeClient?: TimestreamWriteClient;
  queryClient?: TimestreamQueryClient;
  /** Attempts per request on throttling, server, socket and stale-endpoint errors (default 6). */
  maxAttempts?: number;
  /** First backoff delay; doubles per attempt, with full jitter (default 100 ms). */
  baseDelayMs?: number;
  /** The longest one backoff delay may be (default 2 s): a Lambda's timeout bounds the whole request. */
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * Hours each table keeps in its memory store, as deployed (the Lambdas read it from their
   * environment); older records go to the magnetic store. Default: what infra/ creates by
   * default, 24 for points and 48 for series (whose records are stamped up to a day back).
   */
  memoryRetentionHours?: { points: number; series: number };
  /** How long after a magnetic-store write its records are queryable (Timestream documents "within 6 hours"; default 6 h). */
  magneticQueryableAfterMs?: number;
  /** The clock that decides which records are older than the memory store keeps (default Date.now). */
  now?: () => number;
  /** Conflicts and rejections are reported here (default: stderr). */
  log?: (message: string) => void;
}

/** Timestream's own server-side errors (mocked ones carry no HTTP status for the SDK's classifier to read). */
const SERVER_ERRORS = new Set(['InternalServerException', 'ServiceUnavailableException']);

/**
 * Errors worth another attempt: Timestream scales up under throttling, server errors pass, and a
 * socket that broke (ECONNRESET, ETIMEDOUT, EPIPE, "socket hang up") is a new connection away —
 * the SDK's own classification decides those. Resending a write is safe: an identical record is
 * accepted as a no-op. InvalidEndpointException is retried too, after the endpoint is rediscovered.
 */
function isRetryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Parameters<typeof isTransientError>[0] & Error;
  return SERVER_ERRORS.has(e.name) || e.name === 'InvalidEndpointException' || isThrottlingError(e) || isTransientError(e) || isServerError(e)
    || /socket hang up/i.test(e.message);
}

const HOUR_MS = 3_600_000;
/**
 * A record this close to the memory store's edge is treated as bound for the magnetic store: the
 * service's clock is not ours, and retries take time. Treating a memory-store record as late only
 * delays its recompute; the other way round would lose it from the rollups.
 */
const MEMORY_EDGE_MARGIN_MS = 10 * 60_000;

/** Series records already written by this process, per day: a Lambda container writes each once a day. */
const SERIES_CACHE_LIMIT = 50_000;

export class TimestreamStore implements MetricStore {
  private readonly write_: TimestreamWriteClient;
  private readonly query_: TimestreamQueryClient;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly memoryRetentionMs: { points: number; series: number };
  private readonly magneticQueryableAfterMs: number;
  private readonly log: (message: string) => void;
  private readonly seriesWritten = new Set<string>();
  /** Conflicting rewrites seen (an identity stored with different content); for self-metrics and tests. */
  conflicts = 0;

  constructor(private readonly opts: TimestreamStoreOptions) {
    this.write_ = opts.writeClient ?? new TimestreamWriteClient({ maxAttempts: 1 });
    this.query_ = opts.queryClient ?? new TimestreamQueryClient({ maxAttempts: 1 });
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 2_000;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    const hours = opts.memoryRetentionHours ?? { points: 24, series: 48 };
    this.memoryRetentionMs = { points: hours.points * HOUR_MS, series: hours.series * HOUR_MS };
    this.magneticQueryableAfterMs = opts.magneticQueryableAfterMs ?? 6 * HOUR_MS;
    this.log = opts.log ?? ((m) => console.error(m));
  }

  async write(tenant: string, points: readonly MetricPoint[]): Promise<WriteResult> {
    if (points.length === 0) return { inserted: 0, duplicates: 0 };
    const nowMs = this.now();
    const ids = points.map((p) => seriesId(p.series));
    const refused = new Map<number, string>(); // point index → why it is not stored
    // Points Timestream would refuse for their size are refused here, with the field and the
    // limit named; sending them would only fail their records (or the series record they need).
    const violations = new Map<string, string | undefined>();
    points.forEach((p, i) => {
      if (!violations.has(ids[i])) violations.set(ids[i], recordLimitViolation(tenant, p.series, ids[i]));
      const violation = violations.get(ids[i]);
      if (violation !== undefined) refused.set(i, violation);
    });

    // Series first: a point is only findable with its series, and a series record without its
    // points (the points write failed and will be retried) is harmless.
    const dayKey = (i: number) => `${tenant}\0${ids[i]}\0${seriesDay(points[i].endNs)}`;
    const firstOfDay = new Map<string, number>();
    points.forEach((_, i) => {
      const key = dayKey(i);
      if (!refused.has(i) && !this.seriesWritten.has(key) && !firstOfDay.has(key)) firstOfDay.set(key, i);
    });
    const seriesRecords: TsRecord[] = [];
    const seriesOwner: string[] = []; // record index → day key
    for (const [key, i] of firstOfDay) {
      for (const r of encodeSeries(points[i].series, ids[i], points[i].endNs, tenant)) {
        seriesRecords.push(r);
        seriesOwner.push(key);
      }
    }
    const lateSeries = new Set<string>();
    if (seriesRecords.length > 0) {
      const outcome = await this.writeByAge(this.opts.seriesTable, tenant, seriesRecords, this.memoryRetentionMs.series, nowMs);
      const refusedSeries = new Map(outcome.rejected.map((r) => [seriesOwner[r.index], r.reason]));
      // A refused series record refuses its points (they could never be read), not the batch.
      points.forEach((_, i) => {
        const reason = refusedSeries.get(dayKey(i));
        if (reason !== undefined && !refused.has(i)) refused.set(i, `Timestream refused the series record: ${reason}`);
      });
      for (const i of outcome.late) lateSeries.add(seriesOwner[i]);
      if (this.seriesWritten.size + firstOfDay.size > SERIES_CACHE_LIMIT) this.seriesWritten.clear();
      for (const key of firstOfDay.keys()) if (!refusedSeries.has(key)) this.seriesWritten.add(key);
    }

    const records: TsRecord[] = [];
    const owner: number[] = []; // record index → point index
    points.forEach((p, i) => {
      if (refused.has(i)) return;
      for (const r of encodePoint(p, ids[i], tenant)) {
        records.push(r);
        owner.push(i);
      }
    });
    const outcome = records.length === 0 ? { conflicts: [], rejected: [], late: new Set<number>() } : await this.writeByAge(this.opts.pointsTable, tenant, records, this.memoryRetentionMs.points, nowMs);
    for (const r of outcome.rejected) if (!refused.has(owner[r.index])) refused.set(owner[r.index], r.reason);
    const conflicted = new Set(outcome.conflicts.map((c) => owner[c.index]).filter((i) => !refused.has(i)));
    if (conflicted.size > 0) {
      this.conflicts += conflicted.size;
      const first = outcome.conflicts[0];
      this.log(`burnwatch timestream: ${conflicted.size} point(s) conflict with a stored point of the same series and end time; the stored one is kept (first: ${first.reason})`);
    }
    const rejections: StoreRejection[] = [...refused].map(([index, reason]) => ({ index, reason })).sort((a, b) => a.index - b.index);
    if (rejections.length > 0) {
      this.log(`burnwatch timestream: ${rejections.length} point(s) refused: ${rejections[0].reason}`);
    }
    const result: WriteResult = { inserted: points.length - conflicted.size - rejections.length, duplicates: conflicted.size };
    if (rejections.length > 0) result.rejected = rejections;
    // A point is late when its record or its series record went to the magnetic store.
    const late = new Set([...outcome.late].map((r) => owner[r]));
    points.forEach((_, i) => {
      if (lateSeries.has(dayKey(i))) late.add(i);
    });
    const lateIndices = [...late].filter((i) => !refused.has(i) && !conflicted.has(i)).sort((a, b) => a - b);
    if (lateIndices.length > 0) {
      result.late = {
        indices: lateIndices,
        reason: `older than Timestream's memory store keeps (${this.memoryRetentionMs.points / HOUR_MS} h for points, ${this.memoryRetentionMs.series / HOUR_MS} h for their series records), so written to its magnetic store, whose writes become queryable only later; a refusal there is reported to the table's S3 error location, not here`,
        queryableByMs: nowMs + this.magneticQueryableAfterMs,
      };
    }
    return result;
  }

  /**
   * Writes records split by age: those older than the table's memory-store retention go in
   * requests of their own (the magnetic store takes them asynchronously and at a lower rate), the
   * rest as usual. Indices in the outcome are into `records`; `late` holds the records bound for
   * the magnetic store, and every record of a request Timestream says put some there (our idea of
   * its retention was wrong: which ones it cannot say).
   */
  private async writeByAge(table: string, tenant: string, records: TsRecord[], memoryRetentionMs: number, nowMs: number): Promise<WriteOutcome & { late: Set<number> }> {
    const edgeNs = BigInt(nowMs - memoryRetentionMs + MEMORY_EDGE_MARGIN_MS) * 1_000_000n;
    const memory: number[] = [];
    const magnetic: number[] = [];
    records.forEach((r, i) => (BigInt(r.Time!) < edgeNs ? magnetic : memory).push(i));
    const out = { conflicts: [] as StoreRejection[], rejected: [] as StoreRejection[], late: new Set(magnetic) };
    for (const group of [memory, magnetic]) {
      if (group.length === 0) continue;
      const outcome = await this.writeRecords(table, tenant, group.map((i) => records[i]));
      for (const c of outcome.conflicts) out.conflicts.push({ ...c, index: group[c.index] });
      for (const r of outcome.rejected) out.rejected.push({ ...r, index: group[r.index] });
      for (const i of outcome.magnetic) out.late.add(group[i]);
    }
    return out;
  }

  fetchPoints(q: PointQuery): Promise<MetricPoint[]> {
    const { metric, ...rest } = q;
    return this.fetchPointsOfMetrics({ ...rest, metrics: [metric] });
  }

  /** One points query and one series query for every metric (each Timestream query is billed at least 30 s of 4 TCUs). */
  async fetchPointsOfMetrics(q: MetricsPointQuery): Promise<MetricPoint[]> {
    if (q.fromNs >= q.toNs || q.metrics.length === 0) return [];
    const where = (filters: string) => `${filters}${q.service === undefined ? '' : ` AND service = ${sqlString(q.service)}`}`;
    const base = `tenant = ${sqlString(q.tenant)} AND ${metricFilter(q.metrics)}`;
    const from = clampTime(q.fromNs);
    const to = clampTime(q.toNs);
    // Series records are stamped with the UTC day of the points they describe.
    const seriesFrom = seriesDay(from) * DAY_NS;
    const [seriesRows, pointRows] = await Promise.all([
      this.select(seriesQuery(this.opts, where(base), seriesFrom, to)),
      this.select(pointsQuery(this.opts, where(base), from, to), q.limit),
    ]);
    const series = decodeSeriesRows(seriesRows);
    return decodePointRows(pointRows, series);
  }

  async listSeries(q: SeriesQuery): Promise<SeriesRef[]> {
    const from = q.fromNs === undefined ? 0n : seriesDay(clampTime(q.fromNs)) * DAY_NS;
    const to = q.toNs === undefined ? MAX_TIME : clampTime(q.toNs);
    if (from >= to) return [];
    const rows = await this.select(seriesQuery(this.opts, `tenant = ${sqlString(q.tenant)} AND metric = ${sqlString(q.metric)}`, from, to));
    return [...decodeSeriesRows(rows).values()];
  }

  /** From the series table: one small record per series and day, so the answer is the first day with data. */
  async firstPointNs(q: FirstPointQuery): Promise<bigint | undefined> {
    if (q.fromNs >= q.toNs || q.metrics.length === 0) return undefined;
    const from = seriesDay(clampTime(q.fromNs)) * DAY_NS;
    if (q.services?.length === 0) return undefined;
    const services = q.services === undefined ? '' : ` AND service IN (${q.services.map(sqlString).join(', ')})`;
    const rows = await this.select(firstSeriesDayQuery(this.opts, `tenant = ${sqlString(q.tenant)} AND ${metricFilter(q.metrics)}${services}`, from, clampTime(q.toNs)));
    const first = rows[0]?.first;
    if (first === null || first === undefined) return undefined;
    const ns = parseTimestreamTime(first);
    return ns < q.fromNs ? q.fromNs : ns;
  }

  async close(): Promise<void> {
    this.write_.destroy();
    this.query_.destroy();
  }

  /** Writes records in requests of ≤100 with common attributes, sorting rejections into conflicts and refusals. */
  private async writeRecords(table: string, tenant: string, records: TsRecord[]): Promise<WriteOutcome & { magnetic: number[] }> {
    const out: WriteOutcome & { magnetic: number[] } = { conflicts: [], rejected: [], magnetic: [] };
    for (let start = 0; start < records.length; start += MAX_RECORDS_PER_WRITE) {
      const batch = records.slice(start, start + MAX_RECORDS_PER_WRITE);
      const input = {
        DatabaseName: this.opts.database,
        TableName: table,
        CommonAttributes: {
          Dimensions: [{ Name: 'tenant', Value: tenant, DimensionValueType: 'VARCHAR' as const }],
          MeasureValueType: 'MULTI' as const,
          TimeUnit: COMMON_TIME_UNIT,
        },
        Records: batch,
      };
      try {
        const answer = await this.retrying(`WriteRecords ${table}`, () => this.write_.send(new WriteRecordsCommand(input)));
        if ((answer.RecordsIngested?.MagneticStore ?? 0) > 0) batch.forEach((_, i) => out.magnetic.push(start + i));
      } catch (err) {
        if (!(err instanceof RejectedRecordsException)) throw err;
        // The records not named were written: never resend the batch, sort the named ones.
        for (const r of err.RejectedRecords ?? []) {
          const index = start + (r.RecordIndex ?? -1);
          const reason = r.Reason ?? 'no reason given';
          if (r.RecordIndex === undefined || r.RecordIndex < 0 || r.RecordIndex >= batch.length) {
            throw new Error(`Timestream rejected a record index ${r.RecordIndex} outside the batch: ${reason}`, { cause: err });
          }
          (isConflict(r.ExistingVersion, reason) ? out.conflicts : out.rejected).push({ index, reason });
        }
      }
    }
    return out;
  }

  /**
   * Every row of a query, paged. A column no record has carried yet does not exist in Timestream
   * (a fresh deployment's tables, a dimension never written): such a query matches nothing, so
   * it is no rows. With `maxPoints`, reading stops with TooManyPointsError once more point
   * records than that have arrived.
   */
  private async select(queryString: string, maxPoints?: number): Promise<Row[]> {
    const rows: Row[] = [];
    let points = 0;
    let nextToken: string | undefined;
    do {
      let page: QueryCommandOutput;
      try {
        page = await this.retrying('Query', () => this.query_.send(new QueryCommand({ QueryString: queryString, NextToken: nextToken })));
      } catch (err) {
        if (isMissingColumn(err)) return [];
        throw err;
      }
      const names = (page.ColumnInfo ?? []).map((c) => c.Name ?? '');
      for (const row of page.Rows ?? []) {
        const out: Row = {};
        (row.Data ?? []).forEach((d, i) => {
          out[names[i]] = d.NullValue ? null : (d.ScalarValue ?? null);
        });
        rows.push(out);
        if (out.measure_name === POINT_MEASURE && maxPoints !== undefined && ++points > maxPoints) throw new TooManyPointsError(maxPoints);
      }
      // Timestream may answer a page with no rows and a token: keep paging until there is none.
      nextToken = page.NextToken;
    } while (nextToken);
    return rows;
  }

  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const retryable = isRetryable(err);
        if (!retryable || attempt >= this.maxAttempts) {
          if (retryable) (err as Error).message = `${what}: gave up after ${attempt} attempts: ${(err as Error).message}`;
          throw err;
        }
        // The SDK caches the cell endpoint DescribeEndpoints named (for up to a day) and does not
        // drop it when the cell answers InvalidEndpointException: clear it, so the next attempt
        // discovers the endpoint again.
        if ((err as Error).name === 'InvalidEndpointException') {
          this.write_.config.endpointCache.clear();
          this.query_.config.endpointCache.clear();
        }
        // Full jitter: spread retries of many containers over the whole backoff window.
        await this.sleep(Math.round(this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1))));
      }
    }
  }
}

interface WriteOutcome {
  conflicts: StoreRejection[];
  rejected: StoreRejection[];
}

/**
 * A rejection that names the version already stored, or says the values differ, is a rewrite of
 * an identity with other content; anything else (retention, future time, limits) is a refusal.
 */
function isConflict(existingVersion: number | undefined, reason: string): boolean {
  return existingVersion !== undefined || /different measure value|already exists|version/i.test(reason);
}

const MAX_TIME = (1n << 63n) - 1n;

/** Timestream rejects negative times; open-ended query bounds fit in its range. */
function clampTime(ns: bigint): bigint {
  if (ns < 0n) return 0n;
  return ns > MAX_TIME ? MAX_TIME : ns;
}

/** A SQL string literal: Timestream SQL doubles single quotes, as standard SQL does. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function table(t: TimestreamTables, name: string): string {
  return `"${t.database.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`;
}

export function pointsQuery(t: TimestreamTables, filters: string, fromNs: bigint, toNs: bigint): string {
  return `SELECT * FROM ${table(t, t.pointsTable)} WHERE ${filters} AND time >= from_nanoseconds(${fromNs}) AND time < from_nanoseconds(${toNs})`;
}

/** `metric = 'a'`, or `metric IN ('a', 'b')` for several. */
function metricFilter(metrics: readonly string[]): string {
  return metrics.length === 1 ? `metric = ${sqlString(metrics[0])}` : `metric IN (${metrics.map(sqlString).join(', ')})`;
}

/** Timestream's answer to a query naming a column no record has carried: "line 1:…: Column 'x' does not exist". */
function isMissingColumn(err: unknown): boolean {
  return (err as Error)?.name === 'ValidationException' && /column '[^']*' does not exist/i.test((err as Error).message);
}

export function firstSeriesDayQuery(t: TimestreamTables, filters: string, fromNs: bigint, toNs: bigint): string {
  return `SELECT min(time) AS first FROM ${table(t, t.seriesTable)} WHERE ${filters} AND time >= from_nanoseconds(${fromNs}) AND time < from_nanoseconds(${toNs})`;
}

export function seriesQuery(t: TimestreamTables, filters: string, fromNs: bigint, toNs: bigint): string {
  return `SELECT * FROM ${table(t, t.seriesTable)} WHERE ${filters} AND time >= from_nanoseconds(${fromNs}) AND time < from_nanoseconds(${toNs})`;
}
