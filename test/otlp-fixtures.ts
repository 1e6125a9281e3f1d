// OTLP request bodies for gateway tests, produced the way senders produce them: SDK
// `ResourceMetrics` serialised by @opentelemetry/otlp-transformer (what the agent and the
// OpenTelemetry JS SDK send), plus a client for the gateway's HTTP API.

import { ValueType, type HrTime } from '@opentelemetry/api';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type ExponentialHistogramMetricData,
  type MetricData,
  type ResourceMetrics,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';

export const DURATION = 'http.server.request.duration';

export function hrTime(ms: number): HrTime {
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

export interface ExpPointSpec {
  /** End of the interval, ms since the epoch. */
  endMs: number;
  /** Start of the interval; default 10 s before the end. */
  startMs?: number;
  attributes: Record<string, string | number>;
  scale: number;
  /** bucket index → count */
  buckets: Record<number, number>;
  max?: number;
}

export function expHistogramMetric(name: string, points: ExpPointSpec[], temporality = AggregationTemporality.DELTA): ExponentialHistogramMetricData {
  return {
    descriptor: { name, description: '', unit: 's', valueType: ValueType.DOUBLE },
    aggregationTemporality: temporality,
    dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
    dataPoints: points.map((p) => {
      const indices = Object.keys(p.buckets).map(Number).sort((a, b) => a - b);
      const offset = indices.length ? indices[0] : 0;
      const bucketCounts = indices.length ? new Array<number>(indices[indices.length - 1] - offset + 1).fill(0) : [];
      let count = 0;
      for (const i of indices) {
        bucketCounts[i - offset] = p.buckets[i];
        count += p.buckets[i];
      }
      return {
        startTime: hrTime(p.startMs ?? p.endMs - 10_000),
        endTime: hrTime(p.endMs),
        attributes: p.attributes,
        value: {
          count,
          sum: 0,
          scale: p.scale,
          zeroCount: 0,
          positive: { offset, bucketCounts },
          negative: { offset: 0, bucketCounts: [] },
          ...(p.max !== undefined ? { max: p.max } : {}),
        },
      };
    }),
  };
}

export function counterMetric(name: string, points: { endMs: number; value: number; attributes?: Record<string, string | number> }[]): SumMetricData {
  return {
    descriptor: { name, description: '', unit: '1', valueType: ValueType.INT },
    aggregationTemporality: AggregationTemporality.DELTA,
    dataPointType: DataPointType.SUM,
    isMonotonic: true,
    dataPoints: points.map((p) => ({ startTime: hrTime(p.endMs - 10_000), endTime: hrTime(p.endMs), attributes: p.attributes ?? {}, value: p.value })),
  };
}

export function resourceMetrics(resource: Record<string, string | number>, metrics: MetricData[]): ResourceMetrics {
  return { resource: resourceFromAttributes(resource), scopeMetrics: [{ scope: { name: 'burnwatch-test' }, metrics }] };
}

export function protobufBody(rm: ResourceMetrics): Uint8Array {
  const bytes = ProtobufMetricsSerializer.serializeRequest(rm);
  if (!bytes) throw new Error('the serializer produced no bytes');
  return bytes;
}

export function jsonBody(rm: ResourceMetrics): Uint8Array {
  const bytes = JsonMetricsSerializer.serializeRequest(rm);
  if (!bytes) throw new Error('the serializer produced no bytes');
  return bytes;
}

/** A small client for the gateway's HTTP API. */
export class GatewayClient {
  constructor(
    readonly url: string,
    readonly apiKey: string,
  ) {}

  post(path: string, body: Uint8Array | string, headers: Record<string, string>): Promise<Response> {
    return fetch(this.url + path, {
      method: 'POST',
      body: typeof body === 'string' ? body : Buffer.from(body),
      headers: { authorization: `Bearer ${this.apiKey}`, ...headers },
    });
  }

  postMetrics(body: Uint8Array | string, contentType = 'application/x-protobuf', headers: Record<string, string> = {}): Promise<Response> {
    return this.post('/v1/metrics', body, { 'content-type': contentType, ...headers });
  }

  get(path: string): Promise<Response> {
    return fetch(this.url + path, { headers: { authorization: `Bearer ${this.apiKey}` } });
  }

  async getJson<T = unknown>(path: string): Promise<T> {
    const res = await this.get(path);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** GET /v1/query with the given parameters. */
  query(params: Record<string, string>): Promise<{ series: { labels: Record<string, string>; points: [number, number][] }[] }> {
    return this.getJson(`/v1/query?${new URLSearchParams(params)}`);
  }
}
