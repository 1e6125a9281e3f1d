// The robust change measure of BARO (Pham et al., FSE 2024): a signal's value during the
// incident against the median and inter-quartile range of its per-interval values before it.
// Median and IQR ignore a minority of odd baseline intervals, which a mean and standard
// deviation would not. Plain order statistics on per-interval numbers — histogram math stays in
// common/exphist.ts.

export function median(xs: readonly number[]): number | undefined {
  return percentile(xs, 0.5);
}

/** Linear interpolation between order statistics (the numpy default), as BARO computes its IQR. */
export function percentile(xs: readonly number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** What counts as a change for one signal: an increase of at least max(floor, relative × median). */
export interface ChangeRule {
  /** Smallest increase that matters, in the signal's unit (guards a flat baseline: IQR 0). */
  floor: number;
  /** Smallest increase relative to the baseline median. */
  relative: number;
}

export interface Track {
  /** Values of the baseline intervals that had one. */
  baseline: number[];
  /** One slot per incident interval; undefined where the interval had no value. */
  incident: (number | undefined)[];
}

export interface Change {
  baseline: number;
  /** The robust spread the score divides by: IQR, at least a third of the smallest increase that matters. */
  spread: number;
  /** Median over the intervals that matter (damaged ones when given, else the anomalous ones). */
  incident: number | undefined;
  /** (incident − baseline) / spread; a change that matters scores ≥ 3. */
  z: number;
  /** Per incident interval: above baseline + 3·spread. */
  anomalous: boolean[];
  /** Index of the first incident interval of a sustained anomaly; undefined when none. */
  changedAt: number | undefined;
}

const Z_THRESHOLD = 3;

/** undefined without baseline values: nothing to compare with. */
export function assess(track: Track, rule: ChangeRule, damaged?: readonly boolean[]): Change | undefined {
  const base = median(track.baseline);
  if (base === undefined) return undefined;
  const iqr = percentile(track.baseline, 0.75)! - percentile(track.baseline, 0.25)!;
  const spread = Math.max(iqr, Math.max(rule.floor, rule.relative * Math.abs(base)) / Z_THRESHOLD);
  const threshold = base + Z_THRESHOLD * spread;
  const anomalous = track.incident.map((v) => v !== undefined && v > threshold);
  const changedAt = sustainedStart(anomalous);
  const during = track.incident.filter((v, i): v is number => v !== undefined && (damaged ? damaged[i] : anomalous[i]));
  const incident = median(during);
  const z = incident === undefined ? 0 : (incident - base) / spread;
  return { baseline: base, spread, incident, z, anomalous, changedAt };
}

/**
 * The first flagged interval from which at least a quarter of the rest are flagged, counting at
 * least two in all: a change that lasts or recurs (a crash loop hurts in bursts), not one blip.
 */
export function sustainedStart(flags: readonly boolean[]): number | undefined {
  let after = flags.filter(Boolean).length;
  if (after < Math.min(2, flags.length)) return undefined;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] && after * 4 >= flags.length - i) return i;
    if (flags[i]) after--;
  }
  return undefined;
}

/** How strongly a change stands out, in [0, 1): 0 up to the threshold, ≈0.7 at z = 10, ≈0.95 at z = 21. */
export function strength(z: number): number {
  return z <= Z_THRESHOLD ? 0 : 1 - Math.exp(-(z - Z_THRESHOLD) / 6);
}

/** Share of the damaged intervals where the candidate was anomalous too. */
export function cooccurrence(anomalous: readonly boolean[], damaged: readonly boolean[]): number {
  let both = 0;
  let hurt = 0;
  damaged.forEach((d, i) => {
    if (!d) return;
    hurt++;
    if (anomalous[i]) both++;
  });
  return hurt === 0 ? 0 : both / hurt;
}

/**
 * How well a candidate's change time fits the SLI's, in (0, 1]. Within one interval either way
 * is a match (both are seen at interval resolution). A cause may well precede its effect (a leak
 * takes a while to hurt), so earlier decays slowly; a "cause" that changed after the damage
 * began is more likely an effect, so later decays fast.
 */
export function alignment(candidateS: number, sliS: number, stepS: number): number {
  const dt = candidateS - sliS;
  if (dt > stepS) return Math.exp(-(dt - stepS) / (2 * stepS));
  if (dt < -stepS) return Math.exp((dt + stepS) / Math.max(600, 3 * stepS));
  return 1;
}

export function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
