// Alerts that fire get their root-cause hints (issue 15 §4): the SLO engine over real DuckDB
// stores and an injected clock, fed what the agent exports (lambda/hints/testkit.ts) — a
// frontend calling a backend whose Redis turns slow. The hints are computed as the alert fires,
// stored with the transition and notified with it, and GET /v1/alerts still shows them after
// the data has moved on. A hints computation that fails or hangs never holds the alert back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayApp } from '../gateway/app.ts';
import { conditions, healthy, INTERVAL_MS, writeWorld, type Topology } from '../hints/testkit.ts';
import type { AlertTransition, Notifier } from '../notify/types.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import type { MetricStore } from '../storage/types.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import { SloEngine, type SloEngineOptions } from './engine.ts';

const MIN = 60_000;
const TENANT = 'acme';
const KEY = 'alert-hints-key-0123456789';
const END = Math.floor(Date.now() / MIN) * MIN - 10 * MIN;
const FAULT_AT = END - 7 * MIN;

class Collect implements Notifier {
  readonly name = 'collect';
  readonly seen: AlertTransition[] = [];
  async notify(t: AlertTransition): Promise<void> {
    this.seen.push(structuredClone(t));
  }
}

/** 25 minutes of the topology up to END, `fault` applied from FAULT_AT on. */
async function world(t: import('node:test').TestContext, fault: (t: Topology) => void) {
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  const sloStore = await DuckDbSloStore.open(':memory:');
  t.after(async () => {
    await sloStore.close();
    await metricStore.close();
  });
  await writeWorld(metricStore, TENANT, {
    endMs: END,
    intervals: (25 * MIN) / INTERVAL_MS,
    at: (_i, endMs) => {
      const topo = healthy();
      if (endMs > FAULT_AT) fault(topo);
      return conditions(topo);
    },
  });
  const notifier = new Collect();
  const lines: string[] = [];
  const engine = (opts: Partial<SloEngineOptions>) => new SloEngine({ metricStore, sloStore, notifiers: [notifier], log: (l) => lines.push(l), ...opts });
  return { metricStore, sloStore, notifier, lines, engine };
}

const firingOf = (ts: readonly AlertTransition[], sloId: string) => ts.find((x) => x.slo_id === sloId && x.to === 'firing');

