// The gateway for real: OTLP over HTTP into DuckDB, from the OpenTelemetry JS SDK and from the
// serializer the agent uses, bad requests of every kind, retries, and a restart on the same data.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { relativeError } from '../common/exphist.ts';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { ExportMetricsServiceResponse } from '../lambda/otlp/schema.ts';
import {
  DURATION,
  GatewayClient,
  counterMetric,
  expHistogramMetric,
  jsonBody,
  protobufBody,
  resourceMetrics,
} from './otlp-fixtures.ts';

const KEYS = { 'key-a': 'tenant-a', 'key-b': 'tenant-b' };
const LIMITS = { maxBodyBytes: 256 * 1024, maxDecompressedBytes: 1024 * 1024 };

async function expectError(res: Response, status: number, code: string, messageIncludes?: string): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
  if (messageIncludes) assert.ok(body.error.message.includes(messageIncludes), `"${body.error.message}" should mention "${messageIncludes}"`);
  return body.error.message;
}

/** Sends a body with chunked transfer encoding (no Content-Length) and returns status and body. */
function postChunked(url: string, chunks: Buffer[], headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/metrics`, { method: 'POST', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The server answers 413 mid-upload; writes after that may fail, which is expected.
    req.on('error', (err) => (req.writableEnded ? undefined : reject(err)));
    let i = 0;
    const writeNext = (): void => {
      if (i === chunks.length) {
        req.end();
        return;
      }
      if (req.write(chunks[i++])) setImmediate(writeNext);
      else req.once('drain', writeNext);
    };
    writeNext();
  });
}

describe('gateway over HTTP with DuckDB', () => {
  let dataDir: string;
  let gw: RunningGateway;
  let client: GatewayClient;
  // What the OpenTelemetry SDK recorded, to compare the query answers with.
  const durations: number[] = [];
  const durationErrors = { count: 0 };
  const routeCounts = new Map<string, number>();
  const sizes: number[] = [];
  let jobsDone = 0;
  let t0: number;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-gateway-'));
    gw = await startGateway({ port: 0, dataDir, apiKeys: KEYS, limits: LIMITS, log: () => undefined });
    client = new GatewayClient(gw.url, 'key-a');
    t0 = Date.now();
  });

  after(async () => {
    await gw?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('GET /healthz answers without an API key', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('the OpenTelemetry JS SDK exports (DELTA, gzip, JSON) and every count is queryable exactly', async () => {
    const exporter = new OTLPMetricExporter({
      url: `${gw.url}/v1/metrics`,
      headers: { Authorization: 'Bearer key-a' },
      temporalityPreference: AggregationTemporalityPreference.DELTA,
      // The enum lives in otlp-exporter-base, which is not a dependency of ours; its value is 'gzip'.
      compression: 'gzip' as NonNullable<ConstructorParameters<typeof OTLPMetricExporter>[0]>['compression'],
    });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'sdk-svc', 'host.name': 'sdk-host' }),
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000, exportTimeoutMillis: 30_000 })],
      views: [{ instrumentName: DURATION, aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    });
    const meter = provider.getMeter('gateway-test');
    const duration = meter.createHistogram(DURATION, { unit: 's' });
    const size = meter.createHistogram('http.server.response.body.size', { unit: 'By', advice: { explicitBucketBoundaries: [100, 1000, 5000] } });
    const jobs = meter.createCounter('jobs.completed');

    // Two export rounds: with DELTA temporality the second carries only what came after the first.
    let n = 0;
    for (const round of [700, 500]) {
      for (let i = 0; i < round; i++, n++) {
        const seconds = 0.001 * ((n % 1000) + 1);
        const status = n % 40 === 0 ? 503 : 200;
        const route = n % 3 === 0 ? '/checkout' : '/cart';
        duration.record(seconds, { 'http.route': route, 'http.response.status_code': status });
        durations.push(seconds);
        if (status >= 500) durationErrors.count++;
        routeCounts.set(route, (routeCounts.get(route) ?? 0) + 1);
        const bytes = (n * 37) % 7000;
        size.record(bytes);
        sizes.push(bytes);
        jobs.add(n % 5);
        jobsDone += n % 5;
      }
      await provider.forceFlush();
    }
    await provider.shutdown();

    const range = { service: 'sdk-svc', from: '-10m', to: 'now' };
    const value = async (params: Record<string, string>) => {
      const { series } = await client.query({ ...range, ...params });
      assert.equal(series.length, 1, JSON.stringify(series));
      assert.equal(series[0].points.length, 1);
      return series[0].points[0][1];
    };
    assert.equal(await value({ metric: DURATION, agg: 'count' }), durations.length);
    assert.equal(await value({ metric: DURATION, agg: 'errors' }), durationErrors.count);
    assert.equal(await value({ metric: DURATION, agg: 'error_ratio' }), durationErrors.count / durations.length);
    assert.equal(await value({ metric: 'http.server.response.body.size', agg: 'count' }), sizes.length);
    assert.equal(await value({ metric: 'jobs.completed', agg: 'count' }), jobsDone);

    const byRoute = await client.query({ ...range, metric: DURATION, agg: 'count', by: 'http.route' });
    assert.deepEqual(
      byRoute.series.map((s) => [s.labels, s.points[0][1]]),
      [...routeCounts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([route, count]) => [{ 'http.route': route }, count]),
    );

    // Percentiles are bucket upper bounds: never below the true value, above it by at most the
    // bucket width (the SDK picks its scale to fit 160 buckets; 1 ms..1 s fits at scale 4, and a
    // merge may go one lower).
    const sorted = [...durations].sort((a, b) => a - b);
    for (const [agg, q] of [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
      const truth = sorted[Math.ceil(q * sorted.length) - 1];
      const got = await value({ metric: DURATION, agg });
      assert.ok(got >= truth && got <= truth * (1 + relativeError(3)), `${agg}: got ${got}, true ${truth}`);
    }
    assert.equal(await value({ metric: DURATION, agg: 'max' }), sorted[sorted.length - 1]);

    // Explicit buckets: the median is the upper bound of the bucket that holds it.
    const bounds = [100, 1000, 5000];
    const rank = Math.ceil(0.5 * sizes.length);
    const expectedMedian = bounds.find((b) => sizes.filter((v) => v <= b).length >= rank) ?? Math.max(...sizes);
    assert.equal(await value({ metric: 'http.server.response.body.size', agg: 'p50' }), expectedMedian);
  });

  test('protobuf, JSON, gzip and Content-Type parameters are all accepted; a resend is a no-op', async () => {
    const end = Date.now() - 1000;
    const rm = (service: string) =>
      resourceMetrics({ 'service.name': service, 'host.name': 'h1' }, [
        expHistogramMetric(DURATION, [{ endMs: end, attributes: { 'http.response.status_code': 200 }, scale: 5, buckets: { [-100]: 3, [-90]: 4 } }]),
        counterMetric('work.items', [{ endMs: end, value: 11 }]),
      ]);
    const count = async (service: string) => (await client.query({ service, metric: DURATION, agg: 'count', from: '-5m', to: 'now' })).series[0]?.points[0][1];

    const variants: [string, Uint8Array | Buffer, Record<string, string>][] = [
      ['pb', protobufBody(rm('pb')), { 'content-type': 'application/x-protobuf' }],
      ['pb-gzip', gzipSync(protobufBody(rm('pb-gzip'))), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }],
      ['json', jsonBody(rm('json')), { 'content-type': 'application/json' }],
      ['json-gzip', gzipSync(jsonBody(rm('json-gzip'))), { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' }],
      ['pb-alias', protobufBody(rm('pb-alias')), { 'content-type': 'application/protobuf', 'content-encoding': 'identity' }],
    ];
    for (const [service, body, headers] of variants) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await client.post('/v1/metrics', body, headers);
        assert.equal(res.status, 200, `${service}: ${await res.clone().text()}`);
        if (headers['content-type'].startsWith('application/json')) {
          assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
          assert.deepEqual(await res.json(), {});
        } else {
          assert.equal(res.headers.get('content-type'), 'application/x-protobuf');
          const decoded = ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(new Uint8Array(await res.arrayBuffer())));
          assert.deepEqual(decoded, {}, 'full success leaves partial_success unset');
        }
      }
      assert.equal(await count(service), 7, `${service}: sent twice, counted once`);
      const items = await client.query({ service, metric: 'work.items', agg: 'count', from: '-5m', to: 'now' });
      assert.equal(items.series[0].points[0][1], 11);
    }
    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer key-a' } })).text();
    const duplicates = Number(/^burnwatch_gateway_points_duplicate_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(duplicates >= variants.length * 2, metrics);
  });

  test('a request with some bad points is a partial success that names them; the good points are stored', async () => {
    const end = Date.now() - 1000;
    const good = expHistogramMetric(DURATION, [{ endMs: end, attributes: { 'http.response.status_code': 200 }, scale: 5, buckets: { [-80]: 5 } }]);
    const body = JSON.parse(new TextDecoder().decode(jsonBody(resourceMetrics({ 'service.name': 'partial' }, [good, good]))));
    // The second metric's only point claims 9 values but its buckets hold 5.
    body.resourceMetrics[0].scopeMetrics[0].metrics[1].exponentialHistogram.dataPoints[0].count = 9;
    body.resourceMetrics[0].scopeMetrics[0].metrics[1].exponentialHistogram.dataPoints[0].timeUnixNano = String(BigInt(end) * 1_000_000n + 1n);
    const res = await client.postMetrics(JSON.stringify(body), 'application/json');
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { partialSuccess: { rejectedDataPoints: number; errorMessage: string } };
    assert.equal(answer.partialSuccess.rejectedDataPoints, 1);
    assert.match(answer.partialSuccess.errorMessage, /resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[1\]\.exponentialHistogram\.dataPoints\[0\]: count is 9/);
    const { series } = await client.query({ service: 'partial', metric: DURATION, agg: 'count', from: '-5m', to: 'now' });
    assert.equal(series[0].points[0][1], 5);

    // The same over protobuf: the response is an encoded ExportMetricsServiceResponse.
    const pb = protobufBody(resourceMetrics({ 'service.name': 'partial-pb' }, [
      good,
      { ...good, dataPoints: [{ ...good.dataPoints[0], value: { ...good.dataPoints[0].value, count: 2 } }] },
    ]));
    const pbRes = await client.postMetrics(pb);
    assert.equal(pbRes.status, 200);
    const decoded = ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(new Uint8Array(await pbRes.arrayBuffer())), { longs: Number });
    assert.equal(decoded.partialSuccess.rejectedDataPoints, 1);
    assert.match(decoded.partialSuccess.errorMessage, /metrics\[1\]\.exponentialHistogram\.dataPoints\[0\]/);
  });

  describe('bad requests get a 4xx with the error shape and lose nothing already stored', () => {
    const baseline = async () => (await client.query({ service: 'sdk-svc', metric: DURATION, agg: 'count', from: '-10m', to: 'now' })).series[0].points[0][1];
    let stored: number;
    before(async () => {
      stored = await baseline();
    });
    after(async () => {
      assert.equal(await baseline(), stored);
    });

    test('no API key, or an unknown one: 401', async () => {
      const body = protobufBody(resourceMetrics({ 'service.name': 'x' }, []));
      const none = await fetch(`${gw.url}/v1/metrics`, { method: 'POST', body: Buffer.from(body), headers: { 'content-type': 'application/x-protobuf' } });
      await expectError(none, 401, 'unauthorized');
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      await expectError(await new GatewayClient(gw.url, 'nope').postMetrics(body), 401, 'unauthorized');
      await expectError(await fetch(`${gw.url}/v1/services`), 401, 'unauthorized');
    });

    test('another tenant sees none of it', async () => {
      const other = new GatewayClient(gw.url, 'key-b');
      assert.deepEqual(await other.query({ service: 'sdk-svc', metric: DURATION, agg: 'count', from: '-10m', to: 'now' }), { series: [] });
      assert.deepEqual(await other.getJson('/v1/services'), { services: [] });
    });

    test('an unsupported media type: 415', async () => {
      await expectError(await client.postMetrics('hello', 'text/plain'), 415, 'unsupported_media_type', 'text/plain');
      await expectError(await client.post('/v1/metrics', '{}', {}), 415, 'unsupported_media_type');
    });

    test('malformed protobuf and JSON: 400 saying what is wrong', async () => {
      await expectError(await client.postMetrics(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])), 400, 'invalid_protobuf', 'ExportMetricsServiceRequest');
      await expectError(await client.postMetrics('{"resourceMetrics": [', 'application/json'), 400, 'invalid_json');
      const wrongType = { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'x', sum: { dataPoints: [{ timeUnixNano: 'soon', asInt: 1 }] } }] }] }] };
      await expectError(
        await client.postMetrics(JSON.stringify(wrongType), 'application/json'),
        400,
        'invalid_otlp',
        'resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].timeUnixNano',
      );
      const allBad = { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'x', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: '1', count: '3', positive: { offset: 1, bucketCounts: ['1'] } }] } }] }] }] };
      await expectError(
        await client.postMetrics(JSON.stringify(allBad), 'application/json'),
        400,
        'invalid_otlp',
        'resourceMetrics[0].scopeMetrics[0].metrics[0].exponentialHistogram.dataPoints[0]: count is 3',
      );
    });

    test('Content-Encoding gzip with a plain body, or an unknown encoding: 400', async () => {
      const body = protobufBody(resourceMetrics({ 'service.name': 'x' }, []));
      await expectError(await client.postMetrics(body, 'application/x-protobuf', { 'content-encoding': 'gzip' }), 400, 'invalid_gzip');
      const truncated = gzipSync(Buffer.alloc(4096, 1)).subarray(0, 20);
      await expectError(await client.postMetrics(truncated, 'application/x-protobuf', { 'content-encoding': 'gzip' }), 400, 'invalid_gzip');
      await expectError(await client.postMetrics(body, 'application/x-protobuf', { 'content-encoding': 'br' }), 400, 'unsupported_encoding', 'br');
    });

    test('too large before decompression (declared or chunked) and after (a gzip bomb): 413', async () => {
      const big = Buffer.alloc(LIMITS.maxBodyBytes + 1, 0x20);
      const declared = await client.postMetrics(big, 'application/json');
      // The unread rest of the body is still on the socket: the client is told not to reuse it.
      assert.equal(declared.headers.get('connection'), 'close');
      await expectError(declared, 413, 'payload_too_large', String(LIMITS.maxBodyBytes));
      const chunked = await postChunked(gw.url, Array.from({ length: 40 }, () => Buffer.alloc(16 * 1024, 0x20)), {
        authorization: 'Bearer key-a',
        'content-type': 'application/json',
      });
      assert.equal(chunked.status, 413, chunked.body);
      assert.equal(JSON.parse(chunked.body).error.code, 'payload_too_large');
      const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
      assert.ok(bomb.length < LIMITS.maxBodyBytes);
      await expectError(await client.postMetrics(bomb, 'application/json', { 'content-encoding': 'gzip' }), 413, 'payload_too_large', 'decompressed');
    });

    test('unknown routes: 404 in the same shape', async () => {
      await expectError(await client.get('/v1/nothing'), 404, 'not_found');
      await expectError(await client.get('/v1/metrics'), 404, 'not_found');
    });
  });

  test('query parameters are checked, and each error names its parameter', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ metric: DURATION, agg: 'count' }, 'service: required'],
      [{ service: 'sdk-svc', agg: 'count' }, 'metric: required'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'p42' }, 'agg: "p42" is not one of'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', from: 'yesterday' }, 'from: "yesterday" is not a time'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', from: '-5x' }, 'from: invalid duration'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', from: 'now', to: '-1h' }, 'from: must be before to'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', from: '-30d', step: '1s' }, 'step: 1s gives'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', step: 'often' }, 'step: invalid duration'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', by: 'http.route,,x' }, 'by: attribute names must not be empty'],
      [{ service: 'sdk-svc', metric: DURATION, agg: 'count', aggr: 'count' }, 'aggr: unknown parameter'],
      [{ service: 'sdk-svc', metric: 'jobs.completed', agg: 'p99', from: '-10m' }, 'agg: p99 needs a histogram metric, but jobs.completed has sum points'],
    ];
    for (const [params, message] of cases) {
      await expectError(await client.get(`/v1/query?${new URLSearchParams(params)}`), 400, 'invalid_parameter', message);
    }
    await expectError(await client.get(`/v1/query?service=a&service=b&metric=m&agg=count`), 400, 'invalid_parameter', 'service: given more than once');
  });

  test('GET /metrics (with an API key) reports requests by status and points accepted/rejected in Prometheus text', async () => {
    assert.equal((await fetch(`${gw.url}/metrics`)).status, 401, 'self metrics are not public');
    const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer key-a' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^burnwatch_gateway_requests_total\{route="\/v1\/metrics",status="200"\} \d+$/m);
    assert.match(text, /^burnwatch_gateway_requests_total\{route="\/v1\/metrics",status="413"\} 3$/m);
    assert.match(text, /^burnwatch_gateway_requests_total\{route="\/v1\/metrics",status="401"\} 2$/m);
    assert.match(text, /^burnwatch_gateway_points_rejected_total 3$/m);
    const accepted = Number(/^burnwatch_gateway_points_accepted_total (\d+)$/m.exec(text)?.[1]);
    assert.ok(accepted > 0);
  });

  test('stored data survives a gateway restart on the same data directory', async () => {
    const params = { service: 'sdk-svc', metric: DURATION, agg: 'count', from: new Date(t0 - 60_000).toISOString(), to: 'now' };
    const beforeRestart = await client.query(params);
    assert.equal(beforeRestart.series[0].points[0][1], durations.length);
    await gw.close();
    gw = await startGateway({ port: 0, dataDir, apiKeys: KEYS, limits: LIMITS, log: () => undefined });
    client = new GatewayClient(gw.url, 'key-a');
    const afterRestart = await client.query(params);
    assert.equal(afterRestart.series[0].points[0][1], durations.length);
    const p99 = async () => (await client.query({ ...params, agg: 'p99' })).series[0].points[0][1];
    assert.ok((await p99()) > 0);
  });
});
