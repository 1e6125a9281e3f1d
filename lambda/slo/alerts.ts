// The alert state machine for one (SLO, rule), as a pure function of the previous record and
// this evaluation's figures, so it is tested on synthetic numbers and the same code runs locally
// and in Lambda. Two kinds of rule feed the same machine:
//
// Burn-rate rules (docs/slo.md, "Alerting"):
//   over  = burn(long) > factor AND burn(short) > factor            (the Workbook's condition)
//   clear = burn(long) < factor·(1−h) OR burn(short) < factor·(1−h) OR either window has no data
// The no-data rule (`no_data`, one per SLO): a burn rate cannot see a service that stopped
// answering — no requests, no bad requests — so silence has its own condition:
//   over  = requests in the SLO window AND none in the last `silence`
//   clear = requests again in the last `silence`, OR none in the whole window (retired)
//
// The machine:
//   inactive/resolved --over--> pending (firing at once when `for` is 0)   — a new episode
//   pending --not clear for `for`--> firing;  pending --clear--> resolved (never fired)
//   firing  --clear--> resolved
// Between the two thresholds nothing changes: a burn hovering around the factor cannot flap,
// because leaving needs a drop of h (10% by default) below it. Each state is entered at most
// once per episode, so every transition is notified exactly once (de-duplication).

import type { AlertEvidence, AlertSeverity, AlertTransition, BurnRates } from '../notify/types.ts';
import { NO_DATA_RULE, type BurnRateRule, type SloDefinition } from './definitions.ts';
import { windowLabel, type WindowFigures } from './math.ts';
import type { AlertRecord } from './store.ts';
import { formatDuration } from '../../common/duration.ts';

export const DEFAULT_HYSTERESIS = 0.1;

/** A silent service is an outage seen from outside: it pages. */
export const NO_DATA_SEVERITY: AlertSeverity = 'page';

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
  return stepCondition(prev, {
    ...e,
    over: isOver(e),
    clear: isClear(e, e.hysteresis),
    evidence: evidenceOf(e),
    summary: (record) => burnSummary(record, e),
  });
}

export interface NoDataEvaluation {
  tenant: string;
  slo: SloDefinition;
  /** How long without requests counts as silent. */
  silenceMs: number;
  /** Requests in the last `silenceMs`. */
  recentTotal: number;
  /** The SLO window's figures. */
  window: WindowFigures;
  /** Start of the last bucket with requests in the window (null: none, or not looked up). */
  lastSeenMs: number | null;
  burnRates: BurnRates;
  budgetRemaining: number | null;
  nowMs: number;
}

/** Whether the SLO's service went silent: requests in its window, none lately. */
export function isSilent(e: Pick<NoDataEvaluation, 'recentTotal' | 'window'>): boolean {
  return e.recentTotal === 0 && e.window.total > 0;
}

export function stepNoData(prev: AlertRecord | undefined, e: NoDataEvaluation): AlertStep {
  const silent = isSilent(e);
  const evidence: AlertEvidence = {
    rule: NO_DATA_RULE,
    factor: 0,
    long_window: windowLabel(e.slo.window),
    short_window: formatDuration(e.silenceMs),
    long_burn_rate: e.window.burn_rate,
    short_burn_rate: null,
    long_total: e.window.total,
    long_bad: e.window.bad,
    short_total: e.recentTotal,
    short_bad: 0,
    burn_rates: e.burnRates,
    last_seen: e.lastSeenMs === null ? null : new Date(e.lastSeenMs).toISOString(),
    silence: formatDuration(e.silenceMs),
  };
  return stepCondition(prev, {
    tenant: e.tenant,
    slo: e.slo,
    rule: { name: NO_DATA_RULE, severity: NO_DATA_SEVERITY, forMs: 0 },
    over: silent,
    clear: !silent,
    evidence,
    burnRates: e.burnRates,
    budgetRemaining: e.budgetRemaining,
    nowMs: e.nowMs,
    summary: (record) => noDataSummary(record, e),
  });
}

interface ConditionStep {
  tenant: string;
  slo: SloDefinition;
  rule: Pick<BurnRateRule, 'name' | 'severity' | 'forMs'>;
  over: boolean;
  clear: boolean;
  evidence: AlertEvidence;
  burnRates: BurnRates;
  budgetRemaining: number | null;
  nowMs: number;
  summary: (record: AlertRecord) => string;
}

/** The state machine itself, for any rule that says when its condition holds and when it has cleared. */
function stepCondition(prev: AlertRecord | undefined, e: ConditionStep): AlertStep {
  const active = prev !== undefined && prev.state !== 'resolved';
  const evidence = e.evidence;
  if (!active) {
    if (!e.over) return { record: prev };
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
  if (e.clear) {
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

function transitionOf(record: AlertRecord, from: AlertTransition['from'], e: ConditionStep): AlertTransition {
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
    summary: e.summary(record),
  };
}

function x(v: number | null): string {
  return v === null ? 'no data' : `${v.toFixed(1)}×`;
}

function budgetText(record: AlertRecord): string {
  return record.budget_remaining === null ? 'budget unknown' : `budget left ${(record.budget_remaining * 100).toFixed(1)}%`;
}

function burnSummary(record: AlertRecord, e: RuleEvaluation): string {
  const ev = record.evidence;
  const what = `${e.slo.service}: ${e.slo.kind} SLO ${e.slo.id}`;
  const burn = `burning ${x(ev.long_burn_rate)} over ${ev.long_window} (${ev.short_window}: ${x(ev.short_burn_rate)}; threshold ${ev.factor}×)`;
  if (record.state === 'resolved') return `[${record.severity}] RESOLVED ${what}: now ${burn}; ${budgetText(record)}`;
  return `[${record.severity}] ${record.state.toUpperCase()} ${what} ${burn}; ${budgetText(record)}`;
}

function noDataSummary(record: AlertRecord, e: NoDataEvaluation): string {
  const ev = record.evidence;
  const what = `${e.slo.service}: ${e.slo.kind} SLO ${e.slo.id}`;
  if (record.state !== 'resolved') {
    const since = ev.last_seen ? `no requests since ${ev.last_seen}` : 'no requests';
    return `[${record.severity}] ${record.state.toUpperCase()} ${what}: NO DATA — ${since} (none in the last ${ev.short_window}; it had ${ev.long_total} in its ${ev.long_window} window); ${budgetText(record)}`;
  }
  if (e.recentTotal > 0) return `[${record.severity}] RESOLVED ${what}: requests again (${e.recentTotal} in the last ${ev.short_window}); ${budgetText(record)}`;
  return `[${record.severity}] RESOLVED ${what}: no requests in its whole ${ev.long_window} window, so it counts as retired`;
}
