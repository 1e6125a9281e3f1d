// The engine on synthetic traffic in a real DuckDB store, driven by an injected clock: budgets
// over windows with gaps and edges, and alert timing against the SRE Workbook's figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../storage/duckdb.ts';
import type { MetricPoint } from '../storage/types.ts';
import type { AlertTransition, Notifier } from '../notify/types.ts';
import { minuteOfTraffic, requestsPoint } from '../../test/lib/slo-traffic.ts';
import { DuckDbSloStore } from './duckdb-store.ts';
import { SloEngine } from './engine.ts';
import { isOver } from './alerts.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 10, 12, 0);
const TENANT = 't';

class Collect implements Notifier {
  readonly name = 'collect';
  readonly seen: AlertTransition[] = [];
  async notify(t: AlertTransition): Promise<void> {
    this.seen.push(t);
  }
}

async function setup(t: import('node:test').TestContext) {
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  const sloStore = await DuckDbSloStore.open(':memory:');
  t.after(async () => {
    await sloStore.close();
    await metricStore.close();
  });
  const notifier = new Collect();
  const engine = new SloEngine({ metricStore, sloStore, notifiers: [notifier], log: () => {} });
  const write = (points: MetricPoint[]) => metricStore.write(TENANT, points);
  return { metricStore, sloStore, engine, notifier, write };
}

/** `minutes` minutes of traffic from `fromMs`, `perMinute(i)` → [total, bad]. */
function traffic(service: string, fromMs: number, minutes: number, perMinute: (i: number) => [number, number]): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let i = 0; i < minutes; i++) {
    const [total, bad] = perMinute(i);
    out.push(...minuteOfTraffic(service, fromMs + i * MIN, total, bad));
  }
  return out;
}

function onlyRule(name: string, service: string, factor: number, long: string, short: string): string {
  return `
apiVersion: openslo/v1
kind: SLO
metadata: { name: ${name} }
spec:
  service: ${service}
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  objectives: [{ target: 0.999 }]
  alertPolicies:
    - spec:
        conditions:
          - metadata: { name: page }
            spec: { severity: page, condition: { kind: burnrate, threshold: ${factor}, lookbackWindow: ${long}, shortWindow: ${short} } }
`;
}

test('budgets over rolling windows: edges, days without traffic, and rollups equal to the raw counts', async (t) => {
  const { engine, write, sloStore } = await setup(t);
  // Day 0 and day 4 of a 7-day SLO have traffic; days between have none.
  const now = T0 + 7 * DAY;
  await write([
    ...minuteOfTraffic('gappy', now - 7 * DAY - MIN, 500, 500), // one minute before the window: not counted
    ...minuteOfTraffic('gappy', now - 7 * DAY, 1000, 2), // the window's first minute: counted
    ...minuteOfTraffic('gappy', now - 3 * DAY, 3000, 1),
  ]);
  await engine.putSpecs(TENANT, `
apiVersion: openslo/v1
kind: SLO
metadata: { name: gappy-7d }
spec:
  service: gappy
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  timeWindow: [{ duration: 7d, isRolling: true }]
  objectives: [{ target: 0.999 }]
`, now);
  const slos = await engine.statuses(TENANT, now);
  const s = slos.find((x) => x.id === 'gappy-7d')!;
  assert.equal(s.total, 4000);
  assert.equal(s.bad, 3);
  // Budget: 4 bad allowed (0.1% of 4000), 3 used: 25% left, 1 request.
  assert.ok(Math.abs(s.budget_remaining! - 0.25) < 1e-9);
  assert.ok(Math.abs(s.budget_remaining_requests - 1) < 1e-9);
  assert.equal(s.status, 'ok');
  // The standard windows see nothing in the last day: no data, not 100%.
  const d1 = s.windows.find((w) => w.window === '1d')!;
  assert.deepEqual([d1.total, d1.sli, d1.burn_rate], [0, null, null]);
  assert.ok(Math.abs(s.burn_rates['3d']! - (1 / 3000) / 0.001) < 1e-9, '3d: the day-4 minute only');
  // The default availability SLO of the same service is replaced by the user's; latency stays default.
  assert.deepEqual(slos.filter((x) => x.service === 'gappy').map((x) => x.id), ['gappy-7d', 'gappy:latency']);
  // A week after the last request: no data at all.
  const later = (await engine.statuses(TENANT, now + 8 * DAY)).find((x) => x.id === 'gappy-7d')!;
  assert.deepEqual([later.status, later.sli, later.budget_remaining, later.burn_rate], ['no_data', null, null, null]);
  // Rollups: one row per minute with traffic; the 30-day default SLO sees all three minutes.
  const keyed = await sloStore.rollupCoverage(TENANT);
  assert.ok(keyed.size >= 2);
  const def = (await engine.statuses(TENANT, now)).find((x) => x.id === 'gappy:latency')!;
  assert.equal(def.total, 4500);
});

