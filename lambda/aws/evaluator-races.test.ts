// The scheduled evaluator when invocations do not arrive one at a time, in order: a delayed or
// retried run carrying an old time, and two runs overlapping (a slow minute and the next, as two
// Lambda containers). SLO state is the DynamoDB SloStore over the emulator (conditional writes
// and transactions as DynamoDB documents them); points are in a real DuckDB store, sent through
// the gateway as an agent sends them.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScheduledEvent } from 'aws-lambda';
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { scheduledEvent } from '../../test/lib/lambda-events.ts';
import { DURATION, expHistogramMetric, protobufBody, resourceMetrics } from '../../test/otlp-fixtures.ts';
import { createGatewayApp } from '../gateway/app.ts';
import type { AlertTransition, Notifier } from '../notify/types.ts';
import { SloEngine } from '../slo/engine.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import { DynamoSloStore } from './dynamodb-slo-store.ts';
import { createEvaluateHandler, engineCycle, type EvaluationSummary } from './evaluator.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 12, 0);
const TENANT = 'acme';
const KEY = 'evaluator-races-key-0001';
const FAST = bucketIndexForSeconds(0.01, 5);
const SLOW = bucketIndexForSeconds(2, 5);

class RecordingNotifier implements Notifier {
  readonly name = 'recording';
  readonly sent: AlertTransition[] = [];
  async notify(t: AlertTransition): Promise<void> {
    this.sent.push(t);
  }
}

