// The time frame of one hints computation: the incident window [from, to) and the baseline
// before it, cut into equal intervals aligned on `from` (index < 0: baseline, ≥ 0: incident),
// and the store's points of a metric added up per group and interval through the query
// engine's own delta conversion and accumulator.

import { Accumulator } from '../query/accumulate.ts';
import { toDeltas } from '../query/deltas.ts';
import { nsToSeconds } from '../query/time.ts';
import type { MetricPoint, MetricStore, SeriesRef } from '../storage/types.ts';
import type { Track } from './robust.ts';

const NS_PER_S = 1_000_000_000n;
/** The agent's export interval: no finer step can hold data. */
export const MIN_STEP_NS = 10n * NS_PER_S;
const MAX_STEP_NS = 60n * NS_PER_S;
/** About this many intervals in the window: enough for a change point, few enough to be robust. */
const TARGET_INTERVALS = 30n;
export const MAX_BASELINE_NS = 3600n * NS_PER_S;
export const MIN_BASELINE_NS = 60n * NS_PER_S;

export interface Frame {
  tenant: string;
  fromNs: bigint;
  toNs: bigint;
  stepNs: bigint;
  /** Baseline intervals: indices −baselineIntervals … −1. */
  baselineIntervals: number;
  /** Incident intervals: indices 0 … incidentIntervals − 1 (the last may be partial). */
  incidentIntervals: number;
}

/** A step of 10 s to 1 min, a multiple of 10 s, giving about 30 intervals over the window. */
export function stepFor(windowNs: bigint): bigint {
  const raw = windowNs / TARGET_INTERVALS;
  const rounded = ((raw + MIN_STEP_NS - 1n) / MIN_STEP_NS) * MIN_STEP_NS;
  return rounded < MIN_STEP_NS ? MIN_STEP_NS : rounded > MAX_STEP_NS ? MAX_STEP_NS : rounded;
}

/**
 * The frame with a baseline reaching back to the earliest data of the service (given by
 * `earliestNs`), at most an hour and at least a minute.
 */
export function makeFrame(tenant: string, fromNs: bigint, toNs: bigint, earliestNs: bigint | undefined): Frame {
  const stepNs = stepFor(toNs - fromNs);
  const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
  const available = earliestNs === undefined || earliestNs >= fromNs ? 0n : fromNs - earliestNs;
  const span = available > MAX_BASELINE_NS ? MAX_BASELINE_NS : available < MIN_BASELINE_NS ? MIN_BASELINE_NS : available;
  // Whole intervals that fit in the span, and never fewer than the minute requires.
  const whole = span / stepNs;
  const baselineIntervals = Number(whole * stepNs < MIN_BASELINE_NS ? ceilDiv(MIN_BASELINE_NS, stepNs) : whole);
  return { tenant, fromNs, toNs, stepNs, baselineIntervals, incidentIntervals: Number(ceilDiv(toNs - fromNs, stepNs)) };
}

export function baselineFromNs(f: Frame): bigint {
  return f.fromNs - BigInt(f.baselineIntervals) * f.stepNs;
}

export function intervalStartNs(f: Frame, i: number): bigint {
  return f.fromNs + BigInt(i) * f.stepNs;
}

export function intervalStartS(f: Frame, i: number): number {
  return nsToSeconds(intervalStartNs(f, i));
}

/** Seconds an interval covers (the last incident one stops at `to`). */
export function intervalSeconds(f: Frame, i: number): number {
  const start = intervalStartNs(f, i);
  const end = start + f.stepNs > f.toNs && i >= 0 ? f.toNs : start + f.stepNs;
  return Number(end - start) / 1e9;
}

/** The interval a point belongs to: the one holding the last instant it covers. */
function intervalOf(f: Frame, endNs: bigint): number | undefined {
  const at = endNs - 1n - f.fromNs;
  const i = Number(at >= 0n ? at / f.stepNs : -((-at + f.stepNs - 1n) / f.stepNs));
  return i < -f.baselineIntervals || i >= f.incidentIntervals ? undefined : i;
}

