import { test } from 'node:test';
import assert from 'node:assert/strict';
import { budget, timeToExhaustionMs, windowFigures, windowPeriodMs, windowStartMs } from './math.ts';

const DAY = 86_400_000;

test('burn rate and budget of a 99.9% SLO on hand-computed counts', () => {
  // 100,000 requests, 50 bad: error ratio 0.05%, half the 0.1% budget.
  const f = windowFigures({ good: 99_950, total: 100_000 }, 0.999);
  assert.equal(f.bad, 50);
  assert.equal(f.sli, 0.9995);
  assert.ok(Math.abs(f.burn_rate! - 0.5) < 1e-12);
  const b = budget({ good: 99_950, total: 100_000 }, 0.999);
  assert.ok(Math.abs(b.remaining! - 0.5) < 1e-9);
  assert.ok(Math.abs(b.allowed_bad_requests - 100) < 1e-9);
  assert.ok(Math.abs(b.remaining_requests - 50) < 1e-9);
  // Overspent: 250 bad of 100,000 is 2.5 budgets; remaining −1.5, −150 requests.
  const over = budget({ good: 99_750, total: 100_000 }, 0.999);
  assert.ok(Math.abs(over.remaining! + 1.5) < 1e-9);
  assert.ok(Math.abs(over.remaining_requests + 150) < 1e-9);
});

test('no traffic is "no data": null SLI, burn and budget, never 100% or NaN', () => {
  const f = windowFigures({ good: 0, total: 0 }, 0.999);
  assert.deepEqual(f, { good: 0, total: 0, bad: 0, sli: null, burn_rate: null });
  const b = budget({ good: 0, total: 0 }, 0.999);
  assert.equal(b.remaining, null);
  assert.equal(b.remaining_requests, 0);
  assert.equal(timeToExhaustionMs(null, 2, 30 * DAY), null);
  assert.equal(timeToExhaustionMs(0.5, null, 30 * DAY), null);
});

test('time to exhaustion: remaining × period ÷ burn', () => {
  // The Workbook's figure: at 14.4× a whole 30-day budget lasts 50 hours.
  assert.equal(timeToExhaustionMs(1, 14.4, 30 * DAY), 50 * 3_600_000);
  assert.equal(timeToExhaustionMs(0.5, 2, 30 * DAY), 7.5 * DAY);
  assert.equal(timeToExhaustionMs(0, 3, 30 * DAY), 0);
  assert.equal(timeToExhaustionMs(-0.2, 3, 30 * DAY), 0);
  assert.equal(timeToExhaustionMs(0.7, 0, 30 * DAY), null, 'nothing burns: never exhausted');
});

test('calendar months: start at the first instant of the UTC month; their own length', () => {
  const month = { kind: 'calendar-month' } as const;
  assert.equal(windowStartMs(month, Date.UTC(2026, 10, 23, 14, 5)), Date.UTC(2026, 10, 1));
  assert.equal(windowStartMs(month, Date.UTC(2026, 10, 1, 0, 0, 0, 0)), Date.UTC(2026, 10, 1), 'the first instant belongs to the new month');
  assert.equal(windowStartMs(month, Date.UTC(2026, 9, 31, 23, 59, 59, 999)), Date.UTC(2026, 9, 1));
  assert.equal(windowStartMs(month, Date.UTC(2027, 0, 15)), Date.UTC(2027, 0, 1), 'across a year end');
  assert.equal(windowPeriodMs(month, Date.UTC(2028, 1, 10)), 29 * DAY, 'February of a leap year');
  assert.equal(windowPeriodMs(month, Date.UTC(2027, 1, 10)), 28 * DAY);
  assert.equal(windowPeriodMs(month, Date.UTC(2026, 11, 31)), 31 * DAY);
  assert.equal(windowStartMs({ kind: 'rolling', ms: 7 * DAY }, Date.UTC(2026, 10, 8)), Date.UTC(2026, 10, 1));
});
