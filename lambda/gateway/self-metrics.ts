// The gateway's own counters, served as Prometheus text on GET /metrics.

export class SelfMetrics {
  private readonly requests = new Map<string, number>();
  pointsAccepted = 0;
  pointsDuplicate = 0;
  pointsRejected = 0;

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
    ];
    return `${lines.join('\n')}\n`;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
