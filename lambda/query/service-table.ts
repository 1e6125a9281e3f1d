// One row per service for the CLI's live table: request rate, error share and p99 over the last
// few minutes (the /v1/services numbers) next to the lowest error budget left among its SLOs.

import type { MetricStore } from '../storage/types.ts';
import { evaluateSlos } from '../slo/evaluate.ts';
import { seenNote } from '../../common/window-seen.ts';
import { listServices, SERVICES_WINDOW_MS } from './services.ts';

export interface ServiceRow {
  service: string;
  hosts: string[];
  requestsPerSecond: number;
  /** Server errors / requests (0..1); null without requests. */
  errorRatio: number | null;
  /** Seconds; null without requests. */
  p99: number | null;
  /** The lowest budget_remaining among the service's SLOs (may be negative); null without data. */
  budgetRemaining: number | null;
  /** The SLO that has the least budget left. */
  worstSlo: string | null;
  /** How much of its window that SLO has data for ("12 min of 30 d"), when it is a small part. */
  worstSloSeen?: string;
}

export interface ServiceTableOptions {
  tenant: string;
  nowMs: number;
  /** Window of the rate, error share and p99 (default: the /v1/services window). */
  windowMs?: number;
  /** When data started to flow (e.g. the stack's start): a rate must not be diluted by time before it. */
  sinceMs?: number;
  /** The SLO figures to show (the SLO engine's, with user SLOs); default: the default SLOs evaluated from raw points. */
  slos?: readonly { id: string; service: string; budget_remaining: number | null; window?: string; window_seen_seconds?: number | null }[];
}

export async function serviceTable(store: MetricStore, opts: ServiceTableOptions): Promise<ServiceRow[]> {
  const windowMs = opts.windowMs ?? SERVICES_WINDOW_MS;
  const coveredMs = Math.max(1, Math.min(windowMs, opts.nowMs - (opts.sinceMs ?? -Infinity)));
  const [services, slos] = await Promise.all([listServices(store, { ...opts, windowMs }), opts.slos ?? evaluateSlos(store, opts)]);
  return services.map((s) => {
    let worst: { id: string; budget: number; seen?: string } | undefined;
    for (const slo of slos) {
      if (slo.service !== s.name || slo.budget_remaining === null) continue;
      if (!worst || slo.budget_remaining < worst.budget) {
        const seen = 'window_seen_seconds' in slo && slo.window !== undefined ? seenNote(slo.window_seen_seconds, slo.window) : undefined;
        worst = { id: slo.id, budget: slo.budget_remaining, ...(seen ? { seen } : {}) };
      }
    }
    return {
      service: s.name,
      hosts: s.hosts,
      requestsPerSecond: s.requests / (coveredMs / 1000),
      errorRatio: s.requests > 0 ? s.errors / s.requests : null,
      p99: s.p99,
      budgetRemaining: worst?.budget ?? null,
      worstSlo: worst?.id ?? null,
      ...(worst?.seen ? { worstSloSeen: worst.seen } : {}),
    };
  });
}
