// Fault: one tenant sends 100,000 distinct series (an unbounded attribute), while the agent
// ships a real Go service's requests under the same tenant. The gateway admits new series up to
// the tenant's active-series limit and refuses the rest with a partial-success message naming
// the limit, counted in /metrics; its memory stops growing at the limit; series already active
// (the Go service's) keep flowing, exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import {
  assertStoredExactly,
  BURST_METRIC,
  counterBatch,
  gatewayMetric,
  getJson,
  KEY,
  postMetrics,
  report,
  sleep,
  startAgent,
  startGateway,
  startService,
  SteadyLoad,
  storedCount,
  waitFor,
  waitForAttach,
  type Gateway,
} from './harness.ts';

const LIMIT = 20_000;
const SERIES = 100_000;
const PER_BATCH = 5_000;

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** Sends `SERIES` new series in batches; returns the points the gateway said it refused, and its messages. */
async function flood(g: Gateway, service: string, firstBatch: number): Promise<{ refused: number; messages: Set<string> }> {
  let refused = 0;
  const messages = new Set<string>();
  const endMs = Date.now();
  for (let b = 0; b < SERIES / PER_BATCH; b++) {
    const res = await postMetrics(g, counterBatch(service, firstBatch + b, PER_BATCH, endMs));
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200, Buffer.from(body).toString());
    const partial = ProtobufMetricsSerializer.deserializeResponse(body).partialSuccess;
    refused += Number(partial?.rejectedDataPoints ?? 0);
    if (partial?.errorMessage) messages.add(partial.errorMessage.replace(/^\d+ point\(s\) of \d+ new series/, 'N point(s) of N new series'));
  }
  return { refused, messages };
}

async function storedPoints(g: Gateway, service: string): Promise<number> {
  const nowS = Math.floor(Date.now() / 1000);
  const r = await getJson(`${g.base}/v1/query?service=${service}&metric=${BURST_METRIC}&agg=count&from=${nowS - 3600}&to=${nowS + 3600}`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.series.length ? r.body.series[0].points[0][1] : 0;
}

test('100,000 distinct series from one tenant: excess refused and counted, memory bounded, the Go service exact', { timeout: 240_000 }, async (t) => {
  const g = await startGateway(t, ['--max-active-series', String(LIMIT)]);
  const pid = g.proc.child.pid!;
  const { agent } = startAgent(t, g);
  const { fixture, service } = await startService(t, 'series');
  await waitForAttach(agent, fixture.pid);
  const load = new SteadyLoad(t, fixture.url, ['/api/checkout', '/users/1', '/fail']);
  const ROUTES = ['/api/checkout', '/users/{id}', '/fail'];
  // The Go service's series (one per route and status) are active before the flood starts.
  await waitFor('the Go service\'s three routes to be stored', async () => {
    const counts = await Promise.all(ROUTES.map((r) => storedCount(g, service, r)));
    return counts.every((n) => n > 0) ? true : undefined;
  }, 60_000, 250);

  const floodService = `${service}-cardinality`;
  const rssStart = rssKb(pid);
  const started = Date.now();
  const first = await flood(g, floodService, 0);
  const firstMs = Date.now() - started;
  const rssAfterFirst = rssKb(pid);
  const storedFirst = await storedPoints(g, floodService);
  // Every series was either stored or refused, and the response said which.
  assert.equal(storedFirst + first.refused, SERIES);
  assert.ok(storedFirst > 0 && storedFirst <= LIMIT, `stored ${storedFirst} new series with a limit of ${LIMIT}`);
  assert.equal(first.messages.size, 1, [...first.messages].join('\n'));
  assert.match([...first.messages][0], new RegExp(`limit of ${LIMIT} active series`));

  // A second 100,000 new series: all refused, and memory no longer grows with them.
  const second = await flood(g, floodService, SERIES / PER_BATCH);
  const rssAfterSecond = rssKb(pid);
  assert.equal(second.refused, SERIES);
  assert.equal(await storedPoints(g, floodService), storedFirst);
  const secondGrowthMb = (rssAfterSecond - rssAfterFirst) / 1024;
  assert.ok(secondGrowthMb < 64, `RSS grew ${secondGrowthMb.toFixed(0)} MB over 100,000 refused series`);

  assert.equal(await gatewayMetric(g, 'burnwatch_gateway_active_series'), LIMIT);
  const countedPoints = await gatewayMetric(g, 'burnwatch_gateway_points_refused_series_limit_total');
  assert.ok(countedPoints >= first.refused + second.refused, `/metrics counts ${countedPoints} refused points`);
  assert.ok((await gatewayMetric(g, 'burnwatch_gateway_series_refused_total')) >= first.refused + second.refused);

  await sleep(1_000);
  const sent = await load.stop();
  await assertStoredExactly(g, service, sent);

  report(t, {
    fault: `100,000 distinct series from one tenant (limit ${LIMIT}), then 100,000 more`,
    sent: `2 × ${SERIES} series in ${PER_BATCH}-point batches; ${sent} Go requests`,
    stored: `${storedFirst} new series (limit minus those already active); Go ${sent} of ${sent}`,
    lost: `${first.refused + second.refused} points refused, counted (partial success naming the limit); RSS +${Math.round((rssAfterFirst - rssStart) / 1024)} MB, then +${secondGrowthMb.toFixed(0)} MB`,
    recoverMs: firstMs,
  });
});
