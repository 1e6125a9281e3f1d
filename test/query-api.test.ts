// The query API, /v1/services and /v1/slos on known data, with the gateway's clock fixed so that
// "the last 5 minutes" and "the last 30 days" are exact. Bucket indices are chosen at scale 5
// where upper bounds are powers of two: bucket -129 ends at 1/16 s, -97 at 1/8 s, -65 at
// 1/4 s, -33 at 1/2 s. So every expected number below follows from the counts by hand.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { thresholdResolution } from '../common/exphist.ts';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { serviceTable } from '../lambda/query/service-table.ts';
import { evaluateSlos } from '../lambda/slo/evaluate.ts';
import { STORE_BACKENDS } from './lib/store-backends.ts';
import { DURATION, GatewayClient, counterMetric, expHistogramMetric, protobufBody, resourceMetrics, type ExpPointSpec } from './otlp-fixtures.ts';

const NOW = 1_795_000_000_000; // ms; not a multiple of 5 minutes, so step alignment is visible
const MIN = 60_000;
const DAY = 86_400_000;
const OK = { 'http.response.status_code': 200, 'http.route': '/pay' };
const FAIL = { 'http.response.status_code': 500, 'http.route': '/pay' };

function budget(good: number, total: number, objective: number): number {
  return 1 - (total - good) / (total * (1 - objective));
}

