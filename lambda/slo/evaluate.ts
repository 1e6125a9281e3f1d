// A stateless evaluation of the *default* SLOs straight from raw points, for in-process readers
// that have only a MetricStore (serviceTable without engine figures). The SLO engine (engine.ts:
// rollups, burn rates, alerts, user specs) is the authority behind the API and `burnwatch up`'s
// table; both count requests the same way (isServerError, countAtMost).
//
// SLI = good / total over the SLO's rolling window (30 days by default, so a new install is
// judged on all the data it has). Availability: good = not a server error (status < 500).
// Latency: good = duration ≤ threshold, counted from histogram buckets: a bucket counts as good
// only when its upper bound is ≤ the threshold, so requests slightly under the threshold in the
// bucket that straddles it count as bad (the SLI errs on the strict side). The status reports
// the boundary really used as `effective_threshold_seconds`; at the agent's scale 5 the gap is
// under 2.2% of the threshold (300 ms → requests in (297.3 ms, 300 ms] count as slow), and for
// explicit-bucket senders it is the largest bucket bound ≤ the threshold.

import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { Accumulator } from '../query/accumulate.ts';
import { fetchDeltas } from '../query/deltas.ts';
import { servicesSeen } from '../query/services.ts';
import { serviceOf } from '../storage/series.ts';
import { msToNs } from '../query/time.ts';
import type { MetricStore } from '../storage/types.ts';
import { BUILTIN_DEFAULTS, defaultSlos, type SloDefinition, type SloKind } from './definitions.ts';
import { windowLabel, windowStartMs } from './math.ts';

function windowMs(slo: SloDefinition): number | string {
  return slo.window.kind === 'rolling' ? slo.window.ms : slo.window.kind;
}

/** One SLO's state, in the shape `GET /v1/slos` returns. */
export interface SloStatus {
  id: string;
  service: string;
  kind: SloKind;
  objective: number;
  /** good / total; null without requests in the window. */
  sli: number | null;
  /** 1 − (1 − sli) / (1 − objective): 1 untouched, 0 spent, negative overspent; null without requests. */
  budget_remaining: number | null;
  /** The rolling window, e.g. "30d". */
  window: string;
  good: number;
  total: number;
  threshold_seconds?: number;
  /** The histogram boundary the latency SLI really counts up to (≤ threshold_seconds). */
  effective_threshold_seconds?: number;
  /** Latency requests whose histogram buckets cannot answer the threshold (in neither good nor total), and why. */
  unknown?: number;
  sli_unknown_reason?: string;
}

export interface EvaluateOptions {
  tenant: string;
  nowMs: number;
}

/** The default SLOs of every service seen within their window, evaluated at `nowMs`. */
export async function evaluateSlos(store: MetricStore, opts: EvaluateOptions): Promise<SloStatus[]> {
  const seen = await servicesSeen(store, opts.tenant, { fromMs: windowStartMs(BUILTIN_DEFAULTS.window, opts.nowMs), nowMs: opts.nowMs });
  const slos = seen.flatMap((svc) => defaultSlos(svc, BUILTIN_DEFAULTS));
  return evaluateDefinitions(store, opts, slos);
}

export async function evaluateDefinitions(store: MetricStore, opts: EvaluateOptions, slos: readonly SloDefinition[]): Promise<SloStatus[]> {
  // One fetch per (metric, window) serves every SLO over it, whatever the service or threshold.
  const byData = new Map<string, SloDefinition[]>();
  for (const slo of slos) {
    const key = JSON.stringify([HTTP_SERVER_DURATION, windowMs(slo)]);
    byData.set(key, [...(byData.get(key) ?? []), slo]);
  }
  const statuses = new Map<string, SloStatus>();
  for (const group of byData.values()) {
    const metric = HTTP_SERVER_DURATION;
    const fromNs = msToNs(windowStartMs(group[0].window, opts.nowMs));
    const deltas = await fetchDeltas(store, { tenant: opts.tenant, metric, fromNs, toNs: msToNs(opts.nowMs) });
    const accumulators = new Map<string, Accumulator>();
    const perService = new Map<string, Accumulator[]>();
    for (const slo of group) {
      const key = JSON.stringify([slo.service, slo.thresholdSeconds ?? null]);
      let acc = accumulators.get(key);
      if (!acc) {
        acc = new Accumulator(slo.thresholdSeconds);
        accumulators.set(key, acc);
        perService.set(slo.service, [...(perService.get(slo.service) ?? []), acc]);
      }
    }
    for (const p of deltas) {
      const service = serviceOf(p.series);
      for (const acc of (service !== undefined && perService.get(service)) || []) acc.add(p);
    }
    for (const slo of group) {
      statuses.set(slo.id, status(slo, accumulators.get(JSON.stringify([slo.service, slo.thresholdSeconds ?? null]))!));
    }
  }
  return slos.map((s) => statuses.get(s.id)!);
}

function status(slo: SloDefinition, acc: Accumulator): SloStatus {
  const latency = slo.kind === 'latency' ? acc.latency() : undefined;
  // Latency requests whose buckets cannot answer the threshold are in neither good nor total.
  const total = latency ? latency.total : acc.count;
  const good = latency ? latency.good : total - acc.errors;
  const out: SloStatus = {
    id: slo.id,
    service: slo.service,
    kind: slo.kind,
    objective: slo.objective,
    sli: total > 0 ? good / total : null,
    budget_remaining: total > 0 ? 1 - (total - good) / (total * (1 - slo.objective)) : null,
    window: windowLabel(slo.window),
    good,
    total,
  };
  if (slo.thresholdSeconds !== undefined) out.threshold_seconds = slo.thresholdSeconds;
  if (latency?.effectiveThreshold !== undefined) out.effective_threshold_seconds = latency.effectiveThreshold;
  if (latency?.unknown) Object.assign(out, { unknown: latency.unknown, sli_unknown_reason: latency.unknownReason });
  return out;
}
