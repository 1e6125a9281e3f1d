// Other senders' units and explicit buckets, end to end: the OpenTelemetry JS SDK exports over
// OTLP/HTTP to a real gateway (DuckDB), and /v1/query and /v1/slos must give the numbers the
// recorded values imply.
//
// - A duration in milliseconds (the older `rpc.server.duration`) is converted to seconds at
//   ingest, so it answers exactly as the same values sent in seconds.
// - The SDK's default explicit bounds [0, 5, 10, 25, …] are meant for milliseconds: a seconds
//   metric puts every request in (0, 5], which cannot tell a 300 ms threshold. The latency SLI is
//   then unknown (with the reason), not a burn; with a View whose bounds include the threshold
//   the counts are exact.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { evaluateSlos } from '../lambda/slo/evaluate.ts';
import { tempDir } from './lib/processes.ts';
import { DURATION, GatewayClient } from './otlp-fixtures.ts';

const KEY = 'units-key';
const TENANT = 'units';
/** The OpenTelemetry JS SDK's default explicit bucket boundaries (sdk-metrics), meant for ms. */
const SDK_DEFAULT_BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

interface Sender {
  service: string;
  metric: string;
  unit: string;
  /** [value in the metric's unit, how many times, attributes]. */
  values: [number, number, Record<string, string | number>][];
  views?: ViewOptions[];
  advice?: number[];
  /** The SDKs' default is cumulative; then the values are recorded and exported in two rounds. */
  temporality?: AggregationTemporalityPreference;
}

async function send(url: string, s: Sender): Promise<void> {
  const exporter = new OTLPMetricExporter({
    url: `${url}/v1/metrics`,
    headers: { Authorization: `Bearer ${KEY}` },
    temporalityPreference: s.temporality ?? AggregationTemporalityPreference.DELTA,
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': s.service, 'host.name': 'h' }),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000, exportTimeoutMillis: 30_000 })],
    views: s.views ?? [],
  });
  const histogram = provider.getMeter('units-test').createHistogram(s.metric, { unit: s.unit, ...(s.advice ? { advice: { explicitBucketBoundaries: s.advice } } : {}) });
  const rounds = s.temporality === AggregationTemporalityPreference.CUMULATIVE ? 2 : 1;
  for (let round = 0; round < rounds; round++) {
    for (const [value, times, attributes] of s.values) for (let i = round; i < times; i += rounds) histogram.record(value, attributes);
    await provider.forceFlush();
  }
  await provider.shutdown();
}

interface SloJson {
  id: string;
  status: string;
  sli: number | null;
  budget_remaining: number | null;
  good: number;
  total: number;
  unknown?: number;
  sli_unknown_reason?: string;
  effective_threshold_seconds?: number;
  burn_rates: Record<string, number | null>;
}

