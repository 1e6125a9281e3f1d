import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ATTR, HTTP_SERVER_DURATION, METRICS } from '../../common/catalogue.ts';
import type { MetricDescriptor } from '../../common/catalogue.ts';
import type { ExpHistogram } from '../../common/exphist.ts';
import { encodeMetrics, exponentialHistogramMetric, hrTimeFromNs, nsFromHrTime, numberMetric, resourceMetrics } from './otlp.ts';
import { decodeMetricsRequest } from './testkit.ts';
import { decodeOtlp } from '../../lambda/otlp/decode.ts';
import { normaliseMetricsRequest } from '../../lambda/otlp/normalise.ts';
import { ExportMetricsServiceRequest } from '../../lambda/otlp/schema.ts';

const HTTP = METRICS[HTTP_SERVER_DURATION];

function hist(over: Partial<ExpHistogram> = {}): ExpHistogram {
  const counts = over.counts ?? [3, 0, 5, 1];
  return {
    scale: 5,
    zeroCount: 0,
    offset: -320,
    counts,
    count: counts.reduce((a, b) => a + b, over.zeroCount ?? 0),
    sum: 0.0421,
    min: 0.0009,
    max: 0.0171,
    ...over,
  };
}

test('hrtime conversion is exact for nanosecond timestamps up to 2^64-1', () => {
  for (const ns of [1n, 999_999_999n, 1_000_000_000n, 1_763_900_000_123_456_789n, (1n << 63n) - 1n, (1n << 64n) - 1n]) {
    assert.equal(nsFromHrTime(hrTimeFromNs(ns)), ns);
  }
});

test('exponential histograms round-trip through protobuf with exact times, buckets and attributes', () => {
  const checkout = { [ATTR.serviceName]: 'checkout-api', [ATTR.processPid]: 4242, [ATTR.hostName]: 'host-a' };
  const cart = { [ATTR.serviceName]: 'cart', [ATTR.processPid]: 77, [ATTR.hostName]: 'host-a' };
  const p1 = {
    attributes: { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: '/orders/{id}', [ATTR.httpStatus]: 200 },
    startTimeNs: 1_763_900_000_123_456_789n,
    endTimeNs: 1_763_900_010_123_456_790n,
    histogram: hist(),
  };
  const p2 = {
    attributes: { [ATTR.httpMethod]: 'POST', [ATTR.httpRoute]: '/orders', [ATTR.httpStatus]: 503 },
    startTimeNs: 1_763_900_000_123_456_789n,
    endTimeNs: 1_763_900_010_123_456_790n,
    histogram: hist({ scale: -2, offset: 3, counts: [2 ** 40, 7], zeroCount: 2, sum: 1.5e12, min: undefined, max: undefined }),
  };
  // Edge times: one nanosecond apart, and the largest time the wire can carry.
  const p3 = { ...p1, startTimeNs: (1n << 64n) - 2n, endTimeNs: (1n << 64n) - 1n };
  const bytes = encodeMetrics([
    resourceMetrics(checkout, [exponentialHistogramMetric(HTTP, [p1, p2])]),
    resourceMetrics(cart, [exponentialHistogramMetric(HTTP, [p3])]),
  ]);

  const resources = decodeMetricsRequest(bytes);
  assert.equal(resources.length, 2);
  assert.deepEqual(resources[0].attributes, checkout);
  assert.deepEqual(resources[1].attributes, cart);
  assert.equal(resources[0].scopes[0].name, 'burnwatch-agent');

  const m = resources[0].scopes[0].metrics[0];
  assert.equal(m.name, HTTP_SERVER_DURATION);
  assert.equal(m.unit, 's');
  assert.equal(m.description, HTTP.description);
  assert.equal(m.kind, 'exponential_histogram');
  assert.equal(m.temporality, 1, 'AGGREGATION_TEMPORALITY_DELTA');
  assert.equal(m.points.length, 2);

  const [d1, d2] = m.points;
  assert.equal(d1.startTimeUnixNano, p1.startTimeNs);
  assert.equal(d1.timeUnixNano, p1.endTimeNs);
  assert.deepEqual(d1.attributes, p1.attributes);
  assert.deepEqual(d1.histogram, {
    count: p1.histogram.count,
    sum: p1.histogram.sum,
    scale: 5,
    zeroCount: 0,
    offset: -320,
    counts: [3, 0, 5, 1],
    min: p1.histogram.min,
    max: p1.histogram.max,
  });
  assert.deepEqual(d2.histogram, {
    count: 2 ** 40 + 9,
    sum: 1.5e12,
    scale: -2,
    zeroCount: 2,
    offset: 3,
    counts: [2 ** 40, 7],
    min: undefined,
    max: undefined,
  });
  assert.deepEqual(d2.attributes, p2.attributes);

  const d3 = resources[1].scopes[0].metrics[0].points[0];
  assert.equal(d3.startTimeUnixNano, (1n << 64n) - 2n);
  assert.equal(d3.timeUnixNano, (1n << 64n) - 1n);
});

