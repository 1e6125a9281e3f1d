// An alert transition as the SLO engine emits it, for notifier and hints tests.

import type { AlertTransition } from '../../lambda/notify/types.ts';

export const transition: AlertTransition = {
  id: 'checkout:availability/page-1h-5m#1@2026-11-23T14:00:00.000Z:firing',
  alert_id: 'checkout:availability/page-1h-5m#1',
  slo_id: 'checkout:availability',
  service: 'checkout',
  tenant: 'acme',
  severity: 'page',
  from: 'pending',
  to: 'firing',
  at: '2026-11-23T14:00:00.000Z',
  since: '2026-11-23T13:58:00.000Z',
  budget_remaining: 0.62,
  evidence: {
    rule: 'page-1h-5m', factor: 14.4, long_window: '1h', short_window: '5m', long_burn_rate: 16.2, short_burn_rate: 19.8,
    long_total: 10_000, long_bad: 162, short_total: 800, short_bad: 16,
    burn_rates: { '5m': 19.8, '30m': 17, '1h': 16.2, '6h': 4.1, '1d': 1.2, '3d': 0.6 },
  },
  summary: 'checkout: availability SLO burning 16.2× over 1h (5m: 19.8×); page',
};

/** The same transition as the SLO engine stores and notifies it once its hints are computed. */
export const hintedTransition: AlertTransition = {
  ...transition,
  hints: [
    {
      rank: 1,
      kind: 'slow_dependency',
      service: 'stock',
      peer: '10.0.3.7:6379',
      summary: 'redis GET on 10.0.3.7:6379 from stock: p99 2.1 s, was 4 ms; 73% of the extra request time',
      confidence: 0.83,
      explained_share: 0.73,
      evidence: [{ metric: 'db.client.operation.duration', labels: { 'db.system': 'redis', 'db.operation.name': 'GET' }, baseline: 0.004, incident: 2.1, unit: 's', changed_at: 1795442220 }],
      chain: ['checkout', 'stock'],
      next_step: 'look at the Redis server on 10.0.3.7:6379 (slow log, memory, CPU)',
    },
    {
      rank: 2,
      kind: 'network',
      service: 'stock',
      peer: '10.0.3.7:6379',
      summary: 'TCP retransmits to 10.0.3.7:6379 rose from 0 to 310/min',
      confidence: 0.41,
      explained_share: 0.3,
      evidence: [],
      chain: ['checkout', 'stock'],
      next_step: 'check the link to 10.0.3.7',
    },
  ],
  hints_meta: { status: 'computed', from: 1795441800, to: 1795442400 },
};

/**
 * An availability SLO at 99% on `route` (default /api/checkout) whose page rule uses short windows
 * (`longS` long, default 60 s; `shortS` short; `forS` pending), so end-to-end tests see a burn page
 * within seconds. The long window is what a 20% error rate takes longest to fill: 14.4% of it.
 */
export function fastCheckoutPageSpec(opts: { id: string; service: string; shortS: number; forS: number; longS?: number; route?: string }): string {
  return `apiVersion: openslo/v1
kind: SLO
metadata: { name: ${opts.id} }
spec:
  service: ${opts.service}
  indicator:
    spec:
      ratioMetric:
        bad: { metricSource: { type: burnwatch } }
        total: { metricSource: { type: burnwatch, spec: { filter: { route: ${opts.route ?? '/api/checkout'} } } } }
  objectives: [{ target: 0.99 }]
  alertPolicies:
    - spec:
        conditions:
          - metadata: { name: page-fast }
            spec:
              severity: page
              condition: { kind: burnrate, threshold: 14.4, lookbackWindow: ${opts.longS ?? 60}s, shortWindow: ${opts.shortS}s, alertAfter: ${opts.forS}s }
`;
}
