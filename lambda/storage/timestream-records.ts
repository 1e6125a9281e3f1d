// Points and series ↔ Timestream multi-measure records and query rows: the encoding only, no I/O,
// so tests can check the exact records and the decoder against rows built the way Timestream
// returns them (strings per column, NULL for a measure a record did not carry).
//
// Timestream limits that shape this: a record is at most 2 KB (dimensions, measure names and
// values, 8 bytes of time), a VARCHAR measure 2048 bytes and at least 1 byte. A record that would
// pass the limit keeps its typed measures and the first slice of its text measures; the rest go to
// continuation records named `<name>.1`, `<name>.2`, … with the same dimensions and time, and
// `parts` on the head says how many there are. Queries use `SELECT *`: a multi-measure table only
// has the columns of measures written so far, so naming a measure no record carried yet would fail.

import type { _Record as TsRecord, Dimension, MeasureValue } from '@aws-sdk/client-timestream-write';
import { serviceOf } from './series.ts';
import type { Attributes, MetricPoint, SeriesRef, Temporality } from './types.ts';

export const COMMON_TIME_UNIT = 'NANOSECONDS' as const;
export const POINT_MEASURE = 'point';
export const SERIES_MEASURE = 'series';

/** Bytes a record may use: Timestream's 2 KB less a margin for its own accounting we cannot see. */
export const RECORD_BUDGET_BYTES = 1900;
/** Timestream's limit on a series' dimension names and values together (ts-limits: 2 KB). */
export const SERIES_DIMENSIONS_MAX_BYTES = 2048;
/** A record's time counts 8 bytes towards its size. */
const TIME_BYTES = 8;
/** Room a record keeps for text beside its dimensions: a slice shorter than this is not worth a record. */
const MIN_TEXT_ROOM_BYTES = 64;

export const DAY_NS = 86_400_000_000_000n;

/** The UTC day a series record for a point ending at `endNs` is stamped with (days since the epoch). */
export function seriesDay(endNs: bigint): bigint {
  return endNs / DAY_NS;
}

type Measure = [name: string, type: MeasureValue['Type'], value: string];

/** The records of one point: a head record, plus continuation records when it is too big. */
export function encodePoint(p: MetricPoint, id: string, tenant: string): TsRecord[] {
  const { typed, text } = pointMeasures(p);
  return packRecords(tenant, dimensions(id, p.series), String(p.endNs), POINT_MEASURE, typed, text);
}

/** A point's typed measures (all in its head record) and its text measures (sliced as room allows). */
function pointMeasures(p: MetricPoint): { typed: Measure[]; text: [string, string][] } {
  const typed: Measure[] = [['start_ns', 'BIGINT', String(p.startNs)], ['point_kind', 'VARCHAR', p.kind]];
  const text: [string, string][] = [];
  const double = (name: string, v: number | undefined) => {
    // Timestream DOUBLE has no NaN or infinities; an absent measure reads back as absent.
    if (v !== undefined && Number.isFinite(v)) typed.push([name, 'DOUBLE', String(v)]);
  };
  const temporality = (t: Temporality) => typed.push(['temporality', 'VARCHAR', t]);
  switch (p.kind) {
    case 'gauge':
      double('num_value', p.value);
      break;
    case 'sum':
      temporality(p.temporality);
      typed.push(['monotonic', 'BOOLEAN', String(p.monotonic)]);
      double('num_value', p.value);
      break;
    case 'histogram':
    case 'exponential_histogram':
      temporality(p.temporality);
      typed.push(['hist_count', 'BIGINT', String(p.count)]);
      double('hist_sum', p.sum);
      double('hist_min', p.min);
      double('hist_max', p.max);
      if (p.kind === 'histogram') {
        text.push(['explicit_bounds', p.bounds.map(String).join(',')]);
      } else {
        typed.push(['exp_scale', 'BIGINT', String(p.scale)], ['zero_count', 'BIGINT', String(p.zeroCount)], ['bucket_offset', 'BIGINT', String(p.offset)]);
      }
      // Zero counts as empty fields: most buckets of a wide histogram are empty.
      text.push(['bucket_counts', p.counts.map((c) => (c === 0 ? '' : String(c))).join(',')]);
      break;
  }
  return { typed, text };
}

/** The records describing one series, stamped with the UTC day of `endNs`. */
export function encodeSeries(series: SeriesRef, id: string, endNs: bigint, tenant: string): TsRecord[] {
  const text: [string, string][] = [
    ['resource', asciiJson(series.resource)],
    ['attributes', asciiJson(series.attributes)],
  ];
  return packRecords(tenant, dimensions(id, series), String(seriesDay(endNs) * DAY_NS), SERIES_MEASURE, seriesMeasures(series), text);
}

function seriesMeasures(series: SeriesRef): Measure[] {
  return series.unit === '' ? [] : [['unit', 'VARCHAR', series.unit]];
}

const PARTS_MEASURE: Measure = ['parts', 'BIGINT', '0'];

