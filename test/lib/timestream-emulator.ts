// An in-memory stand-in for Timestream for LiveAnalytics at the SDK boundary: real
// TimestreamWriteClient / TimestreamQueryClient instances whose `send` is replaced by
// aws-sdk-client-mock, answering WriteRecords and Query from what was written.
//
// What it enforces, as the service documents it: ≤ 100 records per request; common dimensions
// may not repeat a record's; MULTI records need measure values of 1–2048 bytes; a record is at
// most 2 KB, a series' dimension names and values together at most 2 KB, a dimension name at
// most 60 bytes and a measure name at most 256 (ts-limits; a record over one of them is refused
// in a RejectedRecordsException naming it); an identical rewrite of (dimensions, time, measure
// name) is accepted and a different one is rejected (RejectedRecordsException naming the record,
// with ExistingVersion); the records not rejected are written.
//
// Time, on its own clock (`now`): a record more than 15 minutes ahead is refused; one older than
// the table's memory-store retention goes to the magnetic store when the table allows magnetic
// writes (refused otherwise, and when older than the magnetic retention). Magnetic-store writes
// are asynchronous: the call succeeds and counts them in RecordsIngested.MagneticStore, queries
// see them only `magneticDelayMs` later, and one the store rejects then (a conflicting rewrite)
// is reported only to the table's S3 location (`magneticRejections`), never to the caller. Queries: it answers the one shape TimestreamStore sends
// (`SELECT * FROM "db"."table" WHERE dim = '…' AND … AND time >= from_nanoseconds(n) AND time <
// from_nanoseconds(n)`), with every column the table has (a NULL where a record lacks a measure),
// times rendered as Timestream renders them, and pages — the first one empty with a NextToken, as
// Timestream sometimes answers; `metric IN ('a', 'b')` filters and `SELECT min(time) AS first`;
// a ValidationException "line 1:N: Column 'x' does not exist" when a filter names a column no
// record has carried (Timestream creates columns on first write); and a configurable latency per
// query. It cannot prove the SQL runs on Timestream; it proves the records written carry
// everything the reads need and that paging and decoding are right.

import { mockClient } from 'aws-sdk-client-mock';
import {
  RejectedRecordsException,
  TimestreamWriteClient,
  ValidationException,
  WriteRecordsCommand,
  type _Record as TsRecord,
  type WriteRecordsCommandInput,
} from '@aws-sdk/client-timestream-write';
import {
  QueryCommand,
  TimestreamQueryClient,
  ValidationException as QueryValidationException,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/client-timestream-query';
import { formatTimestreamTime } from '../../lambda/storage/timestream-records.ts';

const FAKE = { region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } };

interface Stored {
  dims: Record<string, string>;
  measureName: string;
  timeNs: bigint;
  measures: Record<string, { type: string; value: string }>;
  /** When queries can first see it (a magnetic-store write is queryable only later). */
  visibleAtMs: number;
}

const HOUR_MS = 3_600_000;
/** How far ahead of the service's clock a record may be (ts-limits: future ingestion period). */
const FUTURE_INGESTION_MS = 15 * 60_000;

/** A table's retention and magnetic-store writes, as created (infra/constructs/storage.ts). */
export interface EmulatedTableSettings {
  memoryRetentionHours: number;
  magneticRetentionDays: number;
  enableMagneticStoreWrites: boolean;
}

/** A table as infra/constructs/storage.ts creates one by default: 24 h in memory, 400 days magnetic, magnetic writes on. */
const TABLE_DEFAULTS: EmulatedTableSettings = { memoryRetentionHours: 24, magneticRetentionDays: 400, enableMagneticStoreWrites: true };

/** A record Timestream refuses on its own (it goes in RejectedRecords; the rest of the request is written). */
class RecordRefused extends Error {}

