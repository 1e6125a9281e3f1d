// One reading of an SLO's state for every page: a word and a symbol as well as a colour.

import type { Slo } from './types.ts';

const ORDER: Record<Slo['status'], number> = { exhausted: 0, burning: 1, silent: 2, unknown: 3, ok: 4, no_data: 5 };

export const STATUS_TEXT: Record<Slo['status'], string> = {
  exhausted: '✖ budget spent',
  burning: '▲ burning',
  silent: '◌ silent',
  unknown: '? unknown',
  ok: '✓ ok',
  no_data: '· no data',
};

/** Worst first: spent budgets, then firing alerts, then the least budget left. */
export function worstFirst(a: Slo, b: Slo): number {
  return ORDER[a.status] - ORDER[b.status] || (a.budget_remaining ?? Infinity) - (b.budget_remaining ?? Infinity) || a.id.localeCompare(b.id);
}

/** "99% ≤ 300 ms" or "99.9% good" — the promise in one phrase. */
export function objectiveText(s: Pick<Slo, 'kind' | 'objective' | 'threshold_seconds'>, fmtPct: (x: number) => string, fmtS: (x: number) => string): string {
  return s.kind === 'latency' && s.threshold_seconds !== undefined ? `${fmtPct(s.objective)} ≤ ${fmtS(s.threshold_seconds)}` : `${fmtPct(s.objective)} good`;
}

export function alertText(s: Pick<Slo, 'status' | 'alerts'>): string {
  const firing = s.alerts.filter((a) => a.state === 'firing');
  const pending = s.alerts.filter((a) => a.state === 'pending');
  const parts = [STATUS_TEXT[s.status]];
  if (firing.length) parts.push(`${firing.map((a) => a.severity).join(', ')} firing`);
  else if (pending.length) parts.push('pending');
  return parts.join(' · ');
}