test('a calendar-month SLO counts from the first instant of the month', async (t) => {
  const { engine, write } = await setup(t);
  const monthStart = Date.UTC(2026, 10, 1);
  await write([...minuteOfTraffic('cal', monthStart - MIN, 100, 100), ...minuteOfTraffic('cal', monthStart, 200, 1)]);
  await engine.putSpecs(TENANT, `
apiVersion: openslo/v1
kind: SLO
metadata: { name: cal-month }
spec:
  service: cal
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  timeWindow: [{ duration: 1M, isRolling: false }]
  objectives: [{ target: 0.99 }]
`, monthStart);
  const s = (await engine.statuses(TENANT, monthStart + 10 * DAY)).find((x) => x.id === 'cal-month')!;
  assert.deepEqual([s.total, s.bad, s.window, s.window_start], [200, 1, 'calendar month', '2026-11-01T00:00:00.000Z']);
  assert.ok(Math.abs(s.budget_remaining! - 0.5) < 1e-9);
  // Time to exhaustion at the 1h burn: no traffic in the last hour → null (nothing burns now).
  assert.equal(s.time_to_exhaustion_seconds, null);
});

test('gRPC server errors are bad, client-side codes are not; SLIs filter by route', async (t) => {
  const { engine, write } = await setup(t);
  const slice = { service: 'rpc', startMs: T0 - 2 * MIN, endMs: T0 - MIN, metric: 'rpc.server.duration' };
  await write([
    requestsPoint({ ...slice, count: 90, attributes: { 'rpc.method': 'Get', 'rpc.grpc.status_code': 0 } }),
    requestsPoint({ ...slice, count: 5, attributes: { 'rpc.method': 'Get', 'rpc.grpc.status_code': 5 } }), // NOT_FOUND: the caller's
    requestsPoint({ ...slice, count: 3, attributes: { 'rpc.method': 'Get', 'rpc.grpc.status_code': 14 } }), // UNAVAILABLE
    requestsPoint({ ...slice, count: 2, attributes: { 'rpc.method': 'Put', 'rpc.grpc.status_code': 13 } }), // INTERNAL
    requestsPoint({ ...slice, metric: 'http.server.request.duration', count: 10, status: 200, route: '/fast', seconds: 0.01 }),
    requestsPoint({ ...slice, metric: 'http.server.request.duration', count: 10, status: 200, route: '/slow', seconds: 2 }),
  ]);
  await engine.putSpecs(TENANT, `
apiVersion: openslo/v1
kind: SLO
metadata: { name: rpc-get }
spec:
  service: rpc
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch, spec: { filter: { route: Get } } } } } } }
  objectives: [{ target: 0.9 }]
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: rpc-fast-route }
spec:
  service: rpc
  indicator: { spec: { thresholdMetric: { metricSource: { type: burnwatch, spec: { filter: { http.route: /fast } } } } } }
  objectives: [{ op: lte, value: 0.3, target: 0.9 }]
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: rpc-any-latency }
spec:
  service: rpc
  indicator: { spec: { thresholdMetric: { metricSource: { type: burnwatch } } } }
  objectives: [{ op: lte, value: 300ms, target: 0.9 }]
`, T0);
  const slos = await engine.statuses(TENANT, T0);
  const get = slos.find((s) => s.id === 'rpc-get')!;
  assert.deepEqual([get.total, get.bad], [98, 3]);
  assert.equal(slos.find((s) => s.id === 'rpc:latency'), undefined, 'a user latency SLO replaces the default one');
  const all = slos.find((s) => s.id === 'rpc-any-latency')!;
  assert.deepEqual([all.total, all.good], [120, 110], 'gRPC and HTTP requests with a duration; the 2 s ones are slow');
  const fast = slos.find((s) => s.id === 'rpc-fast-route')!;
  assert.deepEqual([fast.total, fast.good], [10, 10]);
  assert.ok(fast.effective_threshold_seconds! <= 0.3 && fast.effective_threshold_seconds! > 0.3 * (1 - 0.022));
});

