// Query latency against PromQL (issue 21 item 4): "p99 of a service's requests over the last 24 h",
// for each of 50 services, asked of burnwatch's `/v1/query` (a gateway process over DuckDB) and of
// Debian's Prometheus (`histogram_quantile` over the same requests as promhttp's classic histogram),
// on the same machine in one run, rounds alternating between the peers. Two shapes: one number for
// the whole 24 h (`agg=p99` / `increase(…[24h])`), and the dashboard's graph of it per 5 minutes
// (`step=5m` / a range query with `rate(…[5m])`, step 5m).
// Data: per service one route (BENCH_PEERS_QUERY_ROUTES=2 adds a second), an interval every 10 s
// for 24 h (what the agent exports): /work, 20 requests an interval around 20 ms, log-normal
// (/hello: 100 around 2 ms), as burnwatch's scale-5 exponential histograms; Prometheus gets each
// interval as promhttp would have counted it (peers-data.ts: DefBuckets), cumulative, one sample
// every 10 s, backfilled with promtool.
import fs from 'node:fs';
import path from 'node:path';
import { HTTP_SERVER_DURATION } from '../common/catalogue.ts';
import { bucketIndexForSeconds } from '../common/exphist.ts';
import type { DecodedMetric } from '../agent/export/testkit.ts';
import { DuckDbStore, DUCKDB_FILE_NAME } from '../lambda/storage/duckdb.ts';
import { LOCAL_TENANT } from '../lambda/local/server.ts';
import type { MetricPoint } from '../lambda/storage/types.ts';
import { startPrometheus } from '../test/lib/prometheus-server.ts';
import { freePort, startGatewayProcess, tempDir } from '../test/lib/processes.ts';
import { BENCH_KEY } from './lib.ts';
import { remoteWriteSeries } from './peers-data.ts';
import { backfill, compactionSettled } from './prometheus-backfill.ts';
import { rng } from '../common/seeded-random.ts';

const SERVICES = Number(process.env.BENCH_PEERS_QUERY_SERVICES ?? 50);
const HOURS = Number(process.env.BENCH_PEERS_QUERY_HOURS ?? 24);
const ROUNDS = Number(process.env.BENCH_PEERS_QUERY_ROUNDS ?? 1);
const INTERVAL_MS = 10_000;
const SCALE = 5;
const ALL_ROUTES = [
  { route: '/work', perInterval: 20, medianSeconds: 0.02, sigma: 0.8 },
  { route: '/hello', perInterval: 100, medianSeconds: 0.002, sigma: 0.6 },
];
/** Routes a service serves (BENCH_PEERS_QUERY_ROUTES, 1 or 2): each is a series of points. */
const ROUTES = ALL_ROUTES.slice(0, Number(process.env.BENCH_PEERS_QUERY_ROUTES ?? 1));
// peers-data.ts's name for it (the OTLP name with its dots as underscores).
const PROM_METRIC = 'http_server_request_duration';


interface Interval {
  service: string;
  endMs: number;
  points: MetricPoint[];
  metric: DecodedMetric;
}

function interval(service: string, pid: number, endMs: number, rand: () => number): Interval {
  const resource = { 'service.name': service, 'host.name': 'bench', 'process.pid': pid };
  const endNs = BigInt(endMs) * 1_000_000n;
  const startNs = endNs - BigInt(INTERVAL_MS) * 1_000_000n;
  const points: MetricPoint[] = [];
  const metric: DecodedMetric = { name: HTTP_SERVER_DURATION, unit: 's', description: '', kind: 'exponential_histogram', points: [] };
  for (const r of ROUTES) {
    const byIndex = new Map<number, number>();
    let sum = 0;
    for (let i = 0; i < r.perInterval; i++) {
      const normal = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      const v = r.medianSeconds * Math.exp(r.sigma * normal);
      sum += v;
      const idx = bucketIndexForSeconds(v, SCALE);
      byIndex.set(idx, (byIndex.get(idx) ?? 0) + 1);
    }
    const offset = Math.min(...byIndex.keys());
    const counts = Array.from({ length: Math.max(...byIndex.keys()) - offset + 1 }, (_, i) => byIndex.get(offset + i) ?? 0);
    const attributes = { 'http.route': r.route, 'http.request.method': 'GET', 'http.response.status_code': 200 };
    points.push({ series: { metric: HTTP_SERVER_DURATION, unit: 's', resource, attributes }, startNs, endNs, kind: 'exponential_histogram', temporality: 'delta', count: r.perInterval, sum, scale: SCALE, zeroCount: 0, offset, counts });
    metric.points.push({ attributes, startTimeUnixNano: startNs, timeUnixNano: endNs, histogram: { count: r.perInterval, sum, scale: SCALE, zeroCount: 0, offset, counts } });
  }
  return { service, endMs, points, metric };
}

