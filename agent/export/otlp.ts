// What collectors produce → OTLP/HTTP protobuf bytes.
//
// The interface between collectors and export is the OpenTelemetry SDK's own data model
// (`ResourceMetrics` from @opentelemetry/sdk-metrics), so the same data can also be handed to any
// SDK exporter; the bytes come from otlp-transformer's public ProtobufMetricsSerializer.
//
// Times are nanoseconds as bigint up to here: a point's (series, start, end) is its identity at
// the gateway (a resend is a no-op only if the times are bit-exact), and a double cannot hold
// nanoseconds since the epoch.

import { ValueType } from '@opentelemetry/api';
import type { Attributes, HrTime } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type {
  DataPoint,
  ExponentialHistogram,
  ExponentialHistogramMetricData,
  GaugeMetricData,
  MetricData,
  ResourceMetrics,
  ScopeMetrics,
  SumMetricData,
} from '@opentelemetry/sdk-metrics';
import type { MetricDescriptor } from '../../common/catalogue.ts';
import { MAX_SCALE, MIN_SCALE } from '../../common/exphist.ts';
import type { ExpHistogram } from '../../common/exphist.ts';

export const AGENT_VERSION = '0.1.0';

/** The instrumentation scope every metric the agent produces is reported under. */
export const AGENT_SCOPE: ScopeMetrics['scope'] = { name: 'burnwatch-agent', version: AGENT_VERSION };

export type PointAttributes = Record<string, string | number | boolean>;

export interface ExpHistogramPoint {
  attributes: PointAttributes;
  startTimeNs: bigint;
  endTimeNs: bigint;
  /** Values in seconds (the kernel's nanoseconds are converted by the collector). */
  histogram: ExpHistogram;
}

export interface NumberPoint {
  attributes: PointAttributes;
  startTimeNs: bigint;
  endTimeNs: bigint;
  value: number;
}

const NS_PER_S = 1_000_000_000n;
const MAX_UINT64 = (1n << 64n) - 1n;

/** Exact conversion: HrTime is [seconds, nanoseconds], both safe integers for any uint64 time. */
export function hrTimeFromNs(ns: bigint): HrTime {
  return [Number(ns / NS_PER_S), Number(ns % NS_PER_S)];
}

export function nsFromHrTime(t: HrTime): bigint {
  return BigInt(t[0]) * NS_PER_S + BigInt(t[1]);
}

/** An exponential-histogram metric (delta temporality) from catalogue descriptor + points. */
export function exponentialHistogramMetric(
  descriptor: MetricDescriptor,
  points: readonly ExpHistogramPoint[],
): ExponentialHistogramMetricData {
  requireKind(descriptor, 'exponential_histogram');
  return {
    descriptor: sdkDescriptor(descriptor, ValueType.DOUBLE),
    aggregationTemporality: AggregationTemporality.DELTA,
    dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
    dataPoints: points.map((p, i): DataPoint<ExponentialHistogram> => {
      const where = `${descriptor.name} points[${i}]`;
      return {
        ...pointTimes(p, where),
        attributes: checkAttributes(descriptor, p.attributes, where),
        value: toSdkHistogram(p.histogram, `${where}.histogram`),
      };
    }),
  };
}

/**
 * A counter (delta, monotonic sum of integers) or gauge metric. Counters are integers because
 * everything the agent counts is a number of things (batches, bytes, events).
 */
export function numberMetric(descriptor: MetricDescriptor, points: readonly NumberPoint[]): SumMetricData | GaugeMetricData {
  if (descriptor.kind !== 'counter' && descriptor.kind !== 'gauge') {
    throw new TypeError(`${descriptor.name}: numberMetric needs a counter or gauge descriptor, got kind '${descriptor.kind}'`);
  }
  const dataPoints = points.map((p, i): DataPoint<number> => {
    const where = `${descriptor.name} points[${i}]`;
    if (!Number.isSafeInteger(p.value) || (descriptor.kind === 'counter' && p.value < 0)) {
      throw new RangeError(`${where}.value must be a ${descriptor.kind === 'counter' ? 'non-negative ' : ''}safe integer, got ${p.value}`);
    }
    return { ...pointTimes(p, where), attributes: checkAttributes(descriptor, p.attributes, where), value: p.value };
  });
  const base = { descriptor: sdkDescriptor(descriptor, ValueType.INT), aggregationTemporality: AggregationTemporality.DELTA };
  return descriptor.kind === 'counter'
    ? { ...base, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints }
    : { ...base, dataPointType: DataPointType.GAUGE, dataPoints };
}

/** One watched process (or the agent itself): its resource attributes and its metrics. */
export function resourceMetrics(
  resource: PointAttributes,
  metrics: MetricData[],
  scope: ScopeMetrics['scope'] = AGENT_SCOPE,
): ResourceMetrics {
  for (const [k, v] of Object.entries(resource)) checkAttributeValue(v, `resource attribute '${k}'`);
  return { resource: resourceFromAttributes(resource), scopeMetrics: [{ scope, metrics }] };
}

