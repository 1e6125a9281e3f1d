// The alert state machine for one (SLO, burn-rate rule), as a pure function of the previous
// record and this evaluation's figures, so it is tested on synthetic numbers and the same code
// runs locally and in Lambda.
//
// The rule (docs/slo.md, "Alerting"):
//   over  = burn(long) > factor AND burn(short) > factor            (the Workbook's condition)
//   clear = burn(long) < factor·(1−h) OR burn(short) < factor·(1−h) OR either window has no data
//   inactive/resolved --over--> pending (firing at once when `for` is 0)   — a new episode
//   pending --not clear for `for`--> firing;  pending --clear--> resolved (never fired)
//   firing  --clear--> resolved
// Between the two thresholds nothing changes: a burn hovering around the factor cannot flap,
// because leaving needs a drop of h (10% by default) below it. Each state is entered at most
// once per episode, so every transition is notified exactly once (de-duplication).

import type { AlertEvidence, AlertTransition, BurnRates } from '../notify/types.ts';
import type { BurnRateRule, SloDefinition } from './definitions.ts';
import type { WindowFigures } from './math.ts';
import type { AlertRecord } from './store.ts';
import { formatDuration } from '../../common/duration.ts';

export const DEFAULT_HYSTERESIS = 0.1;

export interface RuleEvaluation {
  tenant: string;
  slo: SloDefinition;
  rule: BurnRateRule;
  long: WindowFigures;
  short: WindowFigures;
  burnRates: BurnRates;
  budgetRemaining: number | null;
  nowMs: number;
  hysteresis?: number;
}

export interface AlertStep {
  /** The record to store (undefined: nothing to store — no alert has ever been raised). */
  record: AlertRecord | undefined;
  transition?: AlertTransition;
}

export function isOver(e: Pick<RuleEvaluation, 'rule' | 'long' | 'short'>): boolean {
  const f = e.rule.factor;
  return e.long.burn_rate !== null && e.short.burn_rate !== null && e.long.burn_rate > f && e.short.burn_rate > f;
}

export function isClear(e: Pick<RuleEvaluation, 'rule' | 'long' | 'short'>, hysteresis = DEFAULT_HYSTERESIS): boolean {
  const low = e.rule.factor * (1 - hysteresis);
  return e.long.burn_rate === null || e.short.burn_rate === null || e.long.burn_rate < low || e.short.burn_rate < low;
}

export function stepAlert(prev: AlertRecord | undefined, e: RuleEvaluation): AlertStep {
  const active = prev !== undefined && prev.state !== 'resolved';
  const evidence = evidenceOf(e);
  if (!active) {
    if (!isOver(e)) return { record: prev };
    const episode = (prev?.episode ?? 0) + 1;
    const state = e.rule.forMs > 0 ? 'pending' : 'firing';
    const record: AlertRecord = {
      alert_id: `${e.slo.id}/${e.rule.name}#${episode}`,
      slo_id: e.slo.id,
      service: e.slo.service,
      rule: e.rule.name,
      severity: e.rule.severity,
      state,
      since_ms: e.nowMs,
      state_since_ms: e.nowMs,
      condition_since_ms: e.nowMs,
      episode,
      updated_ms: e.nowMs,
      burn_rates: e.burnRates,
      budget_remaining: e.budgetRemaining,
      evidence,
    };
    return { record, transition: transitionOf(record, null, e) };
  }
  const updated: AlertRecord = { ...prev, updated_ms: e.nowMs, burn_rates: e.burnRates, budget_remaining: e.budgetRemaining, evidence };
  if (isClear(e, e.hysteresis)) {
    const record: AlertRecord = { ...updated, state: 'resolved', state_since_ms: e.nowMs, condition_since_ms: null };
    return { record, transition: transitionOf(record, prev.state, e) };
  }
  if (prev.state === 'pending' && e.nowMs - prev.since_ms >= e.rule.forMs) {
    const record: AlertRecord = { ...updated, state: 'firing', state_since_ms: e.nowMs };
    return { record, transition: transitionOf(record, 'pending', e) };
  }
  return { record: updated };
}

function evidenceOf(e: RuleEvaluation): AlertEvidence {
  return {
    rule: e.rule.name,
    factor: e.rule.factor,
    long_window: formatDuration(e.rule.longMs),
    short_window: formatDuration(e.rule.shortMs),
    long_burn_rate: e.long.burn_rate,
    short_burn_rate: e.short.burn_rate,
    long_total: e.long.total,
    long_bad: e.long.bad,
    short_total: e.short.total,
    short_bad: e.short.bad,
    burn_rates: e.burnRates,
  };
}

function transitionOf(record: AlertRecord, from: AlertTransition['from'], e: RuleEvaluation): AlertTransition {
  const at = new Date(e.nowMs).toISOString();
  return {
    id: `${record.alert_id}:${record.state}`,
    alert_id: record.alert_id,
    slo_id: record.slo_id,
    service: record.service,
    tenant: e.tenant,
    severity: record.severity,
    from,
    to: record.state,
    at,
    since: new Date(record.since_ms).toISOString(),
    budget_remaining: record.budget_remaining,
    evidence: record.evidence,
    summary: summaryOf(record, e),
  };
}

function x(v: number | null): string {
  return v === null ? 'no data' : `${v.toFixed(1)}×`;
}

function summaryOf(record: AlertRecord, e: RuleEvaluation): string {
  const ev = record.evidence;
  const budget = record.budget_remaining === null ? 'budget unknown' : `budget left ${(record.budget_remaining * 100).toFixed(1)}%`;
  const what = `${e.slo.service}: ${e.slo.kind} SLO ${e.slo.id}`;
  const burn = `burning ${x(ev.long_burn_rate)} over ${ev.long_window} (${ev.short_window}: ${x(ev.short_burn_rate)}; threshold ${ev.factor}×)`;
  if (record.state === 'resolved') return `[${record.severity}] RESOLVED ${what}: now ${burn}; ${budget}`;
  return `[${record.severity}] ${record.state.toUpperCase()} ${what} ${burn}; ${budget}`;
}
