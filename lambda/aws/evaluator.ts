// The scheduled SLO evaluation on AWS: for each tenant, one SLO-engine cycle at the schedule's
// time (rollups, burn rates, alert state machine, notifications — lambda/slo/engine.ts, the same
// code the local stack runs), its figures then published as EMF metrics.

import type { Context, ScheduledEvent } from 'aws-lambda';
import type { AlertTransition } from '../notify/types.ts';
import { runEvaluationCycle, type SloEngineOptions } from '../slo/engine.ts';
import { emfDocument, type SloFigures } from './emf.ts';

export interface TenantCycle {
  slos: SloFigures[];
  /** Alert transitions the cycle stored and handed to its notifiers. */
  transitions: AlertTransition[];
  /** Set when the run did nothing: an evaluation at this time or a later one was already claimed (that time). */
  alreadyEvaluatedMs?: number;
  /** Rollup chunks read, and left for the next run (a backfill stopped by the deadline). */
  rollups?: { chunks: number; left: number };
}

/** `deadlineMs` (wall clock): when the cycle must stop starting rollup work (the invocation's time budget). */
export type EvaluationCycle = (tenant: string, nowMs: number, run?: { deadlineMs?: number }) => Promise<TenantCycle>;

/** The SLO engine's cycle for one tenant: alerts stored and notified, figures for EMF. */
export function engineCycle(opts: SloEngineOptions): EvaluationCycle {
  return async (tenant, nowMs, run = {}) => {
    // The run guard: a retried or delayed invocation carrying an old time must neither move the
    // rollup watermark back nor step alert states with a stale clock.
    const claim = await opts.sloStore.claimEvaluation(tenant, nowMs);
    if (!claim.claimed) return { slos: [], transitions: [], alreadyEvaluatedMs: claim.lastEvaluatedMs };
    const result = (await runEvaluationCycle({ ...opts, ...(run.deadlineMs !== undefined ? { deadlineMs: run.deadlineMs } : {}), tenants: [tenant], nowMs })).get(tenant);
    if (!result) throw new Error(`evaluate: the SLO engine returned nothing for tenant ${tenant}`);
    return {
      slos: result.slos.map((s) => ({ tenant, slo_id: s.id, service: s.service, budget_remaining: s.budget_remaining, burn_rates: { ...s.burn_rates } })),
      transitions: result.transitions,
      ...(result.rollups ? { rollups: { chunks: result.rollups.chunks, left: result.rollups.left } } : {}),
    };
  };
}

/** Evaluating after the rollups (reads, alert states, SNS, EMF) takes a few seconds; 15 s of a 55 s timeout leaves it ample room. */
const DEFAULT_RESERVE_MS = 15_000;

export interface EvaluatorDeps {
  tenants: () => Promise<readonly string[]>;
  cycle: EvaluationCycle;
  namespace: string;
  stage: string;
  /** Where EMF lines go: one JSON document per line (default: stdout, bypassing console's prefix). */
  emit?: (line: string) => void;
  /** Where skipped runs are reported (default: stderr, i.e. the function's log). */
  log?: (line: string) => void;
  /**
   * Of the invocation's remaining time, what is kept for evaluating after the rollups (figures,
   * alert states, notifications, EMF) — rollup work stops starting before the rest (default 15 s).
   */
  reserveMs?: number;
  /** The wall clock budgets are read on (default Date.now). */
  clock?: () => number;
}

export interface EvaluationSummary {
  at: string;
  tenants: number;
  slos: number;
  transitions: number;
  /** Tenants whose cycle failed, with why; the others still ran. */
  failed: { tenant: string; error: string }[];
  /** Tenants not evaluated because an evaluation at this time or later already ran (a retry, a late or duplicate invocation). */
  skipped: { tenant: string; already_evaluated_at: string }[];
  /** Rollup chunks read this run, and left for the next (a backfill resumes from its saved watermark). */
  rollup_chunks: number;
  rollup_chunks_left: number;
  /** The invocation's time: what Lambda allowed when it began, and what the run took (on `clock`). */
  timeout_ms: number | null;
  elapsed_ms: number;
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

/** What a run reads of Lambda's context: the time it has left (absent when called without one: no deadline). */
export type InvocationClock = Pick<Context, 'getRemainingTimeInMillis'>;

export function createEvaluateHandler(deps: EvaluatorDeps): (event: ScheduledEvent, context?: InvocationClock) => Promise<EvaluationSummary> {
  const emit = deps.emit ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const log = deps.log ?? ((line: string) => console.error(line));
  const clock = deps.clock ?? Date.now;
  return async (event, context) => {
    const startMs = clock();
    const timeoutMs = context ? context.getRemainingTimeInMillis() : null;
    // Rollup work of every tenant shares one deadline; whatever it leaves resumes next minute.
    const deadlineMs = timeoutMs === null ? undefined : startMs + timeoutMs - (deps.reserveMs ?? DEFAULT_RESERVE_MS);
    const nowMs = scheduledTimeMs(event);
    const summary: EvaluationSummary = {
      at: new Date(nowMs).toISOString(),
      tenants: 0,
      slos: 0,
      transitions: 0,
      failed: [],
      skipped: [],
      rollup_chunks: 0,
      rollup_chunks_left: 0,
      timeout_ms: timeoutMs,
      elapsed_ms: 0,
    };
    for (const tenant of await deps.tenants()) {
      summary.tenants++;
      try {
        const result = await deps.cycle(tenant, nowMs, { deadlineMs });
        summary.rollup_chunks += result.rollups?.chunks ?? 0;
        summary.rollup_chunks_left += result.rollups?.left ?? 0;
        if (result.alreadyEvaluatedMs !== undefined) {
          const skipped = { tenant, already_evaluated_at: new Date(result.alreadyEvaluatedMs).toISOString() };
          summary.skipped.push(skipped);
          log(`evaluate: tenant ${tenant} skipped at ${summary.at}: already evaluated at ${skipped.already_evaluated_at} (a retried, late or duplicate invocation)`);
          continue;
        }
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
    summary.elapsed_ms = clock() - startMs;
    // A failed tenant fails the invocation (the Errors alarm sees it) after every other tenant ran.
    if (summary.failed.length > 0) {
      throw new Error(`evaluate: ${summary.failed.length} of ${summary.tenants} tenant(s) failed: ${summary.failed.map((f) => `${f.tenant}: ${f.error}`).join('; ')}`);
    }
    return summary;
  };
}
