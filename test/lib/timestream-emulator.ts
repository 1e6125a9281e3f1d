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
// Timestream sometimes answers. It cannot prove the SQL runs on Timestream; it proves the records
// written carry everything the reads need and that paging and decoding are right.

import { mockClient } from 'aws-sdk-client-mock';
import {
  RejectedRecordsException,
  TimestreamWriteClient,
  ValidationException,
  WriteRecordsCommand,
  type _Record as TsRecord,
  type WriteRecordsCommandInput,
} from '@aws-sdk/client-timestream-write';
import { QueryCommand, TimestreamQueryClient, type QueryCommandInput, type QueryCommandOutput } from '@aws-sdk/client-timestream-query';
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
  pageSize = 4;

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
    if (rejected.length > 0) throw new RejectedRecordsException({ $metadata: {}, message: 'One or more records have been rejected.', RejectedRecords: rejected });
    return { RecordsIngested: { Total: records.length, MemoryStore: records.length, MagneticStore: 0 }, $metadata: {} };
  }

  private query(input: QueryCommandInput): QueryCommandOutput {
    const sql = input.QueryString ?? '';
    this.queries.push(sql);
    const m = /^SELECT \* FROM "((?:[^"]|"")+)"\."((?:[^"]|"")+)" WHERE (.*)$/.exec(sql);
    if (!m) throw new Error(`the emulator does not understand: ${sql}`);
    const table = `${m[1].replaceAll('""', '"')}.${m[2].replaceAll('""', '"')}`;
    const equals = [...m[3].matchAll(/(\w+) = '((?:[^']|'')*)'/g)].map(([, dim, v]) => [dim, v.replaceAll("''", "'")] as const);
    const from = BigInt(/time >= from_nanoseconds\((\d+)\)/.exec(m[3])![1]);
    const to = BigInt(/time < from_nanoseconds\((\d+)\)/.exec(m[3])![1]);
    const all = [...(this.tables.get(table)?.values() ?? [])];
    // A multi-measure table's columns: every dimension and measure any record has carried.
    const dimNames = [...new Set(all.flatMap((r) => Object.keys(r.dims)))].sort();
    const measureNames = [...new Set(all.flatMap((r) => Object.keys(r.measures)))].sort();
    const columns = [...dimNames, 'measure_name', 'time', ...measureNames];
    const matching = all.filter((r) => equals.every(([d, v]) => r.dims[d] === v) && r.timeNs >= from && r.timeNs < to);
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
