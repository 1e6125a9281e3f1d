// The gateway's own counters, served as Prometheus text on GET /metrics.

import type { WriteAdmission } from './admission.ts';
import type { ActiveSeriesLimit } from './series-limit.ts';

export class SelfMetrics {
  private readonly requests = new Map<string, number>();
  pointsAccepted = 0;
  pointsDuplicate = 0;
  pointsRejected = 0;
  /** Overload protection and the series limit, read at render time (set by the app that owns them). */
  admission?: WriteAdmission;
  seriesLimit?: ActiveSeriesLimit;

  countRequest(route: string, status: number): void {
    const key = `route="${escapeLabel(route)}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  render(): string {
    const lines = [
      '# HELP burnwatch_gateway_requests_total HTTP requests answered, by route and status.',
      '# TYPE burnwatch_gateway_requests_total counter',
      ...[...this.requests.entries()].sort().map(([labels, n]) => `burnwatch_gateway_requests_total{${labels}} ${n}`),
      '# HELP burnwatch_gateway_points_accepted_total OTLP data points stored.',
      '# TYPE burnwatch_gateway_points_accepted_total counter',
      `burnwatch_gateway_points_accepted_total ${this.pointsAccepted}`,
      '# HELP burnwatch_gateway_points_duplicate_total OTLP data points already stored (retries), not counted twice.',
      '# TYPE burnwatch_gateway_points_duplicate_total counter',
      `burnwatch_gateway_points_duplicate_total ${this.pointsDuplicate}`,
      '# HELP burnwatch_gateway_points_rejected_total OTLP data points rejected as invalid.',
      '# TYPE burnwatch_gateway_points_rejected_total counter',
      `burnwatch_gateway_points_rejected_total ${this.pointsRejected}`,
      ...this.renderAdmission(),
      ...this.renderSeriesLimit(),
    ];
    return `${lines.join('\n')}\n`;
  }

  private renderAdmission(): string[] {
    const a = this.admission;
    if (!a) return [];
    return [
      '# HELP burnwatch_gateway_pending_writes Writes in progress or queued for the store.',
      '# TYPE burnwatch_gateway_pending_writes gauge',
      `burnwatch_gateway_pending_writes ${a.inFlight}`,
      '# HELP burnwatch_gateway_pending_writes_limit Writes the gateway holds at once before answering 429.',
      '# TYPE burnwatch_gateway_pending_writes_limit gauge',
      `burnwatch_gateway_pending_writes_limit ${a.limits.maxPendingWrites}`,
      '# HELP burnwatch_gateway_writes_refused_total Write requests refused with 429 because the pending-write limit was reached.',
      '# TYPE burnwatch_gateway_writes_refused_total counter',
      `burnwatch_gateway_writes_refused_total ${a.refused}`,
    ];
  }

  private renderSeriesLimit(): string[] {
    const s = this.seriesLimit;
    if (!s) return [];
    const rows = s.snapshot();
    const per = (name: string, pick: (r: (typeof rows)[number]) => number) => rows.map((r) => `${name}{tenant="${escapeLabel(r.tenant)}"} ${pick(r)}`);
    return [
      '# HELP burnwatch_gateway_active_series Series with a point within the active window, by tenant.',
      '# TYPE burnwatch_gateway_active_series gauge',
      ...per('burnwatch_gateway_active_series', (r) => r.active),
      '# HELP burnwatch_gateway_active_series_limit Active series a tenant may have.',
      '# TYPE burnwatch_gateway_active_series_limit gauge',
      `burnwatch_gateway_active_series_limit ${s.limits.maxActiveSeries}`,
      '# HELP burnwatch_gateway_series_refused_total New series refused because the tenant was at its active-series limit.',
      '# TYPE burnwatch_gateway_series_refused_total counter',
      ...per('burnwatch_gateway_series_refused_total', (r) => r.refusedSeries),
      '# HELP burnwatch_gateway_points_refused_series_limit_total Data points refused because their series was over the active-series limit.',
      '# TYPE burnwatch_gateway_points_refused_series_limit_total counter',
      ...per('burnwatch_gateway_points_refused_series_limit_total', (r) => r.refusedPoints),
    ];
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
