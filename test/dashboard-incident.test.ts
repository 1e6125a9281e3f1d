// The incident page in headless Chromium over a known world: a frontend → backend → Redis
// topology (the agent's metric shapes) whose Redis turns slow, the backend's slow requests as
// the agent exports them, and the SLO engine firing the backend's latency page. Opened from the
// SLO page's alert table: the timeline, the ranked hints with evidence charts on the SLI's time
// axis, and one waterfall per slow request with the dominant Redis call marked. Then the same
// world's service map.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { encodeSpans } from '../agent/export/spans.ts';
import { buildDashboard } from '../lambda/dashboard/build.ts';
import { INTERVAL_MS, REDIS, redisDominatedSlowRequests, writeSlowRedisWorld } from '../lambda/hints/testkit.ts';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import type { Alert } from '../lambda/dashboard/client/types.ts';
import { ROOT, tempDir } from './lib/processes.ts';

const KEY = 'k-dashboard-incident-0123456789';
const TENANT = 'acme';
const SCREENSHOTS = process.env.BURNWATCH_SCREENSHOTS === '1';
const SLOW_REQUESTS = 4;

describe('incident page in headless Chromium', { timeout: 120_000 }, () => {
  let gw: RunningGateway;
  let browser: Browser;
  let page: Page;
  let alert: Alert;

  before(async () => {
    await buildDashboard();
    gw = await startGateway({ port: 0, dataDir: tempDir('bw-dashboard-incident'), apiKeys: { [KEY]: TENANT }, log: () => undefined });
    const end = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - INTERVAL_MS;
    const faultAt = end - 6 * 60_000;
    await writeSlowRedisWorld(gw.store, TENANT, { endMs: end, faultAtMs: faultAt, minutes: 25, redisLatencyS: 0.35 });
    const spans = redisDominatedSlowRequests(Array.from({ length: SLOW_REQUESTS }, (_, k) => faultAt + 60_000 + k * 30_000), 350, 360);
    const res = await fetch(`${gw.url}/v1/traces`, { method: 'POST', body: Buffer.from(encodeSpans(spans)), headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' } });
    assert.equal(res.status, 200, await res.text());
    // Two evaluations: pending, then firing (the rules fire at once; the second cycle confirms).
    await gw.slo.cycle(TENANT, Date.now());
    await gw.slo.cycle(TENANT, Date.now() + 1000);
    const alerts = (await gw.slo.alerts(TENANT, { service: 'backend', state: 'firing' })) as unknown as Alert[];
    alert = alerts.find((a) => a.slo_id === 'backend:latency' && a.rule === 'page-1h-5m')!;
    assert.ok(alert, JSON.stringify(alerts.map((a) => [a.id, a.state])));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript((key) => sessionStorage.setItem('burnwatch.apiKey', key), KEY);
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  test('from the SLO page to the incident: timeline, ranked hints with evidence charts, waterfalls with the dominant call marked', async () => {
    await page.goto(`${gw.url}/#/slo/backend%3Alatency?range=1h&refresh=3600`);
    const row = `table.alerts tr[data-alert-id="${alert.id}"]`;
    await page.waitForSelector(row);
    assert.equal(await page.textContent(`${row} [data-field="state"]`), '▲ firing');
    await page.click(`${row} a:text("incident →")`);
    await page.waitForSelector('#page-title:has-text("Incident")');
    assert.equal(await page.evaluate(() => decodeURIComponent(location.hash)), `#/incident/${alert.id}?range=1h`);

    await page.waitForSelector('ol.hints li.hint');
    const shown = await page.$$eval('ol.hints li.hint', (lis) => lis.map((li) => [li.getAttribute('data-kind'), li.querySelector('p.summary')?.textContent]));
    assert.deepEqual(shown, alert.hints.map((h) => [h.kind, h.summary]), 'the hints stored with the alert, in rank order');
    assert.equal(alert.hints[0].kind, 'slow_dependency');
    assert.ok((await page.$$('ol.timeline li')).length >= 1);

    // Every chart drawn on the same axis, with points: the SLI's and each evidence series'.
    await page.waitForFunction(() => [...document.querySelectorAll('figure.chart')].every((f) => f.hasAttribute('data-points')), undefined, { timeout: 20_000 });
    const charts = await page.$$eval('figure.chart', (fs) => fs.map((f) => [f.querySelector('figcaption')?.textContent ?? '', Number(f.getAttribute('data-points'))] as [string, number]));
    assert.ok(charts.length >= 3, JSON.stringify(charts));
    assert.ok(charts.every(([, n]) => n > 0), JSON.stringify(charts));

    const falls = await page.$$eval('.waterfall', (ws) => ws.map((w) => ({ rows: w.querySelectorAll('.wf-row').length, dominant: [...w.querySelectorAll('.wf-row.dominant .wf-label')].map((l) => l.textContent) })));
    assert.equal(falls.length, SLOW_REQUESTS);
    for (const f of falls) {
      assert.equal(f.rows, 3, 'the request and its two sub-calls');
      assert.deepEqual(f.dominant, [`◆ redis GET → ${REDIS.address}:${REDIS.port}`]);
    }
    if (SCREENSHOTS) {
      fs.mkdirSync(path.join(ROOT, 'docs/img'), { recursive: true });
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(ROOT, 'docs/img/incident.png'), fullPage: true });
    }
  });

  test('the service map: services and external peers as /v1/graph gives them, an edge per call path', async () => {
    const graph = (await (await fetch(`${gw.url}/v1/graph?from=-1h`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { nodes: { id: string }[]; edges: { from: string; to: string; protocol: string }[] };
    await page.goto(`${gw.url}/#/map?range=1h&refresh=3600`);
    await page.waitForSelector('svg.map g[data-node]');
    assert.deepEqual(await page.$$eval('svg.map g[data-node]', (gs) => gs.map((g) => g.getAttribute('data-node')).sort()), graph.nodes.map((n) => n.id).sort());
    assert.deepEqual(await page.$$eval('svg.map path.edge', (ps) => ps.length), graph.edges.length);
    assert.deepEqual(await page.$$eval('table.edges tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent))), graph.edges.map((e) => [e.from, e.to, e.protocol]));
    if (SCREENSHOTS) await page.screenshot({ path: path.join(ROOT, 'docs/img/service-map.png'), fullPage: true });
    await page.click('svg.map a:has(g[data-node="backend"])');
    await page.waitForFunction(() => location.hash.startsWith('#/slo/backend'));
  });
});
