// The SLO page's "Probe now" in headless Chromium: one click asks, through POST /v1/probes, for
// the service's deep probes for ten minutes; the page says until when, and GET /v1/probes (what
// the agents poll) lists the request.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { buildDashboard } from '../lambda/dashboard/build.ts';
import { INTERVAL_MS, writeSlowRedisWorld } from '../lambda/hints/testkit.ts';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { getJson, tempDir } from './lib/processes.ts';

const KEY = 'k-dashboard-probe-0123456789';
const TENANT = 'acme';
let gw: RunningGateway;
let browser: Browser;

before(async () => {
  await buildDashboard();
  gw = await startGateway({ port: 0, dataDir: tempDir('bw-dashboard-probe'), apiKeys: { [KEY]: TENANT }, log: () => undefined });
  const end = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - INTERVAL_MS;
  await writeSlowRedisWorld(gw.store, TENANT, { endMs: end, faultAtMs: end - 3 * 60_000, minutes: 10 });
  await gw.slo.cycle(TENANT, Date.now());
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
});

after(async () => {
  await browser?.close();
  await gw?.close();
});

test('Probe now on the SLO page requests the deep probes for its service', { timeout: 120_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript((key) => sessionStorage.setItem('burnwatch.apiKey', key), KEY);
  await page.goto(`${gw.url}/#/slo/backend%3Aavailability?range=1h&refresh=3600`);
  const button = page.getByRole('button', { name: 'Probe backend now (10m)' });
  await button.click();
  const said = page.locator('p.probe-now [role="status"]');
  await said.filter({ hasText: 'deep probes requested until' }).waitFor();
  assert.match((await said.textContent()) ?? '', /deep probes requested until \d\d:\d\d:\d\d UTC; agents attach within about 5 s/);
  const { status, body } = await getJson(`${gw.url}/v1/probes`, KEY);
  assert.equal(status, 200);
  // (The world's slow Redis may also have the backend alerting: that is an entry of its own.)
  const d = (body.services as { service: string; reason: string; remaining_ms: number }[]).find((x) => x.reason === 'manual');
  assert.equal(d?.service, 'backend', JSON.stringify(body));
  assert.ok(d.remaining_ms > 590_000 && d.remaining_ms <= 600_000, String(d.remaining_ms));
});
