// Ingest against Prometheus (issue 21 item 2), in three steps:
// 1. What the agent exports for a Go service: the agent (default 10-s interval) watches the
//    httpserver fixture under a fixed-rate load on two routes; its OTLP requests go to a
//    recording receiver, and the bytes of the fixture's own resources (the agent also reports
//    every other Go process on the host, the load generator included) are counted, re-gzipped
//    per request. Beside it, the same load on the promhttp fixture and the gzip size of one
//    /metrics scrape (Prometheus asks for gzip), charged every 15 s.
// 2. Points/s the gateway stores into DuckDB: synthetic services shaped exactly like the captured
//    export (the same resource and point attribute sets, metrics and bucket counts), 6 intervals
//    per request, gzip OTLP protobuf, 4 requests in flight, against a gateway process.
// 3. The same intervals as remote-write requests (classic histograms, see peers-data.ts), posted
//    4 in flight to Debian's Prometheus remote-write receiver; encoding is done before the clock.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { startReceiver, type DecodedMetric, type DecodedResource } from '../agent/export/testkit.ts';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS } from '../lambda/storage/prometheus-remote-write.ts';
import { startPrometheus } from '../test/lib/prometheus-server.ts';
import { burnwatch, FIXTURE_BIN, startFixture, tempDir, waitFor } from '../test/lib/processes.ts';
import { BENCH_KEY, startBenchGateway } from './lib.ts';
import { otlpRequest, partsOfProcess, remoteWriteSeries, retimed } from './peers-data.ts';
import { storeStages } from './peers-store-stages.ts';

const run$ = promisify(execFile);
const EXPORT_SECONDS = Number(process.env.BENCH_EXPORT_SECONDS ?? 30);
const EXPORT_RATE = 1000;
const SCRAPE_INTERVAL_S = 15;
const SERVICES = Number(process.env.BENCH_PEERS_SERVICES ?? 100);
const INTERVALS = Number(process.env.BENCH_PEERS_INTERVALS ?? 60);
const PER_REQUEST = 6;
const CONCURRENCY = 4;

/** Fixed-rate load on /hello and /work at once, half the rate each; the requests served. */
async function load(url: string, rate: number, seconds: number): Promise<number> {
  const runs = await Promise.all(
    ['/hello', '/work'].map((route) =>
      run$(path.join(FIXTURE_BIN, 'fixedrate'), ['-url', url + route, '-rate', String(rate / 2), '-duration', `${seconds}s`]).then(({ stdout }) => JSON.parse(stdout) as { requests: number; errors: number }),
    ),
  );
  if (runs.some((r) => r.errors)) throw new Error(`load saw errors: ${JSON.stringify(runs)}`);
  return runs.reduce((n, r) => n + r.requests, 0);
}

interface ExportCapture {
  requests: number;
  otlpBytes: number;
  otlpRawBytes: number;
  exports: number;
  template: DecodedResource;
}

async function captureAgentExport(): Promise<ExportCapture> {
  const receiver = await startReceiver();
  const fixture = await startFixture('httpserver');
  const agent = burnwatch(['agent', '--endpoint', receiver.url, '--spool-dir', tempDir('bw-peers-export')], { BURNWATCH_API_KEY: BENCH_KEY });
  try {
    await waitFor('agent attach', () => (agent.output().includes(`instrumenting pid ${fixture.pid} `) ? true : undefined), 30_000, 50);
    const requests = await load(fixture.url, EXPORT_RATE, EXPORT_SECONDS);
    await agent.stop('SIGINT'); // flushes what it still holds
    let otlpBytes = 0;
    let otlpRawBytes = 0;
    let exports = 0;
    let template: DecodedResource | undefined;
    for (const r of receiver.requests.filter((r) => r.url === '/v1/metrics')) {
      const mine = partsOfProcess(r.body, fixture.pid);
      if (!mine.bytes.length) continue;
      exports++;
      const raw = Buffer.concat(mine.bytes);
      otlpRawBytes += raw.length;
      otlpBytes += gzipSync(raw).length;
      for (const res of mine.resources) {
        const points = (x: DecodedResource) => x.scopes.flatMap((s) => s.metrics).reduce((n, m) => n + m.points.length, 0);
        if (!template || points(res) > points(template)) template = res;
      }
    }
    if (!template) throw new Error(`the agent exported nothing for pid ${fixture.pid}:\n${agent.output()}`);
    return { requests, otlpBytes, otlpRawBytes, exports, template };
  } finally {
    await agent.stop('SIGINT');
    await fixture.stop();
    await receiver.close();
  }
}

