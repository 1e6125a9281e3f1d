// Late data and how far rollups reach, through the real gateway app (OTLP protobuf in) into a real
// DuckDB metric store, with the SLO engine's state on DuckDB and on the DynamoDB SloStore
// (emulated at the SDK boundary): points replayed long after their minute reach budgets and
// alerts; a window lengthened later, or asked for by `gate --window`, is backfilled.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { DURATION, expHistogramMetric, protobufBody, resourceMetrics, type ExpPointSpec } from '../../test/otlp-fixtures.ts';
import { DynamoSloStore } from '../aws/dynamodb-slo-store.ts';
import { createGatewayApp } from '../gateway/app.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import { SloEngine } from './engine.ts';
import type { SloStore } from './store.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 12, 0);
const TENANT = 'acme';
const KEY = 'late-data-test-key-0001';
const FAST = bucketIndexForSeconds(0.01, 5);
const SLOW = bucketIndexForSeconds(2, 5);

const SLO_STORES: readonly { name: string; open: (t: import('node:test').TestContext) => Promise<SloStore> }[] = [
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

async function stack(t: import('node:test').TestContext, openSloStore: (t: import('node:test').TestContext) => Promise<SloStore>) {
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  const sloStore = await openSloStore(t);
  t.after(async () => {
    await sloStore.close();
    await metricStore.close();
  });
  let clock = T0;
  const engine = new SloEngine({ metricStore, sloStore, log: () => undefined });
  const app = createGatewayApp({ store: metricStore, apiKeys: { [KEY]: TENANT }, slo: engine, now: () => clock, log: () => undefined });
  /** `ok` fast 200s and `bad` slow 503s in the interval ending at endMs, as an agent would send them. */
  const send = async (service: string, endMs: number, ok: number, bad: number) => {
    const points: ExpPointSpec[] = [
      { endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [FAST]: ok } },
      { endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 503 }, scale: 5, buckets: { [SLOW]: bad } },
    ].filter((p) => Object.values(p.buckets)[0] > 0);
    const res = await app.request('/v1/metrics', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' },
      body: Buffer.from(protobufBody(resourceMetrics({ 'service.name': service }, [expHistogramMetric(DURATION, points)]))),
    });
    assert.equal(res.status, 200, await res.text());
  };
  const at = (ms: number) => (clock = ms);
  const slo = async (id: string, nowMs = clock) => (await engine.cycle(TENANT, nowMs)).slos.find((s) => s.id === id)!;
  return { engine, app, sloStore, send, at, slo };
}

