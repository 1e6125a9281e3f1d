// How much of its window an SLO has data for, in words ("12 min of 30 d"): a budget computed
// from minutes of data is not a 30-day figure and must not read as one. The dashboard, the
// live table of `burnwatch up` and `slo status` all say it the same way.

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Below this share of the window, figures carry the note. */
export const SEEN_NOTE_BELOW = 0.9;

/** "30d" → seconds; calendar windows ("month") → undefined. */
export function windowSeconds(label: string): number | undefined {
  const m = /^(\d+)([smhdw])$/.exec(label);
  return m ? Number(m[1]) * UNITS[m[2]] : undefined;
}

/** A span of time the way people say it: "45 s", "12 min", "3.5 h", "30 d". */
export function spanText(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86_400) return `${Number((s / 3600).toFixed(1))} h`;
  return `${Number((s / 86_400).toFixed(1))} d`;
}

/** "12 min of 30 d" while the SLO has seen less than SEEN_NOTE_BELOW of its window; otherwise undefined. */
export function seenNote(seenSeconds: number | null | undefined, window: string): string | undefined {
  const total = windowSeconds(window);
  if (seenSeconds === null || seenSeconds === undefined || total === undefined || seenSeconds >= total * SEEN_NOTE_BELOW) return undefined;
  return `${spanText(seenSeconds)} of ${spanText(total)}`;
}
