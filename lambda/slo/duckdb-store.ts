// SloStore on DuckDB: its own file beside the metrics (`<dataDir>/burnwatch-slo.duckdb`), so the
// evaluator's writes never queue behind ingest. Rollups are one row per (tenant, SLI key, bucket);
// a 30-day window over 1,000 SLOs is one grouped scan with a FILTER per window start.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { BIGINT, DuckDBInstance, INTEGER, LIST, listValue, VARCHAR, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import type { AlertTransition } from '../notify/types.ts';
import { mergeCoverage, type AlertRecord, type DirtyMark, type EvaluationClaim, type ProbeRequest, type RollupBatch, type RollupCoverage, type SeriesPoint, type SloStore, type StoredSpec, type WindowSum } from './store.ts';

export const SLO_DUCKDB_FILE_NAME = 'burnwatch-slo.duckdb';

/** Bucket widths must divide it (the engine checks), so hours are whole buckets. */
export const HOUR_MS = 3_600_000;

const SCHEMA = [
  // No primary key: an index over 30 days × 1,440 buckets × every SLO would cost more memory
  // than the table. Rows are replaced by range (DELETE then INSERT in one transaction), and
  // they arrive in time order, so DuckDB's per-row-group min/max skip old data on every query.
  `CREATE TABLE IF NOT EXISTS slo_rollups (
     tenant VARCHAR NOT NULL, sli_key VARCHAR NOT NULL, bucket_ms BIGINT NOT NULL,
     good DOUBLE NOT NULL, total DOUBLE NOT NULL, effective_threshold DOUBLE)`,
  // The same sums per hour, kept in step with the buckets: a 30-day window reads 720 hourly rows
  // per SLO plus the buckets of the partial hours at its two ends, not 43,200 minutes.
  `CREATE TABLE IF NOT EXISTS slo_rollups_hourly (
     tenant VARCHAR NOT NULL, sli_key VARCHAR NOT NULL, hour_ms BIGINT NOT NULL,
     good DOUBLE NOT NULL, total DOUBLE NOT NULL, effective_threshold DOUBLE)`,
  `CREATE TABLE IF NOT EXISTS slo_rollup_watermarks (
     tenant VARCHAR NOT NULL, sli_key VARCHAR NOT NULL, done_to_ms BIGINT NOT NULL,
     PRIMARY KEY (tenant, sli_key))`,
  `CREATE TABLE IF NOT EXISTS slo_alerts (
     tenant VARCHAR NOT NULL, slo_id VARCHAR NOT NULL, rule VARCHAR NOT NULL, record VARCHAR NOT NULL,
     PRIMARY KEY (tenant, slo_id, rule))`,
  `CREATE TABLE IF NOT EXISTS slo_alert_events (
     tenant VARCHAR NOT NULL, id VARCHAR NOT NULL, seq BIGINT NOT NULL, alert_id VARCHAR NOT NULL, slo_id VARCHAR NOT NULL,
     at_ms BIGINT NOT NULL, body VARCHAR NOT NULL, PRIMARY KEY (tenant, id))`,
  `CREATE TABLE IF NOT EXISTS slo_specs (
     tenant VARCHAR NOT NULL, id VARCHAR NOT NULL, text VARCHAR NOT NULL, updated_ms BIGINT NOT NULL,
     PRIMARY KEY (tenant, id))`,
  // How far back each key's rollups reach (a window lengthened later is backfilled from it);
  // NULL in files made before it: unknown, so the engine backfills once.
  'ALTER TABLE slo_rollup_watermarks ADD COLUMN IF NOT EXISTS covered_from_ms BIGINT',
  // Buckets that late points touched after they were rolled up (engine.noteWrites).
  `CREATE TABLE IF NOT EXISTS slo_dirty_buckets (
     tenant VARCHAR NOT NULL, bucket_ms BIGINT NOT NULL, token VARCHAR NOT NULL, PRIMARY KEY (tenant, bucket_ms))`,
  // Marks of points not yet readable wait until then (DirtyMark.dueMs); older files had none.
  'ALTER TABLE slo_dirty_buckets ADD COLUMN IF NOT EXISTS due_ms BIGINT DEFAULT 0',
  // Latency requests whose buckets cannot answer the threshold (RollupRow.unknown); added to
  // files made before them, so these come before the staging table copies the columns.
  'ALTER TABLE slo_rollups ADD COLUMN IF NOT EXISTS unknown DOUBLE DEFAULT 0',
  'ALTER TABLE slo_rollups ADD COLUMN IF NOT EXISTS unknown_reason VARCHAR',
  'ALTER TABLE slo_rollups_hourly ADD COLUMN IF NOT EXISTS unknown DOUBLE DEFAULT 0',
  'ALTER TABLE slo_rollups_hourly ADD COLUMN IF NOT EXISTS unknown_reason VARCHAR',
  // Hints attached after a firing transition was stored (attachHints), per alert episode: apart
  // from slo_alerts, whose rows saveAlerts replaces whole.
  `CREATE TABLE IF NOT EXISTS slo_alert_hints (
     tenant VARCHAR NOT NULL, alert_id VARCHAR NOT NULL, body VARCHAR NOT NULL, PRIMARY KEY (tenant, alert_id))`,
  // Which revision of an alert record is stored (AlertRecord.version; rows from before it: 0).
  'ALTER TABLE slo_alerts ADD COLUMN IF NOT EXISTS version BIGINT DEFAULT 0',
  // The latest evaluation claimed per tenant (claimEvaluation: the run guard).
  `CREATE TABLE IF NOT EXISTS slo_evaluations (tenant VARCHAR NOT NULL PRIMARY KEY, at_ms BIGINT NOT NULL)`,
  // Deep-probe requests per service (SloStore.putProbeRequest), each ending by itself.
  `CREATE TABLE IF NOT EXISTS probe_requests (
     tenant VARCHAR NOT NULL, service VARCHAR NOT NULL, requested_ms BIGINT NOT NULL, until_ms BIGINT NOT NULL,
     PRIMARY KEY (tenant, service))`,
  'CREATE TEMP TABLE IF NOT EXISTS slo_rollups_stage AS SELECT * FROM slo_rollups LIMIT 0',
  'CREATE TEMP TABLE IF NOT EXISTS slo_alerts_stage AS SELECT * FROM slo_alerts LIMIT 0',
  'CREATE TEMP TABLE IF NOT EXISTS slo_ranges_stage (sli_key VARCHAR NOT NULL, from_ms BIGINT NOT NULL)',
];

