// The scheduled SLO evaluation on AWS: for each tenant, one SLO-engine cycle at the schedule's
// time (rollups, burn rates, alert state machine, notifications — lambda/slo/engine.ts, the same
// code the local stack runs), its figures then published as EMF metrics.

import type { ScheduledEvent } from 'aws-lambda';
import type { AlertTransition } from '../notify/types.ts';
import { runEvaluationCycle, type SloEngineOptions } from '../slo/engine.ts';
import { emfDocument, type SloFigures } from './emf.ts';

export interface TenantCycle {
  slos: SloFigures[];
  /** Alert transitions the cycle stored and handed to its notifiers. */
  transitions: AlertTransition[];
}

export type EvaluationCycle = (tenant: string, nowMs: number) => Promise<TenantCycle>;

/** The SLO engine's cycle for one tenant: alerts stored and notified, figures for EMF. */
export function engineCycle(opts: SloEngineOptions): EvaluationCycle {
  return async (tenant, nowMs) => {
    const result = (await runEvaluationCycle({ ...opts, tenants: [tenant], nowMs })).get(tenant);
    if (!result) throw new Error(`evaluate: the SLO engine returned nothing for tenant ${tenant}`);
    return {
      slos: result.slos.map((s) => ({ tenant, slo_id: s.id, service: s.service, budget_remaining: s.budget_remaining, burn_rates: { ...s.burn_rates } })),
      transitions: result.transitions,
    };
  };
}

export interface EvaluatorDeps {
  tenants: () => Promise<readonly string[]>;
  cycle: EvaluationCycle;
  namespace: string;
  stage: string;
  /** Where EMF lines go: one JSON document per line (default: stdout, bypassing console's prefix). */
  emit?: (line: string) => void;
}

export interface EvaluationSummary {
  at: string;
  tenants: number;
  slos: number;
  transitions: number;
  /** Tenants whose cycle failed, with why; the others still ran. */
  failed: { tenant: string; error: string }[];
}

/** The schedule's own time, so a retried or late invocation evaluates the minute it was meant for. */
export function scheduledTimeMs(event: ScheduledEvent): number {
  if (event?.['detail-type'] !== 'Scheduled Event' || event.source !== 'aws.events') {
    throw new Error(`evaluate: expected an EventBridge "Scheduled Event" from aws.events, got detail-type ${JSON.stringify(event?.['detail-type'])} from ${JSON.stringify(event?.source)}`);
  }
  const ms = Date.parse(event.time);
  if (!Number.isFinite(ms)) throw new Error(`evaluate: event.time ${JSON.stringify(event.time)} is not an RFC 3339 time`);
  return ms;
}

export function createEvaluateHandler(deps: EvaluatorDeps): (event: ScheduledEvent) => Promise<EvaluationSummary> {
  const emit = deps.emit ?? ((line: string) => void process.stdout.write(`${line}\n`));
  return async (event) => {
    const nowMs = scheduledTimeMs(event);
    const summary: EvaluationSummary = { at: new Date(nowMs).toISOString(), tenants: 0, slos: 0, transitions: 0, failed: [] };
    for (const tenant of await deps.tenants()) {
      summary.tenants++;
      try {
        const result = await deps.cycle(tenant, nowMs);
        summary.slos += result.slos.length;
        summary.transitions += result.transitions.length;
        for (const f of result.slos) {
          const doc = emfDocument(f, { namespace: deps.namespace, stage: deps.stage, timestampMs: nowMs });
          if (doc) emit(JSON.stringify(doc));
        }
      } catch (err) {
        summary.failed.push({ tenant, error: (err as Error).message });
      }
    }
    // A failed tenant fails the invocation (the Errors alarm sees it) after every other tenant ran.
    if (summary.failed.length > 0) {
      throw new Error(`evaluate: ${summary.failed.length} of ${summary.tenants} tenant(s) failed: ${summary.failed.map((f) => `${f.tenant}: ${f.error}`).join('; ')}`);
    }
    return summary;
  };
}
