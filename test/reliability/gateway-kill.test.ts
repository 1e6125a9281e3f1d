// Faults on the backend process, under steady load from a real Go service through the agent:
//  1. the gateway is killed with SIGKILL mid-stream and restarted: the agent keeps its batches
//     spooled and resends them; nothing acknowledged is lost, nothing is counted twice;
//  2. the process that owns the DuckDB file is killed with SIGKILL in the middle of a burst of
//     writes: after a restart the file opens, every acknowledged batch is there in full, and a
//     batch that was not acknowledged is there in full or not at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertStoredExactly,
  counterBatch,
  postMetrics,
  report,
  restartGateway,
  sleep,
  startAgent,
  startGateway,
  startService,
  SteadyLoad,
  storedBatches,
  waitFor,
  waitForAttach,
} from './harness.ts';

const PATHS = ['/api/checkout', '/users/7', '/fail', '/users/8'];
const BURST_POINTS = 200;

test('gateway SIGKILL mid-stream, then SIGKILL of the DuckDB owner mid-write: every acknowledged point is stored once', { timeout: 180_000 }, async (t) => {
  let g = await startGateway(t);
  const { agent } = startAgent(t, g);
  const { fixture, service } = await startService(t, 'gwkill');
  await waitForAttach(agent, fixture.pid);
  const load = new SteadyLoad(t, fixture.url, PATHS);

  // 1. Kill the gateway while the agent ships every second.
  await sleep(2_500);
  g.proc.child.kill('SIGKILL');
  await sleep(3_000);
  const sentBeforeRestart = load.completed;
  const logMark = agent.output().length;
  g = await restartGateway(t, g);
  const restartedAt = Date.now();
  await waitFor('the agent to deliver its spooled batches', () => (agent.output().indexOf('recovered after', logMark) >= 0 ? true : undefined), 60_000, 100);
  const agentRecoverMs = Date.now() - restartedAt;

  // 2. A burst of writes from other senders (8 at a time), killed in the middle.
  const burstService = `${service}-burst`;
  const acked = new Set<number>();
  const attempted = new Set<number>();
  let next = 0;
  let bursting = true;
  const endMs = Date.now();
  const senders = Array.from({ length: 8 }, async () => {
    while (bursting) {
      const batch = next++;
      attempted.add(batch);
      try {
        const res = await postMetrics(g, counterBatch(burstService, batch, BURST_POINTS, endMs));
        await res.arrayBuffer();
        if (res.status === 200) acked.add(batch);
      } catch {
        // connection reset by the kill: not acknowledged
      }
    }
  });
  await waitFor('a few acknowledged burst writes', () => (acked.size >= 20 ? true : undefined), 30_000, 10);
  g.proc.child.kill('SIGKILL');
  await new Promise((r) => g.proc.child.once('exit', r));
  bursting = false;
  await Promise.all(senders);
  const killedAt = Date.now();
  g = await restartGateway(t, g);
  const reopenMs = Date.now() - killedAt;

  const stored = await storedBatches(g, burstService);
  for (const b of acked) assert.equal(stored.get(b), BURST_POINTS, `acknowledged batch ${b} stored in full`);
  for (const [b, n] of stored) {
    assert.ok(attempted.has(b), `batch ${b} was never sent`);
    assert.equal(n, BURST_POINTS, `batch ${b} stored in part (${n} of ${BURST_POINTS} points)`);
  }
  const unackedStored = [...stored.keys()].filter((b) => !acked.has(b)).length;

  await sleep(2_000);
  const sent = await load.stop();
  const reachMs = await assertStoredExactly(g, service, sent);

  report(t, {
    fault: 'gateway kill -9 mid-stream, restart after 3 s',
    sent: `${sentBeforeRestart} requests before the restart (${sent} in all)`,
    stored: `${sent} of ${sent}`,
    lost: '0 (agent spooled and resent)',
    recoverMs: agentRecoverMs,
  });
  report(t, {
    fault: 'DuckDB owner (gateway) kill -9 during a burst of 8 concurrent writers',
    sent: `${attempted.size} batches × ${BURST_POINTS} points, ${acked.size} acknowledged`,
    stored: `${stored.size} batches, all complete (${acked.size} acknowledged + ${unackedStored} unacknowledged that had committed)`,
    lost: '0 acknowledged',
    recoverMs: reopenMs,
  });
  t.diagnostic(`Go service count exact ${reachMs} ms after the load stopped`);
});