for (const backend of SLO_STORES) {
  describe(`late data and rollup coverage (SLO state on ${backend.name})`, () => {
    test('a spool replayed 40 minutes late reaches budgets and alerts; the dirty marks are cleared', async (t) => {
      const { send, at, slo, sloStore } = await stack(t, backend.open);
      // Steady traffic each minute, evaluated each minute, for an hour.
      for (let m = 0; m < 60; m++) {
        at(T0 + m * MIN + 50_000);
        await send('pay', T0 + m * MIN + 50_000, 100, 0);
        await slo('pay:availability', T0 + (m + 1) * MIN);
      }
      let s = await slo('pay:availability', T0 + 60 * MIN);
      assert.deepEqual([s.total, s.bad], [6000, 0]);
      // Then a host's spool replays minutes 10–19 with errors, 40+ minutes after they happened.
      at(T0 + 60 * MIN + 5_000);
      for (let m = 10; m < 20; m++) await send('pay', T0 + m * MIN + 20_000, 0, 30);
      assert.deepEqual((await sloStore.dirtyMarks(TENANT)).map((d) => d.bucketMs), Array.from({ length: 10 }, (_, i) => T0 + (10 + i) * MIN), 'the minutes touched');
      s = await slo('pay:availability', T0 + 61 * MIN);
      assert.deepEqual([s.total, s.bad], [6300, 300], 'the late errors are in the budget');
      const latency = await slo('pay:latency', T0 + 61 * MIN);
      assert.deepEqual([latency.total, latency.good], [6300, 6000], 'every SLI of the data is recomputed');
      assert.deepEqual(await sloStore.dirtyMarks(TENANT), []);
      // Data inside the late margin is recomputed anyway: nothing marked.
      at(T0 + 61 * MIN + 5_000);
      await send('pay', T0 + 55 * MIN, 1, 0);
      assert.deepEqual(await sloStore.dirtyMarks(TENANT), []);
      s = await slo('pay:availability', T0 + 62 * MIN);
      assert.deepEqual([s.total, s.bad], [6301, 300]);
      // Right after a refresh at minute 62 the next one starts at minute 52: a point of minute 51
      // arriving now is just past the margin, and marked.
      at(T0 + 62 * MIN);
      await send('pay', T0 + 51 * MIN + 30_000, 0, 1);
      s = await slo('pay:availability', T0 + 63 * MIN);
      assert.deepEqual([s.total, s.bad], [6302, 301]);
    });

    test('late points burning 30× within the last hour fire the page that their minutes deserve', async (t) => {
      const { send, at, engine } = await stack(t, backend.open);
      for (let m = 0; m < 60; m++) {
        at(T0 + m * MIN + 50_000);
        await send('shop', T0 + m * MIN + 50_000, 1000, 0);
        await engine.cycle(TENANT, T0 + (m + 1) * MIN);
      }
      // 3% errors over the whole last hour, replayed at once: 30× the 99.9% budget in 1h and in 5m.
      at(T0 + 60 * MIN + 1_000);
      for (let m = 0; m < 60; m++) await send('shop', T0 + m * MIN + 55_000, 0, 31);
      const { transitions } = await engine.cycle(TENANT, T0 + 61 * MIN);
      assert.deepEqual(transitions.filter((x) => x.slo_id === 'shop:availability').map((x) => `${x.evidence.rule}:${x.to}`), ['page-1h-5m:firing', 'page-6h-30m:firing', 'ticket-3d-6h:firing']);
    });

    test('a window lengthened later is backfilled; so is a longer window asked for by the gate', async (t) => {
      const { send, at, engine, app } = await stack(t, backend.open);
      const now = T0 + 60 * DAY;
      at(now - 45 * DAY);
      await send('ledger', now - 45 * DAY, 400, 4); // only a 60-day window sees this
      at(now - 20 * DAY);
      await send('ledger', now - 20 * DAY, 1000, 10); // a 30-day window sees this too
      at(now - HOUR);
      await send('ledger', now - HOUR, 500, 0);
      at(now);
      const spec = (days: number) => `
apiVersion: openslo/v1
kind: SLO
metadata: { name: ledger-availability }
spec:
  service: ledger
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  timeWindow: [{ duration: ${days}d, isRolling: true }]
  objectives: [{ target: 0.99 }]
`;
      await engine.putSpecs(TENANT, spec(7), now);
      let s = (await engine.cycle(TENANT, now)).slos.find((x) => x.id === 'ledger-availability')!;
      assert.deepEqual([s.total, s.bad, s.window], [500, 0, '7d']);
      await engine.putSpecs(TENANT, spec(30), now + MIN);
      s = (await engine.cycle(TENANT, now + MIN)).slos.find((x) => x.id === 'ledger-availability')!;
      assert.deepEqual([s.total, s.bad, s.window], [1510, 10, '30d'], 'the 30 days before the 7 were backfilled');
      assert.equal(s.covered_from, undefined);
      // The gate's --window over 60 days (through the API, as `burnwatch gate --window 60d` asks).
      const res = await app.request('/v1/slos?service=ledger&window=60d', { headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(res.status, 200);
      const gated = ((await res.json()) as { slos: { id: string; total: number; bad: number; window: string; covered_from?: string }[] }).slos.find((x) => x.id === 'ledger-availability')!;
      assert.deepEqual([gated.total, gated.bad, gated.window, gated.covered_from], [1914, 14, '60d', undefined]);
      // Read without a refresh, a window longer than the rollups says so instead of answering short.
      const stale = (await engine.statuses(TENANT, now + MIN, { refresh: false, window: { kind: 'rolling', ms: 90 * DAY } })).find((x) => x.id === 'ledger-availability')!;
      assert.ok(stale.covered_from !== undefined && Date.parse(stale.covered_from) > now + MIN - 90 * DAY, JSON.stringify(stale.covered_from));
    });
  });
}


test('an SLO store file from before coverage was kept: its keys claim no coverage, so the next refresh backfills them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'burnwatch-slo-upgrade-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'slo.duckdb');
  const old = await DuckDBInstance.create(path);
  const conn = await old.connect();
  await conn.run(`CREATE TABLE slo_rollup_watermarks (tenant VARCHAR NOT NULL, sli_key VARCHAR NOT NULL, done_to_ms BIGINT NOT NULL, PRIMARY KEY (tenant, sli_key))`);
  await conn.run(`INSERT INTO slo_rollup_watermarks VALUES ('acme', 'k', ${T0})`);
  conn.closeSync();
  old.closeSync();
  const store = await DuckDbSloStore.open(path);
  t.after(() => store.close());
  assert.deepEqual(await store.rollupCoverage('acme'), new Map([['k', { fromMs: T0, toMs: T0 }]]));
  await store.putRollups('acme', [{ key: 'k', fromMs: T0 - DAY, rows: [] }], T0 + MIN);
  assert.deepEqual(await store.rollupCoverage('acme'), new Map([['k', { fromMs: T0 - DAY, toMs: T0 + MIN }]]));
});
