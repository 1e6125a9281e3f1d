// What the agent measures, as a Prometheus scrape target (`--prometheus-listen`).
//
// The agent exports deltas; a scrape reads running totals. So every batch the agent spools is also
// added here, series by series, and a scrape renders the totals: a scrape's counts are the sums of
// everything shipped over OTLP so far, exactly.
//
// Format: OpenMetrics 1.0 text when the scraper asks for it (Prometheus does), else the classic
// text format 0.0.4. Both carry only classic histograms: Prometheus 2.42 scrapes native histograms
// through the protobuf format alone (docs/prometheus.md says why that is left out). The classic
// `le` bounds are powers of two, which are bucket boundaries at every scale ≥ 0 of the agent's
// exponential histograms, so the count at each bound is exact (common/exphist.ts countAtMost), not
// interpolated.
//
// Names follow the OpenTelemetry → Prometheus rules (unit suffix, `_total` on counters, dots to
// `_`), written once in lambda/storage/prometheus-labels.ts. One endpoint serves many processes,
// so a scrape's job/instance cannot tell their resources apart: every series carries its
// resource's attributes as labels, and `target_info` repeats them once per resource for joins.

import type { Attributes as OtelAttributes } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { countAtMost, mergeHistograms, type ExpHistogram } from '../../common/exphist.ts';
import { labelValue, prometheusLabelName, prometheusMetricName } from '../../lambda/storage/prometheus-labels.ts';
import { nsFromHrTime } from './otlp.ts';

/** The classic histogram bounds, seconds: 2^-17 (≈7.6 µs) … 2^7 (128 s), then +Inf. */
const FIRST_BOUND_EXPONENT = -17;
export const CLASSIC_BOUNDS: readonly number[] = Array.from({ length: 25 }, (_, i) => 2 ** (i + FIRST_BOUND_EXPONENT));
const BOUND_TEXT = CLASSIC_BOUNDS.map((le) => formatNumber(le));

export type ExpositionFormat = 'openmetrics' | 'text';

export const CONTENT_TYPE: Record<ExpositionFormat, string> = {
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
  text: 'text/plain; version=0.0.4; charset=utf-8',
};

/** OpenMetrics when the Accept header names it (Prometheus sends it first), the classic text otherwise. */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  return /application\/openmetrics-text/i.test(accept ?? '') ? 'openmetrics' : 'text';
}

type Family = 'counter' | 'gauge' | 'histogram';

interface SeriesState {
  labels: Record<string, string>;
  /** When a batch last carried it (ms): series idle for longer than the exposition's idleMs are dropped. */
  seenMs: number;
  /** Seconds since the epoch: the start of the first point added (OpenMetrics `_created`). */
  createdS: number;
  value: number;
  histogram?: ExpHistogram;
}

interface FamilyState {
  /** The family name: `_total` is a counter's sample suffix, not part of its family name. */
  name: string;
  type: Family;
  help: string;
  series: Map<string, SeriesState>;
}

interface ResourceState {
  labels: Record<string, string>;
  seenMs: number;
}

export interface ExpositionOptions {
  /**
   * A series no batch has carried for this long is dropped (default 1 h), so processes that come
   * and go do not grow the endpoint forever. One that comes back starts again from zero with a new
   * `_created`, which Prometheus and the gateway read as a counter reset.
   */
  idleMs?: number;
  now?: () => number;
}

export class PrometheusExposition {
  private readonly families = new Map<string, FamilyState>();
  private readonly resources = new Map<string, ResourceState>();
  private readonly idleMs: number;
  private readonly now: () => number;

