// Dashboard: time to first render in headless Chromium of the SLO list with 50 services (100
// default SLOs) over 30 days of minute rollups, and of one SLO page over its 30-day window, on a
// real gateway over DuckDB files; and the gzipped size of what a browser downloads. Rollups are
// generated inside DuckDB (as bench/slo-evaluation.ts does) with their coverage recorded, so the
// engine refreshes only the last minutes from raw points, as it does on a long-running stack.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { buildDashboard, describeSizes } from '../lambda/dashboard/build.ts';
import { startGateway } from '../lambda/local/server.ts';
import { DuckDbSloStore, HOUR_MS, SLO_DUCKDB_FILE_NAME } from '../lambda/slo/duckdb-store.ts';
import { sliKey } from '../lambda/slo/sli.ts';
import { DuckDbStore, DUCKDB_FILE_NAME } from '../lambda/storage/duckdb.ts';
import { bucketIndexForSeconds } from '../common/exphist.ts';
import { DURATION, expHistogramMetric, protobufBody, resourceMetrics } from '../test/otlp-fixtures.ts';
import { decodeMetricsRequest } from '../lambda/otlp/metrics.ts';
import { tempDir } from '../test/lib/processes.ts';
import { fillRollups } from './lib.ts';

const MIN = 60_000;
const DAYS = 30;
const SERVICES = Number(process.env.BENCH_DASHBOARD_SERVICES ?? 50);
const RUNS = 3;
const TENANT = 'bench';
const KEY = 'bench-dashboard-key-0123456789';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}


export async function run(): Promise<string[]> {
  const sizes = (await buildDashboard({ force: true }))!;
  const dir = tempDir('bw-bench-dashboard');
  const nowMs = Math.floor(Date.now() / MIN) * MIN;
  const services = Array.from({ length: SERVICES }, (_, i) => `svc-${String(i).padStart(2, '0')}`);

  // One request per service in the metric store: the engine finds the services and derives their default SLOs.
  const metricStore = await DuckDbStore.open({ path: path.join(dir, DUCKDB_FILE_NAME) });
  const fast = bucketIndexForSeconds(0.01, 5);
  const points = services.flatMap((s) => decodeMetricsRequest(protobufBody(resourceMetrics({ 'service.name': s }, [expHistogramMetric(DURATION, [{ endMs: nowMs - 30_000, attributes: { 'http.route': '/x', 'http.response.status_code': 200 }, scale: 5, buckets: { [fast]: 1 } }])])), 'protobuf').points);
  await metricStore.write(TENANT, points);
  await metricStore.close();
  const sloFile = path.join(dir, SLO_DUCKDB_FILE_NAME);
  const probe = await startGateway({ port: 0, dataDir: dir, apiKeys: { [KEY]: TENANT }, log: () => undefined });
  const defs = (await probe.slo.definitions(TENANT)).slos;
  await probe.close();
  const rows = await fillRollups(sloFile, TENANT, defs.map((d) => sliKey(d, MIN)), nowMs - DAYS * 86_400_000 - HOUR_MS, nowMs);
  await (await DuckDbSloStore.open(sloFile)).close();

  const gw = await startGateway({ port: 0, dataDir: dir, apiKeys: { [KEY]: TENANT }, log: () => undefined });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript((key) => sessionStorage.setItem('burnwatch.apiKey', key), KEY);
    const timeTo = async (hash: string, ready: () => Promise<unknown>): Promise<number> => {
      await page.goto('about:blank');
      const t0 = performance.now();
      await page.goto(`${gw.url}/${hash}`);
      await ready();
      return performance.now() - t0;
    };
    const listReady = () => page.waitForFunction((n) => document.querySelectorAll('table.slo-list tbody tr').length === n, defs.length, { timeout: 60_000 });
    const sloId = defs[0].id;
    const charts = 1 + defs[0].rules.length + 4;
    const pageReady = () => page.waitForFunction((n) => document.querySelectorAll('figure.chart[data-points]').length >= n, charts, { timeout: 60_000 });
    await timeTo('#/slos?refresh=3600', listReady); // warm-up: the first refresh, caches
    const list: number[] = [];
    const one: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      list.push(await timeTo('#/slos?refresh=3600', listReady));
      one.push(await timeTo(`#/slo/${encodeURIComponent(sloId)}?range=30d&refresh=3600`, pageReady));
    }
    const lines = [
      `dashboard: SLO list, ${defs.length} SLOs of ${SERVICES} services × ${DAYS} d of minute rollups (${(rows / 1e6).toFixed(1)} M rows): first render ${median(list).toFixed(0)} ms (median of ${RUNS}; target < 1000 ms)`,
      `dashboard: one SLO page over its ${DAYS}-day window (${charts} charts): first render ${median(one).toFixed(0)} ms (median of ${RUNS}; target < 1000 ms)`,
      `dashboard: assets ${describeSizes(sizes)}`,
    ];
    for (const l of lines) console.log(l);
    return lines;
  } finally {
    await browser.close();
    await gw.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