async function scrapeAfterLoad(): Promise<{ requests: number; gzipBytes: number; rawBytes: number; httpOnlyRawBytes: number }> {
  const fixture = await startFixture('httpserver-promhttp');
  try {
    const requests = await load(fixture.url, EXPORT_RATE, EXPORT_SECONDS);
    const res = await fetch(`${fixture.url}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    const text = await res.text();
    const httpOnly = text.split('\n').filter((l) => /^(# (HELP|TYPE) )?http_/.test(l)).join('\n');
    return { requests, rawBytes: Buffer.byteLength(text), gzipBytes: gzipSync(text).length, httpOnlyRawBytes: Buffer.byteLength(httpOnly) };
  } finally {
    await fixture.stop();
  }
}

interface Interval {
  resource: Record<string, string | number | boolean>;
  metrics: DecodedMetric[];
  points: number;
}

/** SERVICES × INTERVALS 10-s intervals ending now, grouped PER_REQUEST intervals of one service a request. */
function syntheticRequests(template: DecodedResource): Interval[][] {
  // One point per series: an export that caught up on two intervals holds a series twice, and
  // moved to one interval they would be one point written twice.
  const metrics = template.scopes.flatMap((s) => s.metrics).map((m) => {
    const seen = new Set<string>();
    return { ...m, points: m.points.filter((p) => !seen.has(JSON.stringify(p.attributes)) && !!seen.add(JSON.stringify(p.attributes))) };
  });
  const endNs = BigInt(Date.now()) * 1_000_000n;
  const out: Interval[][] = [];
  for (let first = 0; first < INTERVALS; first += PER_REQUEST) {
    for (let s = 0; s < SERVICES; s++) {
      const resource = { ...template.attributes, 'service.name': `svc-${s}`, 'process.pid': 10_000 + s };
      const group: Interval[] = [];
      for (let i = first; i < Math.min(first + PER_REQUEST, INTERVALS); i++) {
        const end = endNs - BigInt(INTERVALS - 1 - i) * 10_000_000_000n;
        const m = retimed(metrics, end - 10_000_000_000n, end);
        group.push({ resource, metrics: m, points: m.reduce((n, x) => n + x.points.length, 0) });
      }
      out.push(group);
    }
  }
  return out;
}

async function inFlight<T>(items: T[], send: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await send(items[next++]);
  }));
  return (performance.now() - t0) / 1000;
}

function otlpBodies(requests: Interval[][]): ReturnType<typeof gzipSync>[] {
  return requests.map((group) => gzipSync(Buffer.concat(group.map((g) => otlpRequest(g.resource, g.metrics)))));
}

async function gatewayIngest(requests: Interval[][], bodies: ReturnType<typeof gzipSync>[]): Promise<{ points: number; seconds: number; bytes: number }> {
  const points = requests.flat().reduce((n, g) => n + g.points, 0);
  const { endpoint, gateway } = await startBenchGateway();
  try {
    const seconds = await inFlight(bodies, async (body) => {
      const res = await fetch(`${endpoint}/v1/metrics`, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${BENCH_KEY}`, 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      });
      const answer = new Uint8Array(await res.arrayBuffer());
      // A full success is an empty ExportMetricsServiceResponse; anything else names a refusal.
      if (res.status !== 200 || answer.length) throw new Error(`gateway answered ${res.status}: ${Buffer.from(answer).toString('latin1')}`);
    });
    return { points, seconds, bytes: bodies.reduce((n, b) => n + b.length, 0) };
  } finally {
    await gateway.stop();
  }
}