test('full round trip through the gateway decoder: every point arrives with its exact identity and value', () => {
  const resource = { [ATTR.serviceName]: 'checkout-api', [ATTR.processPid]: 4242, [ATTR.buildId]: 'ab12cd' };
  const points = [
    {
      attributes: { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: '/orders/{id}', [ATTR.httpStatus]: 200 },
      startTimeNs: 1_763_900_000_123_456_789n,
      endTimeNs: 1_763_900_010_123_456_790n,
      histogram: hist(),
    },
    {
      attributes: { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: '/orders/{id}', [ATTR.httpStatus]: 500 },
      startTimeNs: 1_763_900_010_123_456_790n,
      endTimeNs: 1_763_900_020_000_000_001n,
      histogram: hist({ scale: 3, offset: -80, counts: [1], zeroCount: 1, min: 0, max: 0.0011, sum: 0.0011 }),
    },
  ];
  const bytes = encodeMetrics([resourceMetrics(resource, [exponentialHistogramMetric(HTTP, points)])]);
  const out = normaliseMetricsRequest(decodeOtlp(ExportMetricsServiceRequest, bytes, 'protobuf'));
  assert.deepEqual(out.rejections, []);
  assert.equal(out.total, 2);
  assert.deepEqual(
    out.points,
    points.map((p) => ({
      kind: 'exponential_histogram',
      temporality: 'delta',
      count: p.histogram.count,
      sum: p.histogram.sum,
      min: p.histogram.min,
      max: p.histogram.max,
      scale: p.histogram.scale,
      zeroCount: p.histogram.zeroCount,
      offset: p.histogram.offset,
      counts: p.histogram.counts,
      series: { metric: HTTP_SERVER_DURATION, unit: 's', resource, attributes: p.attributes },
      startNs: p.startTimeNs,
      endNs: p.endTimeNs,
    })),
  );
});

test('counters and gauges encode as delta monotonic sums of integers and gauges', () => {
  const counter: MetricDescriptor = { name: 'test.count', unit: '{batch}', kind: 'counter', description: 'd', attributes: ['reason'] };
  const gauge: MetricDescriptor = { name: 'test.level', unit: 'By', kind: 'gauge', description: 'd', attributes: [] };
  const t = { startTimeNs: 1_700_000_000_000_000_001n, endTimeNs: 1_700_000_010_000_000_002n };
  const bytes = encodeMetrics([
    resourceMetrics({ 'service.name': 'burnwatch-agent' }, [
      numberMetric(counter, [{ ...t, attributes: { reason: 'age' }, value: 3 }]),
      numberMetric(gauge, [{ ...t, attributes: {}, value: 2 ** 40 }]),
    ]),
  ]);
  const [c, g] = decodeMetricsRequest(bytes)[0].scopes[0].metrics;
  assert.equal(c.kind, 'sum');
  assert.equal(c.temporality, 1);
  assert.equal(c.isMonotonic, true);
  assert.deepEqual(c.points, [{ attributes: { reason: 'age' }, startTimeUnixNano: t.startTimeNs, timeUnixNano: t.endTimeNs, value: 3 }]);
  assert.equal(g.kind, 'gauge');
  assert.equal(g.points[0].value, 2 ** 40);
});

test('an empty request encodes to zero bytes and decodes to no resources', () => {
  const bytes = encodeMetrics([]);
  assert.equal(bytes.length, 0);
  assert.deepEqual(decodeMetricsRequest(bytes), []);
});

test('bad points are refused with an error naming the field', () => {
  const ok = { attributes: { [ATTR.httpMethod]: 'GET' }, startTimeNs: 10n, endTimeNs: 20n, histogram: hist() };
  const bad: [string, object, RegExp][] = [
    ['count mismatch', { histogram: hist({ count: 99 }) }, /points\[0\]\.histogram\.count is 99 but zeroCount \+ Σcounts is 9/],
    ['negative bucket', { histogram: hist({ counts: [1, -1], count: 0 }) }, /histogram\.counts\[1\] must be a non-negative integer/],
    ['scale out of range', { histogram: hist({ scale: 21 }) }, /histogram\.scale must be an integer in \[-10, 20\]/],
    ['sum NaN', { histogram: hist({ sum: NaN }) }, /histogram\.sum must be a finite number/],
    ['min > max', { histogram: hist({ min: 2, max: 1 }) }, /min \(2\) is greater than max \(1\)/],
    ['start after end', { startTimeNs: 30n }, /startTimeNs \(30\) is after endTimeNs \(20\)/],
    ['number time', { endTimeNs: 20 }, /points\[0\]\.endTimeNs must be a bigint/],
    ['time beyond uint64', { endTimeNs: 1n << 64n }, /endTimeNs must be a bigint/],
    ['unknown attribute', { attributes: { 'http.method': 'GET' } }, /'http\.method' is not an attribute of http\.server\.request\.duration/],
    ['object attribute value', { attributes: { [ATTR.httpRoute]: {} } }, /attributes\['http\.route'\] must be a string, boolean or finite number/],
  ];
  for (const [why, patch, message] of bad) {
    assert.throws(() => exponentialHistogramMetric(HTTP, [{ ...ok, ...patch } as typeof ok]), message, why);
  }
  assert.throws(() => numberMetric(HTTP, []), /needs a counter or gauge descriptor/);
  const counter: MetricDescriptor = { name: 'c', unit: '1', kind: 'counter', description: '', attributes: [] };
  assert.throws(() => exponentialHistogramMetric(counter, []), /c: expected a descriptor of kind 'exponential_histogram'/);
  assert.throws(() => numberMetric(counter, [{ attributes: {}, startTimeNs: 1n, endTimeNs: 2n, value: -1 }]), /points\[0\]\.value must be a non-negative safe integer/);
  assert.throws(() => resourceMetrics({ 'service.name': undefined as unknown as string }, []), /resource attribute 'service\.name'/);
});
