import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, AggregationType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { ApiError } from '../errors.ts';
import { quoteLongIntegers } from './decode.ts';
import { decodeMetricsRequest, encodingOf, metricsResponseBody } from './metrics.ts';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from './schema.ts';

class ManualReader extends MetricReader {
  constructor(temporality: AggregationTemporality) {
    super({ aggregationTemporalitySelector: () => temporality });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function sdkResourceMetrics(temporality: AggregationTemporality) {
  const reader = new ManualReader(temporality);
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'svc', 'process.pid': 42, 'host.name': 'h' }),
    readers: [reader],
    views: [{ instrumentName: 'latency', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = provider.getMeter('test');
  const latency = meter.createHistogram('latency', { unit: 's' });
  for (let i = 1; i <= 100; i++) latency.record(i / 1000, { 'http.response.status_code': i % 10 === 0 ? 500 : 200 });
  meter.createHistogram('size', { unit: 'By', advice: { explicitBucketBoundaries: [10, 100] } }).record(50);
  meter.createCounter('jobs').add(3, { queue: 'a' });
  meter.createGauge('temperature').record(-1.5);
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return resourceMetrics;
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
}

function expectApiError(fn: () => unknown, status: number, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('protobuf and JSON encodings of the same SDK export decode to the same points', async () => {
  for (const temporality of [AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE]) {
    const rm = await sdkResourceMetrics(temporality);
    const fromProtobuf = decodeMetricsRequest(ProtobufMetricsSerializer.serializeRequest(rm)!, 'protobuf');
    const fromJson = decodeMetricsRequest(JsonMetricsSerializer.serializeRequest(rm)!, 'json');
    assert.deepEqual(fromProtobuf, fromJson);
    assert.deepEqual(fromProtobuf.rejections, []);
    const kinds = fromProtobuf.points.map((p) => p.kind).sort();
    assert.deepEqual(kinds, ['exponential_histogram', 'exponential_histogram', 'gauge', 'histogram', 'sum']);
    const expected = temporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative';
    for (const p of fromProtobuf.points) if (p.kind !== 'gauge') assert.equal(p.temporality, expected);
    const errors = fromProtobuf.points.find((p) => p.kind === 'exponential_histogram' && p.series.attributes['http.response.status_code'] === 500);
    assert.equal(errors?.kind === 'exponential_histogram' && errors.count, 10);
    assert.deepEqual(errors?.series.resource, { 'service.name': 'svc', 'process.pid': 42, 'host.name': 'h' });
  }
});

function numberPointRequest(point: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [point] }, ...extra }] }] }],
  };
}

test('JSON: 64-bit integers keep every digit, written as strings or as bare numbers', () => {
  const end = '1795440981897000123';
  const asString = decodeMetricsRequest(json(numberPointRequest({ timeUnixNano: end, startTimeUnixNano: '1795440981000000000', asInt: '9007199254740993' })), 'json');
  const asNumber = decodeMetricsRequest(json(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":${end},"asInt":7}]}}]}]}]}`), 'json');
  assert.equal(asString.points[0].endNs, BigInt(end));
  assert.equal(asNumber.points[0].endNs, BigInt(end));
  assert.equal(asNumber.points[0].kind === 'sum' && asNumber.points[0].value, 7);
});

test('quoteLongIntegers quotes only long integer literals outside strings', () => {
  assert.equal(quoteLongIntegers('{"a":1795440981897000123,"b":"1795440981897000123","c":12,"d":-12345678901234567}'),
    '{"a":"1795440981897000123","b":"1795440981897000123","c":12,"d":"-12345678901234567"}');
  assert.equal(quoteLongIntegers('{"s":"x\\"12345678901234567\\"","f":1.2345678901234567e5}'), '{"s":"x\\"12345678901234567\\"","f":1.2345678901234567e5}');
  const unchanged = '{"a":[1,2,3]}';
  assert.equal(quoteLongIntegers(unchanged), unchanged);
});

test('JSON: hex trace and span ids in exemplars, every AnyValue kind in attributes', () => {
  const request = numberPointRequest({
    timeUnixNano: '2000',
    asDouble: 1.5,
    attributes: [
      { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: '2' }] } } },
      { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { boolValue: true } }] } } },
      { key: 'big', value: { intValue: '9223372036854775807' } },
      { key: 'd', value: { doubleValue: 0.25 } },
      { key: 'bytes', value: { bytesValue: 'AQI=' } },
      { key: 'empty', value: {} },
    ],
    exemplars: [{ timeUnixNano: '1999', asDouble: 1, traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174' }],
  });
  const [p] = decodeMetricsRequest(json(request), 'json').points;
  assert.deepEqual(p.series.attributes, { arr: ['x', 2], kv: { inner: true }, big: '9223372036854775807', d: 0.25, bytes: 'AQI=', empty: null });
  const badId = numberPointRequest({ timeUnixNano: '2000', asDouble: 1, exemplars: [{ traceId: 'not-hex' }] });
  expectApiError(() => decodeMetricsRequest(json(badId), 'json'), 400, 'invalid_otlp',
    /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.sum\.dataPoints\[0\]\.exemplars\[0\]\.traceId: expected a hex-encoded id/);
});

