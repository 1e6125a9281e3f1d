// The hints function: invoked asynchronously (SNS → Lambda, filtered to firing alerts) with a
// dead-letter queue. For each firing alert it computes the root-cause hints over the alert's
// window with the same engine as the local stack (lambda/hints/engine.ts), over the stores it is
// given (Timestream on AWS), and answers them in its result and its log. A service without data
// gets `no_data`, never a made-up cause; a store failure throws, so Lambda retries it.

import type { SNSEvent } from 'aws-lambda';
import { hintsForAlert } from '../hints/alert.ts';
import type { Hint, HintStores } from '../hints/types.ts';
import type { AlertTransition } from '../notify/types.ts';

export interface HintsResult {
  alert_id: string;
  slo_id: string;
  tenant: string;
  service: string;
  status: 'computed' | 'no_data';
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

export async function hintsFor(stores: HintStores, alert: AlertTransition, nowMs: number = Date.now()): Promise<HintsResult> {
  const found = await hintsForAlert(stores, alert, nowMs);
  return { alert_id: alert.alert_id, slo_id: alert.slo_id, tenant: alert.tenant, service: alert.service, ...found };
}

export function createHintsHandler(stores: () => HintStores, log: (line: string) => void = (l) => console.log(l)): (event: SNSEvent | unknown) => Promise<{ results: HintsResult[] }> {
  return async (event) => {
    // An invalid event throws: Lambda retries it twice, then it lands in the dead-letter queue to be looked at.
    const alerts = alertsOf(event);
    const results: HintsResult[] = [];
    for (const alert of alerts) results.push(await hintsFor(stores(), alert));
    for (const r of results) {
      const top = r.hints[0];
      log(JSON.stringify({ message: `burnwatch hints: ${r.status === 'computed' ? `${top.kind}: ${top.summary}` : r.message}`, alert_id: r.alert_id, slo_id: r.slo_id, tenant: r.tenant, hints: r.hints.length }));
    }
    return { results };
  };
}
