// SLO figures as CloudWatch Embedded Metric Format: one JSON line per SLO on stdout, which
// CloudWatch Logs turns into metrics with no PutMetricData call (and no extra IAM permission).
// Each value is published twice: per tenant/service/SLO (for dashboards) and per stage only, so
// alarms defined at deploy time (when no SLO is known yet) can watch the worst SLO with the
// Minimum/Maximum statistic.

/**
 * Burn-rate windows published: the page (1 h) and ticket-ish (6 h) long windows. Each metric per
 * SLO is a CloudWatch custom metric billed monthly, so not all six standard windows.
 */
export const EMF_BURN_WINDOWS: readonly string[] = ['1h', '6h'];

export const EMF_METRICS = {
  budgetRemaining: 'BudgetRemaining',
  burnRate: (window: string) => `BurnRate${window}`,
} as const;

export interface SloFigures {
  tenant: string;
  slo_id: string;
  service: string;
  /** Fraction of the error budget left over the SLO window; null without requests. */
  budget_remaining: number | null;
  /** Burn rate per window label ("5m", "1h", …); null where the window had no requests. */
  burn_rates?: Readonly<Record<string, number | null>>;
}

/** The EMF document for one SLO, or undefined when it has no figure to publish yet. */
export function emfDocument(f: SloFigures, opts: { namespace: string; stage: string; timestampMs: number }): Record<string, unknown> | undefined {
  const values: Record<string, number> = {};
  if (f.budget_remaining !== null && Number.isFinite(f.budget_remaining)) values[EMF_METRICS.budgetRemaining] = f.budget_remaining;
  for (const window of EMF_BURN_WINDOWS) {
    const rate = f.burn_rates?.[window];
    if (rate !== null && rate !== undefined && Number.isFinite(rate)) values[EMF_METRICS.burnRate(window)] = rate;
  }
  if (Object.keys(values).length === 0) return undefined;
  return {
    _aws: {
      Timestamp: opts.timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: opts.namespace,
          Dimensions: [['Stage', 'Tenant', 'Service', 'Slo'], ['Stage']],
          Metrics: Object.keys(values).map((Name) => ({ Name, Unit: 'None' })),
        },
      ],
    },
    Stage: opts.stage,
    Tenant: f.tenant,
    Service: f.service,
    Slo: f.slo_id,
    ...values,
  };
}