export class DuckDbSloStore implements SloStore {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private seq = Date.now() * 1000;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  /** `path` is a file (created with its directory) or ':memory:'. */
  static async open(path: string): Promise<DuckDbSloStore> {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const instance = await DuckDBInstance.create(path);
    const conn = await instance.connect();
    try {
      for (const sql of SCHEMA) await conn.run(sql);
    } catch (err) {
      conn.closeSync();
      instance.closeSync();
      throw err;
    }
    return new DuckDbSloStore(instance, conn);
  }

  putRollups(tenant: string, batches: readonly RollupBatch[], toMs: number): Promise<void> {
    return this.serialised(async () => {
      if (batches.length === 0) return;
      const ranges = await this.conn.createAppender('slo_ranges_stage', 'main', 'temp');
      try {
        for (const b of batches) {
          ranges.appendVarchar(b.key);
          ranges.appendBigInt(BigInt(b.fromMs));
          ranges.endRow();
        }
        ranges.flushSync();
      } finally {
        ranges.closeSync();
      }
      const appender = await this.conn.createAppender('slo_rollups_stage', 'main', 'temp');
      try {
        for (const b of batches) {
          for (const r of b.rows) {
            appender.appendVarchar(tenant);
            appender.appendVarchar(b.key);
            appender.appendBigInt(BigInt(r.bucketMs));
            appender.appendDouble(r.good);
            appender.appendDouble(r.total);
            if (r.effectiveThreshold === null) appender.appendNull();
            else appender.appendDouble(r.effectiveThreshold);
            appender.appendDouble(r.unknown ?? 0);
            if (r.unknownReason) appender.appendVarchar(r.unknownReason);
            else appender.appendNull();
            appender.endRow();
          }
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      const minFrom = BigInt(Math.min(...batches.map((b) => b.fromMs)));
      // Writes are serialised: the coverage read here is what the transaction replaces.
      const before = await this.rollupCoverage(tenant);
      const merged = batches.map((b) => [b.key, mergeCoverage(before.get(b.key), { fromMs: b.fromMs, toMs })] as const);
      await this.transaction(async () => {
        await this.conn.run(
          `DELETE FROM slo_rollups r USING slo_ranges_stage g
            WHERE r.tenant = $t AND r.bucket_ms >= $min AND r.sli_key = g.sli_key AND r.bucket_ms >= g.from_ms AND r.bucket_ms < $to`,
          { t: tenant, min: minFrom, to: BigInt(toMs) },
          { min: BIGINT, to: BIGINT },
        );
        await this.conn.run(
          'INSERT OR REPLACE INTO slo_rollup_watermarks (tenant, sli_key, done_to_ms, covered_from_ms) SELECT $t, unnest($keys), unnest($tos), unnest($froms)',
          { t: tenant, keys: listValue(merged.map(([k]) => k)), tos: listValue(merged.map(([, c]) => BigInt(c.toMs))), froms: listValue(merged.map(([, c]) => BigInt(c.fromMs))) },
          { keys: LIST(VARCHAR), tos: LIST(BIGINT), froms: LIST(BIGINT) },
        );
        await this.conn.run('INSERT INTO slo_rollups SELECT * FROM slo_rollups_stage');
        // Hours touched by the replaced buckets are summed again from them.
        const hourFrom = (minFrom / BigInt(HOUR_MS)) * BigInt(HOUR_MS);
        await this.conn.run(
          `DELETE FROM slo_rollups_hourly h USING slo_ranges_stage g
            WHERE h.tenant = $t AND h.hour_ms >= $hour AND h.sli_key = g.sli_key AND h.hour_ms >= g.from_ms // ${HOUR_MS} * ${HOUR_MS}`,
          { t: tenant, hour: hourFrom },
          { hour: BIGINT },
        );
        await this.conn.run(
          `INSERT INTO slo_rollups_hourly
           SELECT $t, r.sli_key, r.bucket_ms // ${HOUR_MS} * ${HOUR_MS} AS hour_ms, sum(r.good), sum(r.total), min(r.effective_threshold),
                  sum(r.unknown), max(r.unknown_reason)
             FROM slo_rollups r JOIN slo_ranges_stage g ON r.sli_key = g.sli_key
            WHERE r.tenant = $t AND r.bucket_ms >= $hour AND r.bucket_ms >= g.from_ms // ${HOUR_MS} * ${HOUR_MS}
            GROUP BY r.sli_key, hour_ms`,
          { t: tenant, hour: hourFrom },
          { hour: BIGINT },
        );
      }).finally(async () => {
        await this.conn.run('DELETE FROM slo_rollups_stage');
        await this.conn.run('DELETE FROM slo_ranges_stage');
      });
    });
  }

  async rollupCoverage(tenant: string): Promise<Map<string, RollupCoverage>> {
    const rows = await this.read<{ sli_key: string; done_to_ms: bigint; covered_from_ms: bigint | null }>(
      'SELECT sli_key, done_to_ms, covered_from_ms FROM slo_rollup_watermarks WHERE tenant = $t',
      { t: tenant },
    );
    // Unknown start (a file from before coverage was kept): claim nothing, so the engine backfills.
    return new Map(rows.map((r) => [r.sli_key, { fromMs: Number(r.covered_from_ms ?? r.done_to_ms), toMs: Number(r.done_to_ms) }]));
  }

  markDirty(tenant: string, bucketMs: number, dueMs = 0): Promise<void> {
    return this.serialised(async () => {
      await this.conn.run(
        `INSERT INTO slo_dirty_buckets (tenant, bucket_ms, token, due_ms) VALUES ($t, $b, $token, $due)
           ON CONFLICT (tenant, bucket_ms) DO UPDATE SET token = excluded.token, due_ms = greatest(slo_dirty_buckets.due_ms, excluded.due_ms)`,
        { t: tenant, b: BigInt(bucketMs), token: randomUUID(), due: BigInt(dueMs) },
        { b: BIGINT, due: BIGINT },
      );
    });
  }

  async dirtyMarks(tenant: string): Promise<DirtyMark[]> {
    const rows = await this.read<{ bucket_ms: bigint; token: string; due_ms: bigint | null }>('SELECT bucket_ms, token, due_ms FROM slo_dirty_buckets WHERE tenant = $t ORDER BY bucket_ms', { t: tenant });
    return rows.map((r) => ({ bucketMs: Number(r.bucket_ms), token: r.token, dueMs: Number(r.due_ms ?? 0) }));
  }

  clearDirty(tenant: string, marks: readonly DirtyMark[]): Promise<void> {
    return this.serialised(async () => {
      for (const m of marks) {
        await this.conn.run('DELETE FROM slo_dirty_buckets WHERE tenant = $t AND bucket_ms = $b AND token = $token', { t: tenant, b: BigInt(m.bucketMs), token: m.token }, { b: BIGINT });
      }
    });
  }

  lastBucketWithData(tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
    return this.edgeBucketWithData('max', tenant, keys, fromMs, toMs);
  }

  firstBucketWithData(tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
    return this.edgeBucketWithData('min', tenant, keys, fromMs, toMs);
  }

  /** The first (min) or last (max) bucket with requests per key: its hour first, then the minute within it — two narrow reads instead of a scan of every bucket. */
  private async edgeBucketWithData(edge: 'min' | 'max', tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
    if (keys.length === 0 || fromMs >= toMs) return new Map();
    const rows = await this.read<{ sli_key: string; edge: bigint }>(
      `SELECT r.sli_key, ${edge}(r.bucket_ms) AS edge
         FROM slo_rollups r
         JOIN (SELECT sli_key, ${edge}(hour_ms) AS h FROM slo_rollups_hourly
                WHERE tenant = $t AND hour_ms >= $fromHour AND hour_ms < $to AND total > 0 AND list_contains($keys, sli_key)
                GROUP BY sli_key) edge_hour
           ON r.sli_key = edge_hour.sli_key AND r.bucket_ms >= edge_hour.h AND r.bucket_ms < edge_hour.h + ${HOUR_MS}
        WHERE r.tenant = $t AND r.total > 0 AND r.bucket_ms >= $from AND r.bucket_ms < $to
        GROUP BY r.sli_key`,
      { t: tenant, keys: listValue([...keys]), from: BigInt(fromMs), fromHour: BigInt(Math.floor(fromMs / HOUR_MS) * HOUR_MS), to: BigInt(toMs) },
      { keys: LIST(VARCHAR), from: BIGINT, fromHour: BIGINT, to: BIGINT },
    );
    return new Map(rows.map((r) => [r.sli_key, Number(r.edge)]));
  }

  async windowSums(tenant: string, keys: readonly string[], startsMs: readonly number[], toMs: number): Promise<Map<string, WindowSum[]>> {
    const out = new Map<string, WindowSum[]>();
    if (keys.length === 0 || startsMs.length === 0) return out;
    // Each window [start, to) = buckets of its first partial hour + whole hours + buckets of the
    // partial hour at `to` (shared by all windows). Times are integers this module computed, so
    // they are spelled into the SQL; every part is a narrow time range the row-group min/max prune.
    const to = Math.floor(toMs);
    const tail = Math.floor(to / HOUR_MS) * HOUR_MS;
    const parts: string[] = [];
    const fine = (idx: number, from: number, until: number) =>
      `SELECT sli_key, ${idx} AS idx, good, total, effective_threshold AS e, unknown AS u, unknown_reason AS ur FROM slo_rollups WHERE tenant = $t AND bucket_ms >= ${from} AND bucket_ms < ${until}`;
    startsMs.forEach((raw, i) => {
      const start = Math.floor(raw);
      if (start >= tail) {
        parts.push(fine(i, start, to));
        return;
      }
      const headEnd = Math.min(Math.ceil(start / HOUR_MS) * HOUR_MS, tail);
      parts.push(fine(i, start, headEnd));
      if (headEnd < tail) {
        parts.push(`SELECT sli_key, ${i} AS idx, good, total, effective_threshold AS e, unknown AS u, unknown_reason AS ur FROM slo_rollups_hourly WHERE tenant = $t AND hour_ms >= ${headEnd} AND hour_ms < ${tail}`);
      }
    });
    if (startsMs.some((s) => Math.floor(s) < tail)) parts.push(fine(-1, tail, to));
    const rows = await this.read<{ sli_key: string; idx: number; g: number; n: number; e: number | null; u: number; ur: string | null }>(
      `SELECT sli_key, idx, sum(good) AS g, sum(total) AS n, min(e) AS e, sum(u) AS u, max(ur) AS ur FROM (${parts.join('\n UNION ALL ')}) GROUP BY sli_key, idx`,
      { t: tenant },
    );
    const wanted = new Set(keys);
    const tails = new Map<string, WindowSum>();
    for (const row of rows) {
      if (!wanted.has(row.sli_key)) continue;
      const sum: WindowSum = { good: Number(row.g), total: Number(row.n), effectiveThreshold: row.e === null ? null : Number(row.e) };
      if (Number(row.u) > 0) Object.assign(sum, { unknown: Number(row.u), unknownReason: row.ur });
      if (row.idx === -1) {
        tails.set(row.sli_key, sum);
        continue;
      }
      let list = out.get(row.sli_key);
      if (!list) {
        list = startsMs.map(() => ({ good: 0, total: 0, effectiveThreshold: null }));
        out.set(row.sli_key, list);
      }
      list[row.idx] = add(list[row.idx], sum);
    }
    for (const [key, t] of tails) {
      let list = out.get(key);
      if (!list) {
        list = startsMs.map(() => ({ good: 0, total: 0, effectiveThreshold: null }));
        out.set(key, list);
      }
      startsMs.forEach((s, i) => {
        if (Math.floor(s) < tail) list[i] = add(list[i], t);
      });
    }
    return out;
  }

  async rollupSeries(tenant: string, key: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]> {
    const rows = await this.read<{ step: bigint; good: number; total: number }>(
      `SELECT $from + (bucket_ms - $from) // $step * $step AS step, sum(good) AS good, sum(total) AS total
         FROM slo_rollups WHERE tenant = $t AND sli_key = $k AND bucket_ms >= $from AND bucket_ms < $to
        GROUP BY step ORDER BY step`,
      { t: tenant, k: key, from: BigInt(fromMs), to: BigInt(toMs), step: BigInt(stepMs) },
      { from: BIGINT, to: BIGINT, step: BIGINT },
    );
    return rows.map((r) => ({ atMs: Number(r.step), good: Number(r.good), total: Number(r.total) }));
  }

  pruneRollups(tenant: string, beforeMs: number): Promise<void> {
    return this.serialised(async () => {
      await this.conn.run('DELETE FROM slo_rollups WHERE tenant = $t AND bucket_ms < $before', { t: tenant, before: BigInt(beforeMs) }, { before: BIGINT });
      await this.conn.run('DELETE FROM slo_rollups_hourly WHERE tenant = $t AND hour_ms < $before', { t: tenant, before: BigInt(Math.floor(beforeMs / HOUR_MS) * HOUR_MS) }, { before: BIGINT });
      await this.conn.run('UPDATE slo_rollup_watermarks SET covered_from_ms = least(greatest(coalesce(covered_from_ms, done_to_ms), $before), done_to_ms) WHERE tenant = $t', { t: tenant, before: BigInt(beforeMs) }, { before: BIGINT });
    });
  }

  claimEvaluation(tenant: string, atMs: number): Promise<EvaluationClaim> {
    return this.serialised(async () => {
      const [last] = await this.read<{ at_ms: bigint }>('SELECT at_ms FROM slo_evaluations WHERE tenant = $t', { t: tenant });
      if (last !== undefined && Number(last.at_ms) >= atMs) return { claimed: false, lastEvaluatedMs: Number(last.at_ms) };
      await this.conn.run('INSERT OR REPLACE INTO slo_evaluations VALUES ($t, $at)', { t: tenant, at: BigInt(atMs) }, { at: BIGINT });
      return { claimed: true };
    });
  }

  async loadAlerts(tenant: string): Promise<AlertRecord[]> {
    const rows = await this.read<{ record: string; version: bigint }>('SELECT record, version FROM slo_alerts WHERE tenant = $t ORDER BY slo_id, rule', { t: tenant });
    const records = rows.map((r) => ({ ...(JSON.parse(r.record) as AlertRecord), version: Number(r.version) }));
    if (records.length === 0) return records;
    const attached = await this.read<{ alert_id: string; body: string }>(
      'SELECT alert_id, body FROM slo_alert_hints WHERE tenant = $t AND list_contains($ids, alert_id)',
      { t: tenant, ids: listValue(records.map((r) => r.alert_id)) },
      { ids: LIST(VARCHAR) },
    );
    const byAlert = new Map(attached.map((a) => [a.alert_id, JSON.parse(a.body) as Pick<AlertRecord, 'hints' | 'hints_meta'>]));
    return records.map((r) => ({ ...r, ...byAlert.get(r.alert_id) }));
  }

  attachHints(tenant: string, t: AlertTransition): Promise<boolean> {
    return this.serialised(async () => {
      let found = false;
      await this.transaction(async () => {
        const r = await this.conn.run('UPDATE slo_alert_events SET body = $body WHERE tenant = $t AND id = $id', { t: tenant, id: t.id, body: JSON.stringify(t) });
        found = r.rowsChanged > 0;
        if (found) {
          await this.conn.run('INSERT OR REPLACE INTO slo_alert_hints VALUES ($t, $alert, $body)', { t: tenant, alert: t.alert_id, body: JSON.stringify({ hints: t.hints, hints_meta: t.hints_meta }) });
        }
      });
      return found;
    });
  }

  saveAlerts(tenant: string, records: readonly AlertRecord[], transitions: readonly AlertTransition[]): Promise<AlertTransition[]> {
    return this.serialised(async () => {
      if (records.length === 0 && transitions.length === 0) return [];
      // Writes are serialised, so what is read here is what the transaction below replaces.
      const alertKey = (sloId: string, rule: string) => JSON.stringify([sloId, rule]);
      const storedVersions = new Map(
        (await this.read<{ slo_id: string; rule: string; version: bigint }>('SELECT slo_id, rule, version FROM slo_alerts WHERE tenant = $t', { t: tenant }))
          .map((r) => [alertKey(r.slo_id, r.rule), Number(r.version)]),
      );
      // A record derived from a revision no longer stored: another evaluation changed it first.
      const stale = new Set(records.filter((r) => storedVersions.get(alertKey(r.slo_id, r.rule)) !== r.version).map((r) => alertKey(r.slo_id, r.rule)));
      const fresh = records.filter((r) => !stale.has(alertKey(r.slo_id, r.rule)));
      const known = new Set(
        transitions.length === 0
          ? []
          : (await this.read<{ id: string }>('SELECT id FROM slo_alert_events WHERE tenant = $t AND list_contains($ids, id)', { t: tenant, ids: listValue(transitions.map((t) => t.id)) }, { ids: LIST(VARCHAR) })).map((r) => r.id),
      );
      const stored = transitions.filter((t) => !stale.has(alertKey(t.slo_id, t.evidence.rule)) && !known.has(t.id));
      // Every active alert's figures change each cycle: staged with the appender, then one statement.
      const appender = await this.conn.createAppender('slo_alerts_stage', 'main', 'temp');
      try {
        for (const { version, ...r } of fresh) {
          appender.appendVarchar(tenant);
          appender.appendVarchar(r.slo_id);
          appender.appendVarchar(r.rule);
          appender.appendVarchar(JSON.stringify(r));
          appender.appendBigInt(BigInt((version ?? 0) + 1));
          appender.endRow();
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await this.transaction(async () => {
        await this.conn.run('INSERT OR REPLACE INTO slo_alerts SELECT * FROM slo_alerts_stage');
        // Attached hints matter only while their episode is an alert record's (loadAlerts); the
        // transitions keep their own copy, so an ended episode's row is dead weight.
        await this.conn.run(
          `DELETE FROM slo_alert_hints WHERE tenant = $t
             AND alert_id NOT IN (SELECT json_extract_string(record, '$.alert_id') FROM slo_alerts WHERE tenant = $t)`,
          { t: tenant },
        );
        for (const tr of stored) {
          await this.conn.run(
            'INSERT OR IGNORE INTO slo_alert_events VALUES ($t, $id, $seq, $alert, $slo, $at, $body)',
            { t: tenant, id: tr.id, seq: BigInt(this.seq++), alert: tr.alert_id, slo: tr.slo_id, at: BigInt(Date.parse(tr.at)), body: JSON.stringify(tr) },
            { seq: BIGINT, at: BIGINT },
          );
        }
      }).finally(() => this.conn.run('DELETE FROM slo_alerts_stage'));
      return stored;
    });
  }

  async listTransitions(tenant: string, opts: { sloId?: string; limit?: number } = {}): Promise<AlertTransition[]> {
    const rows = await this.read<{ body: string }>(
      `SELECT body FROM (SELECT body, at_ms, seq FROM slo_alert_events WHERE tenant = $t AND ($slo IS NULL OR slo_id = $slo)
         ORDER BY at_ms DESC, seq DESC LIMIT $limit) ORDER BY at_ms, seq`,
      { t: tenant, slo: opts.sloId ?? null, limit: opts.limit ?? 1000 },
      { slo: VARCHAR, limit: INTEGER },
    );
    return rows.map((r) => JSON.parse(r.body) as AlertTransition);
  }

  putProbeRequest(tenant: string, req: ProbeRequest): Promise<void> {
    return this.serialised(async () => {
      await this.conn.run(
        'INSERT OR REPLACE INTO probe_requests VALUES ($t, $s, $at, $until)',
        { t: tenant, s: req.service, at: BigInt(req.requested_ms), until: BigInt(req.until_ms) },
        { at: BIGINT, until: BIGINT },
      );
    });
  }

  async listProbeRequests(tenant: string, nowMs: number): Promise<ProbeRequest[]> {
    const rows = await this.read<{ service: string; requested_ms: bigint; until_ms: bigint }>(
      'SELECT service, requested_ms, until_ms FROM probe_requests WHERE tenant = $t AND until_ms > $now ORDER BY service',
      { t: tenant, now: BigInt(nowMs) },
      { now: BIGINT },
    );
    return rows.map((r) => ({ service: r.service, requested_ms: Number(r.requested_ms), until_ms: Number(r.until_ms) }));
  }

  putSpec(tenant: string, spec: StoredSpec): Promise<void> {
    return this.serialised(async () => {
      await this.conn.run('INSERT OR REPLACE INTO slo_specs VALUES ($t, $id, $text, $at)', { t: tenant, id: spec.id, text: spec.text, at: BigInt(spec.updated_ms) }, { at: BIGINT });
    });
  }

  deleteSpec(tenant: string, id: string): Promise<boolean> {
    return this.serialised(async () => {
      const r = await this.conn.run('DELETE FROM slo_specs WHERE tenant = $t AND id = $id', { t: tenant, id });
      return r.rowsChanged > 0;
    });
  }

  async listSpecs(tenant: string): Promise<StoredSpec[]> {
    const rows = await this.read<{ id: string; text: string; updated_ms: bigint }>('SELECT id, text, updated_ms FROM slo_specs WHERE tenant = $t ORDER BY id', { t: tenant });
    return rows.map((r) => ({ id: r.id, text: r.text, updated_ms: Number(r.updated_ms) }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.serialised(async () => {
      this.closed = true;
      await this.conn.run('CHECKPOINT');
    }).catch(() => undefined);
    this.closed = true;
    this.conn.closeSync();
    this.instance.closeSync();
  }

  private async read<T>(sql: string, params: Record<string, unknown>, types?: Record<string, DuckDBType>): Promise<T[]> {
    if (this.closed) throw new Error('the SLO store is closed');
    const conn = await this.instance.connect();
    try {
      const reader = await conn.runAndReadAll(sql, params as never, types as never);
      return reader.getRowObjectsJS() as unknown as T[];
    } finally {
      conn.closeSync();
    }
  }

  private async transaction(fn: () => Promise<void>): Promise<void> {
    await this.conn.run('BEGIN TRANSACTION');
    try {
      await fn();
      await this.conn.run('COMMIT');
    } catch (err) {
      await this.conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the SLO store is closed'));
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function add(a: WindowSum, b: WindowSum): WindowSum {
  const e = a.effectiveThreshold === null ? b.effectiveThreshold : b.effectiveThreshold === null ? a.effectiveThreshold : Math.min(a.effectiveThreshold, b.effectiveThreshold);
  const out: WindowSum = { good: a.good + b.good, total: a.total + b.total, effectiveThreshold: e };
  const unknown = (a.unknown ?? 0) + (b.unknown ?? 0);
  if (unknown > 0) Object.assign(out, { unknown, unknownReason: a.unknownReason ?? b.unknownReason ?? null });
  return out;
}
