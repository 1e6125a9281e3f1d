// What the local SLO store keeps on disk, beyond what the SloStore contract tests (run on it and
// on DynamoDB in lambda/aws/dynamodb-slo-store.test.ts) can see through the interface.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { hintedTransition } from '../../test/lib/alert-fixtures.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import type { AlertRecord } from './store.ts';

const T0 = Date.UTC(2026, 10, 23, 14, 0);

function record(episode: number, version?: number): AlertRecord {
  const ev = hintedTransition.evidence;
  return {
    alert_id: `${hintedTransition.slo_id}/${ev.rule}#${episode}`, slo_id: hintedTransition.slo_id, service: 'checkout', rule: ev.rule,
    severity: 'page', state: 'firing', since_ms: T0, state_since_ms: T0, condition_since_ms: T0, episode, updated_ms: T0 + episode,
    burn_rates: ev.burn_rates, budget_remaining: 0.5, evidence: ev, ...(version === undefined ? {} : { version }),
  };
}

test('hints attached to an alert episode are dropped from disk once the record has moved to the next episode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-slo-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'slo.duckdb');
  const store = await DuckDbSloStore.open(path);
  const first = record(1);
  const firing = { ...hintedTransition, alert_id: first.alert_id, id: `${first.alert_id}:firing` };
  await store.saveAlerts('acme', [first], [firing]);
  assert.equal(await store.attachHints('acme', firing), true);
  assert.deepEqual((await store.loadAlerts('acme'))[0].hints, hintedTransition.hints);
  await store.saveAlerts('acme', [record(2, (await store.loadAlerts('acme'))[0].version!)], []);
  const [next] = await store.loadAlerts('acme');
  assert.equal(next.episode, 2);
  assert.equal(next.hints, undefined);
  // The ended episode's hints stay on its transition, where /v1/alerts/events reads them.
  assert.deepEqual((await store.listTransitions('acme'))[0].hints, hintedTransition.hints);
  await store.close();

  const instance = await DuckDBInstance.create(path);
  const conn = await instance.connect();
  try {
    const rows = (await conn.runAndReadAll('SELECT alert_id FROM slo_alert_hints')).getRowObjects();
    assert.deepEqual(rows, []);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
});