/** Writes the same intervals into burnwatch's DuckDB file and, as cumulative promhttp counters, into Prometheus blocks. */
async function load(dataDir: string, promDir: string, fromMs: number, toMs: number): Promise<{ points: number; samples: number; storeSeconds: number }> {
  const store = await DuckDbStore.open({ path: path.join(dataDir, DUCKDB_FILE_NAME) });
  const rands = Array.from({ length: SERVICES }, (_, i) => rng(i + 1));
  const totals = new Map<string, { labels: Record<string, string>; value: number }>();
  let points = 0;
  let samples = 0;
  let storeSeconds = 0;
  try {
    await backfill(promDir, fromMs + INTERVAL_MS, toMs + INTERVAL_MS, async (file, a, b) => {
      const lines = new Map<string, string[]>();
      let batch: MetricPoint[] = [];
      const flush = async () => {
        const t0 = performance.now();
        await store.write(LOCAL_TENANT, batch);
        storeSeconds += (performance.now() - t0) / 1000;
        points += batch.length;
        batch = [];
      };
      for (let end = a; end < b; end += INTERVAL_MS) {
        for (let s = 0; s < SERVICES; s++) {
          const iv = interval(`svc-${s}`, 10_000 + s, end, rands[s]);
          batch.push(...iv.points);
          if (batch.length >= 10_000) await flush();
          for (const ts of remoteWriteSeries({ 'service.name': iv.service, 'host.name': 'bench', 'process.pid': 10_000 + s }, [iv.metric])) {
            const { __name__, ...labels } = ts.labels;
            const key = JSON.stringify(ts.labels);
            const total = totals.get(key) ?? { labels, value: 0 };
            total.value += ts.samples[0].value;
            totals.set(key, total);
            const text = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
            let mine = lines.get(key);
            if (!mine) lines.set(key, (mine = []));
            mine.push(`${__name__}{${text}} ${total.value} ${end / 1000}`);
            samples++;
          }
        }
      }
      if (batch.length) await flush();
      const body = [...lines.values()].map((l) => l.join('\n')).join('\n');
      fs.writeFileSync(file, `# TYPE ${PROM_METRIC} histogram\n${body}\n# EOF\n`);
    });
  } finally {
    await store.close();
  }
  return { points, samples, storeSeconds };
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await f();
  return [performance.now() - t0, v];
}

