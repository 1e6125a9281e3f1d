// Late data on Timestream: a host's spool replayed hours after an outage goes through the real
// gateway app (OTLP protobuf in) into TimestreamStore over the emulator (test/lib), whose
// magnetic store accepts what is older than the memory store keeps and makes it queryable only
// later. The SLO engine (state on DuckDB, and on DynamoDB emulated at the SDK boundary) must
// count every replayed request exactly once it is readable — not clear its mark before then.

import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { DURATION, expHistogramMetric, jsonBody, resourceMetrics, type ExpPointSpec } from '../../test/otlp-fixtures.ts';
import { DynamoSloStore } from '../aws/dynamodb-slo-store.ts';
import { createGatewayApp } from '../gateway/app.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import { SloEngine } from './engine.ts';
import type { SloStore } from './store.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 20, 6, 0);
const TENANT = 'acme';
const KEY = 'late-magnetic-test-key-01';
const FAST = bucketIndexForSeconds(0.01, 5);
const SLOW = bucketIndexForSeconds(2, 5);

const SLO_STORES: readonly { name: string; open: (t: TestContext) => Promise<SloStore> }[] = [
  { name: 'DuckDB', open: () => DuckDbSloStore.open(':memory:') },
  {
    name: 'DynamoDB, emulated at the SDK boundary',
    open: async (t) => {
      const emulator = new DynamoDbEmulator('burnwatch-slo');
      t.after(() => emulator.restore());
      return new DynamoSloStore({ tableName: 'burnwatch-slo' });
    },
  },
];

async function stack(t: TestContext, openSloStore: (t: TestContext) => Promise<SloStore>) {
  let clock = T0;
  const timestream = new TimestreamEmulator();
  t.after(() => timestream.restore());
  timestream.now = () => clock;
  // The points table keeps 6 h in memory; magnetic-store writes take 2 h to become queryable
  // (Timestream promises "within 6 hours", which is what the store assumes).
  timestream.tableSettings.set('points', { memoryRetentionHours: 6 });
  timestream.magneticDelayMs = 2 * HOUR;
  const metricStore = new TimestreamStore({
    database: 'bw', pointsTable: 'points', seriesTable: 'series',
    writeClient: timestream.writeClient, queryClient: timestream.queryClient,
    memoryRetentionHours: { points: 6, series: 48 },
    now: () => clock,
    log: () => undefined,
  });
  const sloStore = await openSloStore(t);
  t.after(() => sloStore.close());
  const engine = new SloEngine({ metricStore, sloStore, log: () => undefined });
  const app = createGatewayApp({ store: metricStore, apiKeys: { [KEY]: TENANT }, slo: engine, now: () => clock, log: () => undefined });
  /** One request holding, for each minute in [fromMin, toMin), `ok` fast 200s and `bad` slow 503s. */
  const send = async (fromMin: number, toMin: number, ok: number, bad: number) => {
    const points: ExpPointSpec[] = [];
    for (let m = fromMin; m < toMin; m++) {
      const endMs = T0 + m * MIN + 30_000;
      points.push({ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [FAST]: ok } });
      if (bad > 0) points.push({ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 503 }, scale: 5, buckets: { [SLOW]: bad } });
    }
    const res = await app.request('/v1/metrics', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: Buffer.from(jsonBody(resourceMetrics({ 'service.name': 'pay' }, [expHistogramMetric(DURATION, points)]))),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { partialSuccess?: { rejectedDataPoints?: number | string; errorMessage?: string } };
  };
  const availability = async (atMs: number) => {
    clock = atMs;
    const s = (await engine.cycle(TENANT, atMs)).slos.find((x) => x.id === 'pay:availability')!;
    return [s.total, s.bad];
  };
  return { send, availability, sloStore, at: (ms: number) => (clock = ms), timestream };
}

