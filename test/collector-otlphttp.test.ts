// The gateway behind an OpenTelemetry Collector: requests built byte for byte as the
// collector's `otlphttp` exporter writes them (exporter/otlphttpexporter/otlp.go and factory.go,
// confighttp's gzip round tripper, Go's net/http client), sent over a raw socket so nothing adds
// or reorders a header. What the exporter does, and what this test holds the gateway to:
// - POST <endpoint>/v1/metrics, `Content-Type: application/x-protobuf` (encoding: proto, the
//   default) or `application/json` (encoding: json, pdata's JSON: int64s as strings, enums as
//   numbers), `User-Agent: <build description>/<version> (<GOOS>/<GOARCH>)`, the config's
//   `headers:` (the API key), and by default `Content-Encoding: gzip` with a Content-Length; Go's
//   transport adds `Accept-Encoding: gzip` last. Go's gzip header has MTIME 0 and OS 255.
// - A 2xx body is read as an ExportMetricsServiceResponse only when the response's Content-Type
//   is exactly `application/x-protobuf` or `application/json` (no parameters), for partial success.
// - 429 and 503 are retried after Retry-After, parsed first as whole seconds (strconv.Atoi), then
//   as an RFC 1123 date; 502 and 504 are retried; any other status is dropped for good. A retry
//   sends the same bytes again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from '../lambda/otlp/schema.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import type { MetricStore } from '../lambda/storage/types.ts';

const KEY = 'collector-test-key-0123456789';
const DURATION = 'http.server.request.duration';
const CONTRIB_UA = 'OpenTelemetry Collector Contrib/0.115.0 (linux/amd64)';
const CORE_UA = 'OpenTelemetry Collector/0.115.0 (linux/arm64)';
/** 50 ms falls in bucket index -139 at scale 5: (2^(-139/32), 2^(-138/32)] ∋ 0.05. */
const SCALE = 5;
const BUCKET_50MS = -139;

interface HostSpec {
  host: string;
  service: string;
  ok: number;
  errors: number;
  /** Make the 500s' point break an OTLP rule (count ≠ Σ buckets): rejected on its own. */
  breakErrorsPoint?: boolean;
}

/** One host's batch as the collector's pdata JSON marshaller writes it (int64 as strings, enums as numbers). */
function resourceMetricsJson(h: HostSpec, endNs: bigint) {
  const point = (status: number, count: number, broken = false) => ({
    attributes: [
      { key: 'http.request.method', value: { stringValue: 'GET' } },
      { key: 'http.route', value: { stringValue: '/checkout' } },
      { key: 'http.response.status_code', value: { intValue: String(status) } },
    ],
    startTimeUnixNano: String(endNs - 10_000_000_000n),
    timeUnixNano: String(endNs),
    count: String(broken ? count + 1 : count),
    sum: count * 0.05,
    scale: SCALE,
    zeroCount: '0',
    positive: { offset: BUCKET_50MS, bucketCounts: [String(count)] },
    min: 0.05,
    max: 0.05,
  });
  return {
    resource: {
      attributes: [
        { key: 'service.name', value: { stringValue: h.service } },
        { key: 'host.name', value: { stringValue: h.host } },
        // What a collector's resource processor typically adds on the way.
        { key: 'deployment.environment.name', value: { stringValue: 'prod' } },
      ],
    },
    scopeMetrics: [
      {
        scope: { name: 'burnwatch', version: '0.1.0' },
        metrics: [
          {
            name: DURATION,
            unit: 's',
            exponentialHistogram: {
              dataPoints: [point(200, h.ok), point(500, h.errors, h.breakErrorsPoint)],
              aggregationTemporality: 1, // DELTA
            },
          },
        ],
      },
    ],
  };
}

/** The batch processor's output: several agents' resources in one request. */
function exportRequestJson(hosts: HostSpec[], endNs: bigint) {
  return { resourceMetrics: hosts.map((h) => resourceMetricsJson(h, endNs)) };
}

function protobufOf(json: object): Buffer {
  return Buffer.from(ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.fromObject(json)).finish());
}

/** gzip as Go's compress/gzip writes it: no name, MTIME 0, XFL 0, OS 255 (unknown). */
function goGzip(body: Buffer): Buffer {
  const out = gzipSync(body);
  out.writeUInt32LE(0, 4);
  out[8] = 0;
  out[9] = 0xff;
  return out;
}

/**
 * The request as Go's net/http client writes it: Host, User-Agent, Content-Length, the other
 * headers sorted by name, then the transport's Accept-Encoding.
 */