/** What one group added up in one interval. */
export interface Cell {
  acc: Accumulator;
  /** Σ of the histograms' sums (seconds for durations): the time spent, for time shares. */
  histogramSum: number;
  /** Histogram points without a sum: histogramSum is then incomplete. */
  missingSums: number;
}

export interface Group {
  /** The first series seen of the group (for its labels). */
  series: SeriesRef;
  cells: Map<number, Cell>;
}

/** Points fetched for the whole frame, as deltas (cumulative senders converted as /v1/query does). */
export async function fetchFrame(store: MetricStore, f: Frame, metric: string, service?: string): Promise<MetricPoint[]> {
  const fromNs = baselineFromNs(f);
  const points = await store.fetchPoints({ tenant: f.tenant, metric, ...(service !== undefined ? { service } : {}), fromNs, toNs: f.toNs + 1n });
  return toDeltas(points, fromNs);
}

/** Fetches each (metric, service) of the frame once, however many detectors and services ask. */
export class FrameFetcher {
  private readonly cache = new Map<string, Promise<MetricPoint[]>>();

  constructor(
    readonly store: MetricStore,
    readonly frame: Frame,
  ) {}

  points(metric: string, service?: string): Promise<MetricPoint[]> {
    const key = JSON.stringify([metric, service ?? null]);
    let p = this.cache.get(key);
    if (!p) this.cache.set(key, (p = fetchFrame(this.store, this.frame, metric, service)));
    return p;
  }
}

/** Points per group (a key per series; undefined skips the series) and interval. */
export function groupPoints(f: Frame, points: readonly MetricPoint[], keyOf: (s: SeriesRef) => string | undefined): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const p of points) {
    const i = intervalOf(f, p.endNs);
    if (i === undefined) continue;
    const key = keyOf(p.series);
    if (key === undefined) continue;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { series: p.series, cells: new Map() }));
    let cell = g.cells.get(i);
    if (!cell) g.cells.set(i, (cell = { acc: new Accumulator(), histogramSum: 0, missingSums: 0 }));
    cell.acc.add(p);
    if (p.kind === 'exponential_histogram' || p.kind === 'histogram') {
      if (p.sum === undefined) cell.missingSums++;
      else cell.histogramSum += p.sum;
    }
  }
  return groups;
}

/** A value per interval: baseline values that exist, one slot per incident interval. */
export function track(f: Frame, value: (i: number) => number | undefined): Track {
  const baseline: number[] = [];
  for (let i = -f.baselineIntervals; i < 0; i++) {
    const v = value(i);
    if (v !== undefined && Number.isFinite(v)) baseline.push(v);
  }
  const incident: (number | undefined)[] = [];
  for (let i = 0; i < f.incidentIntervals; i++) {
    const v = value(i);
    incident.push(v !== undefined && Number.isFinite(v) ? v : undefined);
  }
  return { baseline, incident };
}

/** Per-second rate of a counter or of histogram counts; intervals without points count 0 (the agent sends only what happened). */
export function rateOf(f: Frame, cells: ReadonlyMap<number, Cell> | undefined, active: (i: number) => boolean): (i: number) => number | undefined {
  return (i) => (active(i) ? (cells?.get(i)?.acc.count ?? 0) / intervalSeconds(f, i) : undefined);
}

/** Mean of a histogram metric per interval (Σ sums / count); undefined where sums are missing. */
export function meanOf(cells: ReadonlyMap<number, Cell>): (i: number) => number | undefined {
  return (i) => {
    const c = cells.get(i);
    return c && c.acc.count > 0 && c.missingSums === 0 ? c.histogramSum / c.acc.count : undefined;
  };
}

export function quantileOf(cells: ReadonlyMap<number, Cell>, q: number): (i: number) => number | undefined {
  return (i) => cells.get(i)?.acc.quantile(q);
}

/** One group holding every point (e.g. all of a service's server requests). */
export function allOf(f: Frame, points: readonly MetricPoint[]): Map<number, Cell> {
  return groupPoints(f, points, () => '').get('')?.cells ?? new Map();
}
