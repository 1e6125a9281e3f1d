// The dashboard's server side against a running gateway (real HTTP server, DuckDB files): the
// page and its assets without a key, and the reads only the dashboard makes — /v1/graph,
// /v1/processes, /v1/heatmap, /v1/slos/{id}/series — each cross-checked against /v1/query or
// /v1/slos over the same stored points (the agent's shapes, encoded and decoded as in production).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND, conditions, healthy, INTERVAL_MS, POSTGRES, REDIS, writeWorld } from '../lambda/hints/testkit.ts';
import { buildDashboard } from '../lambda/dashboard/build.ts';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import type { ServiceGraph } from '../lambda/query/graph.ts';
import type { Heatmap } from '../lambda/query/heatmap.ts';
import type { ProcessSignals } from '../lambda/query/processes.ts';

const KEY = 'k-dashboard-api-0123456789';
const TENANT = 'acme';
const END = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const NOW = END + 5_000;
const FAULT_AT = END - 5 * 60_000;
const INTERVALS = (20 * 60_000) / INTERVAL_MS;
const RETRANSMITS_PER_INTERVAL = 7;

describe('dashboard routes', () => {
  let dataDir: string;
  let gw: RunningGateway;
  const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) => fetch(`${gw.url}${path}`, { headers });
  const json = async <T>(path: string): Promise<T> => {
    const res = await get(path);
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
  const count = async (qs: string) => {
    const r = await json<{ series: { labels: Record<string, string>; points: [number, number][] }[] }>(`/v1/query?${qs}`);
    return r.series;
  };
  const range = `from=${(END - 20 * 60_000) / 1000 - 1}&to=${NOW / 1000}`;

  before(async () => {
    await buildDashboard();
    dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-dashboard-api-'));
    gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: TENANT }, now: () => NOW, log: () => undefined });
    // Healthy, then PostgreSQL fails a third of the backend's queries and the link to the backend retransmits.
    await writeWorld(gw.store, TENANT, {
      endMs: END,
      intervals: INTERVALS,
      at: (_i, endMs) => {
        const t = healthy();
        if (endMs > FAULT_AT) Object.assign(t, { postgresErrors: 0.3, linkRetransmits: RETRANSMITS_PER_INTERVAL });
        return conditions(t);
      },
    });
  });

  after(async () => {
    await gw?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('GET / serves the page without a key; assets gzip when asked; an unknown asset is a JSON 404', async () => {
    const page = await get('/', {});
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /<div id="app">/);
    const js = await fetch(`${gw.url}/assets/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    // fetch decompresses: what arrives is the script, and the header says it travelled gzipped.
    assert.equal(js.headers.get('content-encoding'), 'gzip');
    assert.ok((await js.text()).length > 1000);
    const raw = await get('/assets/app.css', { 'accept-encoding': 'identity' });
    assert.equal(raw.headers.get('content-encoding'), null);
    assert.match(await raw.text(), /\.uplot/);
    const missing = await get('/assets/nope.js', {});
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: { code: 'not_found', message: 'no dashboard asset nope.js' } });
  });

  test('the dashboard reads need the key like every /v1 route', async () => {
    for (const path of ['/v1/graph', '/v1/processes', '/v1/heatmap?service=backend', '/v1/slos/backend%3Aavailability/series']) {
      const res = await get(path, { authorization: 'Bearer not-the-key-0123456789' });
      assert.equal(res.status, 401, path);
      assert.deepEqual(await res.json(), { error: { code: 'unauthorized', message: 'the API key is not valid' } });
    }
  });

  test('GET /v1/graph: services, the peer resolved through accepted connections, external databases, edge figures as /v1/query counts them', async () => {
    const g = await json<ServiceGraph>(`/v1/graph?${range}`);
    assert.deepEqual(g.nodes.map((n) => [n.id, n.kind]), [
      [`${POSTGRES.address}:${POSTGRES.port}`, 'external'],
      [`${REDIS.address}:${REDIS.port}`, 'external'],
      ['backend', 'service'],
      ['frontend', 'service'],
    ]);
    assert.deepEqual(g.edges.map((e) => [e.from, e.to, e.protocol]), [
      ['backend', `${POSTGRES.address}:${POSTGRES.port}`, 'postgresql'],
      ['backend', `${REDIS.address}:${REDIS.port}`, 'redis'],
      ['frontend', 'backend', 'http'],
    ]);
    const calls = await count(`service=backend&metric=db.client.operation.duration&agg=count&${range}&by=server.port,error.type`);
    const sum = (pred: (l: Record<string, string>) => boolean) => calls.filter((s) => pred(s.labels)).reduce((n, s) => n + s.points[0][1], 0);
    const [pg, redis, front] = g.edges;
    assert.equal(pg.requests, sum((l) => l['server.port'] === String(POSTGRES.port)));
    assert.equal(pg.errors, sum((l) => l['server.port'] === String(POSTGRES.port) && l['error.type'] !== undefined));
    assert.ok(pg.errors > 0 && pg.errors < pg.requests);
    assert.equal(redis.requests, sum((l) => l['server.port'] === String(REDIS.port)));
    assert.equal(redis.errors, 0);
    assert.ok(front.p99 !== null && front.p99 > 0);
    const served = await count(`service=backend&metric=http.server.request.duration&agg=count&${range}`);
    assert.equal(g.nodes.find((n) => n.id === 'backend')!.requests, served[0].points[0][1]);
    const backend = `${BACKEND.address}:${BACKEND.port}`;
    assert.ok(!g.nodes.some((n) => n.id === backend), 'the backend port resolved to its service, not an external node');
  });

  test('GET /v1/processes: kernel signals per process, retransmits per peer', async () => {
    const { processes } = await json<{ processes: ProcessSignals[] }>(`/v1/processes?${range}`);
    assert.deepEqual(processes.map((p) => [p.service, p.pid]).sort(), [['backend', 200], ['frontend', 100]]);
    for (const p of processes) {
      // The testkit's processes use 0.5 s of CPU per 10 s interval, ±10%.
      assert.ok(p.cpu_cores > 0.04 && p.cpu_cores < 0.06, `${p.service} ${p.cpu_cores}`);
      assert.ok(p.runqueue_p99 !== null && p.runqueue_p99 > 0);
      assert.ok(p.block_io.count > 0 && p.block_io.p99 !== null);
    }
    const front = processes.find((p) => p.service === 'frontend')!;
    const faulty = (END - FAULT_AT) / INTERVAL_MS;
    assert.deepEqual(front.retransmits, [{ peer: `${BACKEND.address}:${BACKEND.port}`, count: RETRANSMITS_PER_INTERVAL * faulty }]);
    const only = await json<{ processes: ProcessSignals[] }>(`/v1/processes?${range}&service=backend`);
    assert.deepEqual(only.processes.map((p) => p.service), ['backend']);
  });

  test('GET /v1/heatmap: every request of the range in one cell, columns on the step, rows ascending', async () => {
    const hm = await json<Heatmap>(`/v1/heatmap?service=frontend&${range}&step=1m`);
    const total = hm.counts.flat().reduce((a, b) => a + b, 0);
    assert.equal(total, (await count(`service=frontend&metric=http.server.request.duration&agg=count&${range}`))[0].points[0][1]);
    assert.ok(hm.bounds.length > 1 && hm.bounds.every((b, i) => i === 0 || b > hm.bounds[i - 1]));
    assert.ok(hm.counts.every((row) => row.length === hm.times.length));
    assert.ok(hm.times.every((t, i) => i === 0 || t - hm.times[i - 1] === 60));
    // The frontend's slowest requests are its calls through the backend: the top rows hold them.
    assert.equal(hm.skipped, 0);
  });

  test('GET /v1/slos/{id}/series: per-step good/total that add up to the SLO figures', async () => {
    const { slos } = await json<{ slos: { id: string; good: number; total: number }[] }>('/v1/slos?service=backend');
    const slo = slos.find((s) => s.id === 'backend:availability')!;
    const s = await json<{ objective: number; points: { atMs: number; good: number; total: number }[] }>(`/v1/slos/backend%3Aavailability/series?${range}&step=1m`);
    assert.equal(s.objective, 0.999);
    assert.equal(s.points.reduce((n, p) => n + p.total, 0), slo.total);
    assert.equal(s.points.reduce((n, p) => n + p.good, 0), slo.good);
    assert.ok(s.points.every((p) => p.atMs % 60_000 === 0));
    const missing = await get(`/v1/slos/nope/series?${range}`);
    assert.equal(missing.status, 404);
  });

  test('bad parameters are 400s that name the parameter', async () => {
    const cases: [string, string][] = [
      ['/v1/graph?colour=red', 'colour'],
      ['/v1/graph?from=now&to=-1h', 'from'],
      ['/v1/graph?from=-8d', 'from'],
      ['/v1/processes?from=yesterday', 'from'],
      ['/v1/heatmap?from=-1h', 'service'],
      ['/v1/heatmap?service=frontend&from=-7d&step=1s', 'step'],
      ['/v1/slos/backend%3Aavailability/series?step=-1m', 'step'],
      ['/v1/graph?from=-1h&from=-2h', 'from'],
    ];
    for (const [path, param] of cases) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'invalid_parameter', path);
      assert.match(body.error.message, new RegExp(`^${param}\\b`), `${path}: ${body.error.message}`);
    }
  });
});