for (const backend of STORE_BACKENDS) describe(`query API on known data (${backend.name})`, () => {
  let dataDir: string;
  let gw: RunningGateway;
  let client: GatewayClient;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-query-'));
    gw = await startGateway({ port: 0, dataDir, apiKeys: { k: 'acme' }, now: () => NOW, store: await backend.open(() => NOW) });
    client = new GatewayClient(gw.url, 'k');
    const send = async (resource: Record<string, string>, points: ExpPointSpec[], temporality = AggregationTemporality.DELTA) => {
      const res = await client.postMetrics(protobufBody(resourceMetrics(resource, [expHistogramMetric(DURATION, points, temporality)])));
      assert.equal(res.status, 200, await res.text());
    };
    const checkout = { 'service.name': 'checkout' };
    await send({ ...checkout, 'host.name': 'h1' }, [
      { endMs: NOW - 1 * MIN, attributes: OK, scale: 5, buckets: { [-97]: 90, [-33]: 8 } },
      { endMs: NOW - 10 * MIN, attributes: OK, scale: 5, buckets: { [-97]: 100 } },
      { endMs: NOW - 31 * DAY, attributes: OK, scale: 5, buckets: { [-33]: 1000 } }, // outside every window
    ]);
    await send({ ...checkout, 'host.name': 'h2' }, [{ endMs: NOW - MIN / 2, attributes: FAIL, scale: 5, buckets: { [-129]: 2 } }]);
    await send({ 'service.name': 'search', 'host.name': 'h3' }, [
      { endMs: NOW - 20 * MIN, attributes: OK, scale: 5, buckets: { [-65]: 50 } },
      { endMs: NOW - 20 * MIN, attributes: { 'http.response.status_code': 502 }, scale: 5, buckets: { [-65]: 1 } },
    ]);
    // A cumulative sender (the OpenTelemetry SDKs' default): running totals, then a restart.
    const cumulative = { 'service.name': 'cumulative', 'host.name': 'h4' };
    const series = { startMs: NOW - 20 * MIN, attributes: OK, scale: 5 };
    const snapshots: ExpPointSpec[] = [
      { ...series, endMs: NOW - 15 * MIN, buckets: { [-97]: 3 } },
      { ...series, endMs: NOW - 10 * MIN, buckets: { [-97]: 5, [-33]: 1 } },
      { ...series, endMs: NOW - 5 * MIN, buckets: { [-97]: 9, [-33]: 1 } },
    ];
    const metric = expHistogramMetric(DURATION, snapshots, AggregationTemporality.CUMULATIVE);
    const restart = { ...series, startMs: NOW - 4 * MIN, endMs: NOW - 2 * MIN, buckets: { [-65]: 4 } };
    const restarted = expHistogramMetric(DURATION, [restart], AggregationTemporality.CUMULATIVE);
    const res = await client.postMetrics(protobufBody(resourceMetrics(cumulative, [metric, restarted])));
    assert.equal(res.status, 200, await res.text());
    const counter = counterMetric('orders.placed', [
      { endMs: NOW - 2 * MIN, value: 7, attributes: { region: 'eu' } },
      { endMs: NOW - 3 * MIN, value: 5, attributes: { region: 'us' } },
    ]);
    assert.equal((await client.postMetrics(protobufBody(resourceMetrics(checkout, [counter])))).status, 200);
  });

  after(async () => {
    await gw?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('GET /v1/services: every service seen, with hosts, requests, errors and p99 of the last 5 minutes', async () => {
    assert.deepEqual(await client.getJson('/v1/services'), {
      services: [
        // 90 at ≤1/8 s and 8 at ≤1/2 s (h1), 2 failures at ≤1/16 s (h2): rank 99 of 100 is in the 1/2 s bucket.
        { name: 'checkout', hosts: ['h1', 'h2'], requests: 100, errors: 2, p99: 0.5 },
        // Its 5-minute-old snapshot ends at the window's start: +4 (at ≤1/8 s) since the one before
        // it; then a restart 2 minutes ago with 4 requests at ≤1/4 s.
        { name: 'cumulative', hosts: ['h4'], requests: 8, errors: 0, p99: 0.25 },
        { name: 'search', hosts: [], requests: 0, errors: 0, p99: null },
      ],
    });
  });

  test('GET /v1/slos: default availability and latency SLOs per service over the data so far', async () => {
    const { slos } = await client.getJson<{ slos: Record<string, unknown>[] }>('/v1/slos');
    const effective = thresholdResolution(0.3, 5).below;
    const expected = [
      // checkout: 200 requests in 30 days (the 31-day-old point is out), 2 failed; 8 took > 0.3 s.
      ['checkout', 'availability', 0.999, 198, 200],
      ['checkout', 'latency', 0.99, 192, 200],
      // cumulative: 9 + 1 then a restart with 4: 14 requests, 1 slower than 0.3 s.
      ['cumulative', 'availability', 0.999, 14, 14],
      ['cumulative', 'latency', 0.99, 13, 14],
      ['search', 'availability', 0.999, 50, 51],
      ['search', 'latency', 0.99, 51, 51],
    ] as const;
    // The list's contract fields; the SLO engine adds more (windows, burn rates, alerts…).
    const fields = ['id', 'service', 'kind', 'objective', 'sli', 'budget_remaining', 'window', 'good', 'total', 'threshold_seconds', 'effective_threshold_seconds'];
    assert.deepEqual(
      slos.map((s) => Object.fromEntries(Object.entries(s).filter(([k]) => fields.includes(k)))),
      expected.map(([service, kind, objective, good, total]) => ({
        id: `${service}:${kind}`,
        service,
        kind,
        objective,
        sli: good / total,
        budget_remaining: budget(good, total, objective),
        window: '30d',
        good,
        total,
        ...(kind === 'latency' ? { threshold_seconds: 0.3, effective_threshold_seconds: effective } : {}),
      })),
    );
    assert.ok(effective < 0.3 && effective > 0.29, `scale 5 resolves 300 ms to ${effective}`);
    const one = await client.getJson<{ slo: { id: string } }>(`/v1/slos/${encodeURIComponent('search:latency')}`);
    assert.equal(one.slo.id, 'search:latency');
    const missing = await client.get('/v1/slos/nope');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  test('the SLO evaluation and the service table run in-process without HTTP', async () => {
    const slos = await evaluateSlos(gw.store, { tenant: 'acme', nowMs: NOW });
    assert.equal(slos.length, 6);
    // Nothing before any data: no service is seen within the window, so no SLO is made up.
    assert.deepEqual(await evaluateSlos(gw.store, { tenant: 'acme', nowMs: NOW - 40 * DAY }), []);
    const rows = await serviceTable(gw.store, { tenant: 'acme', nowMs: NOW });
    assert.deepEqual(rows[0], {
      service: 'checkout',
      hosts: ['h1', 'h2'],
      requestsPerSecond: 100 / 300,
      errorRatio: 0.02,
      p99: 0.5,
      budgetRemaining: Math.min(budget(198, 200, 0.999), budget(192, 200, 0.99)),
      worstSlo: 'checkout:availability',
    });
    assert.deepEqual(rows.map((r) => r.service), ['checkout', 'cumulative', 'search']);
    assert.equal(rows[2].requestsPerSecond, 0);
    assert.equal(rows[2].errorRatio, null);
  });

  test('GET /v1/query: one value per group, grouped by point or resource attributes', async () => {
    const q = (params: Record<string, string>) => client.query({ service: 'checkout', metric: DURATION, to: 'now', ...params });
    const to = NOW / 1000;
    assert.deepEqual(await q({ agg: 'count', from: '-5m' }), { series: [{ labels: {}, points: [[to, 100]] }] });
    assert.deepEqual(await q({ agg: 'rate', from: '-5m' }), { series: [{ labels: {}, points: [[to, 100 / 300]] }] });
    assert.deepEqual(await q({ agg: 'errors', from: '-5m' }), { series: [{ labels: {}, points: [[to, 2]] }] });
    assert.deepEqual(await q({ agg: 'error_ratio', from: '-5m' }), { series: [{ labels: {}, points: [[to, 0.02]] }] });
    assert.deepEqual(await q({ agg: 'p50', from: '-5m' }), { series: [{ labels: {}, points: [[to, 0.125]] }] });
    assert.deepEqual(await q({ agg: 'p99', from: '-5m' }), { series: [{ labels: {}, points: [[to, 0.5]] }] });
    assert.deepEqual(await q({ agg: 'max', from: '-5m' }), { series: [{ labels: {}, points: [[to, 0.5]] }] });
    assert.deepEqual(await q({ agg: 'count', from: '-15m', by: 'http.response.status_code' }), {
      series: [
        { labels: { 'http.response.status_code': '200' }, points: [[to, 198]] },
        { labels: { 'http.response.status_code': '500' }, points: [[to, 2]] },
      ],
    });
    assert.deepEqual(await q({ agg: 'count', from: '-15m', by: 'host.name,http.route' }), {
      series: [
        { labels: { 'host.name': 'h1', 'http.route': '/pay' }, points: [[to, 198]] },
        { labels: { 'host.name': 'h2', 'http.route': '/pay' }, points: [[to, 2]] },
      ],
    });
    // RFC 3339 and unix seconds mean the same instants as relative times.
    const rfc = await q({ agg: 'count', from: new Date(NOW - 5 * MIN).toISOString(), to: String(NOW / 1000) });
    assert.deepEqual(rfc, { series: [{ labels: {}, points: [[to, 100]] }] });
    // A window without data has no series.
    assert.deepEqual(await q({ agg: 'count', from: '-20d', to: '-19d' }), { series: [] });
    // Counters add their deltas.
    assert.deepEqual(await client.query({ service: 'checkout', metric: 'orders.placed', agg: 'count', from: '-5m', to: 'now', by: 'region' }), {
      series: [
        { labels: { region: 'eu' }, points: [[to, 7]] },
        { labels: { region: 'us' }, points: [[to, 5]] },
      ],
    });
  });

  test('GET /v1/query with step: one point per bucket aligned to the step', async () => {
    const step = 300;
    const align = (ms: number) => Math.floor(ms / 1000 / step) * step;
    const { series } = await client.query({ service: 'checkout', metric: DURATION, agg: 'count', from: '-15m', to: 'now', step: '5m' });
    const first = align(NOW - 15 * MIN);
    const expected = new Map<number, number>();
    for (let b = first; b < NOW / 1000; b += step) expected.set(b, 0);
    expected.set(align(NOW - 10 * MIN), 100);
    expected.set(align(NOW - MIN), 98 + 2);
    assert.deepEqual(series, [{ labels: {}, points: [...expected.entries()] }]);
    assert.equal(series[0].points.length, 4);

    // Percentiles have no value in empty buckets, so those are left out.
    const p99 = await client.query({ service: 'checkout', metric: DURATION, agg: 'p99', from: '-15m', to: 'now', step: '5m' });
    assert.deepEqual(p99.series[0].points, [[align(NOW - 10 * MIN), 0.125], [align(NOW - MIN), 0.5]]);
  });

  test('cumulative series are turned into deltas: the last snapshot before the range is the baseline, a restart counts whole', async () => {
    const count = async (from: string) =>
      (await client.query({ service: 'cumulative', metric: DURATION, agg: 'count', from, to: 'now' })).series[0].points[0][1];
    // The series started inside the range: 3, +3, +4, then the restart's 4.
    assert.equal(await count('-30m'), 14);
    // From -12m the 10-minute snapshot counts its increase over the 15-minute one, the last before
    // the range (+3); then +4 and the restart's 4.
    assert.equal(await count('-12m'), 11);
    // From -7m only the 5-minute snapshot's +4 and the restart's 4.
    assert.equal(await count('-7m'), 8);
    const p99 = await client.query({ service: 'cumulative', metric: DURATION, agg: 'p99', from: '-30m', to: 'now' });
    assert.equal(p99.series[0].points[0][1], 0.5);
  });
});
