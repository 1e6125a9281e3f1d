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
