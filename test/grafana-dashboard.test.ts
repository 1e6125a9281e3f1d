// deploy/grafana/burnwatch.json: the dashboard model has what Grafana needs to import it (no
// Grafana here, so the fields it requires are checked one by one), and every PromQL query in it,
// with its variables set as a user would, parses and returns data from a real Prometheus that
// scraped the agent's endpoint.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PrometheusExposition } from '../agent/export/prometheus-exposition.ts';
import { serveExposition, type ExpositionServer } from '../agent/export/prometheus-listener.ts';
import { startPrometheus, type PrometheusServer } from './lib/prometheus-server.ts';
import { scriptedAgent, scriptedRequests } from './lib/scripted-agent.ts';
import { freePort, ROOT, tempDir, waitFor } from './lib/processes.ts';

interface Target { refId: string; expr: string; datasource?: unknown }
interface Panel { id: number; type: string; title: string; gridPos: { h: number; w: number; x: number; y: number }; datasource?: { type: string; uid: string }; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: unknown; current?: { value?: string } }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] }; time: { from: string; to: string } }

const DASHBOARD_PATH = path.join(ROOT, 'deploy/grafana/burnwatch.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
const SERVICES = ['dash-checkout', 'dash-cart'];
/** Variables Grafana itself defines. */
const BUILT_IN = new Set(['__rate_interval', '__interval', '__range', '__range_s', '__interval_ms', '__from', '__to']);
const variableRefs = (expr: string) => [...expr.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);

const targets = (): { panel: Panel; target: Target }[] => dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));

test('the dashboard model has the fields Grafana requires to import it', () => {
  assert.match(dashboard.uid, /^[A-Za-z0-9_-]{1,40}$/, 'uid: at most 40 letters, digits, - and _');
  assert.ok(typeof dashboard.title === 'string' && dashboard.title.length > 0);
  assert.ok(Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  assert.ok(dashboard.time && typeof dashboard.time.from === 'string' && typeof dashboard.time.to === 'string');
  const ids = new Set<number>();
  const cells = new Set<string>();
  for (const p of dashboard.panels) {
    assert.ok(Number.isInteger(p.id) && !ids.has(p.id), `panel id ${p.id} unique`);
    ids.add(p.id);
    assert.ok(['row', 'stat', 'timeseries', 'gauge', 'table', 'text', 'bargauge'].includes(p.type), `panel ${p.id} type ${p.type}`);
    assert.ok(typeof p.title === 'string' && p.title.length > 0, `panel ${p.id} title`);
    const { h, w, x, y } = p.gridPos;
    assert.ok([h, w, x, y].every(Number.isInteger) && h > 0 && w > 0 && x >= 0 && y >= 0 && x + w <= 24, `panel ${p.id} gridPos ${JSON.stringify(p.gridPos)} inside the 24-column grid`);
    // Overlapping panels are moved by Grafana on load: the layout would not be the one written.
    for (let dx = 0; dx < w; dx++) for (let dy = 0; dy < h; dy++) {
      const cell = `${x + dx},${y + dy}`;
      assert.ok(!cells.has(cell), `panel ${p.id} overlaps another at ${cell}`);
      cells.add(cell);
    }
    if (p.type === 'row') continue;
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel ${p.id} reads the chosen Prometheus data source`);
    assert.ok(p.targets && p.targets.length > 0, `panel ${p.id} has queries`);
    const refIds = p.targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id} refIds unique`);
    for (const t of p.targets) assert.ok(typeof t.expr === 'string' && t.expr.length > 0, `panel ${p.id} ${t.refId} expr`);
  }
  const defined = new Set(dashboard.templating.list.map((v) => v.name));
  assert.ok(defined.has('datasource') && dashboard.templating.list.find((v) => v.name === 'datasource')?.query === 'prometheus');
  for (const v of dashboard.templating.list) assert.ok(['datasource', 'query', 'custom', 'constant', 'interval', 'textbox'].includes(v.type), `variable ${v.name} type ${v.type}`);
  for (const { panel, target } of targets()) {
    for (const ref of variableRefs(target.expr)) assert.ok(defined.has(ref) || BUILT_IN.has(ref), `panel ${panel.id} "${panel.title}" uses $${ref}, which is not defined`);
  }
  // What the dashboard promises to show.
  const titles = dashboard.panels.map((p) => p.title).join('\n');
  for (const shown of [/Availability SLI/, /error budget left/, /Latency SLI/, /burn rate/i, /Requests per second/, /errors/i, /p99/]) assert.match(titles, shown);
});

