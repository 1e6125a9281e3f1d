// What changed in a service's SLIs: its server requests (HTTP and gRPC) per interval — mean and
// p99 latency, error ratio, rate — against the baseline, which intervals are damaged, and when
// the damage began (the change point every candidate's timing is compared with).

import { ATTR, GO_METRIC, HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import type { MetricPoint, MetricStore } from '../storage/types.ts';
import { allOf, fetchFrame, intervalSeconds, intervalStartS, meanOf, quantileOf, track, type Cell, type Frame } from './frame.ts';
import { assess, median, sustainedStart, type Change, type ChangeRule } from './robust.ts';
import type { Evidence } from './types.ts';

export const SERVER_METRICS = [HTTP_SERVER_DURATION, GO_METRIC.rpcServerDuration] as const;

const RULES = {
  meanLatency: { floor: 0.001, relative: 0.2 },
  p99Latency: { floor: 0.005, relative: 0.3 },
  errorRatio: { floor: 0.01, relative: 0.25 },
  rate: { floor: 1, relative: 0.5 },
} satisfies Record<string, ChangeRule>;

export interface Sli {
  cells: Map<number, Cell>;
  /** Per incident interval: latency or errors worse than the baseline allows. */
  damaged: boolean[];
  /** First interval of the sustained damage; undefined when the SLIs did not change. */
  changePoint: number | undefined;
  latency: Change | undefined;
  errors: Change | undefined;
  rate: Change | undefined;
  /** Extra seconds per request during the damage (≥ 0): what time shares are shares of. */
  extraLatency: number;
  /** Extra errors per request during the damage (≥ 0). */
  extraErrorRatio: number;
  /** Requests in an interval (0 without any). */
  requests(i: number): number;
  evidence: Evidence[];
  /** Which metric carried the requests (for evidence labels). */
  metric: string;
}

export async function fetchServerPoints(store: MetricStore, f: Frame, service: string): Promise<MetricPoint[]> {
  return (await Promise.all(SERVER_METRICS.map((m) => fetchFrame(store, f, m, service)))).flat();
}

export function assessSli(f: Frame, service: string, points: readonly MetricPoint[]): Sli {
  const cells = allOf(f, points);
  const requests = (i: number) => cells.get(i)?.acc.count ?? 0;
  // Mean latency needs the histograms' sums; a sender without them still has quantiles.
  const mean = meanOf(cells);
  const p50 = quantileOf(cells, 0.5);
  const meanTrack = track(f, (i) => mean(i) ?? p50(i));
  const p99Track = track(f, quantileOf(cells, 0.99));
  const errorTrack = track(f, (i) => (requests(i) > 0 ? cells.get(i)!.acc.errors / requests(i) : undefined));
  const rateTrack = track(f, (i) => requests(i) / intervalSeconds(f, i));

  const meanFlags = assess(meanTrack, RULES.meanLatency);
  const p99Flags = assess(p99Track, RULES.p99Latency);
  const errorFlags = assess(errorTrack, RULES.errorRatio);
  const damaged = Array.from({ length: f.incidentIntervals }, (_, i) =>
    requests(i) > 0 && Boolean(meanFlags?.anomalous[i] || p99Flags?.anomalous[i] || errorFlags?.anomalous[i]),
  );
  const changePoint = sustainedStart(damaged);
  // Levels are taken over the damaged intervals from the change point on: a blip before it is not the incident.
  const during = damaged.map((d, i) => d && changePoint !== undefined && i >= changePoint);
  const latency = assess(meanTrack, RULES.meanLatency, during);
  const p99 = assess(p99Track, RULES.p99Latency, during);
  const errors = assess(errorTrack, RULES.errorRatio, during);
  const rate = assess(rateTrack, RULES.rate, during);

  const metric = points.find((p) => p.series.metric === HTTP_SERVER_DURATION)?.series.metric ?? points[0]?.series.metric ?? HTTP_SERVER_DURATION;
  const changedAt = (c: Change | undefined) => (c?.changedAt === undefined ? null : intervalStartS(f, c.changedAt));
  const evidence: Evidence[] = [];
  const add = (c: Change | undefined, aggregation: string, unit: string) => {
    if (c && c.z > 3) evidence.push({ metric, labels: { [ATTR.serviceName]: service, aggregation }, baseline: c.baseline, incident: c.incident ?? null, unit, changed_at: changedAt(c) });
  };
  add(p99, 'p99', 's');
  add(latency, 'mean', 's');
  add(errors, 'error_ratio', '1');
  return {
    cells,
    damaged: during,
    changePoint,
    latency,
    errors,
    rate,
    extraLatency: Math.max(0, (latency?.incident ?? 0) - (latency?.baseline ?? 0)),
    extraErrorRatio: Math.max(0, (errors?.incident ?? 0) - (errors?.baseline ?? 0)),
    requests,
    evidence,
    metric,
  };
}

/** Earliest instant the points cover (a delta point covers (start, end]). */
export function earliestNs(points: readonly MetricPoint[]): bigint | undefined {
  let min: bigint | undefined;
  for (const p of points) {
    const t = p.startNs > 0n ? p.startNs : p.endNs;
    if (min === undefined || t < min) min = t;
  }
  return min;
}

/** Median of a per-interval value over the damaged intervals, minus its baseline median. */
export function extraDuringDamage(f: Frame, sli: Sli, value: (i: number) => number | undefined): number {
  const t = track(f, value);
  const base = median(t.baseline) ?? 0;
  const during = median(t.incident.filter((v, i): v is number => v !== undefined && sli.damaged[i]));
  return during === undefined ? 0 : during - base;
}