test('JSON: wrong types are 400s naming the path; unknown fields and nulls are ignored', () => {
  const cases: [unknown, RegExp][] = [
    [[], /^\(body\): expected an object/],
    [{ resourceMetrics: {} }, /^resourceMetrics: expected an array/],
    [{ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 5 }] }] }] }, /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.name: expected a string/],
    [numberPointRequest({ timeUnixNano: '-5' }), /dataPoints\[0\]\.timeUnixNano: expected an unsigned 64-bit integer/],
    [numberPointRequest({ timeUnixNano: '1', asDouble: 'fast' }), /dataPoints\[0\]\.asDouble: expected a number/],
    [numberPointRequest({ timeUnixNano: '1', asDouble: 1, asInt: '1' }), /dataPoints\[0\]: only one of asDouble, asInt may be set/],
    [{ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { aggregationTemporality: 7 } }] }] }] }, /sum\.aggregationTemporality: expected a AggregationTemporality value/],
    [{ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', gauge: { dataPoints: [] }, sum: { dataPoints: [] } }] }] }] }, /metrics\[0\]: only one of gauge, sum may be set/],
  ];
  for (const [body, message] of cases) expectApiError(() => decodeMetricsRequest(json(body), 'json'), 400, 'invalid_otlp', message);
  expectApiError(() => decodeMetricsRequest(json('{"resourceMetrics": [}'), 'json'), 400, 'invalid_json', /not valid JSON/);
  expectApiError(() => decodeMetricsRequest(new Uint8Array([0xff, 0xfe, 0x7b]), 'json'), 400, 'invalid_json', /UTF-8/);
  const lenient = decodeMetricsRequest(json({ resourceMetrics: [{ resource: null, somethingNew: 1, scopeMetrics: [{ metrics: [{ name: 'm', unit: null, gauge: { dataPoints: [{ timeUnixNano: 5, asInt: '3' }] } }] }] }] }), 'json');
  assert.equal(lenient.points.length, 1);
});

test('nesting beyond any sane depth is a 400, not a stack overflow', () => {
  const deep = '{"arrayValue":{"values":['.repeat(5000) + '{"stringValue":"deep"}' + ']}}'.repeat(5000);
  const body = JSON.stringify(numberPointRequest({ timeUnixNano: '1', asInt: '1', attributes: [{ key: 'k', value: 'DEEP' }] })).replace('"DEEP"', deep);
  expectApiError(() => decodeMetricsRequest(json(body), 'json'), 400, 'invalid_otlp', /nested more than 64 levels/);
  // The same in protobuf, where the wire format allows any depth: too deep to decode is a 400,
  // decodable but deeper than attributes may nest rejects what it covers.
  expectApiError(() => decodeMetricsRequest(nestedResourceRequest(5000), 'protobuf'), 400, 'invalid_protobuf', /ExportMetricsServiceRequest/);
  assert.deepEqual(decodeMetricsRequest(nestedResourceRequest(40), 'protobuf').rejections, [
    { path: 'resourceMetrics[0].resource', reason: 'attribute values are nested more than 32 levels deep', points: 0 },
  ]);
  assert.deepEqual(decodeMetricsRequest(nestedResourceRequest(20), 'protobuf').rejections, []);
});

