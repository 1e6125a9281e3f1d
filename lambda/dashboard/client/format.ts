// How numbers read on the dashboard; the terminal's cli/table.ts follows the same rules.

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

/** A span of time the way people say it: "12 min", "3.5 h", "30 d". */
export function span(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86_400) return `${Number((s / 3600).toFixed(1))} h`;
  return `${Number((s / 86_400).toFixed(1))} d`;
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

const WINDOW_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** "30d" → seconds; calendar windows ("month") → undefined. */
export function windowSeconds(label: string): number | undefined {
  const m = /^(\d+)([smhdw])$/.exec(label);
  return m ? Number(m[1]) * WINDOW_UNITS[m[2]] : undefined;
}

/**
 * The share of its window an SLO has seen, when that is short enough to matter: a budget from
 * 12 minutes of data is not a 30-day figure, and must not read as one. Mirrors cli/slo.ts.
 */
export function seenNote(seenS: number | null | undefined, window: string): string | undefined {
  const total = windowSeconds(window);
  if (seenS === null || seenS === undefined || total === undefined || seenS >= total * 0.9) return undefined;
  return `${span(seenS)} of ${span(total)}`;
}
