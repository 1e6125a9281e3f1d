// Units at ingest, through a real OpenTelemetry JS SDK export: duration histograms are stored in
// seconds whatever UCUM time unit they were declared in; what cannot be converted exactly is
// refused with the reason; counters and gauges keep their unit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, AggregationType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { ExplicitHistogramValue, MetricPoint } from '../storage/types.ts';
import { decodeMetricsRequest } from './metrics.ts';
import { describeRejections } from './normalise.ts';

class ManualReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** One SDK export: a histogram per [name, unit, values], optionally exponential. */
async function exported(histograms: [name: string, unit: string, values: number[], exponential?: boolean][], counter?: [string, string, number]) {
  const reader = new ManualReader();
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'svc' }),
    readers: [reader],
    views: histograms.filter(([, , , e]) => e).map(([name]) => ({ instrumentName: name, aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } })),
  });
  const meter = provider.getMeter('units');
  for (const [name, unit, values] of histograms) {
    const h = meter.createHistogram(name, { unit });
    for (const v of values) h.record(v);
  }
  if (counter) meter.createCounter(counter[0], { unit: counter[1] }).add(counter[2]);
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return decodeMetricsRequest(ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!, 'protobuf');
}

function histogram(points: MetricPoint[], name: string): ExplicitHistogramValue & MetricPoint {
  const p = points.find((x) => x.series.metric === name);
  assert.ok(p && p.kind === 'histogram', `${name} stored as an explicit histogram`);
  return p as ExplicitHistogramValue & MetricPoint;
}

const SDK_DEFAULT_MS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

test('ms, us, ns, min and h histograms are stored in seconds: bounds, sum, min and max exactly as if written in seconds', async () => {
  const got = await exported([
    ['rpc.server.duration', 'ms', [20, 300, 800]],
    ['a.us', 'us', [250_000]],
    ['a.ns', 'ns', [300_000_000]],
    ['a.min', 'min', [0.5]],
    ['a.h', 'h', [0.25]],
    ['a.s', 's', [0.3]],
  ]);
  assert.deepEqual(got.rejections, []);
  const ms = histogram(got.points, 'rpc.server.duration');
  assert.equal(ms.series.unit, 's');
  // Each bound is the double nearest the decimal in seconds, so 250 ms is the same number as 0.25.
  assert.deepEqual(ms.bounds, [0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
  assert.deepEqual(ms.bounds, SDK_DEFAULT_MS.map((b) => Number(`${b}e-3`)));
  assert.deepEqual([ms.min, ms.max, ms.sum, ms.count], [0.02, 0.8, 1.12, 3]);
  assert.deepEqual(ms.counts, [0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0], 'counts do not move');
  assert.equal(histogram(got.points, 'a.us').max, 0.25);
  assert.equal(histogram(got.points, 'a.ns').max, 0.3);
  assert.equal(histogram(got.points, 'a.min').max, 30);
  assert.equal(histogram(got.points, 'a.h').max, 900);
  assert.equal(histogram(got.points, 'a.min').bounds[1], 300, '5 min');
  const s = histogram(got.points, 'a.s');
  assert.deepEqual([s.series.unit, s.bounds[1], s.max], ['s', 5, 0.3], 'seconds are kept as sent');
});

test('an exponential histogram in ms cannot be moved onto a seconds grid: refused with the reason, the rest kept', async () => {
  const got = await exported([['rpc.server.duration', 'ms', [20, 300], true], ['http.server.request.duration', 's', [0.02], true]]);
  assert.equal(got.points.length, 1);
  assert.equal(got.points[0].series.metric, 'http.server.request.duration');
  assert.equal(got.rejections.length, 1);
  assert.equal(got.rejections[0].points, 1);
  assert.match(describeRejections(got.rejections), /rpc\.server\.duration: exponential histograms of durations must be in seconds, got "ms".*record seconds \(unit "s"/);
});

test('a duration metric in a unit that is not UCUM time is refused; other histograms and counters keep their unit', async () => {
  const got = await exported(
    [['http.server.request.duration', 'milliseconds', [20]], ['http.server.response.body.size', 'By', [300]], ['no.unit.duration', '', [0.3]]],
    ['burnwatch.cpu.time', 'ns', 5_000_000],
  );
  assert.equal(got.rejections.length, 1);
  assert.match(got.rejections[0].reason, /unit "milliseconds" is not a UCUM time unit \(ns, us, ms, s, min, h, d\), and http\.server\.request\.duration is a duration/);
  const size = histogram(got.points, 'http.server.response.body.size');
  assert.deepEqual([size.series.unit, size.max, size.bounds[1]], ['By', 300, 5]);
  assert.equal(histogram(got.points, 'no.unit.duration').max, 0.3);
  const cpu = got.points.find((p) => p.series.metric === 'burnwatch.cpu.time');
  assert.ok(cpu && cpu.kind === 'sum');
  assert.deepEqual([cpu.series.unit, cpu.value], ['ns', 5_000_000]);
});