/** ExportMetricsServiceRequest{resource_metrics{resource{attributes{key "k", value AnyValue{array_value{values{…}}}}}}}, built inside out. */
function nestedResourceRequest(depth: number): Buffer {
  const field = (tag: number, payload: Buffer) => Buffer.concat([Buffer.from([tag]), varint(payload.length), payload]);
  let value = field(0x0a, Buffer.from('x')); // AnyValue.string_value
  for (let i = 0; i < depth; i++) value = field(0x2a, field(0x0a, value)); // AnyValue.array_value{values}
  const kv = Buffer.concat([field(0x0a, Buffer.from('k')), field(0x12, value)]);
  return field(0x0a, field(0x0a, field(0x0a, kv)));
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

test('points that break OTLP rules or that burnwatch cannot store are rejected one by one with their path', () => {
  const dp = (extra: Record<string, unknown>) => ({ timeUnixNano: '2000', startTimeUnixNano: '1000', ...extra });
  const metrics = [
    { name: 'ok', sum: { aggregationTemporality: 1, dataPoints: [dp({ asInt: '1' }), dp({ flags: 1 })] } },
    { name: 'no-temporality', sum: { dataPoints: [dp({ asInt: '1' })] } },
    { name: 'summary', summary: { dataPoints: [dp({ count: '1', sum: 1 }), dp({ count: '1', sum: 1 })] } },
    { name: '', gauge: { dataPoints: [dp({ asDouble: 1 })] } },
    { name: 'g', gauge: { dataPoints: [dp({ asDouble: 'NaN' }), dp({}), dp({ asDouble: 1, startTimeUnixNano: '3000' }), { asDouble: 1 }] } },
    { name: 'h', histogram: { aggregationTemporality: 2, dataPoints: [
      dp({ count: '3', bucketCounts: ['1', '2'], explicitBounds: [1, 2] }),
      dp({ count: '3', bucketCounts: ['1', '1', '1'], explicitBounds: [2, 1] }),
      dp({ count: '4', bucketCounts: ['1', '1', '1'], explicitBounds: [1, 2] }),
      dp({ count: '3', bucketCounts: ['1', '1', '1'], explicitBounds: [1, 2], min: 5, max: 1 }),
      dp({ count: '3', bucketCounts: ['1', '1', '1'], explicitBounds: [1, 2], sum: 3 }),
    ] } },
    { name: 'e', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [
      dp({ count: '2', scale: 21, positive: { offset: 0, bucketCounts: ['2'] } }),
      dp({ count: '2', scale: 0, negative: { offset: 0, bucketCounts: ['2'] } }),
      dp({ count: '2', scale: 0, positive: { offset: 5000, bucketCounts: ['2'] } }),
      dp({ count: '9007199254740993', scale: 0 }),
      dp({ count: '3', scale: 3, zeroCount: '1', positive: { offset: -4, bucketCounts: ['1', '0', '1'] } }),
    ] } },
  ];
  const out = decodeMetricsRequest(json({ resourceMetrics: [{ scopeMetrics: [{ metrics }] }] }), 'json');
  const at = (m: number, rest = '') => `resourceMetrics[0].scopeMetrics[0].metrics[${m}]${rest}`;
  assert.deepEqual(out.rejections.map((r) => [r.path, r.points]), [
    [at(1, '.sum'), 1],
    [at(2, '.summary'), 2],
    [at(3), 1],
    [at(4, '.gauge.dataPoints[0]'), 1],
    [at(4, '.gauge.dataPoints[1]'), 1],
    [at(4, '.gauge.dataPoints[2]'), 1],
    [at(4, '.gauge.dataPoints[3]'), 1],
    [at(5, '.histogram.dataPoints[0]'), 1],
    [at(5, '.histogram.dataPoints[1]'), 1],
    [at(5, '.histogram.dataPoints[2]'), 1],
    [at(5, '.histogram.dataPoints[3]'), 1],
    [at(6, '.exponentialHistogram.dataPoints[0]'), 1],
    [at(6, '.exponentialHistogram.dataPoints[1]'), 1],
    [at(6, '.exponentialHistogram.dataPoints[2]'), 1],
    [at(6, '.exponentialHistogram.dataPoints[3]'), 1],
  ]);
  const reasons = out.rejections.map((r) => r.reason);
  for (const expected of [/aggregationTemporality must be DELTA/, /Summary metrics are not supported/, /a metric needs a name/,
    /value must be finite/, /neither asDouble nor asInt/, /startTimeUnixNano \(3000\) is after timeUnixNano \(2000\)/, /timeUnixNano is missing/,
    /2 bucketCounts for 2 explicitBounds/, /explicitBounds must increase/, /count is 4 but the bucketCounts add up to 3/,
    /min \(5\) is greater than max \(1\)/, /scale must be in \[-10, 20\]/, /negative values/, /outside the range of doubles/, /larger than 2\^53/]) {
    assert.ok(reasons.some((r) => expected.test(r)), `no rejection matches ${expected}: ${reasons.join(' | ')}`);
  }
  assert.equal(out.skipped, 1);
  assert.equal(out.total, 20);
  assert.deepEqual(out.points.map((p) => p.series.metric), ['ok', 'h', 'e']);
  const e = out.points[2];
  assert.ok(e.kind === 'exponential_histogram');
  assert.deepEqual({ scale: e.scale, zeroCount: e.zeroCount, offset: e.offset, counts: e.counts, count: e.count }, { scale: 3, zeroCount: 1, offset: -4, counts: [1, 0, 1], count: 3 });
});