/** The largest head record a point has besides its dimensions: every typed measure a point kind can carry. */
const POINT_HEAD_BYTES = bytes(POINT_MEASURE) + measureBytes(PARTS_MEASURE) + pointMeasures({
  series: { metric: '', unit: '', resource: {}, attributes: {} }, startNs: 0n, endNs: 0n,
  kind: 'exponential_histogram', temporality: 'cumulative', count: 0, sum: 0, min: 0, max: 0, scale: 0, zeroCount: 0, offset: 0, counts: [],
}).typed.reduce((n, m) => n + measureBytes(m), 0);

/**
 * Why Timestream would refuse the records of a series (its points' and its own), naming the field
 * and the limit; undefined when they fit. A series' dimensions — the tenant, the metric name and
 * the service name, all chosen by senders — repeat in every record, so they must fit the 2 KB per
 * series and leave room in each 2 KB record for the point's own measures.
 */
export function recordLimitViolation(tenant: string, series: SeriesRef, id: string): string | undefined {
  const dimBytes = bytes('tenant') + bytes(tenant) + dimensions(id, series).reduce((n, d) => n + bytes(d.Name!) + bytes(d.Value!), 0);
  const fields: [string, number][] = [
    ['tenant', bytes(tenant)],
    ['metric name', bytes(series.metric)],
    ['resource attribute service.name', bytes(serviceOf(series) ?? '')],
  ];
  const largest = (of: [string, number][]) => of.reduce((a, b) => (b[1] > a[1] ? b : a));
  if (dimBytes > SERIES_DIMENSIONS_MAX_BYTES) {
    const [field, size] = largest(fields);
    return `${field} is ${size} bytes: the series' dimensions (tenant, metric name, service.name) would total ${dimBytes} bytes, over Timestream's limit of ${SERIES_DIMENSIONS_MAX_BYTES} bytes per series`;
  }
  const unitBytes = seriesMeasures(series).reduce((n, m) => n + measureBytes(m), 0);
  const head = Math.max(POINT_HEAD_BYTES, bytes(SERIES_MEASURE) + measureBytes(PARTS_MEASURE) + unitBytes);
  const room = RECORD_BUDGET_BYTES - TIME_BYTES - MIN_TEXT_ROOM_BYTES - head;
  if (dimBytes > room) {
    const [field, size] = largest([...fields, ['unit', bytes(series.unit)]]);
    return `${field} is ${size} bytes: a Timestream record is at most 2 KB, and this series' dimensions (${dimBytes} bytes${unitBytes > 0 ? `, unit ${bytes(series.unit)} bytes` : ''}) leave no room for a point's measures; they may total at most ${room} bytes`;
  }
  return undefined;
}

function dimensions(id: string, series: SeriesRef): Dimension[] {
  const dims: Dimension[] = [
    { Name: 'series_id', Value: id, DimensionValueType: 'VARCHAR' },
    { Name: 'metric', Value: series.metric, DimensionValueType: 'VARCHAR' },
  ];
  const service = serviceOf(series);
  // A dimension value may not be empty: a series without a service has no service dimension.
  if (service) dims.push({ Name: 'service', Value: service, DimensionValueType: 'VARCHAR' });
  return dims;
}

/** `dims` are the record's own; the tenant is a common attribute of the request, and counts towards each record's size too. */
function packRecords(tenant: string, dims: Dimension[], time: string, name: string, typed: Measure[], text: [string, string][]): TsRecord[] {
  const dimBytes = bytes('tenant') + bytes(tenant) + dims.reduce((n, d) => n + bytes(d.Name!) + bytes(d.Value!), 0);
  const headFixed = TIME_BYTES + dimBytes + bytes(name) + typed.reduce((n, m) => n + measureBytes(m), 0) + measureBytes(PARTS_MEASURE);
  const slices: [string, string][][] = [[]];
  let room = RECORD_BUDGET_BYTES - headFixed;
  for (const [measure, value] of text) {
    let at = 0;
    while (at < value.length) {
      const left = value.length - at;
      let take = Math.min(left, room - bytes(measure));
      if (take < Math.min(32, left)) {
        const current = slices[slices.length - 1];
        if (slices.length === 1 || current.length > 0) {
          // No useful room left here: start a continuation record.
          slices.push([]);
          room = RECORD_BUDGET_BYTES - (TIME_BYTES + dimBytes + bytes(`${name}.${slices.length - 1}`));
          continue;
        }
        // The dimensions alone fill a record (recordLimitViolation refuses such a series before
        // it gets here): send the rest as is and let Timestream refuse it.
        take = left;
      }
      slices[slices.length - 1].push([measure, value.slice(at, at + take)]);
      at += take;
      room -= bytes(measure) + take;
    }
  }
  const head: TsRecord = {
    Dimensions: dims,
    MeasureName: name,
    MeasureValues: [...typed, ['parts', 'BIGINT', String(slices.length - 1)] as Measure, ...slices[0].map(([n, v]): Measure => [n, 'VARCHAR', v])]
      .map(([Name, Type, Value]) => ({ Name, Type, Value })),
    Time: time,
  };
  const continuations = slices.slice(1).map((slice, i): TsRecord => ({
    Dimensions: dims,
    MeasureName: `${name}.${i + 1}`,
    MeasureValues: slice.map(([Name, Value]) => ({ Name, Type: 'VARCHAR', Value })),
    Time: time,
  }));
  return [head, ...continuations];
}