function collectorRequest(port: number, userAgent: string, contentType: string, body: Buffer): Buffer {
  const head = [
    'POST /v1/metrics HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    `User-Agent: ${userAgent}`,
    `Content-Length: ${body.length}`,
    `Authorization: Bearer ${KEY}`,
    'Content-Encoding: gzip',
    `Content-Type: ${contentType}`,
    'Accept-Encoding: gzip',
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Writes the bytes on a fresh connection and reads one HTTP/1.1 response (Content-Length or chunked). */
function sendRaw(port: number, request: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let data = Buffer.alloc(0);
    const tryParse = (): RawResponse | undefined => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      let rest = data.subarray(end + 4);
      const status = Number(statusLine.split(' ')[1]);
      if (headers.has('content-length')) {
        const n = Number(headers.get('content-length'));
        return rest.length >= n ? { status, headers, body: rest.subarray(0, n) } : undefined;
      }
      if (headers.get('transfer-encoding') === 'chunked') {
        const parts: Buffer[] = [];
        for (;;) {
          const lineEnd = rest.indexOf('\r\n');
          if (lineEnd < 0) return undefined;
          const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
          if (rest.length < lineEnd + 2 + size + 2) return undefined;
          if (size === 0) return { status, headers, body: Buffer.concat(parts) };
          parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          rest = rest.subarray(lineEnd + 2 + size + 2);
        }
      }
      return undefined;
    };
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const r = tryParse();
      if (r) {
        socket.destroy();
        resolve(r);
      }
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`connection closed before a whole response: ${data.toString('latin1')}`)));
  });
}

/** What the exporter reads from a 2xx: the partial success, if the Content-Type is one it decodes. */
function partialSuccessOf(r: RawResponse): { rejectedDataPoints: number; errorMessage: string } | undefined {
  const contentType = r.headers.get('content-type');
  if (contentType === 'application/x-protobuf') {
    const decoded = ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(r.body), { longs: Number }) as { partialSuccess?: { rejectedDataPoints?: number; errorMessage?: string } };
    return decoded.partialSuccess ? { rejectedDataPoints: decoded.partialSuccess.rejectedDataPoints ?? 0, errorMessage: decoded.partialSuccess.errorMessage ?? '' } : undefined;
  }
  if (contentType === 'application/json') {
    const decoded = JSON.parse(r.body.toString('utf8') || '{}') as { partialSuccess?: { rejectedDataPoints?: number | string; errorMessage?: string } };
    return decoded.partialSuccess ? { rejectedDataPoints: Number(decoded.partialSuccess.rejectedDataPoints ?? 0), errorMessage: decoded.partialSuccess.errorMessage ?? '' } : undefined;
  }
  throw new Error(`the exporter would not read a body of Content-Type "${contentType}"`);
}

async function count(gw: RunningGateway, service: string, agg: 'count' | 'errors', by?: string): Promise<Record<string, number>> {
  const params = new URLSearchParams({ service, metric: DURATION, agg, from: '-30m', to: 'now', ...(by ? { by } : {}) });
  const res = await fetch(`${gw.url}/v1/query?${params}`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200);
  const { series } = (await res.json()) as { series: { labels: Record<string, string>; points: [number, number][] }[] };
  return Object.fromEntries(series.map((s) => [by ? s.labels[by] : 'all', s.points[0][1]]));
}

let gw: RunningGateway;
before(async () => {
  gw = await startGateway({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'bw-collector-')), apiKeys: { [KEY]: 'tenant-c' }, log: () => undefined });
});
after(() => gw?.close());

test('protobuf and JSON batches from two collectors (several hosts each, gzip) are counted exactly; a retry of the same bytes adds nothing', async () => {
  const service = `checkout-${process.pid}`;
  const endNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const proto = goGzip(protobufOf(exportRequestJson([
    { host: 'node-a', service, ok: 40, errors: 3 },
    { host: 'node-b', service, ok: 25, errors: 0 },
  ], endNs)));
  const json = goGzip(Buffer.from(JSON.stringify(exportRequestJson([{ host: 'node-c', service, ok: 12, errors: 5 }], endNs))));

  const first = await sendRaw(gw.port, collectorRequest(gw.port, CONTRIB_UA, 'application/x-protobuf', proto));
  assert.equal(first.status, 200, first.body.toString());
  assert.equal(first.headers.get('content-type'), 'application/x-protobuf', 'exactly: the exporter compares the whole header');
  assert.equal(partialSuccessOf(first), undefined);
  const second = await sendRaw(gw.port, collectorRequest(gw.port, CORE_UA, 'application/json', json));
  assert.equal(second.status, 200, second.body.toString());
  assert.equal(second.headers.get('content-type'), 'application/json');
  assert.equal(partialSuccessOf(second), undefined);

  assert.deepEqual(await count(gw, service, 'count'), { all: 85 });
  assert.deepEqual(await count(gw, service, 'errors'), { all: 8 });
  assert.deepEqual(await count(gw, service, 'count', 'host.name'), { 'node-a': 43, 'node-b': 25, 'node-c': 17 });

  // The exporter's retry (its timeout passed while the gateway stored the batch) sends the same bytes.
  const retry = await sendRaw(gw.port, collectorRequest(gw.port, CONTRIB_UA, 'application/x-protobuf', proto));
  assert.equal(retry.status, 200);
  assert.deepEqual(await count(gw, service, 'count'), { all: 85 });
});

