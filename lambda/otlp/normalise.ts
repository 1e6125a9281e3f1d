// A decoded ExportMetricsServiceRequest → storage points, checking each data point on the way.
//
// A point that breaks an OTLP rule (count ≠ Σ buckets, end before start, …) or that burnwatch
// cannot store (Summary, negative exponential buckets) is rejected on its own with the path to it
// (`resourceMetrics[0].scopeMetrics[1].metrics[3].exponentialHistogram.dataPoints[0]: …`); the
// others are kept. The caller answers a partial success, or 400 when nothing was acceptable.

import { MAX_SCALE, MIN_SCALE } from '../../common/exphist.ts';
import { histogramInSeconds, planUnit } from './units.ts';
import type {
  AttributeValue,
  Attributes,
  ExponentialHistogramValue,
  ExplicitHistogramValue,
  MetricPoint,
  PointValue,
  SeriesRef,
  Temporality,
} from '../storage/types.ts';

export interface Rejection {
  path: string;
  reason: string;
  /** Data points this rejection covers (a whole metric may be rejected at once). */
  points: number;
}

export interface NormalisedMetrics {
  points: MetricPoint[];
  rejections: Rejection[];
  /** Data points in the request (accepted + rejected + skipped). */
  total: number;
  /** Points flagged "no recorded value": nothing to store, nothing wrong. */
  skipped: number;
}

// The decoded shape (decode.ts: toObject with longs and enums as strings, arrays always present).
type Obj = Record<string, unknown>;
export interface KeyValue { key?: string; value?: AnyValue }
export interface AnyValue {
  stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number;
  arrayValue?: { values: AnyValue[] }; kvlistValue?: { values: KeyValue[] }; bytesValue?: string;
}
interface DataPoint {
  attributes: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  flags?: number;
  // NumberDataPoint
  asDouble?: number; asInt?: string;
  // (Exponential)HistogramDataPoint
  count?: string; sum?: number; min?: number; max?: number;
  bucketCounts?: string[]; explicitBounds?: number[];
  scale?: number; zeroCount?: string;
  positive?: { offset?: number; bucketCounts: string[] };
  negative?: { offset?: number; bucketCounts: string[] };
}
interface DataContainer { dataPoints: DataPoint[]; aggregationTemporality?: string; isMonotonic?: boolean }

const DATA_FIELDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;
const NO_RECORDED_VALUE = 1;
const MAX_TIME_NS = (1n << 63n) - 1n;

class PointError extends Error {}

export function normaliseMetricsRequest(request: Obj): NormalisedMetrics {
  const out: NormalisedMetrics = { points: [], rejections: [], total: 0, skipped: 0 };
  const resourceMetrics = (request.resourceMetrics ?? []) as Obj[];
  resourceMetrics.forEach((rm, ri) => {
    let resource: Attributes;
    try {
      resource = attributes(((rm.resource as Obj | undefined)?.attributes ?? []) as KeyValue[]);
    } catch (err) {
      if (!(err instanceof PointError)) throw err;
      const points = countPoints(rm);
      out.total += points;
      out.rejections.push({ path: `resourceMetrics[${ri}].resource`, reason: err.message, points });
      return;
    }
    ((rm.scopeMetrics ?? []) as Obj[]).forEach((sm, si) => {
      ((sm.metrics ?? []) as Obj[]).forEach((metric, mi) => {
        normaliseMetric(metric, resource, `resourceMetrics[${ri}].scopeMetrics[${si}].metrics[${mi}]`, out);
      });
    });
  });
  return out;
}

function countPoints(rm: Obj): number {
  let n = 0;
  for (const sm of (rm.scopeMetrics ?? []) as Obj[]) {
    for (const metric of (sm.metrics ?? []) as Obj[]) {
      const field = DATA_FIELDS.find((f) => metric[f] !== undefined);
      if (field) n += (metric[field] as DataContainer).dataPoints.length;
    }
  }
  return n;
}

