// A young SLO reads as young: minutes of data in a 30-day window come with "12 min of 30 d"
// (window_seen_seconds from the oldest rollup with requests) in /v1/slos, `slo status` and the
// live table of `burnwatch up` — rather than a bare budget figure that reads as a 30-day one.
// The same first-bucket answer from the DuckDB and DynamoDB SLO stores.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSlo } from '../../cli/slo.ts';
import { renderTable } from '../../cli/table.ts';
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { seenNote } from '../../common/window-seen.ts';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { DURATION, GatewayClient, expHistogramMetric, protobufBody, resourceMetrics } from '../../test/otlp-fixtures.ts';
import { DynamoSloStore } from '../aws/dynamodb-slo-store.ts';
import { startGateway } from '../local/server.ts';
import { serviceTable } from '../query/service-table.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import type { SloReport } from './engine.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 9, 0);
const TENANT = 'acme';
const KEY = 'window-seen-key-000001';
const FAST = bucketIndexForSeconds(0.01, 5);

test('seenNote: a short share of the window is spelled out; most of it is not', () => {
  assert.equal(seenNote(720, '30d'), '12 min of 30 d');
  assert.equal(seenNote(5400, '7d'), '1.5 h of 7 d');
  assert.equal(seenNote(45, '1h'), '45 s of 1 h');
  assert.equal(seenNote(29 * 86_400, '30d'), undefined);
  assert.equal(seenNote(null, '30d'), undefined);
  assert.equal(seenNote(60, 'month'), undefined, 'a calendar window has no fixed length to compare with');
});

test('12 minutes of data with 1% errors: /v1/slos, slo status and the live table say "12 min of 30 d"', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-window-seen-'));
  let clock = T0;
  const gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: TENANT }, now: () => clock, log: () => undefined, slo: { log: () => undefined } });
  t.after(async () => {
    await gw.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const client = new GatewayClient(gw.url, KEY);
  for (let m = 0; m < 12; m++) {
    const endMs = T0 + m * MIN + 40_000;
    clock = endMs;
    const metric = expHistogramMetric(DURATION, [
      { endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [FAST]: 99 } },
      { endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 503 }, scale: 5, buckets: { [FAST]: 1 } },
    ]);
    const res = await client.postMetrics(protobufBody(resourceMetrics({ 'service.name': 'young' }, [metric])));
    assert.equal(res.status, 200, await res.text());
  }
  clock = T0 + 12 * MIN;
  await gw.slo.cycle(TENANT, clock);
  const res = await fetch(`${gw.url}/v1/slos?service=young`, { headers: { authorization: `Bearer ${KEY}` } });
  const { slos } = (await res.json()) as { slos: SloReport[] };
  const availability = slos.find((s) => s.kind === 'availability')!;
  assert.equal(availability.window, '30d');
  assert.equal(availability.window_seen_seconds, 12 * 60, 'from the first minute with requests to now');
  assert.ok(availability.budget_remaining! < -5, `1% errors against a 0.1% budget: ${availability.budget_remaining}`);

  const lines: string[] = [];
  const log = console.log;
  const saved = process.env.BURNWATCH_API_KEY;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  process.env.BURNWATCH_API_KEY = KEY;
  try {
    assert.equal(await runSlo(['status', 'young', '--endpoint', gw.url]), 0);
  } finally {
    console.log = log;
    if (saved === undefined) delete process.env.BURNWATCH_API_KEY;
    else process.env.BURNWATCH_API_KEY = saved;
  }
  const row = lines.join('\n').split('\n').find((l) => l.startsWith('young:availability'))!;
  assert.match(row, /-\d+\.\d% \(-?\d+ req; 12 min of 30 d seen\)/, row);

  const rows = await serviceTable(gw.store, { tenant: TENANT, nowMs: clock, slos });
  assert.match(renderTable(rows), /young .* \(availability; 12 min of 30 d seen\)/);
});

let emulator: DynamoDbEmulator;
before(() => {
  emulator = new DynamoDbEmulator('burnwatch-slo-seen');
});
after(() => emulator.restore());

test('firstBucketWithData: the first bucket with requests per key, the same from DuckDB and DynamoDB', async () => {
  const duck = await DuckDbSloStore.open(':memory:');
  const dynamo = new DynamoSloStore({ tableName: 'burnwatch-slo-seen' });
  const day = 86_400_000;
  const rows = (from: number, n: number, total: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ bucketMs: from + i * MIN, good: total(i), total: total(i), effectiveThreshold: null }));
  // Key a: empty buckets first (backfilled rollups count nothing), requests from 23:58 on, across midnight.
  const aFrom = T0 - 2 * day + 23 * 60 * MIN;
  const batches = [
    { key: 'a', fromMs: aFrom, rows: rows(aFrom, 120, (i) => (i >= 58 ? 10 : 0)) },
    { key: 'b', fromMs: T0 - 10 * MIN, rows: rows(T0 - 10 * MIN, 10, () => 0) },
  ];
  try {
    for (const store of [duck, dynamo]) {
      await store.putRollups(TENANT, batches, T0);
      const first = await store.firstBucketWithData(TENANT, ['a', 'b', 'c'], T0 - 3 * day, T0);
      assert.deepEqual([...first.entries()], [['a', aFrom + 58 * MIN]], store.constructor.name);
      const later = await store.firstBucketWithData(TENANT, ['a'], aFrom + 90 * MIN, T0);
      assert.deepEqual([...later.entries()], [['a', aFrom + 90 * MIN]], `${store.constructor.name}: only buckets from fromMs count`);
    }
  } finally {
    await duck.close();
  }
});
