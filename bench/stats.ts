// The arithmetic of alternating benchmark rounds: medians, their spread, and per-round ratios.
// A shared VM makes single runs noise; a median over rounds with (min–max) beside it says how
// far to trust it.
import { rng } from '../common/seeded-random.ts';

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

// Short alternating windows. On this VM a service's closed-loop throughput swings 2× within
// minutes (neighbours' load, other hosts' BPF programs in its syscalls), so one run per setup
// compares two different machines. Windows of a few seconds, the two arms alternating in blocks,
// pair each window with its neighbour in the other arm: the drift between them is seconds'.

/** One block pair of an alternating run: the kept windows of the measured arm and of the baseline. */
export interface Cycle {
  measured: readonly number[];
  baseline: readonly number[];
}

/**
 * Window i of the measured block over window i of the baseline block next to it: each pair is
 * the same distance apart in time. Windows without a partner (a block cut short) are dropped.
 */
export function pairedRatios(cycle: Cycle): number[] {
  const n = Math.min(cycle.measured.length, cycle.baseline.length);
  return Array.from({ length: n }, (_, i) => cycle.measured[i] / cycle.baseline[i]);
}

/** The q-quantile of sorted values, linear between neighbours (R's type 7). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return lo + 1 < sorted.length ? sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
}


export interface Interval {
  median: number;
  low: number;
  high: number;
  confidence: number;
  pairs: number;
  /** Cycles the pairs came from: what the bootstrap resamples. */
  cycles: number;
}

/**
 * Fewer cycles than this and the verdict is "not shown" whatever the interval says: a bootstrap
 * over a handful of clusters draws its interval from a handful of values and covers less than it
 * claims. Six is a judgement call (the default run has eight).
 */
export const MIN_CYCLES = 6;

/**
 * The median of the paired ratios with a percentile-bootstrap interval that resamples whole
 * cycles, not single pairs: the windows of one block share its state (an agent start, a
 * neighbour's burst), so treating them as independent would draw the interval too tight.
 */
export function medianInterval(cycles: readonly (readonly number[])[], confidence = 0.95, resamples = 2000, seed = 1): Interval {
  const kept = cycles.filter((c) => c.length > 0);
  const all = kept.flat();
  if (all.length === 0) throw new RangeError('no paired ratios');
  const random = rng(seed);
  const medians: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const drawn: number[] = [];
    for (let i = 0; i < kept.length; i++) drawn.push(...kept[Math.floor(random() * kept.length)]);
    medians.push(median(drawn));
  }
  medians.sort((a, b) => a - b);
  const tail = (1 - confidence) / 2;
  return { median: median(all), low: quantile(medians, tail), high: quantile(medians, 1 - tail), confidence, pairs: all.length, cycles: kept.length };
}

/** "0.912 [95% CI 0.880–0.941, 24 pairs in 8 cycles]". */
export function formatInterval(i: Interval, digits: number): string {
  return `${i.median.toFixed(digits)} [${Math.round(i.confidence * 100)}% CI ${i.low.toFixed(digits)}–${i.high.toFixed(digits)}, ${i.pairs} pairs in ${i.cycles} cycles]`;
}

/**
 * A target judged on the interval, not the point: met only when the whole interval clears it,
 * missed only when the whole interval falls short, "not shown" when it straddles the target.
 */
export function intervalVerdict(i: Interval, target: number, direction: 'atLeast' | 'atMost', digits: number): string {
  const sign = direction === 'atLeast' ? '≥' : '≤';
  const [clears, fails] = direction === 'atLeast' ? [i.low >= target, i.high < target] : [i.high <= target, i.low > target];
  const t = target.toFixed(digits);
  if (i.cycles < MIN_CYCLES) return `${sign} ${t} not shown (${i.cycles} cycles; an interval needs at least ${MIN_CYCLES})`;
  if (clears) return `${sign} ${t} met`;
  if (fails) return `${sign} ${t} MISSED (the whole interval is on the wrong side)`;
  return `${sign} ${t} not shown (the interval straddles it)`;
}

/** Sample standard deviation of the logarithms: a relative spread, comparable across figures of different units. */
export function logSpread(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const ls = xs.map(Math.log);
  const m = ls.reduce((a, b) => a + b, 0) / ls.length;
  return Math.sqrt(ls.reduce((a, l) => a + (l - m) ** 2, 0) / (ls.length - 1));
}

/**
 * The interval a verdict is taken on: the measured comparison's own interval, widened wherever
 * the A/A run's reaches further. The A/A run (no agent in either arm, the same code path) shows
 * how far two identical arms land apart on this machine at this time; its widest departure from
 * 1, as a factor, is applied both ways around the measured median (noise has no preferred side).
 * A bootstrap over a few cycles can come out narrower than that by luck, and a verdict must not
 * rest on luck.
 */
export function withNoiseFloor(measured: Interval, aa: Interval): Interval {
  const factor = Math.max(1, 1 / aa.low, aa.high);
  return {
    ...measured,
    low: Math.min(measured.low, measured.median / factor),
    high: Math.max(measured.high, measured.median * factor),
    cycles: Math.min(measured.cycles, aa.cycles),
  };
}

/**
 * CPU seconds a process used over a span beyond what its steady rate (a share of a core,
 * measured over a later window) accounts for: a one-off cost, such as what instrumenting a new
 * process cost an agent. Noise can make it negative; it is reported as measured.
 */
export function excessCpu(cpuSeconds: number, wallSeconds: number, steadyShare: number): number {
  if (!(wallSeconds > 0)) throw new RangeError(`a span of ${wallSeconds} s`);
  return cpuSeconds - steadyShare * wallSeconds;
}
