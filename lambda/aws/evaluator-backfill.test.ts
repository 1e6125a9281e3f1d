// The evaluator's first days on AWS (issue 17 item 1): a new SLO over 30 days of data, Timestream
// answering each query in 300 ms (real waits), and an invocation timeout the backfill cannot fit
// in. Each invocation stops starting rollup chunks before its deadline, saves the watermark
// chunk by chunk and leaves the rest to the next; the backfill completes across invocations with
// the figures a one-go backfill gives, and no alert steps on half-backfilled rollups. What is
// asserted is the invocation's own accounting (chunks read, left, elapsed against the time Lambda
// gave it), not how fast the code is. The queries a run sends in steady state are printed: the
// cost section of docs/aws.md uses that figure.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { QueryCommand } from '@aws-sdk/client-timestream-query';
import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { DuckDbSloStore } from '../slo/duckdb-store.ts';
import { SloEngine } from '../slo/engine.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import type { MetricPoint, SeriesRef } from '../storage/types.ts';
import { createEvaluateHandler, engineCycle, type EvaluationSummary } from './evaluator.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Math.floor(Date.UTC(2026, 10, 30, 9, 30) / MIN) * MIN;
const TIMEOUT_MS = 4_000;
const RESERVE_MS = 1_000;
const SERVICES = ['checkout', 'search', 'payments'];

function series(service: string, status: number): SeriesRef {
  return { metric: HTTP_SERVER_DURATION, unit: 's', resource: { 'service.name': service }, attributes: { 'http.route': '/x', 'http.response.status_code': status } };
}

/** One delta point of `count` requests, all in one bucket (~10 ms at scale 5). */
function requests(s: SeriesRef, endMs: number, count: number): MetricPoint {
  const endNs = BigInt(endMs) * 1_000_000n;
  return { series: s, startNs: endNs - 10_000_000_000n, endNs, kind: 'exponential_histogram', temporality: 'delta', count, sum: count * 0.01, scale: 5, zeroCount: 0, offset: -213, counts: [count] };
}

/** 30 days of traffic, one point an hour per series (one error a day) and the last minutes, grouped by day. */
function traffic(): MetricPoint[][] {
  const days = new Map<number, MetricPoint[]>();
  const add = (p: MetricPoint) => {
    const day = Math.floor(Number(p.endNs / 1_000_000n) / DAY);
    days.set(day, [...(days.get(day) ?? []), p]);
  };
  for (let t = NOW - 30 * DAY + HOUR + 5 * MIN, k = 0; t < NOW - 10 * MIN; t += HOUR, k++) {
    for (const svc of SERVICES) {
      add(requests(series(svc, 200), t, 100));
      if (k % 24 === 0) add(requests(series(svc, 503), t, 1)); // 0.04% errors: inside a 99.9% objective
    }
  }
  for (const svc of SERVICES) add(requests(series(svc, 200), NOW - 2 * MIN, 50));
  return [...days.values()];
}

let emulator: TimestreamEmulator;
let timestream: TimestreamStore;
let reference: DuckDbStore;

before(async () => {
  emulator = new TimestreamEmulator();
  timestream = new TimestreamStore({ database: 'bw', pointsTable: 'points', seriesTable: 'series', writeClient: emulator.writeClient, queryClient: emulator.queryClient, now: () => emulator.now(), log: () => undefined });
  reference = await DuckDbStore.open({ path: ':memory:' });
  // Written as an agent would have: each day's points at the end of that day (memory store).
  for (const day of traffic()) {
    const lastMs = Math.max(...day.map((p) => Number(p.endNs / 1_000_000n)));
    emulator.now = () => lastMs + MIN;
    const written = await timestream.write('acme', day);
    assert.equal(written.inserted, day.length, JSON.stringify(written));
    await reference.write('acme', day);
  }
  emulator.now = () => NOW;
  emulator.queryLatencyMs = 300;
  // Timestream pages hold up to 1 MB of rows; the emulator's default of 4 rows would make page round trips the cost.
  emulator.pageSize = 1_000;
});

after(async () => {
  await timestream.close();
  await reference.close();
});

async function sendNow(atMs: number): Promise<void> {
  const points = SERVICES.map((svc) => requests(series(svc, 200), atMs - MIN / 2, 50));
  emulator.now = () => atMs;
  assert.equal((await timestream.write('acme', points)).inserted, points.length);
  await reference.write('acme', points);
}

