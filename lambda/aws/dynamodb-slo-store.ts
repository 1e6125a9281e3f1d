// The SLO engine's SloStore on DynamoDB: what the evaluator and the gateway Lambdas keep between
// invocations (rollups, alert state, transitions, SLO specs). One on-demand table, key (pk, sk):
//
//   R#<tenant>#<sli key>   <day index, 8 digits>   rollup rows of one UTC day, JSON [[bucketMs, good, total, eff|null(, unknown, reason)], …]
//   W#<tenant>             <sli key>               rollups computed over [`covered_from_ms`, `done_to_ms`)
//   D#<tenant>             <bucket ms, 15 digits>  a bucket late points touched (`token`: new at every mark;
//                                                  `due_ms`: not recomputed before, the points not yet readable)
//   A#<tenant>             [slo id, rule] as JSON  one alert record (JSON) and its `alert_id`; `hints`: the
//                                                  hints attached to that episode later (attachHints),
//                                                  an attribute of its own that saving the record leaves alone
//   T#<tenant>             <at ms, 15 digits>#<id> one transition (JSON), its body replaced once hints are attached
//   U#<tenant>             <transition id>         the transition's id, put only if absent: the same change found
//                                                  by two evaluations (at different times) is stored once
//   E#<tenant>             last                    `at_ms`: the latest evaluation claimed (the run guard)
//   S#<tenant>             <spec id>               one user SLO spec
//   P#<tenant>             <service>               a deep-probe request (`until_ms`; `expires_at` then, so
//                                                  DynamoDB deletes it; reads skip it from `until_ms` on)
//
// Why day chunks: a 30-day window read every minute is 31 small items per SLI instead of 43,200
// minute rows. Rollups are replaced by range (the engine recomputes late data), so a chunk is
// read, the range cut out, the new rows put in, and written back. The watermarks are written
// last: a run that dies halfway leaves them behind and the next run recomputes the range.
// The evaluator is the only rollup writer, but two of its runs can overlap (a slow minute and
// the next): rollup chunks, watermarks and alert records carry a `version` and are written only
// if it is still the one read (optimistic concurrency); a lost race re-reads and retries.
// Transitions and their id markers carry `expires_at` (epoch seconds, the table's TTL
// attribute); DynamoDB deletes expired items only eventually, so reads skip them.

import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AlertTransition } from '../notify/types.ts';
import {
  mergeCoverage,
  TRANSITION_RETENTION_MS,
  type AlertRecord,
  type DirtyMark,
  type EvaluationClaim,
  type ProbeRequest,
  type RollupBatch,
  type RollupCoverage,
  type RollupRow,
  type SeriesPoint,
  type SloStore,
  type StoredSpec,
  type WindowSum,
} from '../slo/store.ts';

const DAY_MS = 86_400_000;
/** DynamoDB's item limit is 400 KB; stop well before it with a clear error. */
const MAX_CHUNK_BYTES = 350_000;

// Rows with requests of unknown latency carry two more elements; older rows have four.
type Row = [bucketMs: number, good: number, total: number, eff: number | null, unknown?: number, unknownReason?: string | null];

/** Lost races on one item before a write gives up: each loss means another writer made progress. */
const MAX_WRITE_ATTEMPTS = 8;
/** The attribute the table's TTL is enabled on (infra/constructs: the SLO table). */
export const TTL_ATTRIBUTE = 'expires_at';

type Attributes = Record<string, unknown>;
type Key = { pk: string; sk: string };

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const isConditionFailure = (err: unknown) => (err as Error).name === 'ConditionalCheckFailedException';
/** The condition that `version` (read with the item; undefined: no item) is still the stored one. Items written before versions were kept count as 0. */
const sameVersion = (version: number | undefined) =>
  version === undefined
    ? { ConditionExpression: 'attribute_not_exists(pk)' }
    : version === 0
      ? { ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#version)', ExpressionAttributeNames: { '#version': 'version' } }
      : { ConditionExpression: '#version = :version', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':version': version } };
