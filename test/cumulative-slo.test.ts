// A real OpenTelemetry JS SDK with its default cumulative temporality → the real gateway (JSON
// OTLP over HTTP) → DuckDB or Timestream (emulated at the SDK boundary) → the SLO engine's minute
// rollups and the query API. Time is simulated: the SDK's own collection is read manually and its
// start/end times are moved to a simulated clock, so 30 minutes of 10 s / 30 s / 60 s exports and
// a process restart run in seconds, and every count the SDK encoded can be checked exactly.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HrTime } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, AggregationType, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { startGateway } from '../lambda/local/server.ts';
import { STORE_BACKENDS } from './lib/store-backends.ts';
import { DURATION, GatewayClient } from './otlp-fixtures.ts';

const MIN = 60_000;
const TENANT = 'acme';
const KEY = 'cumulative-key';
const THRESHOLD_S = 0.3; // the default latency SLO's
const RUN_MS = 30 * MIN;
const T0 = Math.floor(Date.now() / MIN) * MIN - 2 * 60 * MIN; // recent, on a minute boundary

class ManualReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];

/** The SDK's collection with its times moved to the simulated clock (a cumulative point spans [process start, export]). */
function atSimulatedTime(rm: ResourceMetrics, startMs: number, endMs: number): ResourceMetrics {
  return {
    ...rm,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({
      ...sm,
      metrics: sm.metrics.map((m) => ({ ...m, dataPoints: m.dataPoints.map((p) => ({ ...p, startTime: hr(startMs), endTime: hr(endMs) })) })),
    })) as ResourceMetrics['scopeMetrics'],
  };
}

/** One simulated process of a service: a MeterProvider whose cumulative totals start at `startMs`. */
function sdkProcess(service: string, startMs: number, exporter: OTLPMetricExporter, aggregation: 'explicit' | 'exponential') {
  const reader = new ManualReader();
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'host.name': 'sdk-host' }),
    readers: [reader],
    views: [
      aggregation === 'explicit'
        ? { instrumentName: DURATION, aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [0.1, THRESHOLD_S, 1] } } }
        : { instrumentName: DURATION, aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
    ],
  });
  const duration = provider.getMeter('cumulative-test').createHistogram(DURATION, { unit: 's' });
  return {
    duration,
    async export(atMs: number): Promise<void> {
      const { resourceMetrics, errors } = await reader.collect();
      assert.deepEqual(errors, []);
      const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(atSimulatedTime(resourceMetrics, startMs, atMs), resolve));
      assert.equal(result.code, 0, String(result.error));
    },
    shutdown: () => provider.shutdown(),
  };
}

/** Deterministic request mix: n requests, every 7th a 503, every 5th slow (over the threshold). */
function requestsAt(k: number): { n: number; statusOf: (i: number) => number; secondsOf: (i: number) => number } {
  return {
    n: 3 + ((k * 37) % 11),
    statusOf: (i) => ((k + i) % 7 === 0 ? 503 : 200),
    secondsOf: (i) => ((k + i) % 5 === 0 ? 0.5 + (i % 3) : 0.01 + 0.01 * (i % 5)),
  };
}

interface Minute {
  total: number;
  bad: number;
  slow: number;
}