export class TimestreamEmulator {
  readonly writeClient = new TimestreamWriteClient(FAKE);
  readonly queryClient = new TimestreamQueryClient(FAKE);
  readonly writeMock;
  readonly queryMock;
  /** table → record key → record */
  readonly tables = new Map<string, Map<string, Stored>>();
  readonly queries: string[] = [];
  /** Errors thrown by the next WriteRecords calls, in order (e.g. throttles). */
  readonly writeFaults: Error[] = [];
  /** Errors thrown by the next WriteRecords call to one table (after writeFaults). */
  readonly tableFaults = new Map<string, Error[]>();
  /** Errors thrown by the next WriteRecords calls after they stored their records (the answer lost on the way back). */
  readonly failAfterWrite: Error[] = [];
  /** The service's clock: it decides what is too old for the memory store, or too far in the future. */
  now: () => number = () => Date.now();
  /** Settings per table name (the part after the database); absent ones take TABLE_DEFAULTS. The stack's `series` table keeps 48 h in memory. */
  readonly tableSettings = new Map<string, Partial<EmulatedTableSettings>>([['series', { memoryRetentionHours: 48 }]]);
  /** How long a magnetic-store write takes to become queryable (Timestream documents "within 6 hours"). */
  magneticDelayMs = 6 * HOUR_MS;
  /** Records the magnetic store rejected after the write call succeeded: the S3 error reports. */
  readonly magneticRejections: { table: string; record: TsRecord; reason: string }[] = [];
  pageSize = 4;
  /** How long each Query takes to answer (Timestream's are hundreds of ms even on small tables). */
  queryLatencyMs = 0;
  /** Queries answered with an error (e.g. a column that does not exist yet), with the error. */
  readonly failedQueries: { sql: string; error: Error }[] = [];

  /**
   * 'instances' answers for writeClient/queryClient only; 'classes' for every client of either
   * class (what a Lambda entry creates itself) — call restore() when done.
   */
  constructor(scope: 'instances' | 'classes' = 'instances') {
    this.writeMock = scope === 'classes' ? mockClient(TimestreamWriteClient) : mockClient(this.writeClient);
    this.queryMock = scope === 'classes' ? mockClient(TimestreamQueryClient) : mockClient(this.queryClient);
    this.writeMock.on(WriteRecordsCommand).callsFake((input: WriteRecordsCommandInput) => this.writeRecords(input));
    this.queryMock.on(QueryCommand).callsFake((input: QueryCommandInput) => this.query(input));
  }

  restore(): void {
    this.writeMock.restore();
    this.queryMock.restore();
  }

  writeInputs(): WriteRecordsCommandInput[] {
    return this.writeMock.commandCalls(WriteRecordsCommand).map((c) => c.args[0].input);
  }

  private writeRecords(input: WriteRecordsCommandInput) {
    const fault = this.writeFaults.shift() ?? this.tableFaults.get(input.TableName ?? '')?.shift();
    if (fault) throw fault;
    const records = input.Records ?? [];
    const invalid = (message: string) => new ValidationException({ $metadata: {}, message, Message: message });
    if (records.length === 0 || records.length > 100) throw invalid(`Records must hold 1–100 records, not ${records.length}`);
    const table = `${input.DatabaseName}.${input.TableName}`;
    let stored = this.tables.get(table);
    if (!stored) this.tables.set(table, (stored = new Map()));
    const rejected: { RecordIndex: number; Reason: string; ExistingVersion?: number }[] = [];
    const accepted: [string, Stored][] = [];
    const settings = { ...TABLE_DEFAULTS, ...this.tableSettings.get(input.TableName ?? '') };
    const nowMs = this.now();
    const memoryFromMs = nowMs - settings.memoryRetentionHours * HOUR_MS;
    const magneticFromMs = nowMs - settings.magneticRetentionDays * 24 * HOUR_MS;
    const conflict = 'A record with the same dimensions, time and measure name already exists with different measure values.';
    let memory = 0;
    let magnetic = 0;
    records.forEach((r, i) => {
      let rec: Stored;
      try {
        rec = merge(input.CommonAttributes ?? {}, r, invalid);
      } catch (err) {
        if (!(err instanceof RecordRefused)) throw err;
        rejected.push({ RecordIndex: i, Reason: err.message });
        return;
      }
      const timeMs = Number(rec.timeNs / 1_000_000n);
      const window = (fromMs: number, store: string) =>
        `The record timestamp is outside the time range [${new Date(fromMs).toISOString()}, ${new Date(nowMs + FUTURE_INGESTION_MS).toISOString()}) of the ${store}.`;
      if (timeMs >= nowMs + FUTURE_INGESTION_MS || (timeMs < memoryFromMs && !settings.enableMagneticStoreWrites)) {
        rejected.push({ RecordIndex: i, Reason: window(memoryFromMs, 'memory store') });
        return;
      }
      if (timeMs < magneticFromMs) {
        rejected.push({ RecordIndex: i, Reason: window(magneticFromMs, 'magnetic store') });
        return;
      }
      const key = JSON.stringify([Object.entries(rec.dims).sort(), rec.measureName, String(rec.timeNs)]);
      const existing = stored.get(key) ?? accepted.find(([k]) => k === key)?.[1];
      const differs = existing !== undefined && JSON.stringify(existing.measures) !== JSON.stringify(rec.measures);
      if (timeMs < memoryFromMs) {
        // Magnetic-store writes are asynchronous: accepted now, checked later, refusals go to S3.
        magnetic++;
        if (differs) this.magneticRejections.push({ table: input.TableName ?? '', record: r, reason: conflict });
        else if (!existing) accepted.push([key, { ...rec, visibleAtMs: nowMs + this.magneticDelayMs }]);
        return;
      }
      if (differs) {
        rejected.push({ RecordIndex: i, Reason: conflict, ExistingVersion: 1 });
        return;
      }
      memory++;
      if (!existing) accepted.push([key, rec]);
    });
    for (const [k, v] of accepted) stored.set(k, v);
    const lost = this.failAfterWrite.shift();
    if (lost) throw lost;
    if (rejected.length > 0) throw new RejectedRecordsException({ $metadata: {}, message: 'One or more records have been rejected.', RejectedRecords: rejected });
    return { RecordsIngested: { Total: memory + magnetic, MemoryStore: memory, MagneticStore: magnetic }, $metadata: {} };
  }

