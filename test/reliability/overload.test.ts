// Fault: more writes than the gateway can hold. Other senders flood /v1/metrics while the agent
// ships a real Go service's requests. The gateway must refuse the excess with 429 and
// Retry-After (never queue without bound, never 5xx), the agent must back off, keep its batches
// spooled, and catch up once the flood stops: exact counts at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertStoredExactly,
  counterBatch,
  gatewayMetric,
  postMetrics,
  report,
  sleep,
  startAgent,
  startGateway,
  startService,
  SteadyLoad,
  storedBatches,
  waitFor,
  waitForAttach,
} from './harness.ts';

const MAX_PENDING = 2;
const FLOODERS = 12;
const FLOOD_POINTS = 500;

test('overload: excess writes get 429 with Retry-After, the agent backs off and catches up exactly', { timeout: 180_000 }, async (t) => {
  const g = await startGateway(t, ['--max-pending-writes', String(MAX_PENDING)]);
  const { agent } = startAgent(t, g);
  const { fixture, service } = await startService(t, 'overload');
  await waitForAttach(agent, fixture.pid);
  const load = new SteadyLoad(t, fixture.url, ['/api/checkout', '/users/3', '/fail']);

  const floodService = `${service}-flood`;
  const statuses = new Map<number, number>();
  const retryAfters = new Set<string>();
  const acked = new Set<number>();
  let next = 0;
  let flooding = true;
  const endMs = Date.now();
  const flood = Array.from({ length: FLOODERS }, async () => {
    while (flooding) {
      const batch = next++;
      const res = await postMetrics(g, counterBatch(floodService, batch, FLOOD_POINTS, endMs));
      const body = await res.json().catch(() => ({}));
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) acked.add(batch);
      if (res.status === 429) {
        retryAfters.add(res.headers.get('retry-after') ?? '(none)');
        assert.equal((body as { error?: { code?: string } }).error?.code, 'overloaded');
      }
    }
  });
  const mark = agent.output().length;
  // Flood until the agent itself has been turned away (it logs the first failure of a streak).
  await waitFor('the agent to be refused with 429', () => (agent.output().indexOf('HTTP 429', mark) >= 0 ? true : undefined), 60_000, 100);
  await sleep(3_000);
  flooding = false;
  await Promise.all(flood);
  const floodStoppedAt = Date.now();
  await waitFor('the agent to catch up', () => (agent.output().indexOf('recovered after', mark) >= 0 ? true : undefined), 60_000, 100);
  const catchUpMs = Date.now() - floodStoppedAt;

  await sleep(1_000);
  const sent = await load.stop();
  await assertStoredExactly(g, service, sent);

  assert.ok((statuses.get(429) ?? 0) > 0, `the flood was refused at least once: ${JSON.stringify([...statuses])}`);
  assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 429), [], 'only 200 and 429, never 5xx');
  assert.deepEqual([...retryAfters], ['2'], 'every 429 says when to come back');
  const refused = await gatewayMetric(g, 'burnwatch_gateway_writes_refused_total');
  assert.ok(refused >= (statuses.get(429) ?? 0), `/metrics counts the refusals (${refused})`);
  // What the gateway acknowledged to the flood is stored, and nothing it refused.
  const stored = await storedBatches(g, floodService);
  assert.deepEqual([...stored.keys()].sort((a, b) => a - b), [...acked].sort((a, b) => a - b));
  for (const n of stored.values()) assert.equal(n, FLOOD_POINTS);

  report(t, {
    fault: `overload: ${FLOODERS} flooding writers against --max-pending-writes ${MAX_PENDING}`,
    sent: `${sent} Go requests via the agent; flood ${next} batches`,
    stored: `${sent} of ${sent}; flood ${acked.size} acknowledged, all stored`,
    lost: `0 (${statuses.get(429) ?? 0} flood writes and the agent's refused with 429, Retry-After 2 s; retried)`,
    recoverMs: catchUpMs,
  });
});