export async function run(): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(`peers: ${line}`);
    console.log(`peers: ${line}`);
  };
  const dir = tempDir('bw-peers-query');
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const toMs = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - INTERVAL_MS;
    const fromMs = toMs - HOURS * 3_600_000;
    const dataDir = path.join(dir, 'burnwatch');
    const promDir = path.join(dir, 'prometheus');
    fs.mkdirSync(dataDir);
    const loaded = await load(dataDir, promDir, fromMs, toMs);
    say(`query: ${SERVICES} services × ${HOURS} h of 10-s intervals (${ROUTES.length} route(s)): ${loaded.points} exponential-histogram points into DuckDB (${(loaded.points / loaded.storeSeconds).toFixed(0)} points/s), ${loaded.samples} classic-histogram samples into Prometheus blocks`);
    const port = await freePort();
    const gateway = await startGatewayProcess(port, dataDir, BENCH_KEY);
    stops.push(() => gateway.stop());
    const prometheus = await startPrometheus({ dataDir: promDir, outOfOrderWindow: null, nativeHistograms: false });
    stops.push(() => prometheus.stop());
    await compactionSettled(`${prometheus.url}/metrics`);

    const sec = (ms: number) => (ms / 1000).toFixed(0);
    const bwQuery = async (service: string, step?: string) => {
      const q = new URLSearchParams({ service, metric: HTTP_SERVER_DURATION, agg: 'p99', from: sec(fromMs), to: sec(toMs + 1000), ...(step ? { step } : {}) });
      const res = await fetch(`http://127.0.0.1:${port}/v1/query?${q}`, { headers: { authorization: `Bearer ${BENCH_KEY}` } });
      const body = (await res.json()) as { series: { points: [number, number][] }[] };
      if (res.status !== 200 || !body.series.length) throw new Error(`/v1/query answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      return body.series[0].points;
    };
    const promQuery = async (service: string, step?: string) => {
      const sel = `${PROM_METRIC}_bucket{job="${service}"}`;
      const url = step
        ? `${prometheus.url}/api/v1/query_range?${new URLSearchParams({ query: `histogram_quantile(0.99, sum by (le) (rate(${sel}[${step}])))`, start: sec(fromMs), end: sec(toMs), step: step })}`
        : `${prometheus.url}/api/v1/query?${new URLSearchParams({ query: `histogram_quantile(0.99, sum by (le) (increase(${sel}[${HOURS}h])))`, time: sec(toMs) })}`;
      const res = await fetch(url);
      const body = (await res.json()) as { status: string; data: { result: { value?: [number, string]; values?: [number, string][] }[] } };
      if (body.status !== 'success' || !body.data.result.length) throw new Error(`Prometheus answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      const r = body.data.result[0];
      return (r.values ?? [r.value!]).map(([t, v]) => [t, Number(v)] as [number, number]);
    };
    for (const step of [undefined, '5m']) {
      const times = { burnwatch: [] as number[], prometheus: [] as number[] };
      const ratios: number[] = [];
      let points = { burnwatch: 0, prometheus: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate who goes first, so neither always finds the caches the other warmed.
        const order = round % 2 ? (['prometheus', 'burnwatch'] as const) : (['burnwatch', 'prometheus'] as const);
        for (let s = 0; s < SERVICES; s++) {
          const answers: Record<string, [number, number][]> = {};
          for (const peer of order) {
            const [ms, pts] = await timed(() => (peer === 'burnwatch' ? bwQuery(`svc-${s}`, step) : promQuery(`svc-${s}`, step)));
            times[peer].push(ms);
            answers[peer] = pts;
          }
          points = { burnwatch: answers.burnwatch.length, prometheus: answers.prometheus.length };
          const middle = (pts: [number, number][]) => percentile(pts.map(([, v]) => v).filter(Number.isFinite), 0.5);
          ratios.push(middle(answers.burnwatch) / middle(answers.prometheus));
        }
      }
      const shape = step ? `per ${step} over ${HOURS} h (${points.burnwatch} / ${points.prometheus} values)` : `over ${HOURS} h (one value)`;
      const fmt = (xs: number[]) => `p50 ${percentile(xs, 0.5).toFixed(1)} ms, p99 ${percentile(xs, 0.99).toFixed(1)} ms`;
      say(`query: p99 ${shape}, ${SERVICES} services × ${ROUNDS} rounds: burnwatch /v1/query ${fmt(times.burnwatch)}; Prometheus ${prometheus.version} ${fmt(times.prometheus)}; burnwatch/Prometheus p50 ×${(percentile(times.burnwatch, 0.5) / percentile(times.prometheus, 0.5)).toFixed(1)}, p99 ×${(percentile(times.burnwatch, 0.99) / percentile(times.prometheus, 0.99)).toFixed(1)}; answers (burnwatch/Prometheus, median value) median ×${percentile(ratios, 0.5).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}
