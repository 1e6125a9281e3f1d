// Error-budget arithmetic on good/total counts: the one place burn rates, budgets and time to
// exhaustion are computed. A window without requests has no SLI, no burn rate and no budget
// figure (null), never 100% or a division by zero.

import { formatDuration } from '../../common/duration.ts';
import type { SloWindow } from './definitions.ts';

export interface Counts {
  good: number;
  total: number;
}

export interface WindowFigures {
  good: number;
  total: number;
  bad: number;
  /** good / total; null without requests. */
  sli: number | null;
  /** (bad / total) / (1 − objective); null without requests. */
  burn_rate: number | null;
}

export function windowFigures(c: Counts, objective: number): WindowFigures {
  const bad = Math.max(0, c.total - c.good);
  if (!(c.total > 0)) return { good: c.good, total: c.total, bad, sli: null, burn_rate: null };
  return { good: c.good, total: c.total, bad, sli: c.good / c.total, burn_rate: bad / c.total / (1 - objective) };
}

export interface Budget {
  /** 1 − consumed: 1 untouched, 0 spent, negative overspent; null without requests. */
  remaining: number | null;
  /** Bad requests the objective allows over the requests seen so far in the window. */
  allowed_bad_requests: number;
  /** allowed − bad (negative when overspent). */
  remaining_requests: number;
}

export function budget(c: Counts, objective: number): Budget {
  const bad = Math.max(0, c.total - c.good);
  const allowed = c.total * (1 - objective);
  return {
    remaining: c.total > 0 ? 1 - bad / allowed : null,
    allowed_bad_requests: allowed,
    remaining_requests: allowed - bad,
  };
}

/**
 * Time until the remaining budget is gone at burn rate `burn` (budget fraction per `periodMs`
 * at burn 1): remaining × period / burn. 0 when already spent; null when nothing burns or no data.
 */
export function timeToExhaustionMs(remaining: number | null, burn: number | null, periodMs: number): number | null {
  if (remaining === null || burn === null) return null;
  if (remaining <= 0) return 0;
  if (!(burn > 0)) return null;
  return (remaining * periodMs) / burn;
}

/** Start of the SLO window that ends at `nowMs`: now − length, or the first instant of the UTC month. */
export function windowStartMs(window: SloWindow, nowMs: number): number {
  if (window.kind === 'rolling') return nowMs - window.ms;
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The length of the budget period (a calendar month's own length, 28–31 days). */
export function windowPeriodMs(window: SloWindow, nowMs: number): number {
  if (window.kind === 'rolling') return window.ms;
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export function windowLabel(window: SloWindow): string {
  return window.kind === 'rolling' ? formatDuration(window.ms) : 'calendar month';
}