describe('evaluator runs out of order and overlapping (SLO state on DynamoDB, emulated)', () => {
  let metricStore: DuckDbStore;
  let emulator: DynamoDbEmulator;
  const tables = ['slo-serial', 'slo-late', 'slo-overlap'];

  before(async () => {
    emulator = new DynamoDbEmulator(tables[0], ...tables.slice(1));
    metricStore = await DuckDbStore.open({ path: ':memory:' });
    // An hour of checkout traffic, 20% of it failing from minute 30 on: the page rules fire.
    let clock = T0;
    const app = createGatewayApp({ store: metricStore, apiKeys: { [KEY]: TENANT }, now: () => clock, log: () => undefined });
    for (let m = 0; m < 63; m++) {
      const endMs = T0 + m * MIN + 30_000;
      clock = endMs;
      const bad = m >= 30 ? 20 : 0;
      const points = [
        { endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [FAST]: 100 - bad } },
        ...(bad > 0 ? [{ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 503 }, scale: 5, buckets: { [SLOW]: bad } }] : []),
      ];
      const res = await app.request('/v1/metrics', {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' },
        body: Buffer.from(protobufBody(resourceMetrics({ 'service.name': 'checkout' }, [expHistogramMetric(DURATION, points)]))),
      });
      assert.equal(res.status, 200, await res.text());
    }
  });

  /** One evaluator function instance (a Lambda container) over one SLO table. */
  const evaluator = (tableName: string) => {
    const notifier = new RecordingNotifier();
    const logs: string[] = [];
    const sloStore = new DynamoSloStore({ tableName });
    const handler = createEvaluateHandler({
      tenants: async () => [TENANT],
      cycle: engineCycle({ metricStore, sloStore, notifiers: [notifier], hints: 'deferred', log: (l) => logs.push(l) }),
      namespace: 'Burnwatch/test',
      stage: 'test',
      emit: () => undefined,
      log: (l) => logs.push(l),
    });
    const run = (atMs: number): Promise<EvaluationSummary> => handler(scheduledEvent(new Date(atMs).toISOString()) as ScheduledEvent);
    return { run, notifier, logs, sloStore };
  };

  const itemsOf = (table: string, prefix: string) =>
    [...emulator.itemsOf(table).values()].filter((i) => i.pk.startsWith(prefix)).sort((a, b) => (a.pk + a.sk < b.pk + b.sk ? -1 : 1));
  /** What a table holds for the tenant, without the revision counters (they count writes, not state). */
  const state = (table: string) => ({
    rollups: itemsOf(table, `R#${TENANT}#`).map((i) => [i.pk, i.sk, JSON.parse(String(i.rows))]),
    watermarks: itemsOf(table, `W#${TENANT}`).map((i) => [i.sk, i.covered_from_ms, i.done_to_ms]),
    alerts: itemsOf(table, `A#${TENANT}`).map((i) => [i.sk, JSON.parse(String(i.record)).state, JSON.parse(String(i.record)).alert_id]),
    transitions: itemsOf(table, `U#${TENANT}`).map((i) => i.sk),
  });

  test('serial baseline: the page fires, one notification per transition', async () => {
    const serial = evaluator('slo-serial');
    for (const m of [60, 61]) assert.deepEqual((await serial.run(T0 + m * MIN)).failed, []);
    // What one steady-state run asks of DynamoDB (the cost of the guards: reads before writes, transactions).
    const kinds = [GetCommand, PutCommand, UpdateCommand, DeleteCommand, QueryCommand, TransactWriteCommand] as const;
    const calls = () => kinds.map((k) => emulator.mock.commandCalls(k as never).length);
    const before = calls();
    // Pages as large as DynamoDB's (1 MB) rather than the emulator's two items, for a real count.
    emulator.pageSize = 1000;
    const summary = await serial.run(T0 + 62 * MIN).finally(() => (emulator.pageSize = 2));
    const per = calls().map((n, i) => n - before[i]);
    console.log(`evaluator, steady state: ${per.reduce((a, b) => a + b)} DynamoDB requests per run per tenant for ${summary.slos} SLOs (${kinds.map((k, i) => `${k.name.replace('Command', '')} ${per[i]}`).join(', ')})`);
    const ids = serial.notifier.sent.map((t) => t.id);
    assert.ok(ids.some((id) => id.endsWith(':firing')), `no firing transition among ${ids.join(', ')}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('a delayed run carrying an older time than one already evaluated does nothing and says so', async () => {
    const fn = evaluator('slo-late');
    await fn.run(T0 + 60 * MIN);
    await fn.run(T0 + 62 * MIN);
    const before = structuredClone(emulator.itemsOf('slo-late'));
    const sent = fn.notifier.sent.length;
    // The minute-61 invocation arrives late (Lambda's async queue), then a retry of minute 62.
    for (const m of [61, 62]) {
      const summary = await fn.run(T0 + m * MIN);
      assert.deepEqual(
        { tenants: summary.tenants, slos: summary.slos, transitions: summary.transitions, skipped: summary.skipped },
        { tenants: 1, slos: 0, transitions: 0, skipped: [{ tenant: TENANT, already_evaluated_at: new Date(T0 + 62 * MIN).toISOString() }] },
      );
      assert.ok(fn.logs.some((l) => l.includes(`tenant ${TENANT} skipped at ${new Date(T0 + m * MIN).toISOString()}: already evaluated at ${new Date(T0 + 62 * MIN).toISOString()}`)), fn.logs.join('\n'));
    }
    // Nothing moved: not the watermark, not an alert state, nothing notified.
    assert.deepEqual(emulator.itemsOf('slo-late'), before);
    assert.equal(fn.notifier.sent.length, sent);
    assert.deepEqual(state('slo-late'), state('slo-serial'));
  });

  test('two evaluations overlapping: no rollup update lost, every transition stored and notified exactly once', async () => {
    const a = evaluator('slo-overlap');
    const b = evaluator('slo-overlap');
    // Minute 60 is slow and still running when minute 61 starts in another container: with a few
    // milliseconds a request, their reads and writes interleave as over the network.
    emulator.latencyMs = 3;
    const [first, second] = await Promise.all([a.run(T0 + 60 * MIN), b.run(T0 + 61 * MIN)]).finally(() => (emulator.latencyMs = 0));
    assert.deepEqual([first.failed, second.failed, first.skipped, second.skipped], [[], [], [], []]);
    // Both stepped alerts from the same stored state; only one of them could store each change.
    assert.ok([...a.logs, ...b.logs].some((l) => /transition\(s\) not notified, already stored or their alert changed by another evaluation/.test(l)), [...a.logs, ...b.logs].join('\n'));
    await a.run(T0 + 62 * MIN);
    const sent = [...a.notifier.sent, ...b.notifier.sent].map((t) => t.id);
    const serialIds = new Set(evaluatorIds('slo-serial'));
    assert.deepEqual([...sent].sort(), [...serialIds].sort(), `notified: ${sent.join(', ')}`);
    assert.deepEqual(state('slo-overlap'), state('slo-serial'));
  });

  test('a run that passed the guard but finds alert states stepped by a later run does not step them back', async () => {
    // As when minute 61 claimed before minute 62, but was slow enough to read the alerts after 62 stored them.
    const logs: string[] = [];
    const engine = new SloEngine({ metricStore, sloStore: new DynamoSloStore({ tableName: 'slo-serial' }), notifiers: [new RecordingNotifier()], log: (l) => logs.push(l) });
    const alertsBefore = structuredClone(itemsOf('slo-serial', `A#${TENANT}`));
    const result = await engine.cycle(TENANT, T0 + 61 * MIN);
    assert.deepEqual(result.transitions, []);
    assert.deepEqual(itemsOf('slo-serial', `A#${TENANT}`), alertsBefore);
    assert.ok(logs.some((l) => l.includes(`alerts not stepped at ${new Date(T0 + 61 * MIN).toISOString()}: an evaluation at ${new Date(T0 + 62 * MIN).toISOString()} already stepped them`)), logs.join('\n'));
  });

  const evaluatorIds = (table: string) => itemsOf(table, `U#${TENANT}`).map((i) => i.sk);
});
