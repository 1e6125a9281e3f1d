// Probe requests on the DynamoDB SloStore (the AWS gateway's) answer as on DuckDB (the local
// stack's): replaced per service, ended ones skipped even before TTL deletes them, tenants apart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { DuckDbSloStore } from '../slo/duckdb-store.ts';
import type { SloStore } from '../slo/store.ts';
import { DynamoSloStore, TTL_ATTRIBUTE } from './dynamodb-slo-store.ts';

const T0 = Date.UTC(2026, 10, 30, 12, 0);
let emulator: DynamoDbEmulator;
let dynamo: DynamoSloStore;
let duck: DuckDbSloStore;

before(async () => {
  emulator = new DynamoDbEmulator('burnwatch-slo');
  dynamo = new DynamoSloStore({ tableName: 'burnwatch-slo' });
  duck = await DuckDbSloStore.open(':memory:');
});

after(async () => {
  emulator.restore();
  await duck.close();
});

async function both<T>(fn: (s: SloStore) => Promise<T>): Promise<T> {
  const a = await fn(duck);
  const b = await fn(dynamo);
  assert.deepEqual(b, a);
  return b;
}

test('probe requests: the latest per service, only while they run, per tenant', async () => {
  await both((s) => s.putProbeRequest('acme', { service: 'checkout', requested_ms: T0, until_ms: T0 + 600_000 }));
  await both((s) => s.putProbeRequest('acme', { service: 'search', requested_ms: T0, until_ms: T0 + 60_000 }));
  await both((s) => s.putProbeRequest('other', { service: 'checkout', requested_ms: T0, until_ms: T0 + 60_000 }));
  assert.deepEqual(await both((s) => s.listProbeRequests('acme', T0 + 1)), [
    { service: 'checkout', requested_ms: T0, until_ms: T0 + 600_000 },
    { service: 'search', requested_ms: T0, until_ms: T0 + 60_000 },
  ]);
  // search has ended (DynamoDB may still hold it: TTL deletion lags) and checkout is asked again for longer.
  await both((s) => s.putProbeRequest('acme', { service: 'checkout', requested_ms: T0 + 120_000, until_ms: T0 + 1_800_000 }));
  assert.deepEqual(await both((s) => s.listProbeRequests('acme', T0 + 60_000)), [{ service: 'checkout', requested_ms: T0 + 120_000, until_ms: T0 + 1_800_000 }]);
  // Withdrawn: until now.
  await both((s) => s.putProbeRequest('acme', { service: 'checkout', requested_ms: T0 + 200_000, until_ms: T0 + 200_000 }));
  assert.deepEqual(await both((s) => s.listProbeRequests('acme', T0 + 200_000)), []);
  assert.deepEqual(await both((s) => s.listProbeRequests('other', T0 + 1)), [{ service: 'checkout', requested_ms: T0, until_ms: T0 + 60_000 }]);
});

test('a probe request item carries the TTL attribute at its end, so DynamoDB deletes it', async () => {
  await dynamo.putProbeRequest('ttl', { service: 'checkout', requested_ms: T0, until_ms: T0 + 90_500 });
  const item = [...emulator.itemsOf('burnwatch-slo').values()].find((i) => i.pk === 'P#ttl' && i.sk === 'checkout');
  assert.ok(item);
  assert.equal(item[TTL_ATTRIBUTE], Math.ceil((T0 + 90_500) / 1000));
});