const versionOf = (item: Attributes | undefined) => (item === undefined ? undefined : Number(item.version ?? 0));
const dayOf = (ms: number) => Math.floor(ms / DAY_MS);
const daySk = (day: number) => pad(day, 8);

export interface DynamoSloStoreOptions {
  tableName: string;
  client?: DynamoDBDocumentClient;
  /** How long transitions are kept before TTL deletes them (default TRANSITION_RETENTION_MS). */
  transitionRetentionMs?: number;
  /** Milliseconds since the epoch, for skipping expired items (default Date.now). */
  now?: () => number;
}

export class DynamoSloStore implements SloStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly retentionMs: number;
  private readonly now: () => number;

  constructor(opts: DynamoSloStoreOptions) {
    this.table = opts.tableName;
    this.db = opts.client ?? DynamoDBDocumentClient.from(new DynamoDBClient({}));
    this.retentionMs = opts.transitionRetentionMs ?? TRANSITION_RETENTION_MS;
    this.now = opts.now ?? Date.now;
  }

  async putRollups(tenant: string, batches: readonly RollupBatch[], toMs: number): Promise<void> {
    for (const b of batches) {
      const rowsByDay = new Map<number, Row[]>();
      for (const r of b.rows) {
        if (r.bucketMs < b.fromMs || r.bucketMs >= toMs) continue; // the range replaced is [fromMs, toMs)
        const day = dayOf(r.bucketMs);
        rowsByDay.set(day, [...(rowsByDay.get(day) ?? []), toRow(r)]);
      }
      for (let day = dayOf(b.fromMs); day <= dayOf(toMs - 1); day++) {
        await this.rewriteChunk({ pk: `R#${tenant}#${b.key}`, sk: daySk(day) }, (old) => [...old.filter(([t]) => t < b.fromMs || t >= toMs), ...(rowsByDay.get(day) ?? [])]);
      }
    }
    for (const b of batches) {
      await this.rewrite({ pk: `W#${tenant}`, sk: b.key }, (old) => {
        const merged = mergeCoverage(old && coverageOf(old), { fromMs: b.fromMs, toMs });
        return { done_to_ms: merged.toMs, covered_from_ms: merged.fromMs };
      });
    }
  }

  async rollupCoverage(tenant: string): Promise<Map<string, RollupCoverage>> {
    const items = await this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `W#${tenant}` } });
    return new Map(items.map((i) => [String(i.sk), coverageOf(i)]));
  }

  async markDirty(tenant: string, bucketMs: number, dueMs = 0): Promise<void> {
    const update = (expression: string, condition?: string) => new UpdateCommand({
      TableName: this.table,
      Key: { pk: `D#${tenant}`, sk: pad(bucketMs, 15) },
      UpdateExpression: expression,
      ConditionExpression: condition,
      ExpressionAttributeNames: { '#token': 'token', ...(condition ? { '#due': 'due_ms' } : {}) },
      ExpressionAttributeValues: { ':token': randomUUID(), ...(condition ? { ':due': dueMs } : {}) },
    });
    try {
      // DynamoDB has no max(): the due time is set only when it is not earlier than the stored one.
      await this.db.send(update('SET #token = :token, #due = :due', 'attribute_not_exists(#due) OR #due <= :due'));
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // A later due time is stored: keep it, but mark the bucket again (a new token).
      await this.db.send(update('SET #token = :token'));
    }
  }

  async dirtyMarks(tenant: string): Promise<DirtyMark[]> {
    const items = await this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `D#${tenant}` } });
    return items.map((i) => ({ bucketMs: Number(i.sk), token: String(i.token), dueMs: Number(i.due_ms ?? 0) }));
  }

  async clearDirty(tenant: string, marks: readonly DirtyMark[]): Promise<void> {
    for (const m of marks) {
      try {
        await this.db.send(new DeleteCommand({
          TableName: this.table,
          Key: { pk: `D#${tenant}`, sk: pad(m.bucketMs, 15) },
          ConditionExpression: '#token = :token',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ':token': m.token },
        }));
      } catch (err) {
        // Marked again (or already gone) since it was read: the next refresh handles it.
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
      }
    }
  }

  async lastBucketWithData(tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const unique = [...new Set(keys)];
    const rowsByKey = await Promise.all(unique.map((key) => this.rows(tenant, key, fromMs, toMs)));
    unique.forEach((key, k) => {
      let last: number | undefined;
      for (const [t, , total] of rowsByKey[k]) if (total > 0 && (last === undefined || t > last)) last = t;
      if (last !== undefined) out.set(key, last);
    });
    return out;
  }

  async firstBucketWithData(tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const unique = [...new Set(keys)];
    const rowsByKey = await Promise.all(unique.map((key) => this.rows(tenant, key, fromMs, toMs)));
    unique.forEach((key, k) => {
      let first: number | undefined;
      for (const [t, , total] of rowsByKey[k]) if (total > 0 && (first === undefined || t < first)) first = t;
      if (first !== undefined) out.set(key, first);
    });
    return out;
  }

  async windowSums(tenant: string, keys: readonly string[], startsMs: readonly number[], toMs: number): Promise<Map<string, WindowSum[]>> {
    const out = new Map<string, WindowSum[]>();
    if (keys.length === 0 || startsMs.length === 0) return out;
    const starts = startsMs.map((s) => Math.floor(s));
    const from = Math.min(...starts);
    // One query per SLI key, all in flight together: the evaluator's minute is the budget.
    const unique = [...new Set(keys)];
    const rowsByKey = await Promise.all(unique.map((key) => this.rows(tenant, key, from, toMs)));
    unique.forEach((key, k) => {
      const rows = rowsByKey[k];
      if (rows.length === 0) return;
      out.set(key, starts.map((s) => {
        const sum: WindowSum = { good: 0, total: 0, effectiveThreshold: null };
        for (const [t, good, total, eff, unknown, reason] of rows) {
          if (t < s) continue;
          sum.good += good;
          sum.total += total;
          if (eff !== null && (sum.effectiveThreshold === null || eff < sum.effectiveThreshold)) sum.effectiveThreshold = eff;
          if (unknown) {
            sum.unknown = (sum.unknown ?? 0) + unknown;
            sum.unknownReason ??= reason ?? null;
          }
        }
        return sum;
      }));
    });
    return out;
  }

  async rollupSeries(tenant: string, key: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]> {
    const steps = new Map<number, SeriesPoint>();
    for (const [t, good, total] of await this.rows(tenant, key, fromMs, toMs)) {
      const atMs = fromMs + Math.floor((t - fromMs) / stepMs) * stepMs;
      const p = steps.get(atMs) ?? { atMs, good: 0, total: 0 };
      p.good += good;
      p.total += total;
      steps.set(atMs, p);
    }
    return [...steps.values()].sort((a, b) => a.atMs - b.atMs);
  }

  async pruneRollups(tenant: string, beforeMs: number): Promise<void> {
    for (const [key, coverage] of await this.rollupCoverage(tenant)) {
      if (coverage.fromMs < beforeMs) {
        await this.rewrite({ pk: `W#${tenant}`, sk: key }, (old) =>
          old === undefined ? undefined : { ...old, covered_from_ms: Math.min(Math.max(beforeMs, Number(old.covered_from_ms ?? old.done_to_ms)), Number(old.done_to_ms)) },
        );
      }
      const pk = `R#${tenant}#${key}`;
      const old = await this.query({ KeyConditionExpression: 'pk = :pk AND sk <= :to', ExpressionAttributeValues: { ':pk': pk, ':to': daySk(dayOf(beforeMs)) } });
      for (const item of old) {
        if (parseRows(item.rows).some(([t]) => t < beforeMs)) await this.rewriteChunk({ pk, sk: String(item.sk) }, (rows) => rows.filter(([t]) => t >= beforeMs));
      }
    }
  }

  async claimEvaluation(tenant: string, atMs: number): Promise<EvaluationClaim> {
    const key = { pk: `E#${tenant}`, sk: 'last' };
    try {
      await this.db.send(new UpdateCommand({
        TableName: this.table,
        Key: key,
        UpdateExpression: 'SET #at = :at',
        ConditionExpression: 'attribute_not_exists(pk) OR #at < :at',
        ExpressionAttributeNames: { '#at': 'at_ms' },
        ExpressionAttributeValues: { ':at': atMs },
      }));
      return { claimed: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const stored = await this.db.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      return { claimed: false, lastEvaluatedMs: Number(stored.Item?.at_ms ?? atMs) };
    }
  }

  async loadAlerts(tenant: string): Promise<AlertRecord[]> {
    const items = await this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `A#${tenant}` } });
    return items
      .map((i) => ({ ...withAttachedHints(JSON.parse(String(i.record)) as AlertRecord, i.hints), version: versionOf(i) }))
      .sort((a, b) => (a.slo_id < b.slo_id ? -1 : a.slo_id > b.slo_id ? 1 : a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
  }

  async saveAlerts(tenant: string, records: readonly AlertRecord[], transitions: readonly AlertTransition[]): Promise<AlertTransition[]> {
    // One transaction per alert: its record (if the revision it came from is still stored) and
    // its transitions (each only if its id is new), so a change two evaluations both found is
    // stored — and notified — once.
    const alertKey = (sloId: string, rule: string) => JSON.stringify([sloId, rule]);
    const groups = new Map<string, { record?: AlertRecord; transitions: AlertTransition[] }>();
    for (const r of records) groups.set(alertKey(r.slo_id, r.rule), { record: r, transitions: [] });
    for (const t of transitions) {
      const k = alertKey(t.slo_id, t.evidence.rule);
      const g = groups.get(k) ?? { transitions: [] };
      g.transitions.push(t);
      groups.set(k, g);
    }
    const stored = new Set<AlertTransition>();
    for (const [sk, g] of groups) for (const t of await this.saveAlert(tenant, sk, g.record, g.transitions)) stored.add(t);
    return transitions.filter((t) => stored.has(t));
  }

  private async saveAlert(tenant: string, sk: string, record: AlertRecord | undefined, transitions: AlertTransition[]): Promise<AlertTransition[]> {
    let pending = transitions;
    for (let attempt = 1; ; attempt++) {
      const actions: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [];
      if (record) {
        const { version, ...body } = record;
        const cond = sameVersion(version);
        // An update of these attributes, not a put: hints the hints function attached meanwhile stay.
        actions.push({
          Update: {
            TableName: this.table,
            Key: { pk: `A#${tenant}`, sk },
            UpdateExpression: 'SET #record = :record, #alert = :alert, #version = :next',
            ConditionExpression: cond.ConditionExpression,
            ExpressionAttributeNames: { '#record': 'record', '#alert': 'alert_id', '#version': 'version' },
            ExpressionAttributeValues: { ...cond.ExpressionAttributeValues, ':record': JSON.stringify(body), ':alert': record.alert_id, ':next': (version ?? 0) + 1 },
          },
        });
      }
      for (const t of pending) {
        const expires = this.expiresAt(t.at);
        actions.push(
          { Put: { TableName: this.table, Item: { pk: `U#${tenant}`, sk: t.id, [TTL_ATTRIBUTE]: expires }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: this.table, Item: { pk: `T#${tenant}`, sk: `${pad(Date.parse(t.at), 15)}#${t.id}`, slo_id: t.slo_id, body: JSON.stringify(t), [TTL_ATTRIBUTE]: expires } } },
        );
      }
      if (actions.length === 0) return [];
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: actions }));
        return pending;
      } catch (err) {
        if ((err as Error).name !== 'TransactionCanceledException') throw err;
        const reasons = ((err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
        const failed = (i: number) => reasons[i] === 'ConditionalCheckFailed';
        // Another evaluation changed this alert first: its state (and notification) stands.
        if (record && failed(0)) return [];
        const offset = record ? 1 : 0;
        const known = pending.filter((_, i) => failed(offset + 2 * i));
        // Cancelled for another reason (TransactionConflict: another transaction on these items in flight).
        if (known.length === 0) {
          if (attempt >= MAX_WRITE_ATTEMPTS) throw err;
          continue;
        }
        // Stored by an earlier run that died before its record was saved: not again, not notified.
        pending = pending.filter((t) => !known.includes(t));
      }
    }
  }

  async attachHints(tenant: string, t: AlertTransition): Promise<boolean> {
    const conditional = async (input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> => {
      try {
        await this.db.send(new UpdateCommand(input));
        return true;
      } catch (err) {
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
        return false;
      }
    };
    const stored = await conditional({
      TableName: this.table,
      Key: { pk: `T#${tenant}`, sk: `${pad(Date.parse(t.at), 15)}#${t.id}` },
      UpdateExpression: 'SET #body = :body',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#body': 'body' },
      ExpressionAttributeValues: { ':body': JSON.stringify(t) },
    });
    if (!stored) return false;
    // Only while the alert is still in this episode (a later one has other hints, or none yet).
    await conditional({
      TableName: this.table,
      Key: { pk: `A#${tenant}`, sk: JSON.stringify([t.slo_id, t.evidence.rule]) },
      UpdateExpression: 'SET #hints = :hints',
      ConditionExpression: '#alert = :alert',
      ExpressionAttributeNames: { '#hints': 'hints', '#alert': 'alert_id' },
      ExpressionAttributeValues: { ':hints': JSON.stringify({ alert_id: t.alert_id, hints: t.hints, hints_meta: t.hints_meta }), ':alert': t.alert_id },
    });
    return true;
  }

  async listTransitions(tenant: string, opts: { sloId?: string; limit?: number } = {}): Promise<AlertTransition[]> {
    const limit = opts.limit ?? 1000;
    const out: AlertTransition[] = [];
    let start: Record<string, unknown> | undefined;
    // Newest first until `limit` match, then oldest first, as the DuckDB store answers.
    do {
      const page = await this.db.send(new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `T#${tenant}` },
        ScanIndexForward: false,
        ExclusiveStartKey: start,
      }));
      for (const item of page.Items ?? []) {
        if (opts.sloId !== undefined && item.slo_id !== opts.sloId) continue;
        if (this.expired(item)) continue;
        out.push(JSON.parse(String(item.body)) as AlertTransition);
        if (out.length >= limit) break;
      }
      start = page.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out.reverse();
  }

  async putProbeRequest(tenant: string, req: ProbeRequest): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `P#${tenant}`, sk: req.service, requested_ms: req.requested_ms, until_ms: req.until_ms, [TTL_ATTRIBUTE]: Math.ceil(req.until_ms / 1000) },
      }),
    );
  }

  async listProbeRequests(tenant: string, nowMs: number): Promise<ProbeRequest[]> {
    const items = await this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `P#${tenant}` } });
    return items
      .map((i) => ({ service: String(i.sk), requested_ms: Number(i.requested_ms), until_ms: Number(i.until_ms) }))
      .filter((r) => r.until_ms > nowMs); // TTL deletion lags (up to days): an ended request may still be there
  }

  async putSpec(tenant: string, spec: StoredSpec): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `S#${tenant}`, sk: spec.id, text: spec.text, updated_ms: spec.updated_ms } }));
  }

  async deleteSpec(tenant: string, id: string): Promise<boolean> {
    const res = await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: `S#${tenant}`, sk: id }, ReturnValues: 'ALL_OLD' }));
    return res.Attributes !== undefined;
  }

  async listSpecs(tenant: string): Promise<StoredSpec[]> {
    const items = await this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `S#${tenant}` } });
    return items.map((i) => ({ id: String(i.sk), text: String(i.text), updated_ms: Number(i.updated_ms) }));
  }

  async close(): Promise<void> {
    this.db.destroy();
  }

  /** `expires_at` of a transition at `at`: epoch seconds, as DynamoDB TTL reads it. */
  private expiresAt(at: string): number {
    return Math.floor((Date.parse(at) + this.retentionMs) / 1000);
  }

  /** Past its TTL: DynamoDB may still return it for days before deleting it. */
  private expired(item: Attributes): boolean {
    const at = item[TTL_ATTRIBUTE];
    return typeof at === 'number' && at * 1000 <= this.now();
  }

  /**
   * Read-modify-write of one item under optimistic concurrency: `next` gets the item as stored
   * (undefined: none) and returns its new attributes (undefined: delete it); the write holds only
   * if nobody wrote the item since it was read, else it is read again.
   */
  private async rewrite(key: Key, next: (old: Attributes | undefined) => Attributes | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // Strongly consistent: an eventually consistent read can return the version just replaced.
      const old = (await this.db.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }))).Item;
      const version = versionOf(old);
      const attrs = next(old);
      const cond = sameVersion(version);
      try {
        if (attrs === undefined) {
          if (old !== undefined) await this.db.send(new DeleteCommand({ TableName: this.table, Key: key, ...cond }));
        } else {
          await this.db.send(new PutCommand({ TableName: this.table, Item: { ...attrs, ...key, version: (version ?? 0) + 1 }, ...cond }));
        }
        return;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`DynamoDB ${key.pk} ${key.sk}: lost the write race ${attempt} times (another writer keeps changing it)`);
      }
    }
  }

  /** One day chunk of rollup rows rewritten by `edit` (rows in time order; none left: the chunk is deleted). */
  private rewriteChunk(key: Key, edit: (rows: Row[]) => Row[]): Promise<void> {
    return this.rewrite(key, (old) => {
      const rows = edit(parseRows(old?.rows)).sort((x, y) => x[0] - y[0]);
      if (rows.length === 0) return undefined;
      const json = JSON.stringify(rows);
      if (json.length > MAX_CHUNK_BYTES) throw new Error(`SLO rollups ${key.pk} on day ${key.sk}: ${json.length} bytes is over the ${MAX_CHUNK_BYTES}-byte chunk limit (resolution too fine for day chunks)`);
      return { rows: json };
    });
  }

  /** Rollup rows of one key with bucket in [fromMs, toMs). */
  private async rows(tenant: string, key: string, fromMs: number, toMs: number): Promise<Row[]> {
    if (fromMs >= toMs) return [];
    const items = await this.query({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': `R#${tenant}#${key}`, ':from': daySk(dayOf(fromMs)), ':to': daySk(dayOf(toMs - 1)) },
    });
    return items.flatMap((i) => parseRows(i.rows)).filter(([t]) => t >= fromMs && t < toMs);
  }

  private async query(input: Omit<QueryCommandInput, 'TableName'>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new QueryCommand({ ...input, TableName: this.table, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}

/** The record with the hints attached to its episode, when the item's `hints` are this episode's. */
function withAttachedHints(record: AlertRecord, attached: unknown): AlertRecord {
  if (typeof attached !== 'string') return record;
  const a = JSON.parse(attached) as Pick<AlertRecord, 'alert_id' | 'hints' | 'hints_meta'>;
  return a.alert_id === record.alert_id ? { ...record, hints: a.hints, hints_meta: a.hints_meta } : record;
}

/** A watermark item's coverage; without covered_from_ms (written before it was kept) nothing is claimed, so the engine backfills. */
function coverageOf(item: Attributes): RollupCoverage {
  return { fromMs: Number(item.covered_from_ms ?? item.done_to_ms), toMs: Number(item.done_to_ms) };
}

function toRow(r: RollupRow): Row {
  return r.unknown ? [r.bucketMs, r.good, r.total, r.effectiveThreshold, r.unknown, r.unknownReason ?? null] : [r.bucketMs, r.good, r.total, r.effectiveThreshold];
}

function parseRows(value: unknown): Row[] {
  return typeof value === 'string' ? (JSON.parse(value) as Row[]) : [];
}
