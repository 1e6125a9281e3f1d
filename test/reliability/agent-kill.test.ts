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
  getJson,
  INTERVAL_MS,
  KEY,
  METRIC,
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

const AFTER = 150;
const STEP_MS = 10;
/** The agent's clock is anchored to the wall clock at a millisecond: allow for that. */
const CLOCK_SLACK_MS = 5;

/**
 * The end of the last interval the killed agent exported (ms, within a step): the latest point
 * stored before the kill. Everything after it was in the interval in progress.
 */
async function lastExportedEndMs(g: Gateway, service: string, killAt: number): Promise<number> {
  const r = await getJson(`${g.base}/v1/query?service=${service}&metric=${METRIC}&agg=count&from=${(killAt - 10_000) / 1000}&to=${killAt / 1000}&step=${STEP_MS}ms`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const points = (r.body.series[0]?.points ?? []) as [number, number | null][];
  const last = points.filter(([, v]) => (v ?? 0) > 0).pop();
  assert.ok(last, 'the killed agent exported something before the kill');
  return last[0] * 1000;
}

test('agent SIGKILL mid-stream loses at most the interval in progress; the restarted agent ships the spool, nothing twice', { timeout: 180_000 }, async (t) => {
  const g = await startGateway(t);
  const first = startAgent(t, g);
  const { fixture, service } = await startService(t, 'agentkill');
  await waitForAttach(first.agent, fixture.pid);

  const load = new SteadyLoad(t, fixture.url, ['/api/checkout', '/fail']);
  await sleep(3_500);
  // Stop the load first so the client knows exactly what completed, then kill at once: the
  // agent is somewhere inside an interval, with undrained counts in its maps.
  const before = await load.stop();
  const killAt = Date.now();
  first.agent.child.kill('SIGKILL');
  await new Promise((r) => first.agent.child.once('exit', r));

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
  // A request completes at the client after the server finished it, so the requests completed
  // after the last exported interval's end bound what the interval in progress held.
  const lastEnd = await lastExportedEndMs(g, service, killAt);
  const inProgressMs = killAt - lastEnd;
  const bound = load.completedAt.filter((at) => at > lastEnd - CLOCK_SLACK_MS).length;
  assert.ok(lost <= bound, `lost ${lost} requests, more than the ${bound} completed in the interval in progress (${inProgressMs} ms before the kill)`);
  await waitFor('the total to settle', async () => ((await storedCount(g, service)) === storedBefore + AFTER ? true : undefined), 10_000);

  report(t, {
    fault: `agent kill -9 mid-stream, restart on the same spool (interval ${INTERVAL_MS} ms)`,
    sent: `${before} requests before the kill, ${AFTER} after the restart`,
    stored: `${storedBefore} of ${before} from before, ${AFTER} of ${AFTER} after`,
    lost: `${lost} (bound: the ${bound} completed in the interval in progress, its last ${inProgressMs} ms)`,
    recoverMs,
  });
});
