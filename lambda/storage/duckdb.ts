// The embedded storage backend: one DuckDB file under the data directory.
//
// Writes go through one connection, one batch at a time: rows are appended to temporary staging
// tables (the appender is DuckDB's fast path) and moved with `INSERT OR IGNORE` inside one
// transaction, so a point whose (tenant, series, start, end) primary key exists is skipped and a
// batch is all-or-nothing. DuckDB syncs its write-ahead log on COMMIT, so `write` resolving means
// the points survive a crash. Reads use their own short-lived connections (DuckDB is MVCC: they
// see committed batches only and never wait for the writer).

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BIGINT,
  DuckDBDataChunkWriter,
  DuckDBInstance,
  JSToDuckDBValueConverter,
  VARCHAR,
  type DuckDBConnection,
} from '@duckdb/node-api';
import { canonicalJson, seriesId, serviceOf } from './series.ts';
import type {
  Attributes,
  FirstPointQuery,
  MetricPoint,
  MetricsPointQuery,
  MetricStore,
  PointQuery,
  SeriesQuery,
  SeriesRef,
  Temporality,
  WriteResult,
} from './types.ts';

export const DUCKDB_FILE_NAME = 'burnwatch.duckdb';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS series (
     tenant VARCHAR NOT NULL,
     series_id VARCHAR NOT NULL,
     metric VARCHAR NOT NULL,
     service VARCHAR,
     unit VARCHAR NOT NULL,
     resource VARCHAR NOT NULL,
     attributes VARCHAR NOT NULL,
     PRIMARY KEY (tenant, series_id))`,
  `CREATE TABLE IF NOT EXISTS points (
     tenant VARCHAR NOT NULL,
     series_id VARCHAR NOT NULL,
     start_ns BIGINT NOT NULL,
     end_ns BIGINT NOT NULL,
     kind VARCHAR NOT NULL,
     temporality VARCHAR,
     monotonic BOOLEAN,
     value DOUBLE,
     count UBIGINT,
     sum DOUBLE,
     min DOUBLE,
     max DOUBLE,
     scale INTEGER,
     zero_count UBIGINT,
     bucket_offset INTEGER,
     bucket_counts UBIGINT[],
     explicit_bounds DOUBLE[],
     PRIMARY KEY (tenant, series_id, start_ns, end_ns))`,
];

// Staging tables live in the connection's temp catalog: never written to disk, emptied after
// every batch. Same columns as the real tables, so INSERT … SELECT * maps one to one.
const STAGING = [
  'CREATE TEMP TABLE IF NOT EXISTS series_stage AS SELECT * FROM series LIMIT 0',
  'CREATE TEMP TABLE IF NOT EXISTS points_stage AS SELECT * FROM points LIMIT 0',
];

const MAX_BIGINT = (1n << 63n) - 1n;

export interface DuckDbStoreOptions {
  /** The database file, e.g. `<dataDir>/burnwatch.duckdb`; ':memory:' for a throwaway store. */
  path: string;
}

export class DuckDbStore implements MetricStore {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
  ) {}

  static async open(options: DuckDbStoreOptions): Promise<DuckDbStore> {
    // 0700: the database holds every tenant's data (the CLI's umask makes the files 0600 too).
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    const instance = await DuckDBInstance.create(options.path);
    const writer = await instance.connect();
    try {
      for (const sql of [...SCHEMA, ...STAGING]) await writer.run(sql);
    } catch (err) {
      writer.closeSync();
      instance.closeSync();
      throw err;
    }
    return new DuckDbStore(instance, writer);
  }

  write(tenant: string, points: readonly MetricPoint[]): Promise<WriteResult> {
    return this.serialised(() => this.writeBatch(tenant, points));
  }

  fetchPoints(q: PointQuery): Promise<MetricPoint[]> {
    const { metric, ...rest } = q;
    return this.fetchPointsOfMetrics({ ...rest, metrics: [metric] });
  }

  async fetchPointsOfMetrics(q: MetricsPointQuery): Promise<MetricPoint[]> {
    this.assertOpen();
    if (q.fromNs >= q.toNs || q.metrics.length === 0) return [];
    const from = clampBigint(q.fromNs);
    const to = clampBigint(q.toNs);
    const metrics = listParams('m', q.metrics);
    return this.withReader(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT s.series_id, s.metric, s.unit, s.resource, s.attributes,
                p.start_ns, p.end_ns, p.kind, p.temporality, p.monotonic, p.value, p.count, p.sum, p.min, p.max,
                p.scale, p.zero_count, p.bucket_offset, p.bucket_counts, p.explicit_bounds
           FROM points p JOIN series s ON s.tenant = p.tenant AND s.series_id = p.series_id
          WHERE p.tenant = $tenant AND s.metric IN (${metrics.sql})
            AND ($service IS NULL OR s.service = $service)
            AND p.end_ns >= $from AND p.end_ns < $to
          ${q.limit === undefined ? '' : `LIMIT ${Math.max(0, Math.floor(q.limit)) + 1}`}`,
        { tenant: q.tenant, ...metrics.values, service: q.service ?? null, from, to },
        // A JS null carries no type, and a bigint could bind as HUGEINT.
        { service: VARCHAR, from: BIGINT, to: BIGINT },
      );
      const seriesCache = new Map<string, SeriesRef>();
      return reader.getRowObjectsJS().map((row) => pointFromRow(row as unknown as PointRow, seriesCache));
    });
  }

  async listSeries(q: SeriesQuery): Promise<SeriesRef[]> {
    this.assertOpen();
    const ranged = q.fromNs !== undefined || q.toNs !== undefined;
    return this.withReader(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT s.metric, s.unit, s.resource, s.attributes FROM series s WHERE s.tenant = $tenant AND s.metric = $metric
         ${ranged ? 'AND EXISTS (SELECT 1 FROM points p WHERE p.tenant = s.tenant AND p.series_id = s.series_id AND p.end_ns >= $from AND p.end_ns < $to)' : ''}`,
        { tenant: q.tenant, metric: q.metric, ...(ranged ? { from: clampBigint(q.fromNs ?? 0n), to: clampBigint(q.toNs ?? MAX_BIGINT) } : {}) },
        ranged ? { from: BIGINT, to: BIGINT } : {},
      );
      return reader.getRowObjectsJS().map((row) => seriesFromRow(row as unknown as SeriesRow));
    });
  }

  async firstPointNs(q: FirstPointQuery): Promise<bigint | undefined> {
    this.assertOpen();
    if (q.fromNs >= q.toNs || q.metrics.length === 0 || q.services?.length === 0) return undefined;
    const metrics = listParams('m', q.metrics);
    const services = q.services && listParams('s', q.services);
    return this.withReader(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT min(p.end_ns) AS first FROM points p JOIN series s ON s.tenant = p.tenant AND s.series_id = p.series_id
          WHERE p.tenant = $tenant AND s.metric IN (${metrics.sql}) AND p.end_ns >= $from AND p.end_ns < $to
          ${services ? `AND s.service IN (${services.sql})` : ''}`,
        { tenant: q.tenant, ...metrics.values, ...services?.values, from: clampBigint(q.fromNs), to: clampBigint(q.toNs) },
        { from: BIGINT, to: BIGINT },
      );
      const first = reader.getRowObjectsJS()[0]?.first;
      return first === null || first === undefined ? undefined : BigInt(first as bigint);
    });
  }

  /** Waits for pending writes, checkpoints the WAL into the file and releases it. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serialised(async () => {
      this.closed = true;
      await this.writer.run('CHECKPOINT');
    }).catch(() => undefined);
    this.closed = true;
    this.writer.closeSync();
    this.instance.closeSync();
  }

  private async writeBatch(tenant: string, points: readonly MetricPoint[]): Promise<WriteResult> {
    this.assertOpen();
    if (points.length === 0) return { inserted: 0, duplicates: 0 };
    try {
      await this.stage(tenant, points);
      await this.writer.run('BEGIN TRANSACTION');
      try {
        await this.writer.run('INSERT OR IGNORE INTO series SELECT DISTINCT ON (tenant, series_id) * FROM series_stage');
        const result = await this.writer.run(
          'INSERT OR IGNORE INTO points SELECT DISTINCT ON (tenant, series_id, start_ns, end_ns) * FROM points_stage',
        );
        await this.writer.run('COMMIT');
        const inserted = result.rowsChanged;
        return { inserted, duplicates: points.length - inserted };
      } catch (err) {
        await this.writer.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      await this.writer.run('DELETE FROM series_stage');
      await this.writer.run('DELETE FROM points_stage');
    }
  }

  private async stage(tenant: string, points: readonly MetricPoint[]): Promise<void> {
    const seriesAppender = await this.writer.createAppender('series_stage', 'main', 'temp');
    const pointsAppender = await this.writer.createAppender('points_stage', 'main', 'temp');
    try {
      const seriesRows = DuckDBDataChunkWriter.forAppender(seriesAppender, { converter: JSToDuckDBValueConverter });
      const pointRows = DuckDBDataChunkWriter.forAppender(pointsAppender, { converter: JSToDuckDBValueConverter });
      const staged = new Set<string>();
      for (const p of points) {
        const id = seriesId(p.series);
        if (!staged.has(id)) {
          staged.add(id);
          seriesRows.appendRow([
            tenant,
            id,
            p.series.metric,
            serviceOf(p.series) ?? null,
            p.series.unit,
            canonicalJson(p.series.resource),
            canonicalJson(p.series.attributes),
          ]);
        }
        pointRows.appendRow(pointRow(tenant, id, p));
      }
      seriesRows.flush();
      pointRows.flush();
    } finally {
      seriesAppender.closeSync();
      pointsAppender.closeSync();
    }
  }

  private async withReader<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const conn = await this.instance.connect();
    try {
      return await fn(conn);
    } finally {
      conn.closeSync();
    }
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the DuckDB store is closed');
  }
}

type Cell = string | number | bigint | boolean | null | Cell[];

function pointRow(tenant: string, id: string, p: MetricPoint): Cell[] {
  const base: Cell[] = [tenant, id, clampBigint(p.startNs), clampBigint(p.endNs), p.kind];
  switch (p.kind) {
    case 'gauge':
      return [...base, null, null, p.value, null, null, null, null, null, null, null, null, null];
    case 'sum':
      return [...base, p.temporality, p.monotonic, p.value, null, null, null, null, null, null, null, null, null];
    case 'histogram':
      return [...base, p.temporality, null, null, p.count, p.sum ?? null, p.min ?? null, p.max ?? null,
        null, null, null, p.counts, p.bounds];
    case 'exponential_histogram':
      return [...base, p.temporality, null, null, p.count, p.sum ?? null, p.min ?? null, p.max ?? null,
        p.scale, p.zeroCount, p.offset, p.counts, null];
  }
}

interface SeriesRow {
  metric: string;
  unit: string;
  resource: string;
  attributes: string;
}

interface PointRow extends SeriesRow {
  series_id: string;
  start_ns: bigint;
  end_ns: bigint;
  kind: MetricPoint['kind'];
  temporality: Temporality | null;
  monotonic: boolean | null;
  value: number | null;
  count: bigint | null;
  sum: number | null;
  min: number | null;
  max: number | null;
  scale: number | null;
  zero_count: bigint | null;
  bucket_offset: number | null;
  bucket_counts: bigint[] | null;
  explicit_bounds: number[] | null;
}

function seriesFromRow(row: SeriesRow): SeriesRef {
  return {
    metric: row.metric,
    unit: row.unit,
    resource: JSON.parse(row.resource) as Attributes,
    attributes: JSON.parse(row.attributes) as Attributes,
  };
}

function pointFromRow(row: PointRow, cache: Map<string, SeriesRef>): MetricPoint {
  let series = cache.get(row.series_id);
  if (!series) {
    series = seriesFromRow(row);
    cache.set(row.series_id, series);
  }
  const times = { series, startNs: row.start_ns, endNs: row.end_ns };
  switch (row.kind) {
    case 'gauge':
      return { ...times, kind: 'gauge', value: row.value ?? NaN };
    case 'sum':
      return { ...times, kind: 'sum', temporality: row.temporality ?? 'delta', monotonic: row.monotonic ?? false, value: row.value ?? NaN };
    case 'histogram':
      return {
        ...times,
        kind: 'histogram',
        temporality: row.temporality ?? 'delta',
        count: Number(row.count ?? 0n),
        ...histogramStats(row),
        bounds: row.explicit_bounds ?? [],
        counts: (row.bucket_counts ?? []).map(Number),
      };
    case 'exponential_histogram':
      return {
        ...times,
        kind: 'exponential_histogram',
        temporality: row.temporality ?? 'delta',
        count: Number(row.count ?? 0n),
        ...histogramStats(row),
        scale: row.scale ?? 0,
        zeroCount: Number(row.zero_count ?? 0n),
        offset: row.bucket_offset ?? 0,
        counts: (row.bucket_counts ?? []).map(Number),
      };
  }
}

/** sum, min and max are optional in OTLP: absent stays absent rather than becoming undefined keys. */
function histogramStats(row: PointRow): { sum?: number; min?: number; max?: number } {
  const out: { sum?: number; min?: number; max?: number } = {};
  if (row.sum !== null) out.sum = row.sum;
  if (row.min !== null) out.min = row.min;
  if (row.max !== null) out.max = row.max;
  return out;
}

/** Query bounds may be open-ended; stored times are validated to fit a BIGINT. */
/** Named parameters $<prefix>0, $<prefix>1, … for an IN list. */
function listParams(prefix: string, values: readonly string[]): { sql: string; values: Record<string, string> } {
  return { sql: values.map((_, i) => `$${prefix}${i}`).join(', '), values: Object.fromEntries(values.map((v, i) => [`${prefix}${i}`, v])) };
}

function clampBigint(v: bigint): bigint {
  if (v > MAX_BIGINT) return MAX_BIGINT;
  if (v < -MAX_BIGINT) return -MAX_BIGINT;
  return v;
}
