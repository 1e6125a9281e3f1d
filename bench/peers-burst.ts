// Time from the start of an error burst to a firing page (issue 21 item 3, second half), one
// service, both peers live on the wall clock side by side:
// - The service serves 1,000 requests a minute (0.1% errors: burning at 1×) with 30 days of that
//   history behind it; at the burst, half its requests fail (1,000 errors a minute more).
// - burnwatch: the agent's 10-s deltas (two points an interval: status 200 and 500) written into a
//   DuckDB metric store as the gateway stores them, and the SLO engine run by the local stack's
//   evaluation loop at its default interval (60 s, `--slo-interval`); the page is the first
//   notified transition to firing of a `page` rule (burnwatch's default SLO: 99.9%, 30 d,
//   the Workbook's rules, no `for`).
// - Prometheus: the same history backfilled (peers-slo.ts), then the service's promhttp-style
//   counters served on /metrics and scraped every 15 s, Sloth-style rules evaluated every 15 s
//   (both from Debian's shipped prometheus.yml; Sloth's alerts have no `for:`); the page is the
//   `page` alert firing in /api/v1/alerts (its activeAt: the evaluation that fired it).
// One burst, one run: each figure carries the phase of its pipeline's timers (burnwatch: up to
// 10 s of export + up to 60 s of evaluation interval; Prometheus: up to 15 s + 15 s).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { HTTP_SERVER_DURATION } from '../common/catalogue.ts';
import type { AlertTransition } from '../lambda/notify/types.ts';
import { DuckDbSloStore, SLO_DUCKDB_FILE_NAME } from '../lambda/slo/duckdb-store.ts';
import { SloEngine } from '../lambda/slo/engine.ts';
import { BUILTIN_DEFAULTS } from '../lambda/slo/definitions.ts';
import { startEvaluationLoop } from '../lambda/slo/loop.ts';
import { sliKey } from '../lambda/slo/sli.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import type { MetricPoint } from '../lambda/storage/types.ts';
import { startPrometheus } from '../test/lib/prometheus-server.ts';
import { tempDir, waitFor } from '../test/lib/processes.ts';
import { fillRollups } from './lib.ts';
import { availabilitySlos, EVALUATION_INTERVAL_S, RollupSamples } from './peers-slo.ts';
import { REQUESTS_METRIC, SERVICE_LABEL, slothRulesYaml } from './sloth-rules.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const TENANT = 'bench';
const EXPORT_MS = 10_000;
/** burnwatch up's default --slo-interval. */
const SLO_INTERVAL_MS = 60_000;
const GOOD_PER_MIN = 999;
const BAD_PER_MIN = 1;
const BURST_BAD_PER_MIN = 1000;
const STEADY_MS = Number(process.env.BENCH_PEERS_BURST_STEADY_SECONDS ?? 150) * 1000;
const TIMEOUT_MS = 15 * MIN;

/** Requests served since `originMs` (negative before it), good and bad; the burst starts when told. */
class Traffic {
  burstAtMs = Infinity;
  constructor(private readonly originMs: number) {}

  at(ms: number): { good: number; bad: number } {
    const min = (a: number, b: number) => (a - b) / MIN;
    return {
      good: Math.floor(GOOD_PER_MIN * min(ms, this.originMs)),
      bad: Math.floor(BAD_PER_MIN * min(Math.min(ms, this.burstAtMs), this.originMs) + BURST_BAD_PER_MIN * Math.max(0, min(ms, this.burstAtMs))),
    };
  }
}

function points(service: string, traffic: Traffic, endMs: number): MetricPoint[] {
  const a = traffic.at(endMs - EXPORT_MS);
  const b = traffic.at(endMs);
  const endNs = BigInt(endMs) * 1_000_000n;
  const out: MetricPoint[] = [];
  for (const [status, count] of [[200, b.good - a.good], [500, b.bad - a.bad]] as const) {
    // The agent exports a series only for an interval it saw requests in.
    if (count <= 0) continue;
    out.push({
      series: { metric: HTTP_SERVER_DURATION, unit: 's', resource: { 'service.name': service }, attributes: { 'http.response.status_code': status } },
      startNs: endNs - BigInt(EXPORT_MS) * 1_000_000n,
      endNs,
      kind: 'exponential_histogram',
      temporality: 'delta',
      count,
      sum: count * 0.01,
      scale: 5,
      zeroCount: 0,
      offset: -213,
      counts: [count],
    });
  }
  return out;
}