function normaliseMetric(metric: Obj, resource: Attributes, path: string, out: NormalisedMetrics): void {
  const field = DATA_FIELDS.find((f) => metric[f] !== undefined);
  if (!field) return; // a metric with no data carries no points
  const data = metric[field] as DataContainer;
  const dataPath = `${path}.${field}`;
  const n = data.dataPoints.length;
  out.total += n;
  if (n === 0) return;
  const name = typeof metric.name === 'string' ? metric.name : '';
  const rejectAll = (reason: string, at = path): void => {
    out.rejections.push({ path: at, reason, points: n });
  };
  if (name === '') return rejectAll('name: a metric needs a name');
  if (field === 'summary') return rejectAll(`${name}: Summary metrics are not supported; send a histogram`, dataPath);

  let temporality: Temporality | undefined;
  if (field !== 'gauge') {
    temporality = temporalityOf(data.aggregationTemporality);
    if (!temporality) return rejectAll(`aggregationTemporality must be DELTA (1) or CUMULATIVE (2), got ${data.aggregationTemporality ?? 'none'}`, dataPath);
  }
  const declaredUnit = typeof metric.unit === 'string' ? metric.unit : '';
  const plan = planUnit(name, declaredUnit, field === 'histogram' ? 'histogram' : field === 'exponentialHistogram' ? 'exponential_histogram' : field);
  if (plan.action === 'refuse') return rejectAll(`${name}: ${plan.reason}`, path);
  const unit = plan.action === 'convert' ? 's' : declaredUnit;
  data.dataPoints.forEach((dp, i) => {
    const at = `${dataPath}.dataPoints[${i}]`;
    if (((dp.flags ?? 0) & NO_RECORDED_VALUE) !== 0) {
      out.skipped++;
      return;
    }
    try {
      const { startNs, endNs } = times(dp);
      const sent = pointValue(field, dp, data, temporality);
      const value = plan.action === 'convert' ? inSeconds(sent, plan.to, plan.from) : sent;
      const series: SeriesRef = { metric: name, unit, resource, attributes: attributes(dp.attributes) };
      out.points.push({ ...value, series, startNs, endNs });
    } catch (err) {
      if (!(err instanceof PointError)) throw err;
      out.rejections.push({ path: at, reason: err.message, points: 1 });
    }
  });
}

function inSeconds(value: PointValue, to: (v: number) => number, from: string): PointValue {
  if (value.kind !== 'histogram') return value; // planUnit converts explicit histograms only
  try {
    return histogramInSeconds(value, to, from);
  } catch (err) {
    throw new PointError((err as Error).message);
  }
}

function temporalityOf(name: string | undefined): Temporality | undefined {
  if (name === 'AGGREGATION_TEMPORALITY_DELTA') return 'delta';
  if (name === 'AGGREGATION_TEMPORALITY_CUMULATIVE') return 'cumulative';
  return undefined;
}

function times(dp: DataPoint): { startNs: bigint; endNs: bigint } {
  const endNs = BigInt(dp.timeUnixNano ?? '0');
  const startNs = BigInt(dp.startTimeUnixNano ?? '0');
  if (endNs === 0n) throw new PointError('timeUnixNano is missing');
  if (endNs > MAX_TIME_NS) throw new PointError(`timeUnixNano ${endNs} is after the year 2262`);
  if (startNs > endNs) throw new PointError(`startTimeUnixNano (${startNs}) is after timeUnixNano (${endNs})`);
  return { startNs, endNs };
}

function pointValue(
  field: Exclude<(typeof DATA_FIELDS)[number], 'summary'>,
  dp: DataPoint,
  data: DataContainer,
  temporality: Temporality | undefined,
): PointValue {
  switch (field) {
    case 'gauge':
      return { kind: 'gauge', value: numberValue(dp) };
    case 'sum': {
      const value = numberValue(dp);
      const monotonic = data.isMonotonic === true;
      if (monotonic && value < 0) throw new PointError(`a monotonic sum cannot be negative, got ${value}`);
      return { kind: 'sum', temporality: temporality!, monotonic, value };
    }
    case 'histogram':
      return explicitHistogram(dp, temporality!);
    case 'exponentialHistogram':
      return exponentialHistogram(dp, temporality!);
  }
}

function numberValue(dp: DataPoint): number {
  const value = dp.asDouble !== undefined ? dp.asDouble : dp.asInt !== undefined ? Number(dp.asInt) : undefined;
  if (value === undefined) throw new PointError('has neither asDouble nor asInt');
  if (!Number.isFinite(value)) throw new PointError(`value must be finite, got ${value}`);
  return value;
}

/** A uint64 count as a number: exact up to 2^53, which no real count reaches. */
function count(text: string | undefined, what: string): number {
  const n = Number(text ?? '0');
  if (!Number.isSafeInteger(n)) throw new PointError(`${what} ${text} is larger than 2^53`);
  return n;
}

function counts(texts: string[], what: string): number[] {
  return texts.map((t, i) => count(t, `${what}[${i}]`));
}

function stats(dp: DataPoint): { sum?: number; min?: number; max?: number } {
  const out: { sum?: number; min?: number; max?: number } = {};
  for (const k of ['sum', 'min', 'max'] as const) {
    const v = dp[k];
    if (v === undefined) continue;
    if (!Number.isFinite(v)) throw new PointError(`${k} must be finite, got ${v}`);
    out[k] = v;
  }
  if (out.min !== undefined && out.max !== undefined && out.min > out.max) {
    throw new PointError(`min (${out.min}) is greater than max (${out.max})`);
  }
  return out;
}