  private async query(input: QueryCommandInput): Promise<QueryCommandOutput> {
    const sql = input.QueryString ?? '';
    this.queries.push(sql);
    if (this.queryLatencyMs > 0) await new Promise((r) => setTimeout(r, this.queryLatencyMs));
    const m = /^SELECT (\*|min\(time\) AS first) FROM "((?:[^"]|"")+)"\."((?:[^"]|"")+)" WHERE (.*)$/.exec(sql);
    if (!m) throw new Error(`the emulator does not understand: ${sql}`);
    const [, select, db, name, where] = m;
    const table = `${db.replaceAll('""', '"')}.${name.replaceAll('""', '"')}`;
    const unquote = (v: string) => v.replaceAll("''", "'");
    const filters = [
      ...[...where.matchAll(/(\w+) = '((?:[^']|'')*)'/g)].map((f) => ({ column: f[1], at: f.index!, values: [unquote(f[2])] })),
      ...[...where.matchAll(/(\w+) IN \(((?:'(?:[^']|'')*'(?:, )?)+)\)/g)].map((f) => ({
        column: f[1],
        at: f.index!,
        values: [...f[2].matchAll(/'((?:[^']|'')*)'/g)].map((v) => unquote(v[1])),
      })),
    ];
    const from = BigInt(/time >= from_nanoseconds\((\d+)\)/.exec(where)![1]);
    const to = BigInt(/time < from_nanoseconds\((\d+)\)/.exec(where)![1]);
    // Records still pending in the magnetic store are not there yet, columns included.
    const nowMs = this.now();
    const all = [...(this.tables.get(table)?.values() ?? [])].filter((r) => r.visibleAtMs <= nowMs);
    // A multi-measure table's columns: every dimension and measure any record has carried.
    const dimNames = [...new Set(all.flatMap((r) => Object.keys(r.dims)))].sort();
    const measureNames = [...new Set(all.flatMap((r) => Object.keys(r.measures)))].sort();
    const columns = [...dimNames, 'measure_name', 'time', ...measureNames];
    // Timestream creates a column when a record first carries it; naming one no record has carried fails.
    for (const f of filters) {
      if (!columns.includes(f.column)) {
        const message = `line 1:${sql.length - where.length + f.at + 1}: Column '${f.column}' does not exist`;
        const error = new QueryValidationException({ $metadata: {}, message, Message: message });
        this.failedQueries.push({ sql, error });
        throw error;
      }
    }
    const matching = all.filter((r) => filters.every((f) => f.values.includes(r.dims[f.column])) && r.timeNs >= from && r.timeNs < to);
    if (select !== '*') {
      // An aggregate without GROUP BY answers one row, NULL over no rows.
      const first = matching.reduce<bigint | undefined>((min, r) => (min === undefined || r.timeNs < min ? r.timeNs : min), undefined);
      return {
        $metadata: {},
        QueryId: `q${this.queries.length}`,
        ColumnInfo: [{ Name: 'first', Type: { ScalarType: 'TIMESTAMP' } }],
        Rows: [{ Data: [first === undefined ? { NullValue: true } : { ScalarValue: formatTimestreamTime(first) }] }],
      };
    }
    const rows = matching.map((r) => ({
      Data: columns.map((c) => {
        const v = c === 'measure_name' ? r.measureName : c === 'time' ? formatTimestreamTime(r.timeNs) : (r.dims[c] ?? r.measures[c]?.value);
        return v === undefined ? { NullValue: true } : { ScalarValue: v };
      }),
    }));
    const offset = input.NextToken === undefined ? -1 : Number(input.NextToken);
    const page = offset < 0 ? [] : rows.slice(offset, offset + this.pageSize);
    const next = offset < 0 ? 0 : offset + this.pageSize;
    return {
      $metadata: {},
      QueryId: `q${this.queries.length}`,
      ColumnInfo: columns.map((Name) => ({ Name, Type: { ScalarType: 'VARCHAR' } })),
      Rows: page,
      NextToken: next < rows.length ? String(next) : undefined,
    };
  }
}

