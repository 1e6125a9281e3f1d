// The Prometheus storage backend beside DuckDB, in one run: points/s the gateway stores (OTLP
// POSTs of delta exponential histograms, 100 services) and GET /v1/slos latency with 100
// services' default SLOs, first call (rollups built from raw points) and later ones (median);
// and the store alone (MetricStore.write of 500-point batches, no HTTP, no decoding).
// Prometheus is Debian's 2.42 on this machine, started with a temporary TSDB, as in the tests.
import fs from 'node:fs';
import { startGateway } from '../lambda/local/server.ts';
import { PrometheusStore } from '../lambda/storage/prometheus.ts';
import type { MetricPoint, MetricStore } from '../lambda/storage/types.ts';
import { startPrometheus } from '../test/lib/prometheus-server.ts';
import { tempDir } from '../test/lib/processes.ts';
import { DURATION, GatewayClient, expHistogramMetric, protobufBody, resourceMetrics } from '../test/otlp-fixtures.ts';

const SERVICES = Number(process.env.BENCH_PROM_SERVICES ?? 100);
/** 10-s intervals per service: 10 minutes of an agent's exports. */
const INTERVALS = Number(process.env.BENCH_PROM_INTERVALS ?? 60);
/** Intervals per request: one agent batch of a minute. */
const PER_REQUEST = 6;
const CONCURRENCY = 4;
const SLO_RUNS = 5;
const KEY = 'bench-prometheus-key-0123456789';

export interface Result {
  backend: string;
  points: number;
  pointsPerS: number;
  firstSlosMs: number;
  slosMs: number;
  storePointsPerS: number;
}

/** The same shape of points as the OTLP bodies, as the store receives them. */
function storePoints(nowMs: number): MetricPoint[] {
  const out: MetricPoint[] = [];
  const startMs = nowMs - INTERVALS * 10_000;
  for (let s = 0; s < SERVICES; s++) {
    for (const status of [200, 500]) {
      const series = { metric: DURATION, unit: 's', resource: { 'service.name': `svc-${s}`, 'host.name': 'h1' }, attributes: { 'http.route': '/pay', 'http.response.status_code': status } };
      for (let i = 0; i < INTERVALS; i++) {
        const endNs = BigInt(startMs + (i + 1) * 10_000) * 1_000_000n;
        const counts = status === 200 ? [90 + (i % 7), ...new Array<number>(31).fill(0), 8, ...new Array<number>(31).fill(0), 1] : [1];
        out.push({ series, startNs: endNs - 10_000_000_000n, endNs, kind: 'exponential_histogram', temporality: 'delta', count: counts.reduce((a, b) => a + b, 0), sum: 1, scale: 5, zeroCount: 0, offset: -98, counts });
      }
    }
  }
  return out;
}

async function storeThroughput(store: MetricStore): Promise<number> {
  const points = storePoints(Date.now());
  const t0 = performance.now();
  for (let i = 0; i < points.length; i += 500) {
    const r = await store.write('bench-store', points.slice(i, i + 500));
    if (r.rejected?.length) throw new Error(`store refused ${r.rejected.length} points: ${r.rejected[0].reason}`);
  }
  return points.length / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Each request: one service, 6 intervals, 200 and 500 series; bodies built before timing. */
function bodies(nowMs: number): { body: Uint8Array; points: number }[] {
  const out: { body: Uint8Array; points: number }[] = [];
  const startMs = nowMs - INTERVALS * 10_000;
  for (let first = 0; first < INTERVALS; first += PER_REQUEST) {
    for (let s = 0; s < SERVICES; s++) {
      const points = [];
      for (let i = first; i < Math.min(first + PER_REQUEST, INTERVALS); i++) {
        const endMs = startMs + (i + 1) * 10_000;
        points.push({ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [-97]: 90 + (i % 7), [-65]: 8, [-33]: 1 } });
        points.push({ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 500 }, scale: 5, buckets: { [-97]: 1 } });
      }
      out.push({ body: protobufBody(resourceMetrics({ 'service.name': `svc-${s}`, 'host.name': 'h1' }, [expHistogramMetric(DURATION, points)])), points: points.length });
    }
  }
  return out;
}

export async function measure(backend: string, store: MetricStore | undefined): Promise<Result> {
  const dataDir = tempDir('bw-bench-prom');
  const nowMs = Date.now();
  const gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: 'bench' }, store, log: () => undefined, slo: { log: () => undefined } });
  const client = new GatewayClient(gw.url, KEY);
  try {
    const requests = bodies(nowMs);
    const points = requests.reduce((n, r) => n + r.points, 0);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const r = requests[next++];
          const res = await client.postMetrics(r.body);
          const text = await res.text();
          if (res.status !== 200 || text.includes('rejected')) throw new Error(`${backend}: POST /v1/metrics answered ${res.status}: ${text}`);
        }
      }),
    );
    const writeS = (performance.now() - t0) / 1000;
    const time = async () => {
      const t = performance.now();
      const body = await client.getJson<{ slos: { service: string }[] }>('/v1/slos');
      const ms = performance.now() - t;
      const services = new Set(body.slos.map((s) => s.service));
      if (services.size !== SERVICES) throw new Error(`${backend}: /v1/slos has ${services.size} services, want ${SERVICES}`);
      return ms;
    };
    const firstSlosMs = await time();
    const runs: number[] = [];
    for (let i = 0; i < SLO_RUNS; i++) runs.push(await time());
    const storePointsPerS = await storeThroughput(store ?? gw.store);
    return { backend, points, pointsPerS: points / writeS, firstSlosMs, slosMs: median(runs), storePointsPerS };
  } finally {
    await gw.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<string[]> {
  const results = [await measure('DuckDB', undefined)];
  const server = await startPrometheus();
  try {
    results.push(await measure(`Prometheus ${server.version}`, new PrometheusStore({ remoteWriteUrl: server.remoteWriteUrl, queryUrl: server.url })));
  } finally {
    await server.stop();
  }
  const lines = results.map(
    (r) => `prometheus: ${r.backend}: ${r.points} points from ${SERVICES} services stored at ${r.pointsPerS.toFixed(0)} points/s through the gateway, ${r.storePointsPerS.toFixed(0)} points/s by the store alone; GET /v1/slos (${SERVICES} services) first ${r.firstSlosMs.toFixed(0)} ms, then ${r.slosMs.toFixed(0)} ms (median of ${SLO_RUNS})`,
  );
  for (const line of lines) console.log(line);
  const [duck, prom] = results;
  lines.push(`prometheus: Prometheus/DuckDB: write throughput ×${(prom.pointsPerS / duck.pointsPerS).toFixed(2)} (store alone ×${(prom.storePointsPerS / duck.storePointsPerS).toFixed(2)}), /v1/slos first ×${(prom.firstSlosMs / duck.firstSlosMs).toFixed(2)}, then ×${(prom.slosMs / duck.slosMs).toFixed(2)}`);
  return lines;
}