async function prometheusIngest(requests: Interval[][]): Promise<{ points: number; samples: number; seconds: number; bytes: number; version: string }> {
  const series = requests.map((group) => group.flatMap((g) => remoteWriteSeries(g.resource, g.metrics)));
  const bodies = series.map((s) => Buffer.from(encodeWriteRequest(s)));
  const points = requests.flat().reduce((n, g) => n + g.points, 0);
  const samples = series.reduce((n, s) => n + s.length, 0);
  const server = await startPrometheus({ nativeHistograms: false });
  try {
    const seconds = await inFlight(bodies, async (body) => {
      const res = await fetch(server.remoteWriteUrl, { method: 'POST', body, headers: REMOTE_WRITE_HEADERS });
      const text = await res.text();
      if (res.status !== 204 && res.status !== 200) throw new Error(`Prometheus answered ${res.status}: ${text}`);
    });
    // Stored, not just accepted: count the samples back.
    const q = await fetch(`${server.url}/api/v1/query?query=${encodeURIComponent('count({job=~"svc-.*"})')}`);
    const stored = (await q.json()) as { data: { result: { value: [number, string] }[] } };
    const seriesCount = Number(stored.data.result[0]?.value[1] ?? 0);
    if (seriesCount === 0) throw new Error('Prometheus stored none of the series');
    return { points, samples, seconds, bytes: bodies.reduce((n, b) => n + b.length, 0), version: server.version };
  } finally {
    await server.stop();
  }
}

export async function run(): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(`peers: ${line}`);
    console.log(`peers: ${line}`);
  };
  const agent = await captureAgentExport();
  const scrape = await scrapeAfterLoad();
  const scrapes = EXPORT_SECONDS / SCRAPE_INTERVAL_S;
  const perK = (bytes: number, requests: number) => ((bytes / requests) * 1000).toFixed(0);
  say(`export bytes per 1,000 requests at ${EXPORT_RATE} req/s for ${EXPORT_SECONDS} s (/hello + /work): burnwatch OTLP ${perK(agent.otlpBytes, agent.requests)} B gzip (${perK(agent.otlpRawBytes, agent.requests)} B protobuf; ${agent.exports} exports, ${agent.requests} requests)`);
  say(`  promhttp exposition, one scrape every ${SCRAPE_INTERVAL_S} s: ${perK(scrape.gzipBytes * scrapes, scrape.requests)} B gzip (${perK(scrape.rawBytes * scrapes, scrape.requests)} B text; a scrape is ${scrape.gzipBytes} B gzip, ${scrape.rawBytes} B text of which ${scrape.httpOnlyRawBytes} B the http_ families)`);
  const template = agent.template.scopes.flatMap((s) => s.metrics);
  say(`ingest template (the fixture's largest export): ${template.map((m) => `${m.name} ×${m.points.length}`).join(', ')}; resource keys ${Object.keys(agent.template.attributes).join(', ')}`);
  const requests = syntheticRequests(agent.template);
  const bodies = otlpBodies(requests);
  const gw = await gatewayIngest(requests, bodies);
  say(`ingest: gateway → DuckDB: ${gw.points} points in ${requests.length} gzip OTLP requests (${(gw.bytes / requests.length).toFixed(0)} B each), ${(gw.points / gw.seconds).toFixed(0)} points/s`);
  const prom = await prometheusIngest(requests);
  say(`ingest: Prometheus ${prom.version} remote write: the same ${prom.points} points as ${prom.samples} samples (${(prom.bytes / requests.length).toFixed(0)} B snappy each), ${(prom.points / prom.seconds).toFixed(0)} points/s = ${(prom.samples / prom.seconds).toFixed(0)} samples/s`);
  say(`ingest: Prometheus/burnwatch points/s ×${(prom.points / prom.seconds / (gw.points / gw.seconds)).toFixed(1)}`);
  const stages = await storeStages(bodies);
  say(`ingest stages, in this process, per request of ${(stages.points / stages.requests).toFixed(0)} points: gunzip + OTLP decode ${stages.decodeMsPerRequest.toFixed(2)} ms, DuckDbStore.write ${stages.writeMsPerRequest.toFixed(2)} ms (${(stages.points / stages.requests / stages.writeMsPerRequest * 1000).toFixed(0)} points/s) of which ${stages.statements.map(([k, ms]) => `${k} ${ms.toFixed(2)} ms`).join(', ')}; the same points in 500-point writes: ${stages.bigBatchPointsPerS.toFixed(0)} points/s; a request's rows into the filled points table: INSERT ${stages.insertMs.toFixed(2)} ms, INSERT OR IGNORE ${stages.insertOrIgnoreMs.toFixed(2)} ms (medians of 50)`);
  return lines;
}
