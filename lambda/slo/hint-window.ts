// The window an alert's root-cause hints are computed over, chosen when it fires from the SLO's
// own rollups. The hints engine compares the window with a baseline taken just before it (≤ 1 h),
// so the window must start before the damage did — or the baseline is the damage — yet not so
// long before that the damage is a sliver of it. A fixed window cannot do both: a fast burn
// trips the 1 h rule minutes after it starts, a slow one the 6 h rule hours after. So:
//
//   onset  = the start of the stretch ending now whose requests burned most in excess of half
//            the rule's factor: max over s of Σ_{buckets ≥ s} (bad − λ·total), λ = budget ·
//            max(1, factor/2) — clean buckets before the onset lower the sum, damaged ones after
//            it raise it (a CUSUM), searched within the rule's long window (≤ 24 h: the engine's cap);
//   window = [onset − lead, the transition), lead = 5 min, or half of the data before the onset
//            when there is less (a service that just started keeps some baseline).
//
// No stretch burns (the no-data rule: silence has no bad requests) → undefined, and
// lambda/hints/alert.ts falls back to the episode start.

import { MAX_WINDOW_MS } from '../hints/engine.ts';
import type { SeriesPoint } from './store.ts';

const LEAD_MS = 5 * 60_000;
/** How far before the searched stretch the rollups are read: the hints engine's baseline reach. */
export const BASELINE_REACH_MS = 3600_000;

export interface HintWindowInput {
  atMs: number;
  objective: number;
  /** The rule's burn-rate factor (0 for the no-data rule). */
  factor: number;
  longMs: number;
}

/** How far back the rollups must be read for hintWindow. */
export function hintWindowReadFromMs(o: Pick<HintWindowInput, 'atMs' | 'longMs'>): number {
  return o.atMs - searchSpanMs(o.longMs) - BASELINE_REACH_MS;
}

function searchSpanMs(longMs: number): number {
  return Math.min(longMs, MAX_WINDOW_MS - LEAD_MS);
}

/** `buckets`: the SLO's rollups from hintWindowReadFromMs to atMs, in time order. */
export function hintWindow(buckets: readonly SeriesPoint[], o: HintWindowInput): { fromMs: number; toMs: number } | undefined {
  const searchFrom = o.atMs - searchSpanMs(o.longMs);
  const lambda = (1 - o.objective) * Math.max(1, o.factor / 2);
  let sum = 0;
  let best = 0;
  let onset: number | undefined;
  for (let i = buckets.length - 1; i >= 0 && buckets[i].atMs >= searchFrom; i--) {
    const b = buckets[i];
    if (b.atMs >= o.atMs) continue;
    sum += b.total - b.good - lambda * b.total;
    if (sum > best) {
      best = sum;
      onset = b.atMs;
    }
  }
  if (onset === undefined) return undefined;
  const firstData = buckets.find((b) => b.total > 0)?.atMs ?? onset;
  const lead = Math.min(LEAD_MS, Math.max(0, (onset - firstData) / 2));
  return { fromMs: Math.floor(onset - lead), toMs: o.atMs };
}
