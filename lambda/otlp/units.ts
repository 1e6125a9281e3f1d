// Duration histograms are stored in seconds, whatever unit their sender declared, because latency
// thresholds (SLOs) and percentiles are seconds. The older semantic conventions recorded
// milliseconds (`http.server.duration`, `rpc.server.duration`), and SDKs still send them; read as
// seconds, a 250 ms request would be 250 s.
//
// Only histograms are converted: they are what percentiles and latency SLIs compare with seconds.
// Counters and gauges keep their value and declared unit (burnwatch.cpu.time stays in ns), which
// the series carries.

import { describeMetric } from '../../common/catalogue.ts';
import type { ExplicitHistogramValue, PointValue } from '../storage/types.ts';

/** UCUM time units (case-sensitive, as OTLP's `unit` field is) → seconds. */
const SECONDS_PER: Readonly<Record<string, { divide: number } | { multiply: number }>> = {
  ns: { divide: 1e9 },
  us: { divide: 1e6 },
  ms: { divide: 1e3 },
  s: { multiply: 1 },
  min: { multiply: 60 },
  h: { multiply: 3600 },
  d: { multiply: 86400 },
};

/**
 * Durations under names the catalogue no longer uses (OpenTelemetry's older conventions, in ms).
 * They are stored under the name sent — a query for the name finds it — and the default SLIs
 * count `rpc.server.duration` beside `rpc.server.call.duration` (slo/definitions.ts).
 */
const OLDER_DURATION_METRICS: ReadonlySet<string> = new Set(['http.server.duration', 'http.client.duration', 'rpc.server.duration', 'rpc.client.duration']);

export type UnitPlan =
  | { action: 'keep' }
  | { action: 'convert'; to: (v: number) => number; from: string }
  | { action: 'refuse'; reason: string };

/**
 * What to do with a histogram metric's points given its declared unit: nothing (seconds, or not
 * a duration), convert to seconds, or refuse with the reason (a duration in a unit that is not
 * UCUM time, or an exponential histogram in anything but seconds).
 */
export function planUnit(metric: string, unit: string, kind: PointValue['kind']): UnitPlan {
  if (kind !== 'histogram' && kind !== 'exponential_histogram') return { action: 'keep' };
  const factor = Object.hasOwn(SECONDS_PER, unit) ? SECONDS_PER[unit] : undefined;
  if (!factor) {
    const duration = describeMetric(metric)?.unit === 's' || OLDER_DURATION_METRICS.has(metric);
    if (duration && unit !== '') {
      return { action: 'refuse', reason: `unit "${unit}" is not a UCUM time unit (${Object.keys(SECONDS_PER).join(', ')}), and ${metric} is a duration` };
    }
    return { action: 'keep' }; // not a duration (e.g. By), or a duration sent without a unit: seconds, as the conventions say
  }
  if (unit === 's') return { action: 'keep' };
  if (kind === 'exponential_histogram') {
    return {
      action: 'refuse',
      reason:
        `exponential histograms of durations must be in seconds, got "${unit}": bucket boundaries are powers of 2^(2^-scale) ` +
        `and no unit factor is one, so the buckets cannot be moved onto a seconds grid; record seconds (unit "s", as the ` +
        `semantic conventions do) or use explicit buckets`,
    };
  }
  // Division by an exact power of ten is correctly rounded: 300 ms becomes the double nearest
  // 0.3, the same double as a threshold written 0.3, so a bound on the threshold stays on it.
  const to = 'divide' in factor ? (v: number) => v / factor.divide : (v: number) => v * factor.multiply;
  return { action: 'convert', to, from: unit };
}

/** An explicit histogram's bounds, sum, min and max in seconds; throws RangeError when bounds collapse. */
export function histogramInSeconds(value: ExplicitHistogramValue, to: (v: number) => number, from: string): ExplicitHistogramValue {
  const bounds = value.bounds.map(to);
  bounds.forEach((b, i) => {
    if (!Number.isFinite(b)) throw new RangeError(`explicitBounds[${i}] = ${value.bounds[i]} ${from} is out of range in seconds`);
    if (i > 0 && b <= bounds[i - 1]) throw new RangeError(`explicitBounds[${i - 1}] and [${i}] are equal in seconds (${value.bounds[i - 1]} and ${value.bounds[i]} ${from})`);
  });
  const out: ExplicitHistogramValue = { ...value, bounds };
  for (const k of ['sum', 'min', 'max'] as const) {
    const v = value[k];
    if (v !== undefined) out[k] = to(v);
  }
  return out;
}
