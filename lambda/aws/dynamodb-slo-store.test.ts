// DynamoSloStore against the DuckDB SloStore the local stack uses: the same operations on both,
// the same answers expected. DynamoDB is emulated at the SDK boundary (test/lib), paging two items
// at a time so every query follows LastEvaluatedKey.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sloStorePair } from '../../test/lib/slo-store-pair.ts';
import { hintedTransition, transition } from '../../test/lib/alert-fixtures.ts';
import type { AlertTransition } from '../notify/types.ts';
import type { AlertRecord, RollupBatch, SloStore } from '../slo/store.ts';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoSloStore, TTL_ATTRIBUTE } from './dynamodb-slo-store.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 23, 50); // ten minutes before midnight: ranges cross a day boundary

const stores = sloStorePair();
const { both } = stores;

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
  for (const s of [stores.duck, stores.dynamo]) {
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
  // The same transitions again (a retried run): not stored twice, so not returned for notifying.
  const version = async (s: SloStore, slo: string) => (await s.loadAlerts('acme')).find((a) => a.slo_id === slo)!.version;
  const again = await both(async (s) => s.saveAlerts('acme', [{ ...record('checkout:availability', 'page-1h-5m', 'resolved'), version: await version(s, 'checkout:availability') }], [t(2), t(4)]));
  assert.deepEqual(again.map((x) => x.id), ['checkout:availability@4']);
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
  await both(async (s) => s.saveAlerts('aws', [{ ...record(2), version: (await s.loadAlerts('aws'))[0].version }], []));
  assert.equal((await both((s) => s.loadAlerts('aws')))[0].hints, undefined);
});

test('claimEvaluation: granted only to a time later than every one claimed before', async () => {
  for (const s of [stores.duck, stores.dynamo]) {
    assert.deepEqual(await s.claimEvaluation('guarded', T0), { claimed: true });
    // The same minute again (a retry) and an older one (a late delivery): refused, saying why.
    assert.deepEqual(await s.claimEvaluation('guarded', T0), { claimed: false, lastEvaluatedMs: T0 });
    assert.deepEqual(await s.claimEvaluation('guarded', T0 - MIN), { claimed: false, lastEvaluatedMs: T0 });
    assert.deepEqual(await s.claimEvaluation('guarded', T0 + MIN), { claimed: true });
    assert.deepEqual(await s.claimEvaluation('other-tenant', T0 - DAY), { claimed: true });
  }
});

test('saveAlerts: a record derived from a revision no longer stored is refused with its transitions; each transition id is stored and returned once', async () => {
  const rule = 'page-1h-5m';
  const base: AlertRecord = {
    alert_id: `checkout:availability/${rule}#1`, slo_id: 'checkout:availability', service: 'checkout', rule, severity: 'page', state: 'pending',
    since_ms: T0, state_since_ms: T0, condition_since_ms: T0, episode: 1, updated_ms: T0,
    burn_rates: transition.evidence.burn_rates, budget_remaining: 0.5, evidence: transition.evidence,
  };
  const pending = { ...transition, id: `${base.alert_id}:pending`, from: null, to: 'pending' as const, at: new Date(T0).toISOString() };
  assert.deepEqual(await both((s) => s.saveAlerts('race', [base], [pending])), [pending]);
  // Two evaluations load the same revision; both find it firing (the same transition id, found at different times).
  const loaded = await both((s) => s.loadAlerts('race'));
  const firingAt = (ms: number) => ({ ...transition, id: `${base.alert_id}:firing`, at: new Date(ms).toISOString() });
  const derived = (ms: number): AlertRecord => ({ ...loaded[0], state: 'firing', state_since_ms: ms, updated_ms: ms });
  assert.deepEqual(await both((s) => s.saveAlerts('race', [derived(T0 + 2 * MIN)], [firingAt(T0 + 2 * MIN)])), [firingAt(T0 + 2 * MIN)]);
  assert.deepEqual(await both((s) => s.saveAlerts('race', [derived(T0 + MIN)], [firingAt(T0 + MIN)])), []);
  // The loser's record is not stored either: the first save's state stands.
  assert.deepEqual((await both((s) => s.loadAlerts('race'))).map((a) => [a.state, a.updated_ms]), [['firing', T0 + 2 * MIN]]);
  assert.deepEqual((await both((s) => s.listTransitions('race'))).map((x) => [x.id, x.at]), [
    [pending.id, pending.at],
    [`${base.alert_id}:firing`, new Date(T0 + 2 * MIN).toISOString()],
  ]);
  // A record from before versions were kept (no revision on the item) is still replaced by one derived from it.
  const legacyKey = JSON.stringify(['legacy', rule]);
  stores.emulator.items.set(JSON.stringify(['A#race', legacyKey]), { pk: 'A#race', sk: legacyKey, record: JSON.stringify({ ...base, slo_id: 'legacy' }), alert_id: base.alert_id });
  const [legacy] = (await stores.dynamo.loadAlerts('race')).filter((a) => a.slo_id === 'legacy');
  assert.equal(legacy.version, 0);
  await stores.dynamo.saveAlerts('race', [{ ...legacy, state: 'resolved' }], []);
  assert.equal((await stores.dynamo.loadAlerts('race')).find((a) => a.slo_id === 'legacy')!.state, 'resolved');
});

