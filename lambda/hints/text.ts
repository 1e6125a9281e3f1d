// Numbers in hint sentences: a person reads these at 3 a.m., so units they recognise.

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

export function perSecond(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2)}/s`;
}

export function percent(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
}

/** A value in the unit evidence carries it in. */
export function inUnit(x: number | null, unit: string): string {
  if (x === null) return '—';
  if (unit === 's') return seconds(x);
  if (unit === '1') return percent(x);
  if (unit.endsWith('/s')) return `${perSecond(x).slice(0, -2)} ${unit}`;
  return `${Number.isInteger(x) ? x : x.toFixed(2)} ${unit}`;
}
