// Requests of unknown latency (histogram buckets that cannot answer the threshold) are stored with
// the rollups and summed over windows the same way by both SloStores; DuckDB files written before
// the columns existed open and answer as before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { tempDir } from '../../test/lib/processes.ts';
import { DynamoSloStore } from '../aws/dynamodb-slo-store.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import type { RollupRow, SloStore } from './store.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 22, 0); // two hours before midnight: hourly sums and a day boundary
const REASON = 'the bucket (0, 5] holds values and straddles the threshold 0.3';

// Three hours of minutes: 100 requests each; from 23:00 on, every 10th minute also has 5 of unknown latency.
const rows: RollupRow[] = Array.from({ length: 180 }, (_, i) => {
  const row: RollupRow = { bucketMs: T0 + i * MIN, good: 99, total: 100, effectiveThreshold: 0.25 };
  return i >= 60 && i % 10 === 0 ? { ...row, unknown: 5, unknownReason: REASON } : row;
});

async function sums(store: SloStore) {
  await store.putRollups('acme', [{ key: 'k', fromMs: T0, rows }], T0 + 3 * HOUR);
  // Windows: all three hours (hourly rows), the last 90 minutes (a partial hour), the first hour only.
  const windows = await store.windowSums('acme', ['k'], [T0, T0 + 90 * MIN, T0 + 2 * HOUR + 55 * MIN], T0 + 3 * HOUR);
  const firstHour = await store.windowSums('acme', ['k'], [T0], T0 + HOUR);
  return { windows: windows.get('k'), firstHour: firstHour.get('k') };
}

test('unknown counts and their reason are summed over windows alike by the DuckDB and DynamoDB stores', async () => {
  const duck = await DuckDbSloStore.open(':memory:');
  const emulator = new DynamoDbEmulator('burnwatch-slo');
  try {
    const expected = {
      windows: [
        { good: 180 * 99, total: 180 * 100, effectiveThreshold: 0.25, unknown: 12 * 5, unknownReason: REASON },
        { good: 90 * 99, total: 90 * 100, effectiveThreshold: 0.25, unknown: 9 * 5, unknownReason: REASON },
        { good: 5 * 99, total: 5 * 100, effectiveThreshold: 0.25 },
      ],
      firstHour: [{ good: 60 * 99, total: 60 * 100, effectiveThreshold: 0.25 }],
    };
    assert.deepEqual(await sums(duck), expected);
    assert.deepEqual(await sums(new DynamoSloStore({ tableName: 'burnwatch-slo' })), expected);
  } finally {
    emulator.restore();
    await duck.close();
  }
});

test('a DuckDB SLO file from before the unknown columns opens, keeps its rollups and stores new ones', async () => {
  const path = join(tempDir('bw-slo-migrate'), 'slo.duckdb');
  const instance = await DuckDBInstance.create(path);
  const conn = await instance.connect();
  for (const table of ['slo_rollups (tenant VARCHAR NOT NULL, sli_key VARCHAR NOT NULL, bucket_ms BIGINT NOT NULL', 'slo_rollups_hourly (tenant VARCHAR NOT NULL, sli_key VARCHAR NOT NULL, hour_ms BIGINT NOT NULL']) {
    await conn.run(`CREATE TABLE ${table}, good DOUBLE NOT NULL, total DOUBLE NOT NULL, effective_threshold DOUBLE)`);
  }
  await conn.run(`INSERT INTO slo_rollups VALUES ('acme', 'k', ${T0}, 90, 100, 0.25)`);
  conn.closeSync();
  instance.closeSync();

  const store = await DuckDbSloStore.open(path);
  try {
    assert.deepEqual((await store.windowSums('acme', ['k'], [T0], T0 + MIN)).get('k'), [{ good: 90, total: 100, effectiveThreshold: 0.25 }]);
    await store.putRollups('acme', [{ key: 'k', fromMs: T0 + MIN, rows: [{ bucketMs: T0 + MIN, good: 0, total: 0, effectiveThreshold: null, unknown: 7, unknownReason: REASON }] }], T0 + 2 * MIN);
    assert.deepEqual((await store.windowSums('acme', ['k'], [T0], T0 + 2 * MIN)).get('k'), [{ good: 90, total: 100, effectiveThreshold: 0.25, unknown: 7, unknownReason: REASON }]);
  } finally {
    await store.close();
  }
});