test('rollups: two writers of the same day chunk at once lose no update; a watermark never moves back', async () => {
  const key = 'race:availability';
  const rows = (from: number, n: number, good: number) => minutes(from, n, () => [good, 10, null]);
  // A backfill of the first half hour and the next run's last ten minutes, both in flight together.
  const backfill: RollupBatch = { key, fromMs: T0 - 60 * MIN, rows: rows(T0 - 60 * MIN, 30, 9) };
  const recent: RollupBatch = { key, fromMs: T0 - 10 * MIN, rows: rows(T0 - 10 * MIN, 10, 8) };
  const attempts = stores.emulator.mock.commandCalls(PutCommand).length;
  await Promise.all([stores.dynamo.putRollups('race', [backfill], T0 - 10 * MIN), stores.dynamo.putRollups('race', [recent], T0)]);
  await stores.duck.putRollups('race', [backfill], T0 - 10 * MIN);
  await stores.duck.putRollups('race', [recent], T0);
  const series = await both((s) => s.rollupSeries('race', key, T0 - DAY, T0, MIN));
  assert.equal(series.length, 40);
  assert.deepEqual(await both((s) => s.windowSums('race', [key], [T0 - DAY], T0)), new Map([[key, [{ good: 30 * 9 + 10 * 8, total: 400, effectiveThreshold: null }]]]));
  assert.deepEqual((await both((s) => s.rollupCoverage('race'))).get(key), { fromMs: T0 - 60 * MIN, toMs: T0 });
  // They did race: a chunk write was refused and made again from a fresh read (2 chunks + 2 watermarks otherwise).
  assert.ok(stores.emulator.mock.commandCalls(PutCommand).length - attempts > 4, 'the two writers did not overlap');
  // An evaluation at an older time finishing last: its rows are stored, the watermark stays.
  await both((s) => s.putRollups('race', [{ key, fromMs: T0 - 15 * MIN, rows: rows(T0 - 15 * MIN, 10, 7) }], T0 - 5 * MIN));
  assert.deepEqual((await both((s) => s.rollupCoverage('race'))).get(key), { fromMs: T0 - 60 * MIN, toMs: T0 });
  // A backfill from further back saving its first chunk, short of what was covered: coverage is
  // that chunk alone (the buckets between were never computed), so the next refresh resumes there.
  await both((s) => s.putRollups('race', [{ key, fromMs: T0 - 3 * DAY, rows: [] }], T0 - 2 * DAY));
  assert.deepEqual((await both((s) => s.rollupCoverage('race'))).get(key), { fromMs: T0 - 3 * DAY, toMs: T0 - 2 * DAY });
});

test('transitions carry a TTL (expires_at, epoch seconds, 90 days after they happened); expired ones are not read though DynamoDB still returns them', async () => {
  const at = (days: number) => new Date(T0 - days * DAY).toISOString();
  const old = { ...transition, id: 'ttl@old', at: at(100) };
  const young = { ...transition, id: 'ttl@young', at: at(10) };
  let nowMs = T0;
  const store = new DynamoSloStore({ tableName: 'burnwatch-slo', now: () => nowMs });
  assert.deepEqual(await store.saveAlerts('ttl', [], [old, young]), [old, young]);
  const stored = [...stores.emulator.items.values()].filter((i) => i.pk === 'T#ttl' || i.pk === 'U#ttl');
  assert.equal(stored.length, 4);
  for (const i of stored) {
    const t = i.pk === 'U#ttl' ? i.sk : String(i.sk).split('#').slice(1).join('#');
    assert.equal(i[TTL_ATTRIBUTE], Math.floor((Date.parse(t === old.id ? old.at : young.at) + 90 * DAY) / 1000), `${i.pk} ${i.sk}`);
  }
  // Not yet swept: DynamoDB would still return the expired item, the store must not.
  stores.emulator.ttlAttribute = TTL_ATTRIBUTE;
  assert.deepEqual((await store.listTransitions('ttl')).map((t) => t.id), ['ttl@young']);
  nowMs = T0 + 81 * DAY;
  assert.deepEqual(await store.listTransitions('ttl'), []);
  assert.equal(stores.emulator.sweepExpired(nowMs), 4);
  stores.emulator.ttlAttribute = undefined;
});
