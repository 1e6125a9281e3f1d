// Probe requests on the DynamoDB SloStore (the AWS gateway's) answer as on DuckDB (the local
// stack's): replaced per service, ended ones skipped even before TTL deletes them, tenants apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sloStorePair } from '../../test/lib/slo-store-pair.ts';
import { TTL_ATTRIBUTE } from './dynamodb-slo-store.ts';

const T0 = Date.UTC(2026, 10, 30, 12, 0);
const stores = sloStorePair();
const { both } = stores;

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
  await stores.dynamo.putProbeRequest('ttl', { service: 'checkout', requested_ms: T0, until_ms: T0 + 90_500 });
  const item = [...stores.emulator.itemsOf('burnwatch-slo').values()].find((i) => i.pk === 'P#ttl' && i.sk === 'checkout');
  assert.ok(item);
  assert.equal(item[TTL_ATTRIBUTE], Math.ceil((T0 + 90_500) / 1000));
});
