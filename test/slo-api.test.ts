// The SLO and alert API over real HTTP, with the gateway's clock fixed: specs in and out
// (YAML and JSON), clear rejections, figures, burn-down and the /v1/alerts shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { minuteOfTraffic } from './lib/slo-traffic.ts';
import { tempDir } from './lib/processes.ts';

const KEY = 'slo-api-key';
const MIN = 60_000;
const NOW = Date.UTC(2026, 10, 20, 12, 0);

const SPEC = (name: string, service: string, target = 0.999) => `apiVersion: openslo/v1
kind: SLO
metadata: { name: ${name} }
spec:
  service: ${service}
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  timeWindow: [{ duration: 7d, isRolling: true }]
  objectives: [{ target: ${target} }]
`;

async function call(gw: RunningGateway, method: string, path: string, body?: string) {
  const res = await fetch(`${gw.url}${path}`, { method, body, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/yaml' } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

test('SLO specs through the API, figures, burn-down and alerts', async (t) => {
  const gw = await startGateway({ port: 0, dataDir: tempDir('bw-slo-api'), apiKeys: { [KEY]: 'acme' }, now: () => NOW, log: () => {}, slo: { log: () => {} } });
  t.after(() => gw.close());
  // 2 hours of traffic, 1,000 a minute; the last 10 minutes at 5% errors.
  const points = [];
  for (let i = 120; i >= 1; i--) points.push(...minuteOfTraffic('pay', NOW - i * MIN, 1000, i <= 10 ? 50 : 0));
  await gw.store.write('acme', points);

  const created = await call(gw, 'POST', '/v1/slos', `${SPEC('pay-avail', 'pay')}---\n${SPEC('pay-strict', 'pay', 0.9999)}`);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body, { ids: ['pay-avail', 'pay-strict'] });

  const bad = await call(gw, 'POST', '/v1/slos', SPEC('broken', 'pay').replace('target: 0.999', 'target: 1.5'));
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'invalid_parameter');
  assert.match(bad.body.error.message, /request body: spec\.objectives\[0\]\.target: must be a number in \(0, 1\)/);
  const mismatch = await call(gw, 'PUT', '/v1/slos/other-name', SPEC('pay-avail', 'pay'));
  assert.equal(mismatch.status, 400);
  assert.match(mismatch.body.error.message, /metadata\.name must be "other-name"/);
  const json = JSON.stringify({ apiVersion: 'openslo/v1', kind: 'SLO', metadata: { name: 'pay-avail' }, spec: { service: 'pay', indicator: { spec: { ratioMetric: { bad: { metricSource: { type: 'burnwatch' } }, total: { metricSource: { type: 'burnwatch' } } } } }, objectives: [{ targetPercent: 99 }] } });
  assert.equal((await call(gw, 'PUT', '/v1/slos/pay-avail', json)).status, 200, 'JSON replaces the YAML one');

  const { body } = await call(gw, 'GET', '/v1/slos?service=pay');
  assert.deepEqual(body.slos.map((s: { id: string }) => s.id), ['pay-avail', 'pay-strict', 'pay:latency']);
  const avail = body.slos[0];
  for (const k of ['id', 'service', 'kind', 'objective', 'sli', 'budget_remaining']) assert.ok(k in avail, `contract field ${k}`);
  // 500 bad of 120,000 against 1% → 500 / 1,200 of the budget used.
  assert.equal(avail.objective, 0.99);
  assert.deepEqual([avail.total, avail.bad], [120_000, 500]);
  assert.ok(Math.abs(avail.budget_remaining - (1 - 500 / 1200)) < 1e-9);
  assert.ok(Math.abs(avail.burn_rates['5m'] - 5) < 1e-9, '5% errors against a 1% budget');
  assert.ok(Math.abs(avail.burn_rates['1h'] - 500 / 60_000 / 0.01) < 1e-9, '500 bad of the last hour\'s 60,000');
  assert.equal(avail.status, 'ok');

  const detail = await call(gw, 'GET', '/v1/slos/pay-strict');
  assert.equal(detail.status, 200);
  assert.equal(detail.body.slo.window, '7d');
  assert.ok(detail.body.slo.burn_down.length > 50);
  const last = detail.body.slo.burn_down.at(-1);
  assert.ok(Math.abs(last.budget_remaining - detail.body.slo.budget_remaining) < 1e-9, 'the burn-down ends at the current budget');
  assert.deepEqual(detail.body.slo.rules.map((r: { name: string }) => r.name), ['page-1h-5m', 'page-6h-30m', 'ticket-3d-6h']);
  const gate = await call(gw, 'GET', '/v1/slos?service=pay&window=30m');
  assert.equal(gate.body.slos[0].window, '30m');
  assert.deepEqual([gate.body.slos[0].total, gate.body.slos[0].bad], [30_000, 500]);
  assert.equal((await call(gw, 'GET', '/v1/slos?window=soon')).status, 400);

  assert.deepEqual((await call(gw, 'GET', '/v1/alerts')).body, { alerts: [] });
  await gw.slo.cycle('acme', NOW);
  const firing = await call(gw, 'GET', '/v1/alerts?service=pay&state=firing');
  // pay-strict (99.99%): 5% errors is a 500× burn on 5m and 83× on 1h — both pages fire.
  assert.deepEqual(firing.body.alerts.map((a: { slo_id: string; severity: string }) => `${a.slo_id}:${a.severity}`).sort(), ['pay-strict:page', 'pay-strict:page', 'pay-strict:ticket']);
  assert.deepEqual(Object.keys(firing.body.alerts[0]).slice(0, 9), ['id', 'slo_id', 'service', 'severity', 'state', 'since', 'burn_rates', 'budget_remaining', 'hints']);
  assert.equal((await call(gw, 'GET', '/v1/alerts?state=loud')).status, 400);
  assert.equal((await call(gw, 'GET', '/v1/slos/pay-strict')).body.slo.status, 'exhausted');

  assert.equal((await call(gw, 'DELETE', '/v1/slos/pay-strict')).status, 204);
  assert.equal((await call(gw, 'DELETE', '/v1/slos/pay-strict')).status, 404);
  assert.equal((await call(gw, 'DELETE', '/v1/slos/pay:latency')).status, 404, 'defaults cannot be deleted');
  assert.equal((await call(gw, 'GET', '/v1/slos/pay-strict')).status, 404);
});