function explicitHistogram(dp: DataPoint, temporality: Temporality): ExplicitHistogramValue {
  const total = count(dp.count, 'count');
  const bucketCounts = counts(dp.bucketCounts ?? [], 'bucketCounts');
  const bounds = dp.explicitBounds ?? [];
  if (bucketCounts.length > 0 && bucketCounts.length !== bounds.length + 1) {
    throw new PointError(`has ${bucketCounts.length} bucketCounts for ${bounds.length} explicitBounds; expected ${bounds.length + 1}`);
  }
  bounds.forEach((b, i) => {
    if (!Number.isFinite(b)) throw new PointError(`explicitBounds[${i}] must be finite, got ${b}`);
    if (i > 0 && b <= bounds[i - 1]) throw new PointError(`explicitBounds must increase: [${i - 1}] = ${bounds[i - 1]}, [${i}] = ${b}`);
  });
  const bucketTotal = bucketCounts.reduce((a, c) => a + c, 0);
  if (bucketCounts.length > 0 && bucketTotal !== total) {
    throw new PointError(`count is ${total} but the bucketCounts add up to ${bucketTotal}`);
  }
  return { kind: 'histogram', temporality, count: total, ...stats(dp), bounds: [...bounds], counts: bucketCounts };
}

function exponentialHistogram(dp: DataPoint, temporality: Temporality): ExponentialHistogramValue {
  const scale = dp.scale ?? 0;
  if (scale < MIN_SCALE || scale > MAX_SCALE) throw new PointError(`scale must be in [${MIN_SCALE}, ${MAX_SCALE}], got ${scale}`);
  const total = count(dp.count, 'count');
  const zeroCount = count(dp.zeroCount, 'zeroCount');
  const positive = counts(dp.positive?.bucketCounts ?? [], 'positive.bucketCounts');
  const negative = counts(dp.negative?.bucketCounts ?? [], 'negative.bucketCounts');
  if (negative.some((c) => c > 0)) {
    throw new PointError('negative values (negative.bucketCounts) are not supported; burnwatch stores durations and sizes');
  }
  const offset = dp.positive?.offset ?? 0;
  // Bucket i spans (2^(i/2^scale), 2^((i+1)/2^scale)]: past ±1023·2^scale the bounds overflow a double.
  const limit = 1023 * 2 ** scale;
  if (positive.length > 0 && (offset < -limit || offset + positive.length > limit)) {
    throw new PointError(`positive buckets [${offset}, ${offset + positive.length}) are outside the range of doubles at scale ${scale}`);
  }
  const bucketTotal = zeroCount + positive.reduce((a, c) => a + c, 0);
  if (bucketTotal !== total) {
    throw new PointError(`count is ${total} but zeroCount + positive.bucketCounts add up to ${bucketTotal}`);
  }
  return { kind: 'exponential_histogram', temporality, count: total, ...stats(dp), scale, zeroCount, offset, counts: positive };
}

/** Attribute values nest (arrays, key-value lists); deeper than this is refused rather than recursed into. */
const MAX_ATTRIBUTE_DEPTH = 32;

export function attributes(kvs: KeyValue[], depth = 0): Attributes {
  // Keys come from the sender: fromEntries defines own properties, so "__proto__" is an
  // attribute like any other instead of replacing the object's prototype (readers use Object.hasOwn).
  return Object.fromEntries(kvs.map((kv) => [kv.key ?? '', anyValue(kv.value, depth + 1)]));
}

function anyValue(v: AnyValue | undefined, depth: number): AttributeValue {
  if (depth > MAX_ATTRIBUTE_DEPTH) throw new PointError(`attribute values are nested more than ${MAX_ATTRIBUTE_DEPTH} levels deep`);
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : v.intValue;
  }
  if (v.doubleValue !== undefined) return Number.isFinite(v.doubleValue) ? v.doubleValue : String(v.doubleValue);
  if (v.arrayValue !== undefined) return v.arrayValue.values.map((e) => anyValue(e, depth + 1));
  if (v.kvlistValue !== undefined) return attributes(v.kvlistValue.values, depth + 1);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

/** The partial-success message: the first few rejections with their paths, bounded in size. */
export function describeRejections(rejections: readonly Rejection[], limit = 5): string {
  const shown = rejections.slice(0, limit).map((r) => `${r.path}: ${r.reason}`);
  const more = rejections.length > limit ? ` (and ${rejections.length - limit} more)` : '';
  const text = shown.join('; ') + more;
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
