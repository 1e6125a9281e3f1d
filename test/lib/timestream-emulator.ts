// An in-memory stand-in for Timestream for LiveAnalytics at the SDK boundary: real
// TimestreamWriteClient / TimestreamQueryClient instances whose `send` is replaced by
// aws-sdk-client-mock, answering WriteRecords and Query from what was written.
//
// What it enforces, as the service documents it: ≤ 100 records per request; common dimensions
// may not repeat a record's; MULTI records need measure values of 1–2048 bytes; a record is at
// most 2 KB; an identical rewrite of (dimensions, time, measure name) is accepted and a
// different one is rejected (RejectedRecordsException naming the record, with ExistingVersion);
// the records not rejected are written. Queries: it answers the one shape TimestreamStore sends
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
}

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
  pageSize = 4;
  /** How long each Query takes to answer (Timestream's are hundreds of ms even on small tables). */
  queryLatencyMs = 0;

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
    records.forEach((r, i) => {
      const rec = merge(input.CommonAttributes ?? {}, r, invalid);
      const key = JSON.stringify([Object.entries(rec.dims).sort(), rec.measureName, String(rec.timeNs)]);
      const existing = stored.get(key) ?? accepted.find(([k]) => k === key)?.[1];
      if (existing && JSON.stringify(existing.measures) !== JSON.stringify(rec.measures)) {
        rejected.push({ RecordIndex: i, Reason: 'A record with the same dimensions, time and measure name already exists with different measure values.', ExistingVersion: 1 });
      } else if (!existing) {
        accepted.push([key, rec]);
      }
    });
    for (const [k, v] of accepted) stored.set(k, v);
    const lost = this.failAfterWrite.shift();
    if (lost) throw lost;
    if (rejected.length > 0) throw new RejectedRecordsException({ $metadata: {}, message: 'One or more records have been rejected.', RejectedRecords: rejected });
    return { RecordsIngested: { Total: records.length, MemoryStore: records.length, MagneticStore: 0 }, $metadata: {} };
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
    const all = [...(this.tables.get(table)?.values() ?? [])];
    // A multi-measure table's columns: every dimension and measure any record has carried.
    const dimNames = [...new Set(all.flatMap((r) => Object.keys(r.dims)))].sort();
    const measureNames = [...new Set(all.flatMap((r) => Object.keys(r.measures)))].sort();
    const columns = [...dimNames, 'measure_name', 'time', ...measureNames];
    // Timestream creates a column when a record first carries it; naming one no record has carried fails.
    for (const f of filters) {
      if (!columns.includes(f.column)) {
        const message = `line 1:${sql.length - where.length + f.at + 1}: Column '${f.column}' does not exist`;
        throw new QueryValidationException({ $metadata: {}, message, Message: message });
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
  const type = r.MeasureValueType ?? common.MeasureValueType;
  if (type !== 'MULTI') throw invalid('the emulator only takes MULTI records');
  const unit = r.TimeUnit ?? common.TimeUnit ?? 'MILLISECONDS';
  const scale = { NANOSECONDS: 1n, MICROSECONDS: 1_000n, MILLISECONDS: 1_000_000n, SECONDS: 1_000_000_000n }[unit];
  const time = r.Time ?? common.Time;
  if (!time || !/^\d+$/.test(time)) throw invalid(`Time "${time}" is not a non-negative integer`);
  const measures: Stored['measures'] = {};
  let size = 8 + Object.entries(dims).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0) + Buffer.byteLength(r.MeasureName ?? '');
  for (const mv of r.MeasureValues ?? []) {
    const len = Buffer.byteLength(mv.Value ?? '');
    if (len < 1 || len > 2048) throw invalid(`measure ${mv.Name} has ${len} bytes (1–2048 allowed)`);
    if (mv.Name! in measures) throw invalid(`measure ${mv.Name} twice in one record`);
    if (mv.Type === 'BIGINT' && !/^-?\d+$/.test(mv.Value!)) throw invalid(`BIGINT measure ${mv.Name} is "${mv.Value}"`);
    if (mv.Type === 'DOUBLE' && !Number.isFinite(Number(mv.Value))) throw invalid(`DOUBLE measure ${mv.Name} is "${mv.Value}"`);
    if (mv.Type === 'BOOLEAN' && mv.Value !== 'true' && mv.Value !== 'false') throw invalid(`BOOLEAN measure ${mv.Name} is "${mv.Value}"`);
    measures[mv.Name!] = { type: mv.Type!, value: mv.Value! };
    size += Buffer.byteLength(mv.Name!) + (mv.Type === 'VARCHAR' ? len : mv.Type === 'BOOLEAN' ? 1 : 8);
  }
  if (Object.keys(measures).length === 0) throw invalid('a MULTI record needs measure values');
  if (size > 2048) throw invalid(`record of ${size} bytes is over the 2 KB limit`);
  return { dims, measureName: r.MeasureName!, timeNs: BigInt(time) * scale, measures };
}
