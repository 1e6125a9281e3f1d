// Test support for agent/export: the receiving end of an OTLP/HTTP export, for real.
//
// - decodeMetricsRequest: an independent decoder for what otlp.ts writes, from a minimal schema of
//   the OTLP metrics messages (field numbers from opentelemetry-proto metrics/v1, common/v1,
//   resource/v1), so tests do not check the serializer with itself.
// - startReceiver: a node:http server on 127.0.0.1:0 that records every request (gunzipped) and
//   answers with whatever the test scripts, and can go down and come back on the same port.

import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

const OTLP_METRICS_SUBSET = `
syntax = "proto3";
package otlp;
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; }
}
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; ExponentialHistogram exponential_histogram = 10; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
}
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogramDataPoint {
  repeated KeyValue attributes = 1; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; sint32 scale = 6; fixed64 zero_count = 7;
  Buckets positive = 8; Buckets negative = 9; optional double min = 12; optional double max = 13;
  message Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2; }
}
`;

const RequestType = protobuf.parse(OTLP_METRICS_SUBSET, { keepCase: false }).root.lookupType('otlp.ExportMetricsServiceRequest');

export type Attrs = Record<string, string | number | boolean>;

export interface DecodedPoint {
  attributes: Attrs;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** Number points. */
  value?: number;
  /** Exponential-histogram points. */
  histogram?: { count: number; sum?: number; scale: number; zeroCount: number; offset: number; counts: number[]; min?: number; max?: number };
}

export interface DecodedMetric {
  name: string;
  unit: string;
  description: string;
  kind: 'exponential_histogram' | 'sum' | 'gauge';
  temporality?: number;
  isMonotonic?: boolean;
  points: DecodedPoint[];
}

export interface DecodedResource {
  attributes: Attrs;
  scopes: { name: string; version: string; metrics: DecodedMetric[] }[];
}

// protobufjs toObject output: loosely typed by nature; the decoded shape is checked by the tests.
type Obj = Record<string, any>;

function attrs(kvs: Obj[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of kvs ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = v.stringValue ?? v.boolValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue);
  }
  return out;
}

function point(p: Obj): DecodedPoint {
  const base: DecodedPoint = {
    attributes: attrs(p.attributes),
    startTimeUnixNano: BigInt(p.startTimeUnixNano),
    timeUnixNano: BigInt(p.timeUnixNano),
  };
  if (p.asInt !== undefined) base.value = Number(p.asInt);
  if (p.asDouble !== undefined) base.value = p.asDouble;
  if (p.count !== undefined) {
    base.histogram = {
      count: Number(p.count),
      sum: p.sum,
      scale: p.scale ?? 0,
      zeroCount: Number(p.zeroCount ?? 0),
      offset: p.positive?.offset ?? 0,
      counts: (p.positive?.bucketCounts ?? []).map(Number),
      min: p.min,
      max: p.max,
    };
  }
  return base;
}

/** Decodes an uncompressed ExportMetricsServiceRequest; 64-bit fields come back exact (bigint). */
export function decodeMetricsRequest(bytes: Uint8Array): DecodedResource[] {
  const msg = RequestType.toObject(RequestType.decode(bytes), { longs: String, defaults: false, oneofs: false });
  return (msg.resourceMetrics ?? []).map((rm: Obj) => ({
    attributes: attrs(rm.resource?.attributes),
    scopes: (rm.scopeMetrics ?? []).map((sm: Obj) => ({
      name: sm.scope?.name ?? '',
      version: sm.scope?.version ?? '',
      metrics: (sm.metrics ?? []).map((m: Obj): DecodedMetric => {
        const data = m.exponentialHistogram ?? m.sum ?? m.gauge ?? {};
        const kind = m.exponentialHistogram ? 'exponential_histogram' : m.sum ? 'sum' : 'gauge';
        return {
          name: m.name,
          unit: m.unit ?? '',
          description: m.description ?? '',
          kind,
          temporality: data.aggregationTemporality,
          isMonotonic: data.isMonotonic,
          points: (data.dataPoints ?? []).map(point),
        };
      }),
    })),
  }));
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The body after gunzip (when Content-Encoding says gzip). */
  body: Buffer;
  atMs: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Never answer (the client's timeout must fire). */
  hang?: boolean;
  /** Take the request, then drop the connection without answering: the sender cannot know. */
  reset?: boolean;
}

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Replies in order for the next requests; once used up, every request gets 200 with an empty body. */
  script: Reply[];
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when at least n requests have been recorded. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const script: Reply[] = [];
  const waiters = new Set<() => void>();
  let port = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body = raw;
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(raw);
      } catch {
        res.writeHead(400).end('bad gzip');
        return;
      }
      const reply = script.shift() ?? { status: 200 };
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, atMs: Date.now() });
      if (reply.reset) req.socket.destroy();
      else if (!reply.hang) res.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? '');
      for (const w of [...waiters]) w();
    });
  });
  const listen = async () => {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  let isUp = true;
  const down = async () => {
    if (!isUp) return;
    isUp = false;
    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections();
    await closed;
  };
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    requests,
    script,
    down,
    async up() {
      if (isUp) return;
      await listen();
      isUp = true;
    },
    close: down,
    waitForRequests(n, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (requests.length >= n) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${n} requests, got ${requests.length} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