  constructor(opts: ExpositionOptions = {}) {
    this.idleMs = opts.idleMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  /** Adds one interval's batch (the ResourceMetrics the agent spools). */
  add(batch: readonly ResourceMetrics[]): void {
    const nowMs = this.now();
    for (const rm of batch) {
      const resourceLabels = attributeLabels(rm.resource.attributes);
      this.resources.set(labelKey(resourceLabels), { labels: resourceLabels, seenMs: nowMs });
      for (const scope of rm.scopeMetrics) for (const metric of scope.metrics) this.addMetric(metric, resourceLabels, nowMs);
    }
    this.dropIdle(nowMs);
  }

  private dropIdle(nowMs: number): void {
    const idle = (x: { seenMs: number }) => nowMs - x.seenMs > this.idleMs;
    for (const [key, r] of this.resources) if (idle(r)) this.resources.delete(key);
    for (const [name, f] of this.families) {
      for (const [key, s] of f.series) if (idle(s)) f.series.delete(key);
      if (f.series.size === 0) this.families.delete(name);
    }
  }

  private addMetric(metric: MetricData, resourceLabels: Record<string, string>, nowMs: number): void {
    const { name, unit, description } = metric.descriptor;
    const cumulative = metric.aggregationTemporality === AggregationTemporality.CUMULATIVE;
    let type: Family;
    if (metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) type = 'histogram';
    else if (metric.dataPointType === DataPointType.SUM && metric.isMonotonic) type = 'counter';
    // An explicit-bucket histogram is not something the agent produces; a non-monotonic sum is a gauge.
    else if (metric.dataPointType === DataPointType.HISTOGRAM) return;
    else type = 'gauge';
    const sampleName = prometheusMetricName(name, unit, type === 'counter');
    const familyName = type === 'counter' ? sampleName.replace(/_total$/, '') : sampleName;
    let family = this.families.get(familyName);
    if (!family) this.families.set(familyName, (family = { name: familyName, type, help: description, series: new Map() }));
    // One family name, one type: a second metric mapping to the same name with another type would
    // make the exposition unparseable, so it is left out (the first one keeps the name).
    if (family.type !== type) return;
    for (const point of metric.dataPoints) {
      const labels = { ...resourceLabels, ...attributeLabels(point.attributes) };
      const key = labelKey(labels);
      let s = family.series.get(key);
      if (!s) family.series.set(key, (s = { labels, seenMs: nowMs, createdS: Number(nsFromHrTime(point.startTime)) / 1e9, value: 0 }));
      s.seenMs = nowMs;
      if (type === 'histogram') {
        const h = toExpHistogram(point.value as Parameters<typeof toExpHistogram>[0]);
        s.histogram = cumulative || !s.histogram ? h : mergeHistograms([s.histogram, h]);
      } else {
        const v = point.value as number;
        s.value = type === 'counter' && !cumulative ? s.value + v : v;
      }
    }
  }

  render(format: ExpositionFormat): string {
    const om = format === 'openmetrics';
    const out: string[] = [];
    // OpenMetrics names an info family without its `_info` sample suffix; the classic format has no info type.
    const info = om ? 'target' : 'target_info';
    out.push(`# TYPE ${info} ${om ? 'info' : 'gauge'}`, `# HELP ${info} The resource (process) of the series below; its attributes are also on each series.`);
    for (const r of this.resources.values()) out.push(`target_info${labelText(r.labels)} 1`);
    for (const f of [...this.families.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      // The classic format names a counter's family by its sample (`x_total`); OpenMetrics by its base.
      const declared = !om && f.type === 'counter' ? `${f.name}_total` : f.name;
      out.push(`# TYPE ${declared} ${f.type}`, `# HELP ${declared} ${escapeHelp(f.help)}`);
      for (const s of f.series.values()) out.push(...seriesLines(f, s, om));
    }
    if (om) out.push('# EOF');
    return `${out.join('\n')}\n`;
  }
}

function seriesLines(f: FamilyState, s: SeriesState, om: boolean): string[] {
  const labels = labelText(s.labels);
  const created = om ? [`${f.name}_created${labels} ${formatNumber(s.createdS)}`] : [];
  if (f.type === 'gauge') return [`${f.name}${labels} ${formatNumber(s.value)}`];
  if (f.type === 'counter') return [`${f.name}_total${labels} ${formatNumber(s.value)}`, ...created];
  const h = s.histogram!;
  const atMost = cumulativeAtBounds(h);
  // `le` last: label order is free in both formats, and the series' own labels are escaped once.
  const bucket = (le: string, n: number) => `${f.name}_bucket${labels === '' ? `{le="${le}"}` : `${labels.slice(0, -1)},le="${le}"}`} ${n}`;
  const lines = CLASSIC_BOUNDS.map((le, i) => bucket(BOUND_TEXT[i], atMost[i]));
  lines.push(bucket('+Inf', h.count), `${f.name}_count${labels} ${h.count}`, `${f.name}_sum${labels} ${formatNumber(h.sum)}`, ...created);
  return lines;
}

/**
 * How many values are ≤ each classic bound, in one pass. At scale s ≥ 0 the bucket ending at 2^k
 * has index k·2^s − 1, so a bound's count is everything up to that index; a coarser histogram
 * (s < 0) goes through countAtMost, whose exact comparisons are the slow but general way.
 */
function cumulativeAtBounds(h: ExpHistogram): number[] {
  if (h.scale < 0) return CLASSIC_BOUNDS.map((le) => countAtMost(h, le));
  const out: number[] = [];
  let seen = h.zeroCount;
  let i = 0;
  for (let k = FIRST_BOUND_EXPONENT; k < FIRST_BOUND_EXPONENT + CLASSIC_BOUNDS.length; k++) {
    const last = k * 2 ** h.scale - 1;
    for (; i < h.counts.length && h.offset + i <= last; i++) seen += h.counts[i];
    out.push(seen);
  }
  return out;
}

function toExpHistogram(v: { count: number; sum?: number; scale: number; zeroCount: number; positive: { offset: number; bucketCounts: number[] }; min?: number; max?: number }): ExpHistogram {
  return { scale: v.scale, zeroCount: v.zeroCount, offset: v.positive.offset, counts: [...v.positive.bucketCounts], count: v.count, sum: v.sum ?? 0 };
}

/** Attributes as labels: mapped names, the first in sorted order winning a clash, empty values left out (Prometheus reads them as absent). */
function attributeLabels(attrs: OtelAttributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(attrs).sort()) {
    const v = attrs[key];
    if (v === undefined || v === null) continue;
    const name = prometheusLabelName(key);
    const value = labelValue(v as never);
    if (!(name in out) && value !== '') out[name] = value;
  }
  return out;
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Shortest round-trip decimal; both formats read JavaScript's exponent form (1e-7) as Go's ParseFloat does. */
function formatNumber(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}
