// Fault: the wall clock jumps forwards, then backwards, under the running agent (an NTP step, a
// VM resumed from a snapshot). The machine's own clock is left alone: libfaketime (Debian
// package `faketime`) is preloaded into the agent process only, reading its offset from a file
// the test rewrites at run time; the monotonic clock is not faked, as a real step leaves it
// alone too. Interval boundaries must neither overlap (counted twice) nor leave gaps (lost), and
// points must carry true times: every request is found, exactly once, in the real time range of
// the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { getJson, KEY, METRIC, report, sleep, startAgent, startGateway, startService, SteadyLoad, storedCount, tempDir, waitFor, waitForAttach, type Gateway } from './harness.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** Requests stored with an end time inside [fromMs, toMs) of real time. */
async function countBetween(g: Gateway, service: string, fromMs: number, toMs: number): Promise<number> {
  const r = await getJson(`${g.base}/v1/query?service=${service}&metric=${METRIC}&agg=count&from=${fromMs / 1000}&to=${toMs / 1000}`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.series.length ? r.body.series[0].points[0][1] : 0;
}

test('a wall-clock jump forwards and backwards under the agent loses nothing and counts nothing twice', { timeout: 120_000 }, async (t) => {
  assert.ok(fs.existsSync(LIBFAKETIME), `${LIBFAKETIME} missing: apt-get install faketime (scripts/setup does)`);
  const offsetFile = path.join(tempDir('bw-rel-faketime'), 'offset');
  fs.writeFileSync(offsetFile, '+0\n');
  const g = await startGateway(t);
  const { agent } = startAgent(t, g, {
    env: { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
  });
  const { fixture, service } = await startService(t, 'clock');
  await waitForAttach(agent, fixture.pid);
  assert.match(fs.readFileSync(`/proc/${agent.child.pid}/maps`, 'utf8'), /libfaketime/, 'the agent runs with the faked clock');

  const startedMs = Date.now();
  const load = new SteadyLoad(t, fixture.url, ['/api/checkout', '/users/1', '/fail']);
  await sleep(2_500);
  fs.writeFileSync(offsetFile, '+3h\n'); // forwards
  await sleep(3_000);
  fs.writeFileSync(offsetFile, '-3h\n'); // backwards, 6 h in one step
  await sleep(3_000);
  const sent = await load.stop();
  const stoppedMs = Date.now();

  // Every request lands in the real time range of the test, once.
  const reached = await waitFor(`${sent} requests stored between the real start and end`, async () => {
    const n = await countBetween(g, service, startedMs - 2_000, Date.now() + 2_000);
    assert.ok(n <= sent, `stored ${n}, more than the ${sent} sent`);
    return n === sent ? Date.now() - stoppedMs : undefined;
  }, 30_000, 250);
  await sleep(3_000);
  assert.equal(await storedCount(g, service), sent, 'nothing stored outside the test\'s real time range, nothing twice');
  assert.equal(agent.child.exitCode, null, 'the agent is still running');

  report(t, {
    fault: 'wall clock +3 h, then −6 h, under the agent (libfaketime, monotonic clock untouched)',
    sent: `${sent} requests`,
    stored: `${sent} of ${sent}, all stamped within the real time of the test`,
    lost: '0',
    recoverMs: reached,
  });
});
