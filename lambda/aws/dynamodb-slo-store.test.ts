// DynamoSloStore against the DuckDB SloStore the local stack uses: the same operations on both,
// the same answers expected. DynamoDB is emulated at the SDK boundary (test/lib), paging two items
// at a time so every query follows LastEvaluatedKey.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { hintedTransition, transition } from '../../test/lib/alert-fixtures.ts';
import { DuckDbSloStore } from '../slo/duckdb-store.ts';
import type { AlertTransition } from '../notify/types.ts';
import type { AlertRecord, RollupBatch, SloStore } from '../slo/store.ts';
import { DynamoSloStore } from './dynamodb-slo-store.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 23, 50); // ten minutes before midnight: ranges cross a day boundary

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

function minutes(from: number, n: number, f: (i: number) => [good: number, total: number, eff: number | null]) {
  return Array.from({ length: n }, (_, i) => {
    const [good, total, effectiveThreshold] = f(i);
    return { bucketMs: from + i * MIN, good, total, effectiveThreshold };
  });
}

test('rollups: ranges replaced across day boundaries, window sums, series, watermarks and pruning answer as DuckDB does', async () => {
  const first: RollupBatch[] = [
    { key: 'checkout:availability', fromMs: T0, rows: minutes(T0, 30, (i) => [100 - (i % 3), 100, null]) },
    { key: 'checkout:latency', fromMs: T0, rows: minutes(T0, 30, (i) => [90 + (i % 5), 100, i % 2 ? 0.2973 : 0.2]) },
  ];
  await both((s) => s.putRollups('acme', first, T0 + 30 * MIN));
  // Late data: the last 10 minutes are recomputed (and one minute no longer has requests).
  const late: RollupBatch[] = [{ key: 'checkout:availability', fromMs: T0 + 20 * MIN, rows: minutes(T0 + 20 * MIN, 12, (i) => (i === 3 ? [0, 0, null] : [50, 60, null])).filter((r) => r.total > 0) }];
  await both((s) => s.putRollups('acme', late, T0 + 32 * MIN));
  await both((s) => s.putRollups('other', [{ key: 'checkout:availability', fromMs: T0, rows: minutes(T0, 5, () => [1, 1, null]) }], T0 + 5 * MIN));

  // Coverage: from the earliest start any batch replaced, up to the last run.
  const coverage = await both((s) => s.rollupCoverage('acme'));
  assert.deepEqual(coverage, new Map([['checkout:availability', { fromMs: T0, toMs: T0 + 32 * MIN }], ['checkout:latency', { fromMs: T0, toMs: T0 + 30 * MIN }]]));
  const sums = await both((s) => s.windowSums('acme', ['checkout:availability', 'checkout:latency', 'nothing'], [T0 - DAY, T0 + 5 * MIN, T0 + 25 * MIN], T0 + 32 * MIN));
  assert.equal(sums.size, 2);
  assert.ok((sums.get('checkout:latency')![0].effectiveThreshold ?? 0) === 0.2);
  await both((s) => s.windowSums('acme', ['checkout:latency'], [T0 + 31 * MIN], T0 + 40 * MIN));
  const series = await both((s) => s.rollupSeries('acme', 'checkout:availability', T0 - 3 * MIN, T0 + 40 * MIN, 7 * MIN));
  assert.ok(series.length >= 4);
  await both((s) => s.rollupSeries('acme', 'checkout:availability', T0 + 40 * MIN, T0 + 50 * MIN, MIN));

  await both((s) => s.pruneRollups('acme', T0 + 15 * MIN));
  // What was pruned is no longer covered; a backfill reaching further back widens coverage again.
  assert.deepEqual((await both((s) => s.rollupCoverage('acme'))).get('checkout:availability'), { fromMs: T0 + 15 * MIN, toMs: T0 + 32 * MIN });
  await both((s) => s.putRollups('acme', [{ key: 'checkout:availability', fromMs: T0 - 60 * MIN, rows: minutes(T0 - 60 * MIN, 2, () => [7, 7, null]) }], T0 + 33 * MIN));
  assert.deepEqual((await both((s) => s.rollupCoverage('acme'))).get('checkout:availability'), { fromMs: T0 - 60 * MIN, toMs: T0 + 33 * MIN });
  // The last bucket with requests, per key, within a range.
  const last = await both((s) => s.lastBucketWithData('acme', ['checkout:availability', 'checkout:latency', 'nothing'], T0 - DAY, T0 + 33 * MIN));
  assert.deepEqual(last, new Map([['checkout:availability', T0 - 59 * MIN], ['checkout:latency', T0 + 29 * MIN]]));
  assert.deepEqual(await both((s) => s.lastBucketWithData('acme', ['checkout:latency'], T0 - DAY, T0 + 25 * MIN)), new Map([['checkout:latency', T0 + 24 * MIN]]));
  assert.deepEqual(await both((s) => s.lastBucketWithData('acme', ['checkout:latency'], T0 + 30 * MIN, T0 + 40 * MIN)), new Map());
  await both((s) => s.windowSums('acme', ['checkout:availability', 'checkout:latency'], [T0 - DAY], T0 + 40 * MIN));
  await both((s) => s.rollupSeries('other', 'checkout:availability', T0, T0 + 10 * MIN, MIN));
});

