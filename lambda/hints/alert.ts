// Hints for an alert as it fires: the window it is explained over and the top hints it keeps —
// one definition for the local SLO engine and the AWS hints function.

import { ApiError } from '../errors.ts';
import type { AlertTransition } from '../notify/types.ts';
import { computeHints, MAX_WINDOW_MS } from './engine.ts';
import type { Hint, HintStores } from './types.ts';

/** How many hints travel with an alert (issue 15: the top 3). */
export const ALERT_HINTS = 3;
/** How far before the alert's first pending state the window starts: burn builds up before it trips a rule. */
const LEAD_MS = 10 * 60_000;
const MIN_WINDOW_MS = 15 * 60_000;

/** The window an alert is explained over: from a little before its episode began to the transition. */
export function alertWindow(alert: Pick<AlertTransition, 'at' | 'since'>): { fromMs: number; toMs: number } {
  const toMs = Date.parse(alert.at);
  const fromMs = Math.max(toMs - MAX_WINDOW_MS, Math.min(Date.parse(alert.since) - LEAD_MS, toMs - MIN_WINDOW_MS));
  return { fromMs, toMs };
}

export interface AlertHints {
  status: 'computed' | 'no_data';
  from: number;
  to: number;
  hints: Hint[];
  message?: string;
}

/**
 * The top hints for an alert at the moment it fires. A service without data (a 4xx of the
 * engine) gives no hints and says why; a store failure throws, for the caller to retry or log.
 */
export async function hintsForAlert(stores: HintStores, alert: Pick<AlertTransition, 'tenant' | 'service' | 'at' | 'since'>, nowMs: number = Date.now()): Promise<AlertHints> {
  const { fromMs, toMs } = alertWindow(alert);
  const window = { from: fromMs / 1000, to: toMs / 1000 };
  try {
    const report = await computeHints(stores, alert.tenant, alert.service, fromMs, toMs, nowMs);
    return { status: 'computed', ...window, hints: report.hints.slice(0, ALERT_HINTS) };
  } catch (err) {
    if (err instanceof ApiError && err.status < 500) return { status: 'no_data', ...window, hints: [], message: err.message };
    throw err;
  }
}