export async function run(): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(`peers: ${line}`);
    console.log(`peers: ${line}`);
  };
  const dir = tempDir('bw-peers-burst');
  const stops: (() => Promise<unknown> | unknown)[] = [];
  try {
    const [slo] = availabilitySlos(1);
    const cutMs = Math.floor(Date.now() / MIN) * MIN;
    const file = path.join(dir, SLO_DUCKDB_FILE_NAME);
    await (await DuckDbSloStore.open(file)).close();
    await fillRollups(file, TENANT, [sliKey(slo, MIN)], cutMs - 30 * DAY, cutMs);

    // Prometheus: the history as blocks (with the scrape's target labels), then the live scrape.
    const target = http.createServer();
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => target.close(r)));
    const instance = `127.0.0.1:${(target.address() as AddressInfo).port}`;
    const samples = await RollupSamples.open(file, [slo]);
    const dataDir = path.join(dir, 'prometheus-data');
    let base: { good: number; bad: number };
    try {
      await samples.toBlocks(dataDir, cutMs - 30 * DAY + MIN, cutMs, `job="burst",instance="${instance}"`);
      base = (await samples.countersBefore(cutMs)).get(slo.service)!;
    } finally {
      samples.close();
    }
    const traffic = new Traffic(cutMs);
    target.on('request', (_req, res) => {
      const now = traffic.at(Date.now());
      const series = (code: string, v: number) => `${REQUESTS_METRIC}{${SERVICE_LABEL}="${slo.service}",code="${code}"} ${v}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE ${REQUESTS_METRIC} counter\n${series('200', base.good + now.good)}${series('500', base.bad + now.bad)}`);
    });
    const rulesFile = path.join(dir, 'rules.yml');
    fs.writeFileSync(rulesFile, slothRulesYaml([slo]));
    const prometheus = await startPrometheus({
      dataDir,
      outOfOrderWindow: null,
      nativeHistograms: false,
      scrape: { job: 'burst', targets: [instance], interval: `${EVALUATION_INTERVAL_S}s` },
      rules: { files: [rulesFile], evaluationInterval: `${EVALUATION_INTERVAL_S}s` },
    });
    stops.push(() => prometheus.stop());

    // burnwatch: the same history as rollups; raw points for the minutes its refresh recomputes.
    const metricStore = await DuckDbStore.open({ path: path.join(dir, 'points.duckdb') });
    stops.push(() => metricStore.close());
    const sloStore = await DuckDbSloStore.open(file);
    stops.push(() => sloStore.close());
    for (let t = cutMs - 15 * MIN + EXPORT_MS; t <= cutMs; t += EXPORT_MS) await metricStore.write(TENANT, points(slo.service, traffic, t));
    const pages: { notifiedMs: number; transition: AlertTransition }[] = [];
    const engine = new SloEngine({
      metricStore,
      sloStore,
      defaults: { ...BUILTIN_DEFAULTS, latency: null },
      notifiers: [{ name: 'bench', notify: async (t) => void (t.severity === 'page' && t.to === 'firing' && pages.push({ notifiedMs: Date.now(), transition: t })) }],
      log: (l) => console.error(`burnwatch: ${l}`),
    });
    // The agent: every 10 s the interval's deltas, as the gateway would store them.
    let exportedTo = cutMs;
    const exporter = setInterval(() => {
      const to = Math.floor(Date.now() / EXPORT_MS) * EXPORT_MS;
      const writes: Promise<unknown>[] = [];
      for (; exportedTo + EXPORT_MS <= to; exportedTo += EXPORT_MS) writes.push(metricStore.write(TENANT, points(slo.service, traffic, exportedTo + EXPORT_MS)));
      void Promise.all(writes).catch((err) => console.error(`burst: write failed: ${err}`));
    }, 1_000);
    stops.push(() => clearInterval(exporter));
    const loop = startEvaluationLoop({ engine, tenant: TENANT, intervalMs: SLO_INTERVAL_MS, log: (l) => console.error(l) });
    stops.push(() => loop.stop());

    const prometheusPage = async () => {
      const body = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string; activeAt: string }[] } };
      return body.data.alerts.find((a) => a.labels.sloth_severity === 'page' && a.state === 'firing');
    };
    await new Promise((r) => setTimeout(r, STEADY_MS));
    if (pages.length || (await prometheusPage())) throw new Error('a page fired before the burst: the steady traffic must not page');
    const scrapes = Number((await (await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(`count_over_time(${REQUESTS_METRIC}{code="200"}[5m])`)}`)).json() as { data: { result: { value: [number, string] }[] } }).data.result[0]?.value[1] ?? 0);
    if (scrapes < 3) throw new Error(`Prometheus scraped the target ${scrapes} times in 5 min before the burst`);

    traffic.burstAtMs = Date.now();
    say(`burst: ${slo.service} goes from ${BAD_PER_MIN} to ${BAD_PER_MIN + BURST_BAD_PER_MIN} errors a minute (of ${GOOD_PER_MIN + BURST_BAD_PER_MIN}) at ${new Date(traffic.burstAtMs).toISOString()}`);
    let promFiredMs: number | undefined;
    let promActiveAt: number | undefined;
    await waitFor('both peers to page', async () => {
      if (promFiredMs === undefined) {
        const alert = await prometheusPage();
        if (alert) {
          promFiredMs = Date.now();
          promActiveAt = Date.parse(alert.activeAt);
        }
      }
      return promFiredMs !== undefined && pages.length > 0 ? true : undefined;
    }, TIMEOUT_MS, 1_000);
    const bw = pages[0];
    const s = (ms: number) => `${((ms - traffic.burstAtMs) / 1000).toFixed(0)} s`;
    say(`burst: burnwatch (agent every 10 s, evaluation every ${SLO_INTERVAL_MS / 1000} s): page notified after ${s(bw.notifiedMs)} (evaluation at ${s(Date.parse(bw.transition.at))}, rule ${bw.transition.alert_id.split('/')[1]?.split('#')[0]})`);
    say(`burst: Prometheus ${prometheus.version} (scrape and evaluation every ${EVALUATION_INTERVAL_S} s, Sloth-style rules, no for:): page firing after ${s(promFiredMs!)} (evaluation at ${s(promActiveAt!)})`);
  } finally {
    for (const stop of stops.reverse()) await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}