test('dirty marks: one per bucket, replaced by a new mark; clearing skips marks made again since they were read', async () => {
  for (const s of [duck, dynamo]) {
    await s.markDirty('acme', T0);
    await s.markDirty('acme', T0 - 5 * MIN);
    await s.markDirty('other', T0);
    const read = await s.dirtyMarks('acme');
    assert.deepEqual(read.map((m) => m.bucketMs), [T0 - 5 * MIN, T0]);
    await s.markDirty('acme', T0); // late points again while a refresh runs
    await s.clearDirty('acme', read);
    const left = await s.dirtyMarks('acme');
    assert.deepEqual(left.map((m) => m.bucketMs), [T0]);
    assert.notEqual(left[0].token, read[1].token);
    await s.clearDirty('acme', left);
    assert.deepEqual(await s.dirtyMarks('acme'), []);
    assert.deepEqual((await s.dirtyMarks('other')).map((m) => m.bucketMs), [T0]);
  }
});

test('alerts, transitions (stored once each) and specs answer as DuckDB does', async () => {
  const record = (slo: string, rule: string, state: AlertRecord['state']): AlertRecord => ({
    alert_id: `${slo}/${rule}#1`, slo_id: slo, service: 'checkout', rule, severity: 'page', state,
    since_ms: T0, state_since_ms: T0, condition_since_ms: T0, episode: 1, updated_ms: T0,
    burn_rates: transition.evidence.burn_rates, budget_remaining: 0.5, evidence: transition.evidence,
  });
  const t = (n: number, slo = 'checkout:availability') => ({ ...transition, slo_id: slo, id: `${slo}@${n}`, at: new Date(T0 + n * MIN).toISOString() });
  await both((s) => s.saveAlerts('acme', [record('checkout:latency', 'page-1h-5m', 'pending'), record('checkout:availability', 'page-1h-5m', 'firing')], [t(1), t(2), t(3, 'checkout:latency')]));
  // The same transitions again (a retried run): not stored twice.
  await both((s) => s.saveAlerts('acme', [record('checkout:availability', 'page-1h-5m', 'resolved')], [t(2), t(4)]));
  const alerts = await both((s) => s.loadAlerts('acme'));
  assert.deepEqual(alerts.map((a) => [a.slo_id, a.state]), [['checkout:availability', 'resolved'], ['checkout:latency', 'pending']]);
  const all = await both((s) => s.listTransitions('acme'));
  assert.deepEqual(all.map((x) => x.id), ['checkout:availability@1', 'checkout:availability@2', 'checkout:latency@3', 'checkout:availability@4']);
  await both((s) => s.listTransitions('acme', { sloId: 'checkout:availability', limit: 2 }));
  await both((s) => s.listTransitions('other'));

  await both((s) => s.putSpec('acme', { id: 'b', text: 'kind: SLO', updated_ms: 2 }));
  await both((s) => s.putSpec('acme', { id: 'a', text: 'kind: SLO\n', updated_ms: 1 }));
  await both((s) => s.putSpec('acme', { id: 'a', text: 'kind: SLO # edited', updated_ms: 3 }));
  assert.equal(await both((s) => s.deleteSpec('acme', 'b')), true);
  assert.equal(await both((s) => s.deleteSpec('acme', 'b')), false);
  assert.deepEqual(await both((s) => s.listSpecs('acme')), [{ id: 'a', text: 'kind: SLO # edited', updated_ms: 3 }]);
});

test('hints round-trip: stored with a record and a transition, attached later to both, kept by a concurrent save, not carried into the next episode', async () => {
  const rule = 'page-6h-30m';
  const ev = { ...transition.evidence, rule };
  const record = (episode: number, extra: Partial<AlertRecord> = {}): AlertRecord => ({
    alert_id: `checkout:latency/${rule}#${episode}`, slo_id: 'checkout:latency', service: 'checkout', rule, severity: 'page', state: 'firing',
    since_ms: T0, state_since_ms: T0, condition_since_ms: T0, episode, updated_ms: T0,
    burn_rates: ev.burn_rates, budget_remaining: 0.5, evidence: ev, ...extra,
  });
  const firing = { ...hintedTransition, slo_id: 'checkout:latency', alert_id: `checkout:latency/${rule}#1`, id: `checkout:latency/${rule}#1:firing`, evidence: ev };
  // As the local engine stores them: on the record and the transition at once.
  await both((s) => s.saveAlerts('hinted', [record(1, { hints: firing.hints, hints_meta: firing.hints_meta })], [firing]));
  assert.deepEqual((await both((s) => s.loadAlerts('hinted')))[0].hints, hintedTransition.hints);
  assert.deepEqual((await both((s) => s.listTransitions('hinted')))[0], firing);

  // As on AWS: stored pending, the evaluator's next save racing the hints function's attach.
  const pending: AlertTransition = { ...firing, tenant: 'aws', hints_meta: { status: 'pending', from: 1, to: 2 } };
  delete pending.hints;
  await both((s) => s.saveAlerts('aws', [record(1, { hints_meta: pending.hints_meta })], [pending]));
  const loaded = await both((s) => s.loadAlerts('aws'));
  const attached = { ...pending, hints: hintedTransition.hints, hints_meta: { ...hintedTransition.hints_meta!, from: 1, to: 2 } };
  assert.equal(await both((s) => s.attachHints('aws', attached)), true);
  await both((s) => s.saveAlerts('aws', loaded.map((r) => ({ ...r, updated_ms: T0 + MIN })), []));
  const after = (await both((s) => s.loadAlerts('aws')))[0];
  assert.deepEqual([after.updated_ms, after.hints, after.hints_meta], [T0 + MIN, attached.hints, attached.hints_meta]);
  assert.deepEqual((await both((s) => s.listTransitions('aws')))[0], attached);
  // A transition that was never stored gets nothing; the next episode starts without the last one's hints.
  assert.equal(await both((s) => s.attachHints('aws', { ...attached, id: 'x', at: new Date(T0).toISOString() })), false);
  await both((s) => s.saveAlerts('aws', [record(2)], []));
  assert.equal((await both((s) => s.loadAlerts('aws')))[0].hints, undefined);
});