test('one broken point is a partial success the exporter decodes (rejected count and the field), the rest counted', async () => {
  const service = `partial-${process.pid}`;
  const endNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const body = goGzip(protobufOf(exportRequestJson([
    { host: 'node-a', service, ok: 10, errors: 2, breakErrorsPoint: true },
    { host: 'node-b', service, ok: 7, errors: 1 },
  ], endNs)));
  const r = await sendRaw(gw.port, collectorRequest(gw.port, CONTRIB_UA, 'application/x-protobuf', body));
  assert.equal(r.status, 200);
  const partial = partialSuccessOf(r);
  assert.equal(partial?.rejectedDataPoints, 1);
  assert.match(partial!.errorMessage, /resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.exponentialHistogram\.dataPoints\[1\]: count is 3/);
  assert.deepEqual(await count(gw, service, 'count', 'host.name'), { 'node-a': 10, 'node-b': 8 });
});

test('an overloaded gateway answers 429 with Retry-After in whole seconds; the exporter\'s resend is stored once', async () => {
  // A store whose first write waits: the gateway holds one write, so the next is refused.
  const inner = await DuckDbStore.open({ path: ':memory:' });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let writes = 0;
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'write') {
        return async (...args: Parameters<MetricStore['write']>) => {
          if (writes++ === 0) await held;
          return target.write(...args);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as MetricStore;
  const busy = await startGateway({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'bw-collector-busy-')), store, apiKeys: { [KEY]: 'tenant-c' }, admission: { maxPendingWrites: 1, retryAfterSeconds: 3 }, log: () => undefined });
  try {
    const service = `busy-${process.pid}`;
    const endNs = BigInt(Date.now() - 60_000) * 1_000_000n;
    const a = goGzip(protobufOf(exportRequestJson([{ host: 'node-a', service, ok: 9, errors: 1 }], endNs)));
    const b = goGzip(protobufOf(exportRequestJson([{ host: 'node-b', service, ok: 4, errors: 2 }], endNs)));
    const pendingA = sendRaw(busy.port, collectorRequest(busy.port, CONTRIB_UA, 'application/x-protobuf', a));
    while (writes === 0) await new Promise((r) => setTimeout(r, 10));
    const refused = await sendRaw(busy.port, collectorRequest(busy.port, CONTRIB_UA, 'application/x-protobuf', b));
    assert.equal(refused.status, 429);
    // strconv.Atoi must read it: digits only, no date.
    assert.equal(refused.headers.get('retry-after'), '3');
    release();
    assert.equal((await pendingA).status, 200);
    const resent = await sendRaw(busy.port, collectorRequest(busy.port, CONTRIB_UA, 'application/x-protobuf', b));
    assert.equal(resent.status, 200);
    assert.deepEqual(await count(busy, service, 'count', 'host.name'), { 'node-a': 10, 'node-b': 6 });
  } finally {
    await busy.close();
  }
});

test('a storage outage is a 503 with Retry-After in whole seconds, which the exporter retries', async () => {
  const inner = await DuckDbStore.open({ path: ':memory:' });
  const down = await startGateway({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'bw-collector-down-')), store: inner, apiKeys: { [KEY]: 'tenant-c' }, log: () => undefined });
  try {
    await inner.close();
    const body = goGzip(protobufOf(exportRequestJson([{ host: 'node-a', service: `down-${process.pid}`, ok: 1, errors: 0 }], BigInt(Date.now() - 60_000) * 1_000_000n)));
    const r = await sendRaw(down.port, collectorRequest(down.port, CONTRIB_UA, 'application/x-protobuf', body));
    assert.equal(r.status, 503);
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
  } finally {
    await down.close().catch(() => undefined);
  }
});
