// The dashboard end to end in real headless Chromium (Debian's, driven by playwright-core): the
// whole local stack with its demo (`burnwatch up --demo`: eBPF agent, Go service with traffic,
// gateway, SLO engine at 1 s buckets), a bad key refused at sign-in, the SLO list against the
// /v1/slos answer it rendered, the SLO page's charts holding points, the service map and host
// view, then the demo's bad deploy: the alert state and its top hint appear without a reload,
// the deploy named among the hints, and the incident page opens from the alert.
// BURNWATCH_SCREENSHOTS=1 also writes docs/img/*.png.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildDashboard } from '../lambda/dashboard/build.ts';
import { burn, objectivePct, pct, seconds } from '../lambda/dashboard/client/format.ts';
import { objectiveText, worstFirst } from '../lambda/dashboard/client/status.ts';
import type { Alert, Slo } from '../lambda/dashboard/client/types.ts';
import { burnwatch, freePort, getJson, ROOT, tempDir, waitFor, type Managed } from './lib/processes.ts';
import { fastCheckoutPageSpec } from './lib/alert-fixtures.ts';

const KEY = 'dashboard-e2e-key-0123456789';
const SLO_ID = 'checkout-availability';
const SCREENSHOTS = process.env.BURNWATCH_SCREENSHOTS === '1';
const VIEWPORT = { width: 1280, height: 800 };
/** When the demo deploys its bad release: after the pages before it are checked, and after a minute of baseline for the hints. */
const DEPLOY_AFTER_S = 70;

// Short alert windows (30 s / 5 s) so the story takes seconds: at the demo's 20% errors the page
// rule (14.4× a 1% budget) trips once 72% of the long window is the bad release, ~22 s after the deploy.
const SPEC = fastCheckoutPageSpec({ id: SLO_ID, service: 'checkout-api', shortS: 5, forS: 2, longS: 30 });

