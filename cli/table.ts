// The live table `burnwatch up` prints every interval.

import type { ServiceRow } from '../lambda/query/service-table.ts';

const COLUMNS = ['service', 'req/s', 'error %', 'p99', 'SLO budget left'] as const;

export function formatSeconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—';
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

function percent(x: number | null, digits = 2): string {
  return x === null || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(digits)}%`;
}

export function renderTable(rows: readonly ServiceRow[], now = new Date()): string {
  const cells = rows.map((r) => [
    r.service,
    r.requestsPerSecond.toFixed(1),
    percent(r.errorRatio),
    formatSeconds(r.p99),
    r.budgetRemaining === null ? '—' : `${percent(r.budgetRemaining, 1)} (${r.worstSlo?.split(':').pop()}${r.worstSloSeen ? `; ${r.worstSloSeen} seen` : ''})`,
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (row: readonly string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const header = `— ${now.toISOString().slice(11, 19)} —`;
  if (rows.length === 0) return `${header}\n(no services seen yet)`;
  return [header, line(COLUMNS), ...cells.map(line)].join('\n');
}
