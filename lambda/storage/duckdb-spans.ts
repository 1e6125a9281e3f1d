// SpanStore on an embedded DuckDB file (its own file: spans and metric points have nothing
// to join, and a separate file keeps the metrics store's schema untouched).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BIGINT, DuckDBInstance, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import type { SpanKind, SpanQuery, SpanStore, SpanWriteResult, StoredSpan } from './spans.ts';

export const SPANS_DUCKDB_FILE_NAME = 'burnwatch-spans.duckdb';

const SCHEMA = `CREATE TABLE IF NOT EXISTS spans (
  tenant VARCHAR NOT NULL,
  trace_id VARCHAR NOT NULL,
  span_id VARCHAR NOT NULL,
  parent_span_id VARCHAR NOT NULL,
  service VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  start_ns BIGINT NOT NULL,
  end_ns BIGINT NOT NULL,
  status_code INTEGER NOT NULL,
  attributes VARCHAR NOT NULL,
  PRIMARY KEY (tenant, trace_id, span_id)
)`;

const I64_MAX = (1n << 63n) - 1n;

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  service: string;
  name: string;
  kind: string;
  start_ns: bigint;
  end_ns: bigint;
  status_code: number;
  attributes: string;
}

export class DuckDbSpanStore implements SpanStore {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  /** `path` is the database file, or ':memory:'. */
  static async open(path: string): Promise<DuckDbSpanStore> {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const instance = await DuckDBInstance.create(path);
    const conn = await instance.connect();
    await conn.run(SCHEMA);
    return new DuckDbSpanStore(instance, conn);
  }

  write(tenant: string, spans: readonly StoredSpan[]): Promise<SpanWriteResult> {
    return this.serialised(async () => {
      let inserted = 0;
      await this.conn.run('BEGIN TRANSACTION');
      try {
        for (const s of spans) {
          const r = await this.conn.run(
            `INSERT INTO spans VALUES ($tenant, $trace, $span, $parent, $service, $name, $kind, $start, $end, $status, $attrs)
             ON CONFLICT DO NOTHING`,
            {
              tenant, trace: s.traceId, span: s.spanId, parent: s.parentSpanId, service: s.service, name: s.name, kind: s.kind,
              start: clamp(s.startNs), end: clamp(s.endNs), status: s.statusCode, attrs: JSON.stringify(s.attributes),
            },
            { start: BIGINT, end: BIGINT },
          );
          inserted += Number(r.rowsChanged);
        }
        await this.conn.run('COMMIT');
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
      return { inserted, duplicates: spans.length - inserted };
    });
  }

  fetchTraces(q: SpanQuery): Promise<{ root: StoredSpan; spans: StoredSpan[] }[]> {
    return this.serialised(async () => {
      const reader = await this.conn.runAndReadAll(
        `WITH roots AS (
           SELECT trace_id FROM spans
            WHERE tenant = $tenant AND service = $service AND parent_span_id = '' AND kind = 'server'
              AND start_ns >= $from AND start_ns < $to
            ORDER BY start_ns DESC LIMIT $limit)
         SELECT s.* FROM spans s JOIN roots r ON s.trace_id = r.trace_id
          WHERE s.tenant = $tenant
          ORDER BY s.start_ns`,
        { tenant: q.tenant, service: q.service, from: clamp(q.fromNs), to: clamp(q.toNs), limit: q.limit },
        { service: VARCHAR, from: BIGINT, to: BIGINT, limit: BIGINT },
      );
      const byTrace = new Map<string, StoredSpan[]>();
      for (const row of reader.getRowObjectsJS() as unknown as SpanRow[]) {
        const span: StoredSpan = {
          traceId: row.trace_id,
          spanId: row.span_id,
          parentSpanId: row.parent_span_id,
          service: row.service,
          name: row.name,
          kind: row.kind as SpanKind,
          startNs: BigInt(row.start_ns),
          endNs: BigInt(row.end_ns),
          statusCode: row.status_code,
          attributes: JSON.parse(row.attributes),
        };
        let list = byTrace.get(span.traceId);
        if (!list) byTrace.set(span.traceId, (list = []));
        list.push(span);
      }
      const out: { root: StoredSpan; spans: StoredSpan[] }[] = [];
      for (const spans of byTrace.values()) {
        const root = spans.find((s) => s.parentSpanId === '' && s.kind === 'server' && s.service === q.service);
        if (root) out.push({ root, spans });
      }
      return out.sort((a, b) => (a.root.startNs < b.root.startNs ? 1 : a.root.startNs > b.root.startNs ? -1 : 0));
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    this.conn.closeSync();
    this.instance.closeSync();
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function clamp(v: bigint): bigint {
  return v < 0n ? 0n : v > I64_MAX ? I64_MAX : v;
}
