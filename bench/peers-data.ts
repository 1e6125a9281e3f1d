// The same interval of a service's metrics in the two wire formats the ingest peers take: an OTLP
// ExportMetricsServiceRequest (what the agent sends the gateway) and a Prometheus remote-write
// request (what a Prometheus user stores). The template is what the agent really exported for a
// Go fixture (agent/export/testkit decodes it); the Prometheus side is what promhttp would have
// recorded for the same requests: a classic histogram over the client's default buckets.
import { ValueType } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import protobuf from 'protobufjs';
import type { DecodedMetric, DecodedPoint, DecodedResource } from '../agent/export/testkit.ts';
import { decodeMetricsRequest } from '../agent/export/testkit.ts';
import { hrTimeFromNs } from '../agent/export/otlp.ts';
import type { TimeSeries } from '../lambda/storage/prometheus-remote-write.ts';

/** prometheus.DefBuckets (client_golang), the buckets a promhttp histogram has unless told otherwise. */
export const PROMETHEUS_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The ResourceMetrics entries of an OTLP request, each as its own complete request (field 1 with
 * its tag and length: a request is the concatenation of them, see agent/export/otlp.ts).
 */
export function resourceParts(body: Uint8Array): Uint8Array[] {
  const reader = protobuf.Reader.create(body);
  const parts: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      reader.skip(reader.uint32());
      parts.push(body.subarray(start, reader.pos));
    } else {
      reader.skipType(tag & 7);
    }
  }
  return parts;
}

/** The parts of one export that describe the process `pid` (the agent reports every Go process on the host). */
export function partsOfProcess(body: Uint8Array, pid: number): { bytes: Uint8Array[]; resources: DecodedResource[] } {
  const bytes: Uint8Array[] = [];
  const resources: DecodedResource[] = [];
  for (const part of resourceParts(body)) {
    const [resource] = decodeMetricsRequest(part);
    if (resource && Number(resource.attributes['process.pid']) === pid) {
      bytes.push(part);
      resources.push(resource);
    }
  }
  return { bytes, resources };
}

/** The template's metrics with every point moved to the interval (startNs, endNs]. */
export function retimed(metrics: readonly DecodedMetric[], startNs: bigint, endNs: bigint): DecodedMetric[] {
  return metrics.map((m) => ({ ...m, points: m.points.map((p) => ({ ...p, startTimeUnixNano: startNs, timeUnixNano: endNs })) }));
}

function sdkMetric(m: DecodedMetric): MetricData {
  const times = (p: DecodedPoint) => ({ startTime: hrTimeFromNs(p.startTimeUnixNano), endTime: hrTimeFromNs(p.timeUnixNano), attributes: p.attributes });
  if (m.kind === 'exponential_histogram') {
    return {
      descriptor: { name: m.name, description: m.description, unit: m.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.DELTA,
      dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
      dataPoints: m.points.map((p) => {
        const h = p.histogram!;
        return {
          ...times(p),
          value: { count: h.count, sum: h.sum, min: h.min, max: h.max, scale: h.scale, zeroCount: h.zeroCount, positive: { offset: h.offset, bucketCounts: h.counts }, negative: { offset: 0, bucketCounts: [] } },
        };
      }),
    };
  }
  const base = { descriptor: { name: m.name, description: m.description, unit: m.unit, valueType: ValueType.INT }, aggregationTemporality: AggregationTemporality.DELTA };
  const dataPoints = m.points.map((p) => ({ ...times(p), value: p.value ?? 0 }));
  return m.kind === 'sum' ? { ...base, dataPointType: DataPointType.SUM, isMonotonic: m.isMonotonic ?? true, dataPoints } : { ...base, dataPointType: DataPointType.GAUGE, dataPoints };
}

/** One uncompressed OTLP protobuf request with one resource. */
export function otlpRequest(resource: Record<string, string | number | boolean>, metrics: readonly DecodedMetric[]): Uint8Array {
  const rm: ResourceMetrics = { resource: resourceFromAttributes(resource), scopeMetrics: [{ scope: { name: 'burnwatch-agent' }, metrics: metrics.map(sdkMetric) }] };
  const bytes = ProtobufMetricsSerializer.serializeRequest(rm);
  if (!bytes) throw new Error('the OTLP serializer produced no bytes');
  return bytes;
}

function promName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/** Upper bound of exponential bucket `index` at `scale` (OTLP: (base^index, base^(index+1)]). */
function bucketUpper(scale: number, index: number): number {
  return 2 ** ((index + 1) * 2 ** -scale);
}

/**
 * The same points as remote-write series, labelled as Prometheus labels a scraped service (job,
 * instance, the point attributes): an exponential histogram becomes a classic one over
 * PROMETHEUS_DEFAULT_BUCKETS (12 _bucket series, _sum, _count), a sum a _total, a gauge itself.
 */
export function remoteWriteSeries(resource: Record<string, string | number | boolean>, metrics: readonly DecodedMetric[]): TimeSeries[] {
  const out: TimeSeries[] = [];
  const base = { job: String(resource['service.name']), instance: `${resource['host.name']}:${resource['process.pid']}` };
  for (const m of metrics) {
    const name = promName(m.name);
    for (const p of m.points) {
      const labels: Record<string, string> = { ...base };
      for (const [k, v] of Object.entries(p.attributes)) labels[promName(k)] = String(v);
      const timestampMs = Number(p.timeUnixNano / 1_000_000n);
      const series = (suffix: string, value: number, extra: Record<string, string> = {}) =>
        out.push({ labels: { __name__: name + suffix, ...labels, ...extra }, samples: [{ value, timestampMs }] });
      if (m.kind === 'exponential_histogram') {
        const h = p.histogram!;
        for (const le of PROMETHEUS_DEFAULT_BUCKETS) {
          let below = h.zeroCount;
          h.counts.forEach((c, i) => {
            if (bucketUpper(h.scale, h.offset + i) <= le) below += c;
          });
          series('_bucket', below, { le: String(le) });
        }
        series('_bucket', h.count, { le: '+Inf' });
        series('_sum', h.sum ?? 0);
        series('_count', h.count);
      } else {
        series(m.kind === 'sum' ? '_total' : '', p.value ?? 0);
      }
    }
  }
  return out;
}
