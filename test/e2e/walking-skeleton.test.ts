// End to end, all real: a Go service → eBPF uprobes → agent → OTLP/HTTP → gateway →
// DuckDB → query API, driven through the `burnwatch` CLI as a user would run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relativeError } from '../../common/exphist.ts';
import { burnwatch, freePort, getJson, sendRequests, startFixture, startGatewayProcess, tempDir, waitFor, type Managed } from '../lib/processes.ts';

const KEY = 'e2e-test-key-0123456789';
const METRIC = 'http.server.request.duration';
const SLEEP_MS = 120;

/** A known mix: plain hits, ids to normalise, server errors, and a known server-side sleep. */
function requestPlan(base: string) {
  const urls: string[] = [];
  for (let i = 0; i < 40; i++) urls.push(`${base}/users/${1000 + i}`);
  for (let i = 0; i < 25; i++) urls.push(`${base}/api/checkout`);
  for (let i = 0; i < 15; i++) urls.push(`${base}/fail`);
  for (let i = 0; i < 10; i++) urls.push(`${base}/sleep?ms=${SLEEP_MS}`);
  return { urls, total: urls.length, errors: 15, slow: 10 };
}

async function query(base: string, service: string, agg: string, extra = '') {
  const r = await getJson(`${base}/v1/query?service=${service}&metric=${METRIC}&agg=${agg}&from=-30m&to=now${extra}`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { series: { labels: Record<string, string>; points: [number, number][] }[] };
}

/** The single value of an un-stepped query without `by`, or 0 when no series. */
async function scalar(base: string, service: string, agg: string): Promise<number> {
  const { series } = await query(base, service, agg);
  return series.length ? series[0].points[0][1] : 0;
}

async function waitForAttach(agentOutput: Managed, pid: number): Promise<number> {
  const started = Date.now();
  await waitFor(`the agent to instrument pid ${pid}`, () => (agentOutput.output().includes(`instrumenting pid ${pid} `) ? true : undefined), 10_000, 100);
  return Date.now() - started;
}

async function assertCounts(base: string, service: string, plan: ReturnType<typeof requestPlan>) {
  await waitFor(`${plan.total} requests to be queryable`, async () => ((await scalar(base, service, 'count')) === plan.total ? true : undefined), 40_000, 500);
  assert.equal(await scalar(base, service, 'errors'), plan.errors);

  const byRoute = await query(base, service, 'count', '&by=http.route');
  const counts = Object.fromEntries(byRoute.series.map((s) => [s.labels['http.route'], s.points[0][1]]));
  assert.deepEqual(counts, { '/users/{id}': 40, '/api/checkout': 25, '/fail': 15, '/sleep': 10 });

  const byStatus = await query(base, service, 'count', '&by=http.response.status_code');
  const statuses = Object.fromEntries(byStatus.series.map((s) => [s.labels['http.response.status_code'], s.points[0][1]]));
  assert.deepEqual(statuses, { '200': plan.total - plan.errors, '500': plan.errors });

  // The reported p99 is its bucket's upper bound: never below the true value, at most
  // one bucket (base − 1) above it. The true durations are the sleep plus Go's own
  // scheduling and the handler's work, which stay well under a millisecond here.
  const slow = await query(base, service, 'p99', '&by=http.route');
  const p99 = slow.series.find((s) => s.labels['http.route'] === '/sleep')!.points[0][1];
  const sleep = SLEEP_MS / 1000;
  assert.ok(p99 >= sleep, `p99 ${p99} below the server-side sleep ${sleep}`);
  assert.ok(p99 <= (sleep + 0.005) * (1 + relativeError(5)), `p99 ${p99} more than one bucket above ${sleep} s + 5 ms`);
}

test('burnwatch up counts every request of a Go service started after it, exactly', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const up = burnwatch(['up', '--port', String(port), '--data-dir', tempDir('bw-e2e'), '--interval', '2s'], { BURNWATCH_API_KEY: KEY });
  t.after(() => up.stop());
  await waitFor('the stack to watch processes', () => (up.output().includes('watching Go processes') ? true : undefined), 30_000);

  const service = `e2e-up-${process.pid}`;
  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  t.after(() => fixture.stop());
  const attachMs = await waitForAttach(up, fixture.pid);
  t.diagnostic(`attached ${attachMs} ms after the process started`);

  const plan = requestPlan(fixture.url);
  const statuses = await sendRequests(plan.urls);
  assert.deepEqual(Object.fromEntries(statuses), { 200: plan.total - plan.errors, 500: plan.errors });
  await assertCounts(base, service, plan);

  // Two more intervals: later drains must not count anything twice.
  await new Promise((r) => setTimeout(r, 4_500));
  assert.equal(await scalar(base, service, 'count'), plan.total);

  const services = await getJson(`${base}/v1/services`, KEY);
  const row = services.body.services.find((s: { name: string }) => s.name === service);
  assert.equal(row.requests, plan.total);
  assert.equal(row.errors, plan.errors);

  const slos = await getJson(`${base}/v1/slos`, KEY);
  const mine = slos.body.slos.filter((s: { service: string }) => s.service === service);
  assert.deepEqual(mine.map((s: { kind: string }) => s.kind).sort(), ['availability', 'latency']);
  const availability = mine.find((s: { kind: string }) => s.kind === 'availability');
  assert.equal(availability.sli, (plan.total - plan.errors) / plan.total);
  assert.match(up.output(), new RegExp(`${service}\\s+\\d`), 'the live table lists the service');

  assert.equal(await up.stop('SIGINT'), 0);
  assert.match(up.output(), /stopped/);
});

test('a gateway restart in the middle loses nothing and doubles nothing', { timeout: 150_000 }, async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = tempDir('bw-e2e-restart');
  const env = { BURNWATCH_API_KEY: KEY };
  let gateway = await startGatewayProcess(port, dataDir, KEY);
  t.after(() => gateway.stop());
  const agent = burnwatch(['agent', '--endpoint', base, '--interval', '1s', '--spool-dir', tempDir('bw-e2e-spool')], env);
  t.after(() => agent.stop());
  const service = `e2e-restart-${process.pid}`;
  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  t.after(() => fixture.stop());
  await waitForAttach(agent, fixture.pid);

  const before = requestPlan(fixture.url);
  await sendRequests(before.urls);
  await waitFor('the first batch', async () => ((await scalar(base, service, 'count')) === before.total ? true : undefined), 30_000, 300);

  assert.equal(await gateway.stop(), 0);
  const during = requestPlan(fixture.url);
  await sendRequests(during.urls);
  // The agent drains every second; wait until it has tried (and failed) to ship.
  await waitFor('the agent to notice the outage', () => (/unreachable|ECONNREFUSED|retry/i.test(agent.output()) ? true : undefined), 20_000);

  gateway = await startGatewayProcess(port, dataDir, KEY);
  const total = { urls: [], total: before.total + during.total, errors: before.errors + during.errors, slow: before.slow + during.slow };
  await waitFor('everything spooled to arrive', async () => ((await scalar(base, service, 'count')) === total.total ? true : undefined), 60_000, 500);
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal(await scalar(base, service, 'count'), total.total, 'nothing counted twice');
  assert.equal(await scalar(base, service, 'errors'), total.errors);
});
