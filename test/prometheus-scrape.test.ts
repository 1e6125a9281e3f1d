// Prometheus users, end to end: the agent's scrape endpoint (`--prometheus-listen`) scraped by
// Debian's real `prometheus` every second, which remote-writes everything to the gateway's
// /api/v1/write under one API key — while the same agent ships the same batches over OTLP under
// another. Both tenants must then hold the same counts in /v1/query, equal to the requests
// scripted, and the SLO engine must evaluate the same availability and latency SLOs from both.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { PrometheusExposition } from '../agent/export/prometheus-exposition.ts';
import { serveExposition, type ExpositionServer } from '../agent/export/prometheus-listener.ts';
import { startPrometheus, type PrometheusServer } from './lib/prometheus-server.ts';
import { scriptedAgent, scriptedRequests, type ScriptedRequest } from './lib/scripted-agent.ts';
import { burnwatch, freePort, tempDir, waitFor } from './lib/processes.ts';
import { DURATION, GatewayClient } from './otlp-fixtures.ts';

const PROM_KEY = 'scrape-test-prometheus-key-0123456789';
const OTLP_KEY = 'scrape-test-otlp-key-0123456789';
const SERVICES = ['scrape-checkout', 'scrape-cart'];
const INTERVALS = 6;
const THRESHOLD_S = 0.3; // the default latency SLO's

let gw: RunningGateway;
let prometheus: PrometheusServer;
let scrape: ExpositionServer;
let dataDir: string;
const sent: ScriptedRequest[] = [];
let startMs: number;

before(async () => {
  dataDir = tempDir('burnwatch-prom-scrape');
  startMs = Date.now();
  gw = await startGateway({ port: 0, dataDir, apiKeys: { [PROM_KEY]: 'via-prometheus', [OTLP_KEY]: 'via-otlp' }, log: () => undefined, slo: { log: () => undefined } });
  const exposition = new PrometheusExposition();
  scrape = await serveExposition(exposition, { host: '127.0.0.1', port: 0 });
  prometheus = await startPrometheus({
    nativeHistograms: false,
    scrape: { job: 'burnwatch-agent', targets: [`127.0.0.1:${scrape.address.port}`], interval: '1s', timeout: '1s' },
    remoteWrite: { url: `${gw.url}/api/v1/write`, bearerToken: PROM_KEY, deadline: '1s' },
  });
  const { agent, collector } = scriptedAgent({ endpoint: gw.url, apiKey: OTLP_KEY, spoolDir: `${dataDir}/spool`, intervalMs: 3_600_000, onBatch: (r) => exposition.add(r) });
  for (let k = 0; k < INTERVALS; k++) {
    const requests = scriptedRequests(SERVICES, k);
    collector.record(requests);
    sent.push(...requests);
    await agent.collectNow();
    // At least one scrape between intervals: Prometheus sees each state (not needed for exact
    // totals, which are cumulative, but it makes the run look like a real one).
    await new Promise((r) => setTimeout(r, 1_300));
  }
  await agent.stop(10_000);
});

after(async () => {
  await prometheus?.stop();
  await scrape?.close();
  await gw?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function queryTotal(key: string, service: string, agg: 'count' | 'errors'): Promise<number> {
  const client = new GatewayClient(gw.url, key);
  const { series } = await client.query({ service, metric: DURATION, agg, from: String(Math.floor(startMs / 1000) - 60), to: String(Math.ceil(Date.now() / 1000) + 60) });
  return series.reduce((n, s) => n + s.points.reduce((a, p) => a + p[1], 0), 0);
}

test('Prometheus scrapes the agent endpoint (OpenMetrics) and its samples are the totals shipped', async () => {
  const up = await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: 'up{job="burnwatch-agent"}' })}`)).json() as { data: { result: { value: [number, string] }[] } };
  assert.deepEqual(up.data.result.map((r) => r.value[1]), ['1'], prometheus.output());
  // Prometheus 2.x stores OpenMetrics `_created` lines as series and forwards them: the gateway's
  // zero point at that time is what lets the first scrape of a series count whole.
  const created = (await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: 'count(http_server_request_duration_seconds_created)' })}`)).json()) as { data: { result: { value: [number, string] }[] } };
  assert.ok(Number(created.data.result[0]?.value[1]) > 0, JSON.stringify(created));
  for (const service of SERVICES) {
    const q = `sum(http_server_request_duration_seconds_count{service_name="${service}"})`;
    const expected = sent.filter((r) => r.service === service).length;
    await waitFor(`Prometheus to scrape the last interval of ${service}`, async () => {
      const res = (await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: q })}`)).json()) as { data: { result: { value: [number, string] }[] } };
      return res.data.result[0]?.value[1] === String(expected) ? true : undefined;
    }, 20_000, 250);
  }
});

test('remote-written counts in /v1/query equal the OTLP-shipped ones and the requests made', async () => {
  for (const service of SERVICES) {
    const mine = sent.filter((r) => r.service === service);
    const expected = { count: mine.length, errors: mine.filter((r) => r.status >= 500).length };
    assert.equal(await queryTotal(OTLP_KEY, service, 'count'), expected.count, 'over OTLP');
    assert.equal(await queryTotal(OTLP_KEY, service, 'errors'), expected.errors, 'over OTLP');
    // Prometheus forwards each scrape within about a second; wait for the last one, then exact.
    const viaPrometheus = await waitFor(`remote write of ${service}'s last scrape`, async () => {
      const n = await queryTotal(PROM_KEY, service, 'count');
      return n >= expected.count ? n : undefined;
    }, 20_000, 250).catch(async (err) => {
      throw new Error(`${(err as Error).message}: have ${await queryTotal(PROM_KEY, service, 'count')} of ${expected.count}\n${prometheus.output()}`);
    });
    assert.equal(viaPrometheus, expected.count, 'via Prometheus remote write');
    assert.equal(await queryTotal(PROM_KEY, service, 'errors'), expected.errors, 'via Prometheus remote write');
  }
});

