// Prometheus users' paths (issue 23 item 4), side by side in one run against one gateway process:
// 1. the same request histories stored through POST /v1/metrics (the agent's OTLP: delta
//    exponential histograms, gzip protobuf, one interval of every service per request) and through
//    POST /api/v1/write (what a Prometheus scraping the agent forwards: cumulative classic
//    histograms over the agent's 25 power-of-two bounds, snappy protobuf, one scrape per request),
//    4 requests in flight, bodies encoded before the clock starts;
// 2. what one scrape of the agent's endpoint costs to render at that many series.
import { gzipSync } from 'node:zlib';
import { ATTR, HTTP_SERVER_DURATION, METRICS } from '../common/catalogue.ts';
import { bucketIndexForSeconds, countAtMost, histogramFromBuckets, mergeHistograms, type ExpHistogram } from '../common/exphist.ts';
import { encodeMetrics, exponentialHistogramMetric, resourceMetrics } from '../agent/export/otlp.ts';
import { CLASSIC_BOUNDS, PrometheusExposition } from '../agent/export/prometheus-exposition.ts';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, type TimeSeries } from '../lambda/storage/prometheus-remote-write.ts';
import { BENCH_KEY, startBenchGateway } from './lib.ts';

const SERVICES = Number(process.env.BENCH_RW_SERVICES ?? 50);
const INTERVALS = Number(process.env.BENCH_RW_INTERVALS ?? 40);
const CONCURRENCY = 4;
const SERIES = [
  { route: '/orders/{id}', status: 200 },
  { route: '/orders/{id}', status: 503 },
  { route: '/pay', status: 200 },
  { route: '/pay', status: 404 },
];
const DURATIONS = [0.002, 0.011, 0.04, 0.09, 0.3, 1.2];

function intervalHistogram(k: number, s: number, j: number): ExpHistogram {
  const buckets = new Map<number, number>();
  let sumNs = 0;
  for (let i = 0; i < 3 + ((k + s + j) % 5); i++) {
    const v = DURATIONS[(k * 7 + s + i + j) % DURATIONS.length];
    buckets.set(bucketIndexForSeconds(v, 5), (buckets.get(bucketIndexForSeconds(v, 5)) ?? 0) + 1);
    sumNs += Math.round(v * 1e9);
  }
  return histogramFromBuckets(5, buckets, sumNs);
}

async function post(urls: { url: string; body: Uint8Array; headers: Record<string, string> }[]): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < urls.length) {
        const r = urls[next++];
        const res = await fetch(r.url, { method: 'POST', body: Buffer.from(r.body), headers: { authorization: `Bearer ${BENCH_KEY}`, ...r.headers } });
        if (res.status >= 300) throw new Error(`${r.url}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function run(): Promise<string[]> {
  const { endpoint, gateway } = await startBenchGateway();
  try {
    const t0Ms = Math.floor(Date.now() / 60_000) * 60_000 - (INTERVALS + 5) * 10_000;
    const otlp: Uint8Array[] = [];
    const rw: Uint8Array[] = [];
    const exposition = new PrometheusExposition();
    const totals = new Map<string, ExpHistogram>();
    for (let k = 0; k < INTERVALS; k++) {
      const startNs = BigInt(t0Ms + k * 10_000) * 1_000_000n;
      const endNs = startNs + 10_000_000_000n;
      const batch = Array.from({ length: SERVICES }, (_, s) =>
        resourceMetrics({ [ATTR.serviceName]: `bench-rw-${s}`, [ATTR.hostName]: 'bench-host', [ATTR.processPid]: 1000 + s }, [
          exponentialHistogramMetric(
            METRICS[HTTP_SERVER_DURATION],
            SERIES.map((x, j) => ({ attributes: { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: x.route, [ATTR.httpStatus]: x.status }, startTimeNs: startNs, endTimeNs: endNs, histogram: intervalHistogram(k, s, j) })),
          ),
        ]),
      );
      otlp.push(gzipSync(encodeMetrics(batch)));
      exposition.add(batch);
      // What Prometheus forwards after scraping the agent at the interval's end: running totals.
      const series: TimeSeries[] = [];
      const atMs = Number(endNs / 1_000_000n) + 500;
      batch.forEach((rm, s) => {
        SERIES.forEach((x, j) => {
          const key = `${s}/${j}`;
          const h = (rm.scopeMetrics[0].metrics[0].dataPoints[j].value as { count: number; sum: number; scale: number; zeroCount: number; positive: { offset: number; bucketCounts: number[] } });
          const interval: ExpHistogram = { scale: h.scale, zeroCount: h.zeroCount, offset: h.positive.offset, counts: h.positive.bucketCounts, count: h.count, sum: h.sum };
          const total = mergeHistograms([totals.get(key) ?? interval, ...(totals.has(key) ? [interval] : [])])!;
          totals.set(key, total);
          const labels = { job: 'burnwatch-agent', instance: 'bench-host:9464', service_name: `bench-rw-${s}`, http_request_method: 'GET', http_route: x.route, http_response_status_code: String(x.status) };
          const at = (value: number) => [{ value, timestampMs: atMs }];
          const name = 'http_server_request_duration_seconds';
          for (const le of CLASSIC_BOUNDS) series.push({ labels: { ...labels, __name__: `${name}_bucket`, le: String(le) }, samples: at(countAtMost(total, le)) });
          series.push({ labels: { ...labels, __name__: `${name}_bucket`, le: '+Inf' }, samples: at(total.count) });
          series.push({ labels: { ...labels, __name__: `${name}_count` }, samples: at(total.count) }, { labels: { ...labels, __name__: `${name}_sum` }, samples: at(total.sum) });
        });
      });
      rw.push(encodeWriteRequest(series));
    }
    const otlpSeconds = await post(otlp.map((body) => ({ url: `${endpoint}/v1/metrics`, body, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' } })));
    const rwSeconds = await post(rw.map((body) => ({ url: `${endpoint}/api/v1/write`, body, headers: REMOTE_WRITE_HEADERS })));
    const points = INTERVALS * SERVICES * SERIES.length;
    const samples = points * (CLASSIC_BOUNDS.length + 3);
    const renders = 20;
    const renderStart = performance.now();
    let text = '';
    for (let i = 0; i < renders; i++) text = exposition.render('openmetrics');
    const renderMs = (performance.now() - renderStart) / renders;
    const bytes = Buffer.byteLength(text);
    const zipped = gzipSync(text).length;
    return [
      `${points} points each way (${SERVICES} services × ${SERIES.length} series × ${INTERVALS} intervals), ${CONCURRENCY} requests in flight`,
      `OTLP /v1/metrics: ${(points / otlpSeconds).toFixed(0)} points/s; remote write /api/v1/write: ${(points / rwSeconds).toFixed(0)} points/s (${(samples / rwSeconds).toFixed(0)} samples/s), ×${(otlpSeconds / rwSeconds).toFixed(2)} the OTLP rate`,
      `one scrape of the agent's endpoint at ${SERVICES * SERIES.length} histogram series: ${renderMs.toFixed(1)} ms to render, ${(bytes / 1024).toFixed(0)} KiB of OpenMetrics text, ${(zipped / 1024).toFixed(0)} KiB gzipped (as Prometheus asks for it)`,
    ];
  } finally {
    await gateway.stop();
  }
}
