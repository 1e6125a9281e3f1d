// The arithmetic of alternating benchmark rounds: medians, their spread, and per-round ratios.
// A shared VM makes single runs noise; a median over rounds with (min–max) beside it says how
// far to trust it.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** "median (min–max)" of one figure over the rounds. */
export function spread(xs: readonly number[], digits: number): string {
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

/**
 * Each round's measured value over the same round's baseline: rounds alternate, so a ratio
 * within a round compares runs seconds apart, not minutes (the neighbours' load drifts).
 */
export function roundRatios(measured: readonly number[], baseline: readonly number[]): number[] {
  if (measured.length !== baseline.length) throw new RangeError(`${measured.length} measured rounds against ${baseline.length} baseline rounds`);
  return measured.map((m, i) => m / baseline[i]);
}

/** "≥ 0.80 met" / "≥ 0.80 MISSED by 0.07": a target check on the median, said in words. */
export function targetCheck(value: number, target: number, direction: 'atLeast' | 'atMost', digits: number): string {
  const met = direction === 'atLeast' ? value >= target : value <= target;
  const sign = direction === 'atLeast' ? '≥' : '≤';
  return met ? `${sign} ${target.toFixed(digits)} met` : `${sign} ${target.toFixed(digits)} MISSED by ${Math.abs(value - target).toFixed(digits)}`;
}