describe('dashboard in headless Chromium', { timeout: 240_000 }, () => {
  let up: Managed;
  let base: string;
  let browser: Browser;
  let page: Page;
  let startedAt: number;

  const shot = async (name: string) => {
    if (SCREENSHOTS) await page.screenshot({ path: path.join(ROOT, 'docs/img', `${name}.png`), fullPage: name !== 'slo-list' });
  };
  const api = async <T>(p: string): Promise<T> => {
    const r = await getJson(`${base}${p}`, KEY);
    assert.equal(r.status, 200, `${p}: ${JSON.stringify(r.body)}`);
    return r.body as T;
  };

  before(async () => {
    await buildDashboard(); // setup builds it; a test run straight after an edit must not serve stale assets
    const sloDir = tempDir('bw-dashboard-specs');
    fs.writeFileSync(path.join(sloDir, 'checkout.yaml'), SPEC);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    up = burnwatch(
      ['up', '--demo', '--port', String(port), '--data-dir', tempDir('bw-dashboard'), '--interval', '1s', '--slo-dir', sloDir, '--slo-interval', '2s', '--slo-resolution', '1s'],
      { BURNWATCH_API_KEY: KEY, BURNWATCH_DEMO_FAULT_AFTER: `${DEPLOY_AFTER_S}s`, BURNWATCH_DEMO_FAULT_FOR: '10m' },
    );
    await waitFor('the demo service', () => (/demo: checkout-api v1 .* listening on/.test(up.output()) ? true : undefined), 60_000);
    startedAt = Date.now();
    await waitFor('the demo SLO to have requests', async () => ((await getJson(`${base}/v1/slos/${SLO_ID}`, KEY)).body?.slo?.total > 0 ? true : undefined), 60_000, 500);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
    page = await browser.newPage({ viewport: VIEWPORT });
    if (SCREENSHOTS) fs.mkdirSync(path.join(ROOT, 'docs/img'), { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  test('npm start prints the dashboard URL', () => {
    assert.match(up.output(), new RegExp(`dashboard: ${base.replace(/[.]/g, '\\.')}/`));
  });

  test('a bad key gets a clear sign-in error; the right one signs in', async () => {
    await page.goto(`${base}/#/slos?refresh=3600`);
    await page.getByLabel('API key').fill('not-the-key-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('#sign-in-error:has-text("Sign-in failed")');
    assert.equal(await page.textContent('#sign-in-error'), 'Sign-in failed: the gateway did not accept this API key (the API key is not valid).');
    await shot('sign-in');
    await page.getByLabel('API key').fill(KEY);
    const rendered = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/slos');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const answer = (await (await rendered).json()) as { slos: Slo[] };
    await page.waitForSelector('table.slo-list tbody tr');

    // Every SLO of the answer the page rendered, worst first, with the same figures.
    const ids = await page.$$eval('table.slo-list tbody tr', (rows) => rows.map((r) => r.getAttribute('data-slo-id')));
    assert.deepEqual(ids, [...answer.slos].sort(worstFirst).map((s) => s.id));
    for (const s of answer.slos) {
      const cell = async (field: string) => (await page.textContent(`tr[data-slo-id="${s.id}"] [data-field="${field}"]`))?.trim();
      assert.equal(await cell('service'), s.service);
      assert.equal(await cell('objective'), objectiveText(s, objectivePct, seconds));
      assert.equal(await cell('sli'), pct(s.sli, 2), `${s.id} SLI`);
      assert.equal(await page.textContent(`tr[data-slo-id="${s.id}"] [data-field="budget"] .num`), s.budget_remaining === null ? (s.status === 'unknown' ? 'unknown' : 'no data') : pct(s.budget_remaining), `${s.id} budget`);
      assert.equal(await cell('burn_1h'), burn(s.burn_rates['1h']));
      assert.equal(await cell('burn_6h'), burn(s.burn_rates['6h']));
    }
    // The demo's SLOs are minutes old in a 30-day window, and say so.
    assert.match((await page.textContent(`tr[data-slo-id="${SLO_ID}"] [data-field="budget"]`)) ?? '', /\(\d+ (s|min) of 30 d\)/);
    // 1280×800: nothing scrolls sideways.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    // Keyboard: "/" focuses the search; arrows move between SLO links.
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'search');
    await page.focus('a.row-link >> nth=0');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), await page.textContent('a.row-link >> nth=1'));
    // A flat budget is a zero-height line: attached is what can be asserted of it.
    await page.waitForSelector(`tr[data-slo-id="${SLO_ID}"] svg.spark polyline`, { state: 'attached' });
    await shot('slo-list');
  });

  test('the SLO page: tiles, burn-down, a burn-rate graph per alert window pair, RED charts and heatmap hold data points', async () => {
    const { slo } = await api<{ slo: Slo & { rules: unknown[] } }>(`/v1/slos/${SLO_ID}`);
    await page.goto(`${base}/#/slo/${SLO_ID}?range=15m&refresh=3600`);
    await page.waitForSelector('figure.chart[data-points]');
    const charts = await page.$$eval('figure.chart', (fs) => fs.map((f) => [f.querySelector('figcaption')?.textContent ?? '', Number(f.getAttribute('data-points') ?? -1)] as [string, number]));
    const points = (prefix: string) => charts.filter(([t]) => t.startsWith(prefix)).map(([, n]) => n);
    assert.equal(points('Burn rate').length, slo.rules.length, JSON.stringify(charts));
    for (const title of ['Error budget left', 'Burn rate', 'Request rate by route', 'Latency p50 / p90 / p99', 'Latency heatmap']) {
      assert.ok(points(title).length > 0 && points(title).every((n) => n > 0), `${title}: ${JSON.stringify(charts)}`);
    }
    assert.equal(await page.textContent('.tile:has(.tile-label:text-is("objective")) .tile-value'), '99% good');
  });

  test('the service map and the host view open; a node opens its SLO page', async () => {
    await page.goto(`${base}/#/map?range=15m&refresh=3600`);
    await page.waitForSelector('#page-title:text-is("Service map")');
    await page.waitForSelector('svg.map g[data-node="checkout-api"]');
    await page.click('svg.map a:has(g[data-node="checkout-api"])');
    await page.waitForFunction(() => location.hash.startsWith('#/slo/checkout-'));
    await page.goto(`${base}/#/host?range=15m&refresh=3600`);
    await page.waitForSelector('table.host tbody tr th:text-is("checkout-api")');
    await shot('host');
  });

  test('the demo deploys a bad release: the alert and its top hint appear on the list without a reload, the deploy among the hints; the incident page opens from it', async () => {
    await page.goto(`${base}/#/slos?refresh=2`);
    await page.waitForSelector('table.slo-list tbody tr');
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same document'));
    assert.ok(Date.now() - startedAt < DEPLOY_AFTER_S * 1000 - 5_000, 'the list is on screen before the deploy');
    await waitFor('the bad deploy', () => (/demo: deployed checkout-api v2/.test(up.output()) ? true : undefined), DEPLOY_AFTER_S * 1000 + 30_000, 500);
    const row = `tr[data-slo-id="${SLO_ID}"]`;
    const alert = await waitFor('the page alert with its hints', async () => {
      const { alerts } = await api<{ alerts: Alert[] }>(`/v1/alerts?service=checkout-api&state=firing`);
      return alerts.find((a) => a.slo_id === SLO_ID && a.rule === 'page-fast' && a.hints.length > 0);
    }, 60_000, 500);
    const expected = `likely ${alert.hints[0].kind}: ${alert.hints[0].summary}`;
    await page.waitForFunction(([sel, text]) => document.querySelector(sel)?.textContent === text, [`${row} .top-hint`, expected] as const, { timeout: 15_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), 'same document', 'no reload happened');
    assert.ok(alert.hints.some((h) => h.kind === 'deploy' && h.service === 'checkout-api'), `the deploy is named: ${JSON.stringify(alert.hints)}`);
    assert.match((await page.textContent(`${row} [data-field="alert"] .state`)) ?? '', /page firing/);
    await shot('slo-list-firing');

    await page.click(`${row} .top-hint`);
    await page.waitForSelector('#page-title:has-text("Incident")');
    await page.waitForSelector('ol.hints li.hint');
    assert.equal(await page.textContent('ol.hints li.hint >> nth=0 >> p.summary'), alert.hints[0].summary);
    assert.ok((await page.$$('ol.timeline li')).length >= 1);
    // The charts draw concurrently: wait for the first one (the SLI's) itself, not for any chart.
    await page.waitForFunction(() => document.querySelector('figure.chart')?.hasAttribute('data-points'), undefined, { timeout: 30_000 });
    const sli = await page.getAttribute('figure.chart >> nth=0', 'data-points');
    assert.ok(Number(sli) > 0, `SLI chart points: ${sli}`);
    await page.waitForTimeout(500);
    await shot('incident-deploy');
    // The SLO page once the story has happened: the picture for the README.
    if (SCREENSHOTS) {
      await page.goto(`${base}/#/slo/${SLO_ID}?range=15m&refresh=3600`);
      await page.waitForSelector(`table.alerts tr[data-alert-id="${alert.id}"]`);
      await page.waitForTimeout(500);
      await shot('slo-page');
    }
  });
});