test('late data: a minute already rolled up is recomputed when its points arrive later', async (t) => {
  const { engine, write } = await setup(t);
  await write(minuteOfTraffic('late', T0 - 3 * MIN, 100, 0));
  await engine.cycle(TENANT, T0);
  await write(minuteOfTraffic('late', T0 - 3 * MIN, 100, 0).map((p) => ({ ...p, startNs: p.startNs + 1n }))); // a second sender, same minute
  await write(minuteOfTraffic('late', T0 - 2 * MIN, 50, 50));
  const s = (await engine.cycle(TENANT, T0 + MIN)).slos.find((x) => x.id === 'late:availability')!;
  assert.deepEqual([s.total, s.bad], [250, 50]);
});

test('the 14.4× page fires when the Workbook says and resets 5 minutes after the errors stop; 6× likewise', async (t) => {
  const { engine, write, notifier } = await setup(t);
  // 7 h of clean traffic, then 30 minutes at 15% errors, then clean again: 1,000 requests a minute.
  const ERR_MIN = 30;
  await write(traffic('shop', T0 - 7 * HOUR, 7 * 60 + 80, (i) => [1000, i >= 7 * 60 && i < 7 * 60 + ERR_MIN ? 150 : 0]));
  const firedAt = new Map<string, number>();
  const resolvedAt = new Map<string, number>();
  for (let k = 0; k <= 75; k++) {
    const { transitions } = await engine.cycle(TENANT, T0 + k * MIN);
    for (const tr of transitions.filter((x) => x.slo_id === 'shop:availability')) {
      if (tr.to === 'firing') firedAt.set(tr.evidence.rule, k);
      if (tr.to === 'resolved') resolvedAt.set(tr.evidence.rule, k - ERR_MIN);
    }
  }
  // Workbook: time to fire = (1 − SLO) / error ratio × long window × factor.
  const detect = (window: number, factor: number) => (0.001 / 0.15) * window * factor;
  assert.ok(detect(60, 14.4) > 5 && detect(60, 14.4) <= 6); // 5.76 min
  assert.equal(firedAt.get('page-1h-5m'), Math.ceil(detect(60, 14.4)), 'fires at the first evaluation after 5.76 min');
  assert.equal(firedAt.get('page-6h-30m'), Math.ceil(detect(360, 6)), 'fires at the first evaluation after 14.4 min');
  // Reset: when the short window no longer holds the errors (5 min), not the long one (1 h).
  assert.equal(resolvedAt.get('page-1h-5m'), 5);
  const slowReset = resolvedAt.get('page-6h-30m')!;
  assert.ok(slowReset >= 25 && slowReset <= 30, `6h/30m resets as its 30 min short window empties (hysteresis: below 90% of 6×), got ${slowReset}`);
  // Exactly one notification per transition, each stored.
  const mine = notifier.seen.filter((x) => x.slo_id === 'shop:availability' && x.evidence.rule.startsWith('page'));
  assert.deepEqual(mine.map((x) => `${x.evidence.rule}:${x.from}->${x.to}`), [
    'page-1h-5m:null->firing',
    'page-6h-30m:null->firing',
    'page-1h-5m:firing->resolved',
    'page-6h-30m:firing->resolved',
  ]);
  assert.equal(new Set(notifier.seen.map((x) => x.id)).size, notifier.seen.length);
  const stored = await engine.transitions(TENANT, 'shop:availability');
  assert.deepEqual(stored.map((x) => x.id), notifier.seen.filter((x) => x.slo_id === 'shop:availability').map((x) => x.id));
  const fire = mine[0];
  assert.equal(fire.evidence.long_window, '1h');
  assert.equal(fire.evidence.long_bad, 900);
  assert.equal(fire.evidence.long_total, 60_000);
  assert.ok(Math.abs(fire.evidence.short_burn_rate! - 150) < 1e-9);
});