test('Content-Type: media types OTLP defines, parameters ignored', () => {
  assert.equal(encodingOf('application/x-protobuf'), 'protobuf');
  assert.equal(encodingOf('Application/Protobuf; proto=opentelemetry'), 'protobuf');
  assert.equal(encodingOf('application/json; charset=utf-8'), 'json');
  assert.equal(encodingOf('text/plain'), undefined);
  assert.equal(encodingOf(undefined), undefined);
});

test('responses: an empty ExportMetricsServiceResponse on success, partial_success set otherwise', () => {
  assert.equal(metricsResponseBody('json'), '{}');
  assert.equal((metricsResponseBody('protobuf') as Uint8Array).length, 0);
  const partial = { rejectedDataPoints: 2, errorMessage: 'a: b' };
  assert.deepEqual(JSON.parse(metricsResponseBody('json', partial) as string), { partialSuccess: partial });
  const decoded = ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(metricsResponseBody('protobuf', partial) as Uint8Array), { longs: Number });
  assert.deepEqual(decoded, { partialSuccess: partial });
});

test('an empty request is a success with nothing to store', () => {
  const empty = ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.create({})).finish();
  assert.deepEqual(decodeMetricsRequest(empty, 'protobuf'), { points: [], rejections: [], total: 0, skipped: 0 });
  assert.deepEqual(decodeMetricsRequest(json({}), 'json'), { points: [], rejections: [], total: 0, skipped: 0 });
});

test('JSON with values of the wrong kind anywhere is decoded or refused with an ApiError, never a crash', async () => {
  const base = JSON.parse(new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(await sdkResourceMetrics(AggregationTemporality.DELTA))!));
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (path.length) paths.push(path);
    if (v && typeof v === 'object') for (const [k, child] of Object.entries(v)) walk(child, [...path, Array.isArray(v) ? Number(k) : k]);
  };
  walk(base, []);
  const replacements = [null, 0, -1, 1.5, 1e300, '18446744073709551616', '-5', 'abc', 'NaN', true, [], {}, [1, 'x'], { a: 1 }, 99, ''];
  let x = 0x2545f491; // xorshift32: the same cases every run
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    const body = structuredClone(base);
    for (let j = 0; j < 1 + Math.floor(rnd() * 3); j++) {
      const path = paths[Math.floor(rnd() * paths.length)];
      let parent = body;
      for (const k of path.slice(0, -1)) parent = parent?.[k];
      if (parent && typeof parent === 'object') parent[path[path.length - 1]] = replacements[Math.floor(rnd() * replacements.length)];
    }
    try {
      decodeMetricsRequest(json(body), 'json');
      decoded++;
    } catch (err) {
      assert.ok(err instanceof ApiError && err.status === 400, `${err}: ${JSON.stringify(body).slice(0, 300)}`);
    }
  }
  assert.ok(decoded > 0 && decoded < 3000);
});
