// Fault: the agent is killed with SIGKILL mid-stream and restarted on the same spool. What it
// may lose is the interval in progress: requests counted in the kernel maps since the last
// drain (the maps die with the process), or drained but not yet on disk. Everything spooled
// before the kill is shipped by the restarted agent; nothing is counted twice.
//
// Requests before the kill go to /api/checkout and /fail, after the restart to /users/{id}, so
// the stored counts per route say exactly what survived from before and what came after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertStoredExactly,
  drive,
  INTERVAL_MS,
  report,
  sleep,
  startAgent,
  startGateway,
  startService,
  SteadyLoad,
  storedCount,
  waitFor,
  waitForAttach,
} from './harness.ts';

/** A drain may be under way when the kill lands: its interval is lost with the one in progress. */
const COLLECT_SLACK_MS = 500;
const AFTER = 150;

test('agent SIGKILL mid-stream loses at most the interval in progress; the restarted agent ships the spool, nothing twice', { timeout: 180_000 }, async (t) => {
  const g = await startGateway(t);
  const first = startAgent(t, g);
  const { fixture, service } = await startService(t, 'agentkill');
  await waitForAttach(first.agent, fixture.pid);

  const load = new SteadyLoad(fixture.url, ['/api/checkout', '/fail']);
  await sleep(3_500);
  // Stop the load first so the client knows exactly what completed, then kill at once: the
  // agent is somewhere inside an interval, with undrained counts in its maps.
  const before = await load.stop();
  const killAt = Date.now();
  first.agent.child.kill('SIGKILL');
  await new Promise((r) => first.agent.child.once('exit', r));
  const bound = load.completedAt.filter((at) => at > killAt - INTERVAL_MS - COLLECT_SLACK_MS).length;

  const second = startAgent(t, g, { spoolDir: first.spoolDir });
  await waitForAttach(second.agent, fixture.pid);
  const attachedAt = Date.now();
  await drive(fixture.url, '/users/42', AFTER);
  // The restarted agent ships the old spool before anything new: once every request from after
  // the restart is stored, whatever survived from before is stored too.
  await assertStoredExactly(g, service, AFTER, 60_000, '/users/{id}');
  const recoverMs = Date.now() - attachedAt;

  const storedBefore = (await storedCount(g, service, '/api/checkout')) + (await storedCount(g, service, '/fail'));
  const lost = before - storedBefore;
  assert.ok(lost >= 0, `stored ${storedBefore} requests from before the kill, more than the ${before} completed (counted twice)`);
  assert.ok(lost <= bound, `lost ${lost} requests, more than the ${bound} completed in the last interval (${INTERVAL_MS} ms + ${COLLECT_SLACK_MS} ms) before the kill`);
  await waitFor('the total to settle', async () => ((await storedCount(g, service)) === storedBefore + AFTER ? true : undefined), 10_000);

  report(t, {
    fault: `agent kill -9 mid-stream, restart on the same spool (interval ${INTERVAL_MS} ms)`,
    sent: `${before} requests before the kill, ${AFTER} after the restart`,
    stored: `${storedBefore} of ${before} from before, ${AFTER} of ${AFTER} after`,
    lost: `${lost} (bound: the ${bound} completed in the last ${INTERVAL_MS + COLLECT_SLACK_MS} ms before the kill)`,
    recoverMs,
  });
});