for (const backend of STORE_BACKENDS) {
  describe(`cumulative OpenTelemetry SDK senders reach SLO rollups whole (${backend.name})`, () => {
    for (const [intervalS, aggregation] of [[10, 'explicit'], [30, 'exponential'], [60, 'explicit']] as const) {
      test(`${intervalS} s exports (${aggregation} histograms), a restart halfway, a cycle every minute`, { timeout: 120_000 }, async (t) => {
        const dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-cumulative-'));
        let clock = T0;
        const gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: TENANT }, store: await backend.open(), now: () => clock, log: () => undefined, slo: { log: () => undefined } });
        t.after(async () => {
          await gw.close();
          rmSync(dataDir, { recursive: true, force: true });
        });
        const service = `cumulative-${intervalS}s`;
        const exporter = new OTLPMetricExporter({ url: `${gw.url}/v1/metrics`, headers: { Authorization: `Bearer ${KEY}` } });
        t.after(() => exporter.shutdown());

        // Sent: per minute bucket (of each export's end time), what the SDK recorded before it.
        const minutes = new Map<number, Minute>();
        const offsetMs = 7_000; // exports do not sit on minute boundaries
        const restartAtMs = T0 + RUN_MS / 2 + 3_000;
        let proc = sdkProcess(service, T0, exporter, aggregation);
        let restarted = false;
        let k = 0;
        const sums = () => [...minutes.values()].reduce((a, m) => ({ total: a.total + m.total, bad: a.bad + m.bad, slow: a.slow + m.slow }), { total: 0, bad: 0, slow: 0 });
        const between = (fromMs: number, toMs: number) =>
          [...minutes].filter(([b]) => b >= fromMs && b < toMs).reduce((a, [, m]) => ({ total: a.total + m.total, bad: a.bad + m.bad }), { total: 0, bad: 0 });
        let cycles = 0;
        for (let now = T0 + MIN; now <= T0 + RUN_MS; now += MIN) {
          // The exports of the minute before `now`, then one evaluation cycle at `now`.
          for (let at = now - MIN + offsetMs; at < now; at += intervalS * 1000) {
            if (!restarted && at >= restartAtMs) {
              // The process restarts: the new one's totals start again from zero at a new start time.
              await proc.shutdown();
              proc = sdkProcess(service, restartAtMs, exporter, aggregation);
              restarted = true;
            }
            const { n, statusOf, secondsOf } = requestsAt(k++);
            const bucket = Math.floor(at / MIN) * MIN;
            const m = minutes.get(bucket) ?? { total: 0, bad: 0, slow: 0 };
            for (let i = 0; i < n; i++) {
              proc.duration.record(secondsOf(i), { 'http.route': '/pay', 'http.response.status_code': statusOf(i) });
              m.total++;
              if (statusOf(i) >= 500) m.bad++;
              if (secondsOf(i) > THRESHOLD_S) m.slow++;
            }
            minutes.set(bucket, m);
            clock = at;
            await proc.export(at);
          }
          clock = now;
          const { slos } = await gw.slo.cycle(TENANT, now);
          cycles++;
          const availability = slos.find((s) => s.id === `${service}:availability`)!;
          const five = availability.windows.find((w) => w.window === '5m')!;
          const expected = between(now - 5 * MIN, now);
          assert.deepEqual([five.total, five.bad], [expected.total, expected.bad], `5m window at minute ${(now - T0) / MIN}`);
        }
        await proc.shutdown();
        assert.ok(restarted && cycles === RUN_MS / MIN);

        const sent = sums();
        const slos = await gw.slo.statuses(TENANT, T0 + RUN_MS, { refresh: false });
        const availability = slos.find((s) => s.id === `${service}:availability`)!;
        const latency = slos.find((s) => s.id === `${service}:latency`)!;
        t.diagnostic(`${sent.total} requests sent in ${k} exports; rollups hold ${availability.total}`);
        assert.deepEqual([availability.total, availability.good], [sent.total, sent.total - sent.bad]);
        assert.deepEqual([latency.total, latency.good], [sent.total, sent.total - sent.slow]);

        // The query API reads the same points the same way, over any range.
        const client = new GatewayClient(gw.url, KEY);
        const count = async (fromMs: number, toMs: number) => {
          const { series } = await client.query({ service, metric: DURATION, agg: 'count', from: String(fromMs / 1000), to: String(toMs / 1000) });
          return series.reduce((n: number, s: { points: [number, number][] }) => n + s.points[0][1], 0);
        };
        assert.equal(await count(T0, T0 + RUN_MS), sent.total);
        for (const [a, b] of [[T0 + 10 * MIN, T0 + 20 * MIN], [T0 + 3 * MIN, T0 + 4 * MIN], [restartAtMs - 2 * MIN, restartAtMs + 2 * MIN]]) {
          const fromMs = Math.floor(a / MIN) * MIN;
          const toMs = Math.floor(b / MIN) * MIN;
          assert.equal(await count(fromMs, toMs), between(fromMs, toMs).total, `count over [${(fromMs - T0) / MIN}m, ${(toMs - T0) / MIN}m)`);
        }
      });
    }
  });
}
