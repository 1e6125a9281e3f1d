// The hints function (AWS): the evaluator publishes a firing transition to SNS without hints
// (message attribute hints = pending, with the window the SLO engine chose in hints_meta); SNS
// invokes this function for those only, asynchronously, with a dead-letter queue. For each it
// computes the top hints with the same engine as the local stack (lambda/hints/alert.ts) over
// Timestream, keeps them with the stored transition (DynamoDB: a later /v1/alerts shows what
// was said then) and publishes the enriched transition (hints = attached) — which people's
// subscriptions take and this one does not, so nothing loops. A computation that fails or runs
// out of time still publishes, with no hints and the reason: the alert never waits on its hints.
// Only a failed publish throws, so Lambda retries the whole message.

import type { SNSEvent } from 'aws-lambda';
import { hintsForAlertOrReason, withHints } from '../hints/alert.ts';
import type { Hint, HintStores } from '../hints/types.ts';
import type { AlertHintsMeta, AlertTransition, Notifier } from '../notify/types.ts';
import type { SloStore } from '../slo/store.ts';

export interface HintsResult {
  alert_id: string;
  slo_id: string;
  tenant: string;
  service: string;
  status: AlertHintsMeta['status'];
  /** The window analysed, unix seconds (as /v1/hints gives them). */
  from: number;
  to: number;
  hints: Hint[];
  message?: string;
}

const STATES = new Set(['pending', 'firing', 'resolved']);
const SEVERITIES = new Set(['page', 'ticket']);

/** An alert transition from an untrusted JSON value; throws naming the field and what is wrong. */
export function parseAlertTransition(value: unknown, where = 'alert'): AlertTransition {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: must be a JSON object`);
  const v = value as Record<string, unknown>;
  for (const field of ['id', 'alert_id', 'slo_id', 'service', 'tenant', 'at', 'since', 'summary'] as const) {
    if (typeof v[field] !== 'string' || v[field] === '') throw new Error(`${where}.${field}: must be a non-empty string`);
  }
  if (!STATES.has(v.to as string)) throw new Error(`${where}.to: must be pending, firing or resolved`);
  if (v.from !== null && !STATES.has(v.from as string)) throw new Error(`${where}.from: must be null, pending, firing or resolved`);
  if (!SEVERITIES.has(v.severity as string)) throw new Error(`${where}.severity: must be page or ticket`);
  for (const field of ['at', 'since'] as const) {
    if (!Number.isFinite(Date.parse(v[field] as string))) throw new Error(`${where}.${field}: must be an RFC 3339 time`);
  }
  if (v.budget_remaining !== null && typeof v.budget_remaining !== 'number') throw new Error(`${where}.budget_remaining: must be a number or null`);
  if (v.evidence === null || typeof v.evidence !== 'object') throw new Error(`${where}.evidence: must be an object`);
  if (v.hints !== undefined && !Array.isArray(v.hints)) throw new Error(`${where}.hints: must be an array when present`);
  if (v.hints_meta !== undefined) {
    // The window the hints explain comes from here: a bad one must not become NaN times.
    const m = v.hints_meta as Record<string, unknown> | null;
    if (m === null || typeof m !== 'object') throw new Error(`${where}.hints_meta: must be an object when present`);
    if (typeof m.from !== 'number' || typeof m.to !== 'number' || !Number.isFinite(m.from) || !Number.isFinite(m.to) || !(m.from < m.to)) {
      throw new Error(`${where}.hints_meta: from and to must be unix seconds with from < to`);
    }
  }
  return v as unknown as AlertTransition;
}

/** The alerts in an SNS delivery (each message a JSON transition), or a transition invoked directly. */
export function alertsOf(event: SNSEvent | unknown): AlertTransition[] {
  const records = (event as SNSEvent)?.Records;
  if (!Array.isArray(records)) return [parseAlertTransition(event, 'event')];
  return records.map((r, i) => {
    const where = `Records[${i}].Sns.Message`;
    if (typeof r?.Sns?.Message !== 'string') throw new Error(`${where}: missing`);
    let doc: unknown;
    try {
      doc = JSON.parse(r.Sns.Message);
    } catch (err) {
      throw new Error(`${where}: not JSON: ${(err as Error).message}`);
    }
    return parseAlertTransition(doc, where);
  });
}

export interface HintsHandlerOptions {
  /** Where the transition is stored (DynamoDB): the hints are attached to it. */
  sloStore?: () => SloStore;
  /** Where the enriched transition goes (SNS). */
  publisher?: () => Notifier;
  /** How long the computation may take before the alert goes out without hints (default 30 s; the function's timeout is 60 s). */
  timeoutMs?: number;
  now?: () => number;
}

export function createHintsHandler(stores: () => HintStores, log: (line: string) => void = (l) => console.log(l), opts: HintsHandlerOptions = {}): (event: SNSEvent | unknown) => Promise<{ results: HintsResult[] }> {
  return async (event) => {
    // An invalid event throws: Lambda retries it twice, then it lands in the dead-letter queue to be looked at.
    const alerts = alertsOf(event);
    const results: HintsResult[] = [];
    for (const alert of alerts) {
      if (alert.hints !== undefined) {
        // Already enriched (a subscription filter that lets them through): publishing again would loop.
        log(JSON.stringify({ message: 'burnwatch hints: skipped, the transition already carries hints', alert_id: alert.alert_id, transition: alert.id }));
        continue;
      }
      const found = await hintsForAlertOrReason(stores(), alert, (opts.now ?? Date.now)(), opts.timeoutMs);
      const r: HintsResult = { alert_id: alert.alert_id, slo_id: alert.slo_id, tenant: alert.tenant, service: alert.service, ...found };
      results.push(r);
      const top = r.hints[0];
      log(JSON.stringify({ message: `burnwatch hints: ${top ? `${top.kind}: ${top.summary}` : `${r.status}: ${r.message}`}`, alert_id: r.alert_id, slo_id: r.slo_id, tenant: r.tenant, hints: r.hints.length }));
      const enriched = withHints(alert, found);
      if (opts.sloStore) {
        // Kept for /v1/alerts; a failure here must not hold the notification back.
        await opts.sloStore().attachHints(alert.tenant, enriched).then(
          (stored) => stored || log(JSON.stringify({ message: 'burnwatch hints: the transition is not stored, so the hints are not kept', transition: alert.id })),
          (err) => log(JSON.stringify({ message: `burnwatch hints: not kept: ${(err as Error).message}`, transition: alert.id })),
        );
      }
      if (opts.publisher) await opts.publisher().notify(enriched);
    }
    return { results };
  };
}