/**
 * One ExportMetricsServiceRequest holding every given resource. The serializer encodes one
 * ResourceMetrics per request; protobuf defines concatenated encodings of a message as the merge
 * of them, and `resource_metrics` is a repeated field, so concatenating the per-resource requests
 * is exactly the request with all resources.
 */
export function encodeMetrics(resources: readonly ResourceMetrics[]): Uint8Array {
  const parts = resources.map((rm, i) => {
    const bytes = ProtobufMetricsSerializer.serializeRequest(rm);
    if (!bytes) throw new Error(`resourceMetrics[${i}]: the OTLP serializer produced no bytes`);
    return bytes;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function requireKind(descriptor: MetricDescriptor, kind: MetricDescriptor['kind']): void {
  if (descriptor.kind !== kind) {
    throw new TypeError(`${descriptor.name}: expected a descriptor of kind '${kind}', got '${descriptor.kind}'`);
  }
}

function sdkDescriptor(d: MetricDescriptor, valueType: ValueType) {
  return { name: d.name, description: d.description, unit: d.unit, valueType };
}

function pointTimes(p: { startTimeNs: bigint; endTimeNs: bigint }, where: string): { startTime: HrTime; endTime: HrTime } {
  for (const field of ['startTimeNs', 'endTimeNs'] as const) {
    const v = p[field];
    if (typeof v !== 'bigint' || v <= 0n || v > MAX_UINT64) {
      throw new RangeError(`${where}.${field} must be a bigint of nanoseconds since the epoch in (0, 2^64), got ${String(v)}`);
    }
  }
  if (p.startTimeNs > p.endTimeNs) {
    throw new RangeError(`${where}: startTimeNs (${p.startTimeNs}) is after endTimeNs (${p.endTimeNs})`);
  }
  return { startTime: hrTimeFromNs(p.startTimeNs), endTime: hrTimeFromNs(p.endTimeNs) };
}

function checkAttributes(descriptor: MetricDescriptor, attrs: PointAttributes, where: string): Attributes {
  if (attrs === null || typeof attrs !== 'object') throw new TypeError(`${where}.attributes must be an object`);
  for (const [k, v] of Object.entries(attrs)) {
    // The catalogue is the contract with the gateway and the query engine: an attribute it does
    // not name would create series nobody can query by.
    if (!descriptor.attributes.includes(k)) {
      throw new RangeError(`${where}.attributes: '${k}' is not an attribute of ${descriptor.name} (allowed: ${descriptor.attributes.join(', ') || 'none'})`);
    }
    checkAttributeValue(v, `${where}.attributes['${k}']`);
  }
  return { ...attrs };
}

function checkAttributeValue(v: unknown, where: string): void {
  const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  if (!ok) throw new TypeError(`${where} must be a string, boolean or finite number, got ${String(v)}`);
}

function toSdkHistogram(h: ExpHistogram, where: string): ExponentialHistogram {
  if (!Number.isInteger(h.scale) || h.scale < MIN_SCALE || h.scale > MAX_SCALE) {
    throw new RangeError(`${where}.scale must be an integer in [${MIN_SCALE}, ${MAX_SCALE}], got ${h.scale}`);
  }
  if (!Number.isSafeInteger(h.offset)) throw new RangeError(`${where}.offset must be an integer, got ${h.offset}`);
  const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!isCount(h.zeroCount)) throw new RangeError(`${where}.zeroCount must be a non-negative integer, got ${h.zeroCount}`);
  if (!isCount(h.count)) throw new RangeError(`${where}.count must be a non-negative integer, got ${h.count}`);
  let total = h.zeroCount;
  h.counts.forEach((c, i) => {
    if (!isCount(c)) throw new RangeError(`${where}.counts[${i}] must be a non-negative integer, got ${c}`);
    total += c;
  });
  // OTLP requires count = zero_count + Σ bucket counts; a mismatch means a torn read of the maps.
  if (total !== h.count) {
    throw new RangeError(`${where}.count is ${h.count} but zeroCount + Σcounts is ${total}`);
  }
  if (!Number.isFinite(h.sum)) throw new RangeError(`${where}.sum must be a finite number, got ${h.sum}`);
  for (const field of ['min', 'max'] as const) {
    const v = h[field];
    if (v !== undefined && !Number.isFinite(v)) throw new RangeError(`${where}.${field} must be a finite number, got ${v}`);
  }
  if (h.min !== undefined && h.max !== undefined && h.min > h.max) {
    throw new RangeError(`${where}: min (${h.min}) is greater than max (${h.max})`);
  }
  return {
    count: h.count,
    sum: h.sum,
    scale: h.scale,
    zeroCount: h.zeroCount,
    positive: { offset: h.offset, bucketCounts: [...h.counts] },
    negative: { offset: 0, bucketCounts: [] },
    ...(h.min !== undefined ? { min: h.min } : {}),
    ...(h.max !== undefined ? { max: h.max } : {}),
  };
}