function merge(common: TsRecord, r: TsRecord, invalid: (m: string) => Error): Stored {
  const dims: Record<string, string> = {};
  for (const d of common.Dimensions ?? []) dims[d.Name!] = d.Value!;
  for (const d of r.Dimensions ?? []) {
    if (d.Name! in dims) throw invalid(`dimension ${d.Name} is in both CommonAttributes and a record`);
    if (!d.Value) throw invalid(`dimension ${d.Name} has an empty value`);
    dims[d.Name!] = d.Value;
  }
  const refuse = (reason: string) => new RecordRefused(reason);
  for (const name of Object.keys(dims)) {
    if (Buffer.byteLength(name) > 60) throw refuse(`Dimension name ${name.slice(0, 40)}… is ${Buffer.byteLength(name)} bytes; the maximum is 60 bytes.`);
  }
  const dimensionBytes = Object.entries(dims).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (dimensionBytes > 2048) throw refuse(`The dimension names and values of the series are ${dimensionBytes} bytes; the maximum is 2 KB.`);
  for (const name of [r.MeasureName ?? '', ...(r.MeasureValues ?? []).map((m) => m.Name ?? '')]) {
    if (Buffer.byteLength(name) > 256) throw refuse(`Measure name ${name.slice(0, 40)}… is ${Buffer.byteLength(name)} bytes; the maximum is 256 bytes.`);
  }
  const type = r.MeasureValueType ?? common.MeasureValueType;
  if (type !== 'MULTI') throw invalid('the emulator only takes MULTI records');
  const unit = r.TimeUnit ?? common.TimeUnit ?? 'MILLISECONDS';
  const scale = { NANOSECONDS: 1n, MICROSECONDS: 1_000n, MILLISECONDS: 1_000_000n, SECONDS: 1_000_000_000n }[unit];
  const time = r.Time ?? common.Time;
  if (!time || !/^\d+$/.test(time)) throw invalid(`Time "${time}" is not a non-negative integer`);
  const measures: Stored['measures'] = {};
  let size = 8 + dimensionBytes + Buffer.byteLength(r.MeasureName ?? '');
  for (const mv of r.MeasureValues ?? []) {
    const len = Buffer.byteLength(mv.Value ?? '');
    if (len < 1) throw invalid(`measure ${mv.Name} is empty`);
    if (len > 2048) throw refuse(`Measure ${mv.Name} is ${len} bytes; the maximum is 2048.`);
    if (mv.Name! in measures) throw invalid(`measure ${mv.Name} twice in one record`);
    if (mv.Type === 'BIGINT' && !/^-?\d+$/.test(mv.Value!)) throw invalid(`BIGINT measure ${mv.Name} is "${mv.Value}"`);
    if (mv.Type === 'DOUBLE' && !Number.isFinite(Number(mv.Value))) throw invalid(`DOUBLE measure ${mv.Name} is "${mv.Value}"`);
    if (mv.Type === 'BOOLEAN' && mv.Value !== 'true' && mv.Value !== 'false') throw invalid(`BOOLEAN measure ${mv.Name} is "${mv.Value}"`);
    measures[mv.Name!] = { type: mv.Type!, value: mv.Value! };
    size += Buffer.byteLength(mv.Name!) + (mv.Type === 'VARCHAR' ? len : mv.Type === 'BOOLEAN' ? 1 : 8);
  }
  if (Object.keys(measures).length === 0) throw invalid('a MULTI record needs measure values');
  if (size > 2048) throw refuse(`The record is ${size} bytes; the maximum record size is 2 KB.`);
  return { dims, measureName: r.MeasureName!, timeNs: BigInt(time) * scale, measures, visibleAtMs: 0 };
}