describe('units and explicit buckets from the OpenTelemetry JS SDK', () => {
  let gw: RunningGateway;
  let client: GatewayClient;
  const grpcOk = { 'rpc.method': 'Get', 'rpc.grpc.status_code': 0 };
  const httpOk = { 'http.route': '/pay', 'http.response.status_code': 200 };

  before(async () => {
    gw = await startGateway({ port: 0, dataDir: tempDir('bw-units'), apiKeys: { [KEY]: TENANT }, log: () => {}, slo: { log: () => {} } });
    client = new GatewayClient(gw.url, KEY);
    // The same 200 gRPC calls, once in ms (older conventions, SDK default bounds) and once in
    // seconds (bounds the same in seconds): 190 at 20 ms, 9 at 200 ms, 1 at 800 ms.
    const calls = (scale: number): Sender['values'] => [[20 * scale, 190, grpcOk], [200 * scale, 9, grpcOk], [800 * scale, 1, grpcOk]];
    await send(gw.url, { service: 'orders-ms', metric: 'rpc.server.duration', unit: 'ms', values: calls(1) });
    await send(gw.url, { service: 'orders-s', metric: 'rpc.server.duration', unit: 's', values: calls(1e-3), advice: SDK_DEFAULT_BOUNDS.map((b) => b / 1000) });
    // A healthy seconds service on the SDK's default bounds: every request lands in (0, 5].
    const healthy: Sender['values'] = [[0.02, 150, httpOk], [0.08, 45, httpOk], [0.12, 5, httpOk]];
    await send(gw.url, { service: 'default-bounds', metric: DURATION, unit: 's', values: healthy });
    await send(gw.url, { service: 'default-bounds-cumulative', metric: DURATION, unit: 's', values: healthy, temporality: AggregationTemporalityPreference.CUMULATIVE });
    // The fix at the sender: a View whose bounds include the 300 ms threshold. 2 requests take
    // exactly 300 ms (good: ≤ threshold), 1 takes 500 ms.
    await send(gw.url, {
      service: 'orders-ms-cumulative',
      metric: 'rpc.server.duration',
      unit: 'ms',
      values: calls(1),
      temporality: AggregationTemporalityPreference.CUMULATIVE,
    });
    await send(gw.url, {
      service: 'with-view',
      metric: DURATION,
      unit: 's',
      values: [[0.05, 197, httpOk], [0.3, 2, httpOk], [0.5, 1, httpOk]],
      views: [{ instrumentName: DURATION, aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [0.1, 0.3, 1] } } }],
    });
  });

  after(async () => {
    await gw?.close();
  });

  const one = async (service: string, metric: string, agg: string) => {
    const { series } = await client.query({ service, metric, agg, from: '-10m', to: 'now' });
    assert.equal(series.length, 1, JSON.stringify(series));
    assert.equal(series[0].points.length, 1);
    return series[0].points[0] as unknown as [number, number, { lower: number | null; upper: number | null }?];
  };
  const slos = async (service: string): Promise<Record<string, SloJson>> => {
    const body = await client.getJson<{ slos: SloJson[] }>(`/v1/slos?service=${service}`);
    return Object.fromEntries(body.slos.map((s) => [s.id.slice(service.length + 1), s]));
  };

  test('a duration in ms is stored in seconds: percentiles, max and the latency SLO match the same values sent in seconds', async () => {
    for (const service of ['orders-ms', 'orders-s', 'orders-ms-cumulative']) {
      // p99: rank 198 of 200 lies in (100 ms, 250 ms]; the answer names that bucket.
      assert.deepEqual((await one(service, 'rpc.server.duration', 'p99')).slice(1), [0.25, { lower: 0.1, upper: 0.25 }], service);
      assert.deepEqual((await one(service, 'rpc.server.duration', 'p50')).slice(1), [0.025, { lower: 0.01, upper: 0.025 }], service);
      assert.equal((await one(service, 'rpc.server.duration', 'max'))[1], 0.8, service);
      assert.equal((await one(service, 'rpc.server.duration', 'count'))[1], 200, service);
      const { latency, availability } = await slos(service);
      // 300 ms falls in (250 ms, 500 ms], which holds no request: the count is exact.
      assert.deepEqual([latency.good, latency.total, latency.unknown, latency.status], [199, 200, undefined, 'ok'], service);
      assert.equal(latency.effective_threshold_seconds, 0.25);
      assert.ok(Math.abs(latency.budget_remaining! - 0.5) < 1e-9, `${service}: 1 slow of 200 against a 1% budget`);
      assert.deepEqual([availability.good, availability.total], [200, 200]);
    }
  });

  for (const service of ['default-bounds', 'default-bounds-cumulative']) test(`SDK default bounds on a seconds metric: the latency SLI is unknown with the reason, not a false burn (${service})`, async () => {
    const p99 = await one(service, DURATION, 'p99');
    // The rank is in (0, 5]: the value is at most the bound, and the bucket says how wide the doubt is.
    assert.deepEqual(p99.slice(2), [{ lower: 0, upper: 5 }]);
    assert.ok(p99[1] >= 0.12 && p99[1] <= 5, String(p99[1]));
    const { latency, availability } = await slos(service);
    assert.deepEqual([latency.good, latency.total, latency.unknown, latency.status, latency.sli, latency.budget_remaining], [0, 0, 200, 'unknown', null, null]);
    assert.match(latency.sli_unknown_reason!, /the bucket \(0, 5\] holds values and straddles the threshold 0\.3/);
    assert.match(latency.sli_unknown_reason!, /View whose explicit bucket boundaries include it/);
    assert.deepEqual(Object.values(latency.burn_rates).filter((b) => b !== null), [], 'nothing burns');
    assert.deepEqual([availability.good, availability.total, availability.status], [200, 200, 'ok'], 'availability does not need the buckets');
    // The in-process evaluation behind the CLI's live table counts the same way.
    const live = (await evaluateSlos(gw.store, { tenant: TENANT, nowMs: Date.now() })).find((x) => x.id === `${service}:latency`)!;
    assert.deepEqual([live.good, live.total, live.unknown, live.sli, live.budget_remaining], [0, 0, 200, null, null]);
    assert.match(live.sli_unknown_reason!, /the bucket \(0, 5\] holds values/);

    await gw.slo.cycle(TENANT, Date.now());
    const firing = await client.getJson<{ alerts: { slo_id: string }[] }>('/v1/alerts?state=firing');
    assert.deepEqual(firing.alerts.filter((a) => a.slo_id.startsWith(`${service}:`)), [], 'no page for a healthy service');
  });

  test('what cannot be converted exactly is refused in the OTLP partial success, naming the point and why', async () => {
    const ns = String(BigInt(Date.now()) * 1_000_000n);
    const point = { startTimeUnixNano: ns, timeUnixNano: ns, count: '2', scale: 3, zeroCount: '0', positive: { offset: 50, bucketCounts: ['2'] } };
    const body = {
      resourceMetrics: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'refused' } }] },
        scopeMetrics: [{ metrics: [
          { name: 'rpc.server.duration', unit: 'ms', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [point] } },
          { name: DURATION, unit: 's', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [{ ...point, positive: { offset: -90, bucketCounts: ['2'] } }] } },
        ] }],
      }],
    };
    const res = await client.postMetrics(JSON.stringify(body), 'application/json');
    assert.equal(res.status, 200);
    const { partialSuccess } = (await res.json()) as { partialSuccess: { rejectedDataPoints: number; errorMessage: string } };
    assert.equal(partialSuccess.rejectedDataPoints, 1);
    assert.match(partialSuccess.errorMessage, /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]: rpc\.server\.duration: exponential histograms of durations must be in seconds, got "ms"/);
    assert.equal((await one('refused', DURATION, 'count'))[1], 2, 'the rest of the request is stored');
  });

  test('with a View whose bounds include the threshold, the latency SLO counts exactly', async () => {
    const { latency } = await slos('with-view');
    assert.deepEqual([latency.good, latency.total, latency.unknown, latency.effective_threshold_seconds], [199, 200, undefined, 0.3]);
    assert.ok(Math.abs(latency.budget_remaining! - 0.5) < 1e-9);
    assert.deepEqual((await one('with-view', DURATION, 'p99')).slice(1), [0.3, { lower: 0.1, upper: 0.3 }]);
  });
});
