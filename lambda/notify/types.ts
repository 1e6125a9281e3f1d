// The contract between the SLO evaluator and whatever delivers its alerts: stdout/log and a signed
// webhook locally (lambda/notify/*.ts), SNS on AWS. The evaluator stores every alert transition as
// an `AlertTransition` first and then hands it to each notifier; a notifier that throws is logged
// and does not stop the others (the transition is already stored, so nothing is lost).

import type { Hint } from '../hints/types.ts';

export type AlertSeverity = 'page' | 'ticket';
export type AlertState = 'pending' | 'firing' | 'resolved';

/** Burn rates (error ratio ÷ error budget) per window; null where the window had no requests. */
export interface BurnRates {
  '5m': number | null;
  '30m': number | null;
  '1h': number | null;
  '6h': number | null;
  '1d': number | null;
  '3d': number | null;
}

/** Why the rule matched (or stopped matching): the two windows it compares and what they held. */
export interface AlertEvidence {
  /** The rule, e.g. "page-1h-5m". */
  rule: string;
  /** Burn-rate factor both windows must exceed, e.g. 14.4. */
  factor: number;
  long_window: string;
  short_window: string;
  long_burn_rate: number | null;
  short_burn_rate: number | null;
  /** Requests and bad requests in each window. */
  long_total: number;
  long_bad: number;
  short_total: number;
  short_bad: number;
  /** All the standard windows, as `GET /v1/alerts` shows them. */
  burn_rates: BurnRates;
  /**
   * The no-data rule (rule `no_data`; its long window is the SLO window, its short one the
   * silence): the start of the last minute with requests, and how long a silence it waits for.
   */
  last_seen?: string | null;
  silence?: string;
}

/**
 * One alert state change (pending → firing → resolved, or pending → resolved when it never fired).
 * `id` is unique per transition and stable across retries, so receivers can de-duplicate.
 */
export interface AlertTransition {
  /** Unique per transition: `${alert_id}@${at}:${to}`. */
  id: string;
  /** The alert this transition belongs to: `${slo_id}/${rule}#${n}`; every transition of one episode shares it. */
  alert_id: string;
  slo_id: string;
  service: string;
  tenant: string;
  severity: AlertSeverity;
  /** null for the first transition of an episode. */
  from: AlertState | null;
  to: AlertState;
  /** RFC 3339 time of the evaluation that made the change. */
  at: string;
  /** RFC 3339 time the alert entered its current episode (first pending). */
  since: string;
  /** Remaining error budget over the SLO window, as a fraction (null: no data). */
  budget_remaining: number | null;
  evidence: AlertEvidence;
  /** One human sentence, e.g. "checkout: availability SLO burning 16.2× over 1h (5m: 19.8×); page". */
  summary: string;
  /**
   * Firing transitions: the top root-cause hints computed when the alert fired (issue 15), kept as
   * they were then. Absent while they are still being computed elsewhere (hints_meta 'pending').
   */
  hints?: Hint[];
  hints_meta?: AlertHintsMeta;
}

/** How an alert's hints were computed: over which window, and why there are none when there are none. */
export interface AlertHintsMeta {
  /**
   * 'computed' (hints holds them; `none` when nothing explains the damage), 'no_data' (the
   * service has no data to explain), 'failed' (the computation failed or ran out of time; the
   * alert went out without), 'pending' (handed to the AWS hints function, which adds them).
   */
  status: 'computed' | 'no_data' | 'failed' | 'pending';
  /** The window explained, unix seconds (as /v1/hints takes it). */
  from: number;
  to: number;
  message?: string;
}

export interface Notifier {
  /** For logs: "stdout", "webhook http://…", "sns arn:…". */
  readonly name: string;
  /** Delivers one transition; resolves once delivered (retrying is the notifier's own business), rejects when it gave up. */
  notify(transition: AlertTransition): Promise<void>;
}