function measureBytes([name, type, value]: Measure): number {
  return bytes(name) + (type === 'VARCHAR' ? bytes(value) : type === 'BOOLEAN' ? 1 : 8);
}

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** JSON with every non-ASCII character escaped, so a character count is a byte count and slices never split one. */
export function asciiJson(value: Attributes): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One query result row: column name → the scalar as Timestream renders it, null for NULL. */
export type Row = Record<string, string | null>;

/** Timestream renders `time` as `YYYY-MM-DD HH:MM:SS.fffffffff` in UTC. */
export function parseTimestreamTime(text: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/.exec(text);
  if (!m) throw new Error(`Timestream time "${text}" is not YYYY-MM-DD HH:MM:SS[.fffffffff]`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return BigInt(ms) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
}

/** The inverse of parseTimestreamTime, for building rows the way Timestream returns them. */
export function formatTimestreamTime(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
}

/** Head and continuation rows of one record, text measures reassembled. */
function assemble(rows: readonly Row[], base: string, textMeasures: readonly string[]): Row[] {
  const groups = new Map<string, { head?: Row; parts: Map<number, Row> }>();
  for (const row of rows) {
    const name = row.measure_name ?? '';
    const dot = name.indexOf('.');
    if ((dot < 0 ? name : name.slice(0, dot)) !== base) continue;
    const key = `${row.series_id}\0${row.time}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { parts: new Map() }));
    if (dot < 0) g.head = row;
    else g.parts.set(Number(name.slice(dot + 1)), row);
  }
  const out: Row[] = [];
  for (const g of groups.values()) {
    // A continuation without its head, or a head missing a part, is a write still in progress
    // (or one that failed halfway and will be retried): skip it rather than return half a point.
    if (!g.head) continue;
    const parts = Number(g.head.parts ?? 0);
    if (g.parts.size < parts) continue;
    const row = { ...g.head };
    for (let i = 1; i <= parts; i++) {
      const part = g.parts.get(i)!;
      for (const m of textMeasures) if (part[m] != null) row[m] = (row[m] ?? '') + part[m];
    }
    out.push(row);
  }
  return out;
}

/** series_id → series, from rows of the series table (one per series per day: the same content). */
export function decodeSeriesRows(rows: readonly Row[]): Map<string, SeriesRef> {
  const out = new Map<string, SeriesRef>();
  for (const row of assemble(rows, SERIES_MEASURE, ['resource', 'attributes'])) {
    const id = row.series_id!;
    if (out.has(id)) continue;
    out.set(id, {
      metric: required(row, 'metric'),
      unit: row.unit ?? '',
      resource: JSON.parse(required(row, 'resource')) as Attributes,
      attributes: JSON.parse(required(row, 'attributes')) as Attributes,
    });
  }
  return out;
}

/** Points from rows of the points table; a point whose series record is missing is skipped. */
export function decodePointRows(rows: readonly Row[], series: ReadonlyMap<string, SeriesRef>): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (const row of assemble(rows, POINT_MEASURE, ['bucket_counts', 'explicit_bounds'])) {
    const s = series.get(row.series_id ?? '');
    if (!s) continue;
    const times = { series: s, startNs: BigInt(required(row, 'start_ns')), endNs: parseTimestreamTime(required(row, 'time')) };
    const kind = required(row, 'point_kind') as MetricPoint['kind'];
    const num = (name: string) => (row[name] == null ? undefined : Number(row[name]));
    const stats = () => {
      const o: { sum?: number; min?: number; max?: number } = {};
      const sum = num('hist_sum'), min = num('hist_min'), max = num('hist_max');
      if (sum !== undefined) o.sum = sum;
      if (min !== undefined) o.min = min;
      if (max !== undefined) o.max = max;
      return o;
    };
    const temporality = (row.temporality ?? 'delta') as Temporality;
    const list = (name: string) => (row[name] ? row[name]!.split(',').map((v) => (v === '' ? 0 : Number(v))) : []);
    switch (kind) {
      case 'gauge':
        out.push({ ...times, kind, value: num('num_value') ?? NaN });
        break;
      case 'sum':
        out.push({ ...times, kind, temporality, monotonic: row.monotonic === 'true', value: num('num_value') ?? NaN });
        break;
      case 'histogram':
        out.push({ ...times, kind, temporality, count: num('hist_count') ?? 0, ...stats(), bounds: list('explicit_bounds'), counts: list('bucket_counts') });
        break;
      case 'exponential_histogram':
        out.push({
          ...times, kind, temporality, count: num('hist_count') ?? 0, ...stats(),
          scale: num('exp_scale') ?? 0, zeroCount: num('zero_count') ?? 0, offset: num('bucket_offset') ?? 0, counts: list('bucket_counts'),
        });
        break;
      default:
        throw new Error(`Timestream row has an unknown point_kind "${kind}"`);
    }
  }
  return out;
}

function required(row: Row, column: string): string {
  const v = row[column];
  if (v == null) throw new Error(`Timestream row is missing column "${column}"`);
  return v;
}