test('a burn just below the threshold never fires; just above does', async (t) => {
  const { engine, write, notifier } = await setup(t);
  await write([
    ...traffic('below', T0 - 2 * HOUR, 2 * 60, () => [1000, 14]), // 1.4% = 14.0×
    ...traffic('above', T0 - 2 * HOUR, 2 * 60, () => [1000, 15]), // 1.5% = 15.0×
  ]);
  await engine.putSpecs(TENANT, `${onlyRule('below-page', 'below', 14.4, '1h', '5m')}\n---\n${onlyRule('above-page', 'above', 14.4, '1h', '5m')}`, T0);
  for (let k = -60; k <= 0; k += 5) await engine.cycle(TENANT, T0 + k * MIN);
  assert.deepEqual(notifier.seen.filter((x) => x.slo_id === 'below-page'), []);
  assert.deepEqual(notifier.seen.filter((x) => x.slo_id === 'above-page').map((x) => x.to), ['firing']);
  assert.deepEqual((await engine.alerts(TENANT, { state: 'firing' })).map((a) => a.slo_id).filter((id) => id.endsWith('-page')), ['above-page']);
});

test('a burn oscillating around the threshold does not flap', async (t) => {
  const { engine, write, notifier } = await setup(t);
  // Alternate minutes at 12× and 17×: the 1h burn sits at 14.5×, the 5m one swings between 14× and 15×.
  await write(traffic('hover', T0 - HOUR, 2 * 60, (i) => [1000, i % 2 === 0 ? 12 : 17]));
  await engine.putSpecs(TENANT, onlyRule('hover-page', 'hover', 14.4, '1h', '5m'), T0);
  let naiveFlips = 0;
  let lastOver: boolean | undefined;
  for (let k = 0; k <= 60; k++) {
    const { slos } = await engine.cycle(TENANT, T0 + k * MIN);
    const s = slos.find((x) => x.id === 'hover-page')!;
    const figures = (w: '1h' | '5m') => ({ burn_rate: s.burn_rates[w], good: 0, total: 0, bad: 0, sli: null });
    const over = isOver({ rule: { factor: 14.4 } as never, long: figures('1h'), short: figures('5m') });
    if (lastOver !== undefined && over !== lastOver) naiveFlips++;
    lastOver = over;
  }
  assert.ok(naiveFlips >= 10, `the bare condition flips often (${naiveFlips} times)`);
  assert.deepEqual(notifier.seen.filter((x) => x.slo_id === 'hover-page').map((x) => x.to), ['firing'], 'one transition; hysteresis holds it');
});

test('pending → firing after alertAfter; state survives a restart; no duplicate notifications', async (t) => {
  const { metricStore, sloStore, engine, write, notifier } = await setup(t);
  await write(traffic('slowfire', T0 - HOUR, 80, (i) => [1000, i >= 60 ? 500 : 0]));
  await engine.putSpecs(TENANT, onlyRule('slowfire-page', 'slowfire', 14.4, '1h', '5m').replace('shortWindow: 5m }', 'shortWindow: 5m, alertAfter: 2m }'), T0);
  const states: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const { transitions } = await engine.cycle(TENANT, T0 + k * MIN);
    states.push(...transitions.filter((x) => x.slo_id === 'slowfire-page').map((x) => `${k}:${x.to}`));
  }
  // Minute 1 holds 500 of 60,000 requests bad in the hour (8.3×); minute 2 doubles it (16.7×).
  assert.deepEqual(states, ['2:pending', '4:firing']);
  // A new engine on the same store (a restart) continues the episode without repeating it.
  const restarted = new SloEngine({ metricStore, sloStore, notifiers: [notifier], log: () => {} });
  const again = await restarted.cycle(TENANT, T0 + 5 * MIN);
  assert.deepEqual(again.transitions.filter((x) => x.slo_id === 'slowfire-page'), []);
  const [alert] = await restarted.alerts(TENANT, { service: 'slowfire' });
  assert.deepEqual(Object.keys(alert).slice(0, 8), ['id', 'slo_id', 'service', 'severity', 'state', 'since', 'burn_rates', 'budget_remaining']);
  assert.deepEqual([alert.state, alert.severity, alert.since, alert.hints], ['firing', 'page', new Date(T0 + 2 * MIN).toISOString(), []]);
  assert.deepEqual(Object.keys(alert.burn_rates), ['5m', '30m', '1h', '6h', '3d']);
});