test('the SLO engine evaluates the same availability and latency SLOs from remote-written data', async () => {
  const nowMs = Date.now() + 60_000;
  for (const tenant of ['via-prometheus', 'via-otlp']) await gw.slo.cycle(tenant, nowMs);
  for (const service of SERVICES) {
    const mine = sent.filter((r) => r.service === service);
    const bad = mine.filter((r) => r.status >= 500).length;
    const slow = mine.filter((r) => r.seconds > THRESHOLD_S).length;
    for (const tenant of ['via-prometheus', 'via-otlp']) {
      const slos = await gw.slo.statuses(tenant, nowMs, { refresh: false });
      const availability = slos.find((s) => s.id === `${service}:availability`);
      const latency = slos.find((s) => s.id === `${service}:latency`);
      assert.ok(availability && latency, `${tenant}: SLOs of ${service}: ${slos.map((s) => s.id).join(', ')}`);
      assert.deepEqual([availability.total, availability.good], [mine.length, mine.length - bad], `${tenant} availability`);
      assert.deepEqual([latency.total, latency.good], [mine.length, mine.length - slow], `${tenant} latency`);
    }
  }
});

test('burnwatch agent --prometheus-listen: a bad address is a usage error; the real agent serves its scrape endpoint', { timeout: 120_000 }, async () => {
  const bad = burnwatch(['agent', '--endpoint', gw.url, '--api-key', OTLP_KEY, '--prometheus-listen', '9464']);
  assert.equal(await new Promise((r) => bad.child.once('exit', r)), 2, bad.output());
  assert.match(bad.output(), /--prometheus-listen must be \[HOST\]:PORT \(e\.g\. :9464 or 127\.0\.0\.1:9464\), got "9464"/);

  const port = await freePort();
  const agent = burnwatch(['agent', '--endpoint', gw.url, '--api-key', OTLP_KEY, '--interval', '1s', '--spool-dir', `${dataDir}/cli-spool`, '--prometheus-listen', `127.0.0.1:${port}`]);
  try {
    // The agent's own health is in every batch: after its first interval the endpoint shows it.
    const text = await waitFor('the agent to serve its first interval', async () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } }).catch(() => undefined);
      const body = res?.status === 200 ? await res.text() : '';
      return /^burnwatch_agent_spool_batches\{/m.test(body) ? body : undefined;
    }, 60_000, 500);
    assert.match(text, /^target_info\{[^}]*service_name="burnwatch-agent"[^}]*\} 1$/m);
    assert.ok(text.endsWith('# EOF\n'));

    // A second agent on the same port stops before taking its spool, naming the flag.
    const second = burnwatch(['agent', '--endpoint', gw.url, '--api-key', OTLP_KEY, '--spool-dir', `${dataDir}/cli-spool-2`, '--prometheus-listen', `127.0.0.1:${port}`]);
    assert.notEqual(await new Promise((r) => second.child.once('exit', r)), 0);
    assert.match(second.output(), new RegExp(`--prometheus-listen 127\\.0\\.0\\.1:${port}: listen EADDRINUSE`));
  } finally {
    assert.equal(await agent.stop('SIGINT', 30_000), 0, agent.output());
  }
});
