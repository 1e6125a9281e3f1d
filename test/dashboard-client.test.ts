// The dashboard's client logic that needs no browser: deep links, steps, burn rates from
// per-step rollups, the worst-first order, degraded edges and the objective phrase.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { degraded } from '../lambda/dashboard/client/pages/map.ts';
import { burnSeries } from '../lambda/dashboard/client/pages/slo.ts';
import { href, parseRoute, rangeOf, stepFor } from '../lambda/dashboard/client/route.ts';
import { objectiveText, worstFirst } from '../lambda/dashboard/client/status.ts';
import { objectivePct, seconds } from '../lambda/dashboard/client/format.ts';
import type { Slo } from '../lambda/dashboard/client/types.ts';

test('deep links: page, subject and range survive a round trip; anything else opens the SLO list', () => {
  const link = href('slo', 'checkout-api:availability', { range: '6h', q: undefined });
  assert.equal(link, '#/slo/checkout-api%3Aavailability?range=6h');
  const r = parseRoute(link);
  assert.deepEqual([r.page, r.arg, rangeOf(r)], ['slo', 'checkout-api:availability', '6h']);
  const incident = parseRoute(href('incident', 'checkout-availability/page-fast#2'));
  assert.deepEqual([incident.page, incident.arg], ['incident', 'checkout-availability/page-fast#2']);
  assert.equal(parseRoute('#/nowhere').page, 'slos');
  assert.equal(rangeOf(parseRoute('#/slos?range=13d')), '1h', 'an unknown range falls back to the default');
});

test('steps give at most the asked number of points, on round values', () => {
  assert.equal(stepFor(900), 10);
  assert.equal(stepFor(3600), 30);
  assert.equal(stepFor(30 * 86_400), 21_600);
  assert.ok(3600 / stepFor(3600, 40) <= 40);
});

test('burn rate over a trailing window from per-step good/total', () => {
  // 10-second steps: 100 requests each; 5 bad per step from t=60 on. Objective 99%: 5% bad burns 5×.
  const points = Array.from({ length: 12 }, (_, i) => ({ atMs: i * 10_000, good: i >= 6 ? 95 : 100, total: 100 }));
  const x = [30, 60, 90, 120];
  const objective = 0.99;
  const short = burnSeries(x, points, 20, objective);
  const long = burnSeries(x, points, 60, objective);
  assert.deepEqual(short.map((v) => (v === null ? null : Number(v.toFixed(6)))), [0, 0, 5, 5]);
  // At t=90 the 60 s window holds steps 30..80: three healthy, three at 5% → 2.5%.
  assert.deepEqual(long.map((v) => (v === null ? null : Number(v.toFixed(6)))), [0, 0, 2.5, 5]);
  assert.deepEqual(burnSeries([500], points, 20, objective), [null], 'no requests: no burn rate');
});

test('worst first: spent budgets, then firing, then the least budget left', () => {
  const slo = (id: string, status: Slo['status'], budget: number | null) => ({ id, status, budget_remaining: budget }) as Slo;
  const sorted = [slo('a', 'ok', 0.9), slo('b', 'burning', 0.5), slo('c', 'exhausted', -2), slo('d', 'ok', 0.2), slo('e', 'no_data', null)].sort(worstFirst);
  assert.deepEqual(sorted.map((s) => s.id), ['c', 'b', 'd', 'a', 'e']);
});

test('the objective reads as a promise; edges over 1% errors are degraded', () => {
  assert.equal(objectiveText({ kind: 'latency', objective: 0.99, threshold_seconds: 0.3 }, objectivePct, seconds), '99% ≤ 300 ms');
  assert.equal(objectiveText({ kind: 'availability', objective: 0.999 }, objectivePct, seconds), '99.9% good');
  assert.equal(degraded({ requests: 1000, errors: 10 }), false);
  assert.equal(degraded({ requests: 1000, errors: 11 }), true);
  assert.equal(degraded({ requests: 0, errors: 0 }), false);
});