let prometheus: PrometheusServer;
let scrape: ExpositionServer;
let dataDir: string;

before(async () => {
  dataDir = tempDir('burnwatch-grafana');
  const exposition = new PrometheusExposition();
  scrape = await serveExposition(exposition, { host: '127.0.0.1', port: 0 });
  prometheus = await startPrometheus({ nativeHistograms: false, scrape: { job: 'burnwatch-agent', targets: [`127.0.0.1:${scrape.address.port}`], interval: '1s', timeout: '1s' } });
  // Nothing listens at the endpoint: this agent's OTLP export is not what is tested here.
  const { agent, collector } = scriptedAgent({ endpoint: `http://127.0.0.1:${await freePort()}`, apiKey: 'unused-key-0123456789', spoolDir: `${dataDir}/spool`, intervalMs: 3_600_000, onBatch: (r) => exposition.add(r) });
  // Prometheus applies new targets a few seconds after it starts: rates need scrapes while counts grow.
  const scrapes = async () => {
    const res = (await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: 'count_over_time(up{job="burnwatch-agent"}[1m])' })}`)).json()) as { data: { result: { value: [number, string] }[] } };
    return Number(res.data.result[0]?.value[1] ?? 0);
  };
  await waitFor('the first scrape of the agent', async () => ((await scrapes()) >= 1 ? true : undefined), 30_000, 250);
  for (let k = 0; k < 5; k++) {
    collector.record(scriptedRequests(SERVICES, k));
    await agent.collectNow();
    await new Promise((r) => setTimeout(r, 1_200));
  }
  await agent.stop(0);
  await waitFor('several scrapes of the agent', async () => ((await scrapes()) >= 6 ? true : undefined), 20_000, 250);
});

after(async () => {
  await prometheus?.stop();
  await scrape?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('every query parses and returns data from a Prometheus that scraped the agent', async () => {
  const values: Record<string, string> = { service: SERVICES[0], __rate_interval: '20s', __interval: '5s', __range: '1h' };
  for (const v of dashboard.templating.list) if (v.current?.value !== undefined) values[v.name] = v.current.value;
  // The service variable's own query lists the services scraped.
  const serviceVar = dashboard.templating.list.find((v) => v.name === 'service')!;
  const match = /^label_values\((\w+), (\w+)\)$/.exec((serviceVar.query as { query: string }).query);
  assert.ok(match, 'the service variable lists label values of a metric');
  const labels = (await (await fetch(`${prometheus.url}/api/v1/label/${match[2]}/values?${new URLSearchParams({ 'match[]': match[1] })}`)).json()) as { data: string[] };
  assert.deepEqual(labels.data.filter((s) => SERVICES.includes(s)).sort(), [...SERVICES].sort());

  let checked = 0;
  for (const { panel, target } of targets()) {
    const expr = target.expr.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => values[name] ?? `$${name}`);
    const res = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    assert.equal(body.status, 'success', `panel "${panel.title}" ${target.refId}: ${body.error}\n${expr}`);
    const result = body.data!.result;
    assert.ok(result.length > 0, `panel "${panel.title}" ${target.refId} returned no data:\n${expr}`);
    for (const r of result) assert.ok(Number.isFinite(Number(r.value[1])), `panel "${panel.title}" ${target.refId}: ${r.value[1]} for ${JSON.stringify(r.metric)}`);
    checked++;
  }
  assert.equal(checked, targets().length);
  assert.ok(checked >= 10, `${checked} queries`);
});
