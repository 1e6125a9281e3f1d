// The window an alert's hints explain, from the SLO's per-bucket rollups: it starts a little
// before the damage did, however long before the alert that was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hintWindow, hintWindowReadFromMs } from './hint-window.ts';
import type { SeriesPoint } from './store.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const AT = Date.UTC(2026, 10, 23, 14, 0);

/** One bucket a minute over [fromMs, AT), `bad(t)` bad requests of 100. */
function minutes(fromMs: number, bad: (atMs: number) => number): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (let t = fromMs; t < AT; t += MIN) out.push({ atMs: t, total: 100, good: 100 - bad(t) });
  return out;
}

const page = { atMs: AT, objective: 0.999, factor: 14.4, longMs: HOUR };

test('a fast burn: the window starts 5 minutes before the damage began, whatever the long window', () => {
  const onset = AT - 7 * MIN;
  // A steady 0.1% of bad requests (a burn of 1) before, 20% after.
  const buckets = minutes(hintWindowReadFromMs(page), (t) => (t >= onset ? 20 : t % (10 * MIN) === 0 ? 1 : 0));
  assert.deepEqual(hintWindow(buckets, page), { fromMs: onset - 5 * MIN, toMs: AT });
  // The 6 h rule firing at the same moment looks further back and finds the same start.
  const slow = { ...page, factor: 6, longMs: 6 * HOUR };
  assert.deepEqual(hintWindow(minutes(hintWindowReadFromMs(slow), (t) => (t >= onset ? 20 : 0)), slow), { fromMs: onset - 5 * MIN, toMs: AT });
});

test('a slow burn that took hours to trip its rule: the window reaches back to its start', () => {
  const rule = { ...page, factor: 6, longMs: 6 * HOUR };
  const onset = AT - 4 * HOUR;
  const buckets = minutes(hintWindowReadFromMs(rule), (t) => (t >= onset ? 1 + (t / MIN) % 2 : 0)); // 1–2% bad: a burn of 10–20
  assert.deepEqual(hintWindow(buckets, rule), { fromMs: onset - 5 * MIN, toMs: AT });
});

test('a short history keeps half of what came before the damage as baseline; minutes without requests change nothing', () => {
  const first = AT - 10 * MIN;
  const onset = AT - 4 * MIN;
  const buckets = minutes(first, (t) => (t >= onset ? 30 : 0)).filter((b) => b.atMs !== onset - 2 * MIN);
  assert.deepEqual(hintWindow([{ atMs: first - 20 * MIN, total: 0, good: 0 }, ...buckets], page), { fromMs: onset - 3 * MIN, toMs: AT });
});

test('nothing burned (silence, or the damage is older than the long window reaches): no window, the caller falls back', () => {
  assert.equal(hintWindow(minutes(AT - 2 * HOUR, () => 0), page), undefined);
  assert.equal(hintWindow([], page), undefined);
  // The search stops at the long window (24 h at most, the hints engine's cap).
  assert.equal(hintWindowReadFromMs({ atMs: AT, longMs: 3 * 24 * HOUR }), AT - 24 * HOUR + 5 * MIN - HOUR);
});
