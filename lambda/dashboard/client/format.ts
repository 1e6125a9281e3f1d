// How numbers read on the dashboard; the terminal's cli/table.ts follows the same rules.

import { spanText } from '../../../common/window-seen.ts';

export { seenNote, windowSeconds } from '../../../common/window-seen.ts';

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(digits)}%`;
}

/** 0.999 → "99.9%": no trailing zeros, as an objective is written. */
export function objectivePct(x: number): string {
  return `${Number((x * 100).toFixed(4))}%`;
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 0)} ms`;
  return `${s.toFixed(2)} s`;
}

export function span(s: number | null | undefined): string {
  return s === null || s === undefined || !Number.isFinite(s) ? '—' : spanText(s);
}

export function burn(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(x < 10 ? 2 : 1)}×`;
}

export function rate(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(x >= 10 ? 1 : 2);
}

export function time(unixS: number): string {
  return new Date(unixS * 1000).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}
