// Durations as people write them on command lines and in query strings: "500ms",
// "10s", "15m", "2h", "30d", "1w" (and compounds such as "1h30m").

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

/** Milliseconds in a duration string; throws RangeError naming the input when malformed. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '') throw new RangeError('empty duration; expected e.g. "10s", "15m", "2h"');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m || m.index !== at) {
      throw new RangeError(`invalid duration "${text}"; expected a number and a unit (ms, s, m, h, d, w), e.g. "10s"`);
    }
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return total;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