/** Queries sent (a query's further pages are not new queries). */
const queriesSent = () => emulator.queryMock.commandCalls(QueryCommand).filter((c) => c.args[0].input.NextToken === undefined).length;

test('a 30-day backfill against 300 ms queries completes across invocations, each inside its timeout', async () => {
  const sloStore = await DuckDbSloStore.open(':memory:');
  const notified: string[] = [];
  const handler = createEvaluateHandler({
    tenants: async () => ['acme'],
    cycle: engineCycle({ metricStore: timestream, sloStore, notifiers: [{ name: 'test', notify: async (t) => void notified.push(t.id) }] }),
    namespace: 'Burnwatch/test',
    stage: 'test',
    emit: () => undefined,
    reserveMs: RESERVE_MS,
  });
  const runs: EvaluationSummary[] = [];
  for (let i = 0; i < 20; i++) {
    const at = NOW + i * MIN;
    const event = { version: '0', id: `e${i}`, 'detail-type': 'Scheduled Event' as const, source: 'aws.events', account: '123456789012', time: new Date(at).toISOString(), region: 'eu-west-1', resources: [], detail: {} };
    // The agents keep sending while the backfill runs.
    await sendNow(at);
    const summary = await handler(event, { getRemainingTimeInMillis: () => TIMEOUT_MS });
    runs.push(summary);
    if (summary.rollup_chunks_left === 0) break;
  }
  const last = runs[runs.length - 1];
  assert.equal(last.rollup_chunks_left, 0, `finished: ${JSON.stringify(runs.map((r) => [r.rollup_chunks, r.rollup_chunks_left]))}`);
  assert.ok(runs.length >= 2, `the backfill needed ${runs.length} invocation(s); the timeout should not fit it in one`);
  for (const r of runs) {
    assert.equal(r.timeout_ms, TIMEOUT_MS);
    assert.ok(r.elapsed_ms <= TIMEOUT_MS, `an invocation took ${r.elapsed_ms} ms of its ${TIMEOUT_MS} ms`);
    assert.ok(r.rollup_chunks > 0, 'every invocation made progress');
  }
  // ~30 days of 6 h chunks from the first day with data, each read once (plus the chunk reaching now, re-read each minute).
  const chunks = runs.reduce((n, r) => n + r.rollup_chunks, 0);
  assert.ok(chunks >= 120 && chunks <= 122 + runs.length, `${chunks} chunks read`);
  assert.deepEqual(notified, [], 'no alert: the traffic is healthy, and half-backfilled rollups are not stepped (they read as silence)');

  // The figures equal a backfill in one go over the same points (DuckDB, no deadline).
  const oneGo = new SloEngine({ metricStore: reference, sloStore: await DuckDbSloStore.open(':memory:') });
  const atMs = NOW + (runs.length - 1) * MIN;
  const expected = await oneGo.statuses('acme', atMs);
  const got = await new SloEngine({ metricStore: timestream, sloStore }).statuses('acme', atMs, { refresh: false });
  assert.equal(got.length, SERVICES.length * 2);
  const figures = (r: (typeof got)[number]) => ({ id: r.id, good: r.good, total: r.total, covered_from: r.covered_from, covered_to: r.covered_to });
  assert.deepEqual(got.map(figures), expected.map(figures));
  assert.ok(got.every((r) => r.total > 30 * 24 * 100 * 0.9), 'the whole window is counted');

  // Steady state: one more minute, and the queries it sends, whatever the number of SLOs.
  await sendNow(atMs + MIN);
  const before = queriesSent();
  const steady = await handler(
    { version: '0', id: 'steady', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date(atMs + MIN).toISOString(), region: 'eu-west-1', resources: [], detail: {} },
    { getRemainingTimeInMillis: () => TIMEOUT_MS },
  );
  const perRun = queriesSent() - before;
  // Bounded reads: nothing from the epoch (series records are daily, and the window is 30 days).
  const texts = emulator.queries.slice(-perRun * 2);
  assert.ok(texts.every((q) => !q.includes('from_nanoseconds(0)')), texts.join('\n'));
  assert.equal(steady.slos, SERVICES.length * 2);
  assert.equal(steady.rollup_chunks, 1);
  console.log(`evaluator, steady state: ${perRun} Timestream queries per run per tenant for ${steady.slos} SLOs (${SERVICES.length} services); backfill of 30 days: ${chunks} chunks over ${runs.length} invocations of ${TIMEOUT_MS} ms`);
  assert.equal(perRun, 5, 'three series reads (one per default SLI metric) and one points + one series read for every SLO');
  await sloStore.close();
});
