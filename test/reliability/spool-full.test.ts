// Fault: the agent's spool disk fills up while the gateway is away. The spool sits on a small
// tmpfs mounted by the test (unmounted after), so the disk really returns ENOSPC. The agent
// must drop the oldest batches to make room for new ones (never the newest, never crash) and
// count what it dropped in its self-metrics; once the gateway is back, the newest data arrives
// exactly and the drops are reported.
//
// Requests while the disk fills go to /api/checkout; the last ones, once it is full, to
// /users/{id}: those are in the newest batches and must all arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_METRIC } from '../../common/catalogue.ts';
import {
  assertStoredExactly,
  drive,
  getJson,
  KEY,
  report,
  sleep,
  startAgent,
  startGateway,
  startService,
  SteadyLoad,
  storedCount,
  tempDir,
  waitFor,
  waitForAttach,
  type Gateway,
} from './harness.ts';
import { freePort } from '../lib/processes.ts';

const TMPFS_SIZE_KB = 1024;
/**
 * Batches' worth of room left for the spool: a ballast file takes the rest, as logs or core
 * dumps fill a real disk. A batch is 5–30 kB of gzip depending on how busy the host is, so the
 * room is sized from the first batch: the disk fills within seconds and the newest batches
 * still fit once it has.
 */
const ROOM_BATCHES = 5;
const PAGE = 4096;
const LAST = 60;

/** What the agents told the gateway they dropped, by reason, over the last hour. */
async function reportedDrops(g: Gateway): Promise<Record<string, number>> {
  const nowS = Math.floor(Date.now() / 1000);
  const r = await getJson(`${g.base}/v1/query?service=burnwatch-agent&metric=${AGENT_METRIC.droppedBatches}&agg=count&from=${nowS - 3600}&to=${nowS + 60}&by=burnwatch.drop.reason`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return Object.fromEntries((r.body.series as { labels: Record<string, string>; points: [number, number][] }[]).map((s) => [s.labels['burnwatch.drop.reason'], s.points[0][1]]));
}

function spooledBatches(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.pb.gz'));
}

test('spool disk full: the oldest batches are dropped and counted, the newest arrive exactly, nothing crashes', { timeout: 180_000 }, async (t) => {
  const mountPoint = tempDir('bw-rel-tmpfs');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE_KB}k,mode=0700`, 'tmpfs', mountPoint]);
  t.after(() => execFileSync('umount', ['-l', mountPoint]));
  const spoolDir = path.join(mountPoint, 'spool');

  // The gateway is away: its port is reserved now and served only later.
  const port = await freePort();
  const away: Gateway = { port, base: `http://127.0.0.1:${port}`, dataDir: tempDir('bw-rel-data'), proc: undefined as never, extraArgs: [] };
  const { agent } = startAgent(t, away, { spoolDir });
  const { fixture, service } = await startService(t, 'spoolfull');
  await waitForAttach(agent, fixture.pid);

  const load = new SteadyLoad(t, fixture.url, ['/api/checkout']);
  const firstBatch = await waitFor('the first spooled batch', () => {
    const names = spooledBatches(spoolDir);
    return names.length > 0 ? fs.statSync(path.join(spoolDir, names[0])).size : undefined;
  }, 30_000, 100);
  const ballast = path.join(mountPoint, 'ballast');
  const { bavail, bsize } = fs.statfsSync(mountPoint);
  const roomBytes = ROOM_BATCHES * Math.ceil((firstBatch * 1.5) / PAGE) * PAGE;
  fs.writeFileSync(ballast, Buffer.alloc(Math.max(0, bavail * bsize - roomBytes)));
  // Full once the oldest batch has gone to make room (before the fix, new batches were lost instead).
  await waitFor('the spool disk to fill up and the oldest batch to be dropped', () => {
    const names = spooledBatches(spoolDir);
    return names.length > 0 && !names.some((n) => n.startsWith('000000000001-')) ? true : undefined;
  }, 60_000, 200);
  assert.match(agent.output(), /disk full/);
  // More intervals with the disk full: each new batch must push an old one out.
  await sleep(3_000);
  const early = await load.stop();
  await drive(fixture.url, '/users/5', LAST);
  await sleep(2_200); // two intervals: the last requests are drained and spooled
  // Space is freed, then the gateway returns. (While the disk stays full every new interval
  // pushes the oldest batch out, so the last requests would survive only a few intervals of the
  // shipper's backoff: dropping oldest-first is exactly what must happen then.)
  fs.unlinkSync(ballast);
  const seqs = spooledBatches(spoolDir).map((n) => Number(n.slice(0, 12))).sort((a, b) => a - b);
  assert.ok(seqs.length > 0, 'the spool still holds batches');
  assert.ok(seqs[0] > 1, `the oldest batches were dropped (oldest left: ${seqs[0]})`);
  assert.equal(agent.child.exitCode, null, 'the agent is still running');

  const g = await startGateway(t, [], away);
  const backAt = Date.now();
  // The agent retries with jittered exponential backoff (ceiling 60 s), so after an outage of
  // this length its next attempt can be some seconds away.
  await assertStoredExactly(g, service, LAST, 90_000, '/users/{id}').catch((err) => {
    throw new Error(`${(err as Error).message}\nagent log:\n${agent.output().slice(-3000)}`);
  });
  const recoverMs = Date.now() - backAt;
  const storedEarly = await storedCount(g, service, '/api/checkout');
  assert.ok(storedEarly < early, `some of the ${early} early requests were in dropped batches (stored ${storedEarly})`);

  const drops = await waitFor('the agent to report its drops', async () => {
    const d = await reportedDrops(g);
    return (d.disk_full ?? 0) > 0 ? d : undefined;
  }, 30_000, 500);
  // Drop counts travel in later batches, which can themselves be dropped while the disk stays
  // full: the report may fall short of the truth, never exceed it.
  assert.ok(drops.disk_full <= seqs[0] - 1, `reported ${drops.disk_full} drops, only ${seqs[0] - 1} happened`);
  report(t, {
    fault: `spool disk full (tmpfs ${TMPFS_SIZE_KB} kB, ballast leaving ${roomBytes >> 10} kB) while the gateway is away`,
    sent: `${early} requests while filling, ${LAST} once full`,
    stored: `${storedEarly} of ${early}, ${LAST} of ${LAST} (newest kept)`,
    lost: `${early - storedEarly} requests in the ${seqs[0] - 1} oldest batches, dropped; the agent reported ${drops.disk_full} of them (disk_full)`,
    recoverMs,
  });
});
