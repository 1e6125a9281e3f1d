// Hints for an alert as it fires: the window it is explained over and the top hints it keeps —
// one definition for the local SLO engine and the AWS hints function.

import { ApiError } from '../errors.ts';
import type { AlertHintsMeta, AlertTransition } from '../notify/types.ts';
import { computeHints, MAX_WINDOW_MS } from './engine.ts';
import type { Hint, HintStores } from './types.ts';

/** How many hints travel with an alert (issue 15: the top 3). */
export const ALERT_HINTS = 3;
/** How far before the alert's first pending state the window starts: burn builds up before it trips a rule. */
const LEAD_MS = 10 * 60_000;
const MIN_WINDOW_MS = 15 * 60_000;
/** How long an alert waits for its hints before it goes out without them. */
export const ALERT_HINTS_TIMEOUT_MS = 30_000;

/**
 * The window an alert is explained over: the one the SLO engine chose from its rollups when the
 * alert fired (hints_meta, lambda/slo/hint-window.ts); without it, from a little before the
 * episode began to the transition.
 */
export function alertWindow(alert: Pick<AlertTransition, 'at' | 'since' | 'hints_meta'>): { fromMs: number; toMs: number } {
  if (alert.hints_meta) return { fromMs: alert.hints_meta.from * 1000, toMs: alert.hints_meta.to * 1000 };
  const toMs = Date.parse(alert.at);
  const fromMs = Math.max(toMs - MAX_WINDOW_MS, Math.min(Date.parse(alert.since) - LEAD_MS, toMs - MIN_WINDOW_MS));
  return { fromMs, toMs };
}

export interface AlertHints extends AlertHintsMeta {
  hints: Hint[];
}

type AlertInput = Pick<AlertTransition, 'tenant' | 'service' | 'at' | 'since' | 'hints_meta'>;

/**
 * The top hints for an alert at the moment it fires. A service without data (a 4xx of the
 * engine) gives no hints and says why; a store failure throws, for the caller to retry or log.
 */
export async function hintsForAlert(stores: HintStores, alert: AlertInput, nowMs: number = Date.now()): Promise<AlertHints> {
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

/**
 * hintsForAlert for a notification that must not wait on it: a failure, or no answer within
 * `timeoutMs`, gives status 'failed' with why (and no hints), never an exception.
 */
export async function hintsForAlertOrReason(stores: HintStores, alert: AlertInput, nowMs: number = Date.now(), timeoutMs = ALERT_HINTS_TIMEOUT_MS): Promise<AlertHints> {
  const { fromMs, toMs } = alertWindow(alert);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return await Promise.race([hintsForAlert(stores, alert, nowMs), late]);
  } catch (err) {
    return { status: 'failed', from: fromMs / 1000, to: toMs / 1000, hints: [], message: `hints not computed: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The transition as it is stored and notified once its hints are known. */
export function withHints<T extends AlertTransition>(t: T, found: AlertHints): T {
  const { hints, ...meta } = found;
  return { ...t, hints, hints_meta: meta };
}