test('a firing alert carries its top 3 hints, computed then over the damage, stored and notified with it; /v1/alerts shows them after the data changed', async (t) => {
  const w = await world(t, (topo) => (topo.redisLatency = 0.3));
  const engine = w.engine({ hints: { metricStore: w.metricStore } });
  const { transitions } = await engine.cycle(TENANT, END);
  const firing = firingOf(transitions, 'frontend:latency');
  assert.ok(firing, transitions.map((x) => x.id).join(', '));
  assert.ok(firing.hints && firing.hints.length >= 1 && firing.hints.length <= 3, JSON.stringify(firing.hints));
  const top = firing.hints[0];
  assert.deepEqual([top.rank, top.kind, top.service, top.peer, top.chain], [1, 'slow_dependency', 'backend', '127.0.0.1:6379', ['frontend', 'backend']]);
  // The window: from 5 minutes before the first burning minute (the rollups') to the alert.
  assert.deepEqual(firing.hints_meta, { status: 'computed', from: (FAULT_AT - 5 * MIN) / 1000, to: END / 1000 });
  // Notified as stored: the transition the notifier got is the one /v1/alerts/events keeps.
  assert.deepEqual(firingOf(w.notifier.seen, 'frontend:latency'), firing);
  assert.deepEqual(firingOf(await engine.transitions(TENANT), 'frontend:latency'), firing);
  // One computation per service and window: the backend's alert fired too, with its own hints.
  assert.equal(firingOf(transitions, 'backend:latency')?.hints?.[0].peer, '127.0.0.1:6379');

  // The data moves on: Redis recovers and PostgreSQL turns slow; the alert keeps firing.
  await writeWorld(w.metricStore, TENANT, {
    endMs: END + 6 * MIN,
    intervals: (6 * MIN) / INTERVAL_MS,
    seed: 2,
    at: () => conditions({ ...healthy(), postgresLatency: 0.4 }),
  });
  for (let m = 1; m <= 6; m++) assert.equal(firingOf((await engine.cycle(TENANT, END + m * MIN)).transitions, 'frontend:latency'), undefined);
  const app = createGatewayApp({ store: w.metricStore, apiKeys: { [KEY]: TENANT }, slo: engine, now: () => END + 6 * MIN, log: () => {} });
  const get = async (path: string) => {
    const res = await app.request(path, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return res.json();
  };
  const { alerts } = await get('/v1/alerts?service=frontend&state=firing');
  const alert = alerts.find((a: { slo_id: string }) => a.slo_id === 'frontend:latency');
  assert.deepEqual(alert.hints, firing.hints, 'what was said when it fired');
  assert.deepEqual(alert.hints_meta, firing.hints_meta);
  // Asked now, over the last minutes, the engine points elsewhere: the stored hints are history, not a recomputation.
  const now = await get(`/v1/hints?service=frontend&from=${(END + MIN) / 1000}&to=${(END + 6 * MIN) / 1000}`);
  assert.notEqual(now.hints[0].peer, '127.0.0.1:6379', JSON.stringify(now.hints[0]));
});

test('hints that fail or hang: the alert goes out on time without them, saying why', async (t) => {
  const w = await world(t, (topo) => (topo.redisLatency = 0.3));
  const failing: MetricStore = new Proxy(w.metricStore, {
    get: (target, prop) => (prop === 'fetchPoints' ? async () => { throw new Error('ThrottlingException: rate exceeded'); } : Reflect.get(target, prop)),
  });
  const failed = firingOf((await w.engine({ hints: { metricStore: failing } }).cycle(TENANT, END)).transitions, 'frontend:latency')!;
  assert.deepEqual(failed.hints, []);
  assert.equal(failed.hints_meta?.status, 'failed');
  assert.equal(failed.hints_meta?.message, 'hints not computed: ThrottlingException: rate exceeded');
  assert.ok(w.lines.some((l) => l.startsWith(`hints for ${failed.id}: hints not computed: ThrottlingException`)), w.lines.join('\n'));
  assert.ok(firingOf(w.notifier.seen, 'frontend:latency'), 'notified');
});

test('a hints computation that never answers is given up after hintsTimeoutMs', async (t) => {
  const w = await world(t, (topo) => (topo.redisLatency = 0.3));
  const hanging: MetricStore = new Proxy(w.metricStore, {
    get: (target, prop) => (prop === 'fetchPoints' ? () => new Promise(() => {}) : Reflect.get(target, prop)),
  });
  const { transitions } = await w.engine({ hints: { metricStore: hanging }, hintsTimeoutMs: 300 }).cycle(TENANT, END);
  const firing = firingOf(transitions, 'frontend:latency')!;
  assert.deepEqual([firing.hints, firing.hints_meta?.status, firing.hints_meta?.message], [[], 'failed', 'hints not computed: no answer within 0.3 s']);
});

test("deferred (the AWS evaluator): the window only, then hints attached later survive the next cycle's save", async (t) => {
  const w = await world(t, (topo) => (topo.redisLatency = 0.3));
  const engine = w.engine({ hints: 'deferred' });
  const firing = firingOf((await engine.cycle(TENANT, END)).transitions, 'frontend:latency')!;
  assert.equal('hints' in firing, false);
  assert.deepEqual(firing.hints_meta, { status: 'pending', from: (FAULT_AT - 5 * MIN) / 1000, to: END / 1000 });
  let view = (await engine.alerts(TENANT)).find((a) => a.id === firing.alert_id)!;
  assert.deepEqual([view.hints, view.hints_meta?.status], [[], 'pending']);

  // What the hints function does, while the evaluator's next cycle holds the record it loaded before.
  const enriched: AlertTransition = { ...firing, hints: [], hints_meta: { ...firing.hints_meta!, status: 'no_data', message: 'none here' } };
  const records = await w.sloStore.loadAlerts(TENANT);
  assert.equal(await w.sloStore.attachHints(TENANT, enriched), true);
  await w.sloStore.saveAlerts(TENANT, records.map((r) => ({ ...r, updated_ms: END + MIN })), []);
  view = (await engine.alerts(TENANT)).find((a) => a.id === firing.alert_id)!;
  assert.deepEqual(view.hints_meta, enriched.hints_meta);
  assert.deepEqual(firingOf(await engine.transitions(TENANT), 'frontend:latency'), enriched);
  assert.equal(await w.sloStore.attachHints(TENANT, { ...enriched, id: 'no-such-transition' }), false);
});