for (const backend of SLO_STORES) {
  describe(`a spool replayed hours late on Timestream (SLO state on ${backend.name})`, () => {
    test('points older than the memory store are reported late and counted exactly once readable', async (t) => {
      const { send, availability, sloStore, at, timestream } = await stack(t, backend.open);
      // An hour of live traffic, evaluated every 10 minutes.
      for (let m = 0; m < 60; m += 10) {
        at(T0 + (m + 10) * MIN);
        await send(m, m + 10, 100, 0);
        await availability(T0 + (m + 10) * MIN + 1_000);
      }
      assert.deepEqual(await availability(T0 + 60 * MIN + 5_000), [6000, 0]);
      // The network is down for 8 hours; the evaluator keeps running and sees nothing new.
      for (let h = 2; h <= 8; h++) assert.deepEqual(await availability(T0 + h * HOUR), [6000, 0]);

      // Back at hour 8: the spool replays hours 1–8, 5% errors. Hours 1–2 are older than the
      // memory store's 6 h: Timestream accepts them into the magnetic store. The store counts
      // 10 minutes more as late (its clock is not Timestream's), here minutes 121–130.
      at(T0 + 8 * HOUR + MIN);
      const old = await send(60, 131, 95, 5);
      assert.equal(Number(old.partialSuccess?.rejectedDataPoints ?? 0), 0, 'nothing is refused');
      assert.match(old.partialSuccess?.errorMessage ?? '', /^142 point\(s\) stored but readable only by 2026-11-20T20:01:00\.000Z \(SLOs count them then\): older than Timestream's memory store keeps \(6 h for points, 48 h for their series records\)/);
      const recent = await send(131, 480, 95, 5);
      assert.equal(recent.partialSuccess, undefined, 'points inside the memory store are plain successes');

      // The recent part counts at once; the late part waits for its mark.
      assert.deepEqual(await availability(T0 + 8 * HOUR + 2 * MIN), [6000 + 349 * 100, 349 * 5]);
      const waiting = await sloStore.dirtyMarks(TENANT);
      assert.deepEqual(waiting.map((m) => [m.bucketMs, m.dueMs]), [[T0 + 60 * MIN, T0 + 14 * HOUR + MIN]]);
      // Readable two hours later in the emulator — the mark is still not due (Timestream only
      // promises six), and the rollups keep their figures until it is.
      assert.deepEqual(await availability(T0 + 10 * HOUR + 30 * MIN), [6000 + 349 * 100, 349 * 5]);
      assert.equal((await sloStore.dirtyMarks(TENANT)).length, 1);
      // Once due, the recompute reaches back to hour 1: every replayed request counts, once.
      assert.deepEqual(await availability(T0 + 14 * HOUR + 2 * MIN), [6000 + 420 * 100, 420 * 5]);
      assert.deepEqual(await sloStore.dirtyMarks(TENANT), []);
      assert.deepEqual(await availability(T0 + 14 * HOUR + 30 * MIN), [6000 + 420 * 100, 420 * 5]);
      assert.deepEqual(timestream.magneticRejections, []);
    });

    test('a bucket marked again keeps the later due time, with a new token', async (t) => {
      const store = await backend.open(t);
      t.after(() => store.close());
      await store.markDirty(TENANT, T0, T0 + 6 * HOUR);
      const [first] = await store.dirtyMarks(TENANT);
      await store.markDirty(TENANT, T0); // due now: the points waiting for 6 h still wait
      const [second] = await store.dirtyMarks(TENANT);
      assert.deepEqual([second.bucketMs, second.dueMs], [T0, T0 + 6 * HOUR]);
      assert.notEqual(second.token, first.token, 'a refresh that read the first mark does not clear this one');
      await store.markDirty(TENANT, T0, T0 + 7 * HOUR);
      assert.deepEqual((await store.dirtyMarks(TENANT)).map((m) => m.dueMs), [T0 + 7 * HOUR]);
      await store.markDirty(TENANT, T0 + MIN);
      assert.deepEqual((await store.dirtyMarks(TENANT)).map((m) => [m.bucketMs, m.dueMs]), [[T0, T0 + 7 * HOUR], [T0 + MIN, 0]]);
    });
  });
}
