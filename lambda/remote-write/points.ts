// Remote-written Prometheus series → burnwatch metric points, through the metric catalogue.
//
// Names: each catalogue metric's Prometheus name (the OTel → Prometheus rules of
// lambda/storage/prometheus-labels.ts: `http.server.request.duration` in seconds →
// `http_server_request_duration_seconds`, counters with `_total`) is mapped back to the metric.
// Series of other names are not burnwatch's signals and are left out (docs/prometheus.md shows
// the write_relabel_configs that keep them from being sent); `target_info` likewise.
//
// Labels: those that are the Prometheus form of one of the metric's catalogue attributes become
// point attributes under their dotted names; every other label (job, instance, service_name, …)
// is a resource attribute, named back where the catalogue knows the attribute. `service.name` is
// the `service_name` label, else `job` (the Prometheus convention for the service).
//
// Values: Prometheus series are cumulative and carry no start time, so points are cumulative with
// start 0 — the same for every sample of a series, which is what lambda/query/deltas.ts needs to
// subtract consecutive samples (a decrease is a restart there, as in Prometheus). The first sample
// of a series would only be a baseline, so where the sender gives the series' creation time (the
// OpenMetrics `_created` sample Prometheus 2.x stores and forwards), a zero point at that time is
// written too: the first sample then counts whole, and every later `_created` is a duplicate.
//
// Classic histograms arrive as one series per bucket; the buckets, `_count` and `_sum` of one
// label set and timestamp are put back together into one explicit-bucket histogram. Prometheus cuts
// its batches anywhere, so a request may hold only part of one: the upper part (with the +Inf
// bucket) is the same histogram with coarser bounds and is stored (lambda/query/deltas.ts subtracts
// snapshots of one run over their shared bounds); a part without the +Inf bucket says nothing a
// later complete sample does not, and is left out. Totals stay exact; a cut costs resolution only.

import { bucketLowerBound } from '../../common/exphist.ts';
import { AGENT_ATTR, ATTR, GO_ATTR, KERNEL_ATTR, METRICS, type MetricDescriptor } from '../../common/catalogue.ts';
import { prometheusLabelName, prometheusMetricName } from '../storage/prometheus-labels.ts';
import type { Attributes, MetricPoint, SeriesRef } from '../storage/types.ts';
import { describeLabels, type RemoteNativeHistogram, type RemoteSeries, type SeriesProblem } from './decode.ts';

type Role = 'value' | 'bucket' | 'count' | 'sum' | 'created' | 'native';

interface NameMapping {
  descriptor: MetricDescriptor;
  role: Role;
}

/** Prometheus sample name → catalogue metric and what the sample holds. */
export const REMOTE_WRITE_NAMES: ReadonlyMap<string, NameMapping> = (() => {
  const names = new Map<string, NameMapping>();
  const add = (name: string, descriptor: MetricDescriptor, role: Role) => {
    if (!names.has(name)) names.set(name, { descriptor, role });
  };
  for (const d of Object.values(METRICS)) {
    if (d.kind === 'counter') {
      const total = prometheusMetricName(d.name, d.unit, true);
      add(total, d, 'value');
      add(`${total.replace(/_total$/, '')}_created`, d, 'created');
    } else if (d.kind === 'gauge') {
      add(prometheusMetricName(d.name, d.unit, false), d, 'value');
    } else {
      const base = prometheusMetricName(d.name, d.unit, false);
      add(base, d, 'native');
      for (const role of ['bucket', 'count', 'sum', 'created'] as const) add(`${base}_${role}`, d, role);
    }
  }
  return names;
})();

/** Label name → attribute name, for every attribute the catalogue names. */
const ATTRIBUTE_OF_LABEL: ReadonlyMap<string, string> = new Map(
  [ATTR, KERNEL_ATTR, GO_ATTR, AGENT_ATTR]
    .flatMap((group) => Object.values(group) as string[])
    .concat(Object.values(METRICS).flatMap((d) => d.attributes))
    .map((attr) => [prometheusLabelName(attr), attr]),
);

const STALE_NAN_BITS = 0x7ff0000000000002n;
const NS_PER_MS = 1_000_000n;

/** Prometheus's staleness marker: a NaN with one particular payload, sent when a series goes away. */
function isStaleMarker(v: number): boolean {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  return view.getBigUint64(0) === STALE_NAN_BITS;
}

export interface RemoteWritePoints {
  points: MetricPoint[];
  problems: SeriesProblem[];
  /** Samples of names that are not burnwatch metrics (left out, not an error). */
  ignoredSamples: number;
  /** Samples of histogram parts without their +Inf bucket (a batch cut; left out, not an error). */
  fragmentSamples: number;
}

interface HistogramParts {
  series: SeriesRef;
  /** The histogram's name and one of its series' labels, for messages. */
  name: string;
  labels: Record<string, string>;
  timestampMs: number;
  buckets: Map<number, number>;
  count?: number;
  sum?: number;
  samples: number;
}

export function remoteWritePoints(series: readonly RemoteSeries[]): RemoteWritePoints {
  const out: RemoteWritePoints = { points: [], problems: [], ignoredSamples: 0, fragmentSamples: 0 };
  const histograms = new Map<string, HistogramParts>();
  for (const s of series) {
    const name = s.labels.__name__;
    const mapping = REMOTE_WRITE_NAMES.get(name);
    if (!mapping) {
      out.ignoredSamples += s.samples.length + s.histograms.length;
      continue;
    }
    const { descriptor: d, role } = mapping;
    const refuse = (reason: string, points = s.samples.length + s.histograms.length) => out.problems.push({ series: `${name}${describeLabels(s.labels)}`, reason, points });
    if (s.histograms.length > 0 && role !== 'native') {
      refuse(`${name} is not a histogram's name, but native histogram samples came with it`);
      continue;
    }
    let le: number | undefined;
    if (role === 'bucket') {
      le = parseLe(s.labels.le);
      if (le === undefined) {
        refuse(`a bucket needs an "le" label holding a number or +Inf, got ${JSON.stringify(s.labels.le ?? null)}`);
        continue;
      }
    }
    const ref = seriesRef(d, s.labels);
    for (const h of s.histograms) {
      const point = nativePoint(ref, h);
      if (typeof point === 'string') refuse(point, 1);
      else out.points.push(point);
    }
    for (const sample of s.samples) {
      if (isStaleMarker(sample.value)) continue;
      if (!Number.isFinite(sample.value) || sample.value < 0) {
        refuse(`sample at ${sample.timestampMs} ms is ${sample.value}; ${d.kind === 'gauge' ? 'a gauge must be finite' : 'counts must be finite and not negative'}`, 1);
        continue;
      }
      const endNs = BigInt(sample.timestampMs) * NS_PER_MS;
      if (role === 'value') {
        out.points.push(
          d.kind === 'gauge'
            ? { series: ref, startNs: 0n, endNs, kind: 'gauge', value: sample.value }
            : { series: ref, startNs: 0n, endNs, kind: 'sum', temporality: 'cumulative', monotonic: true, value: sample.value },
        );
      } else if (role === 'created') {
        // A creation time after the sample reporting it cannot be one (and would reorder the run).
        const createdMs = Math.round(sample.value * 1000);
        if (createdMs <= 0 || createdMs > sample.timestampMs) refuse(`${name} says the series was created at ${sample.value} s, not before the sample at ${sample.timestampMs} ms`, 1);
        else out.points.push(zeroPoint(d, ref, BigInt(createdMs) * NS_PER_MS));
      } else if (role === 'native') {
        refuse(`${name} is a histogram: its float samples come as ${name}_bucket, _count and _sum`, 1);
      } else {
        const key = `${name.slice(0, name.lastIndexOf('_'))}\0${JSON.stringify(ref)}\0${sample.timestampMs}`;
        let parts = histograms.get(key);
        if (!parts) histograms.set(key, (parts = { series: ref, name: name.slice(0, name.lastIndexOf('_')), labels: s.labels, timestampMs: sample.timestampMs, buckets: new Map(), samples: 0 }));
        parts.samples++;
        if (role === 'bucket') parts.buckets.set(le!, sample.value);
        else if (role === 'count') parts.count = sample.value;
        else parts.sum = sample.value;
      }
    }
  }
  for (const parts of histograms.values()) {
    if (!parts.buckets.has(Infinity)) {
      out.fragmentSamples += parts.samples;
      continue;
    }
    const point = classicHistogramPoint(parts);
    if (typeof point === 'string') out.problems.push({ series: `${parts.name}${describeLabels(withoutLe(parts.labels))}`, reason: point, points: parts.samples });
    else out.points.push(point);
  }
  return out;
}

function parseLe(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === '+Inf' || value === 'Inf') return Infinity;
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

function withoutLe(labels: Record<string, string>): Record<string, string> {
  const { le: _le, ...rest } = labels;
  return rest;
}

function seriesRef(d: MetricDescriptor, labels: Record<string, string>): SeriesRef {
  const resource: Attributes = {};
  const attributes: Attributes = {};
  for (const [label, value] of Object.entries(labels)) {
    if (label === '__name__' || label === 'le' || value === '') continue;
    const attr = ATTRIBUTE_OF_LABEL.get(label) ?? label;
    if (d.attributes.includes(attr)) attributes[attr] = value;
    else resource[attr] = value;
  }
  if (resource[ATTR.serviceName] === undefined && labels.job) resource[ATTR.serviceName] = labels.job;
  return { metric: d.name, unit: d.unit, resource, attributes };
}

/** A series at its creation: nothing counted yet. */
function zeroPoint(d: MetricDescriptor, series: SeriesRef, endNs: bigint): MetricPoint {
  if (d.kind === 'counter') return { series, startNs: 0n, endNs, kind: 'sum', temporality: 'cumulative', monotonic: true, value: 0 };
  return { series, startNs: 0n, endNs, kind: 'histogram', temporality: 'cumulative', count: 0, sum: 0, bounds: [], counts: [0] };
}

/** The buckets (+Inf among them), count and sum of one label set and time as one histogram; a reason when they do not make one. */
function classicHistogramPoint(p: HistogramParts): MetricPoint | string {
  const total = p.buckets.get(Infinity)!;
  if (p.count !== undefined && total !== p.count) return `the histogram at ${p.timestampMs} ms has _count ${p.count} but its le="+Inf" bucket holds ${total}`;
  const bounds = [...p.buckets.keys()].filter((b) => b !== Infinity).sort((a, b) => a - b);
  const counts: number[] = [];
  let below = 0;
  for (const b of bounds) {
    const cumulative = p.buckets.get(b)!;
    if (cumulative < below) return `the histogram at ${p.timestampMs} ms has le="${b}" holding ${cumulative}, fewer than a lower bucket (${below}): bucket counts are cumulative`;
    counts.push(cumulative - below);
    below = cumulative;
  }
  if (total < below) return `the histogram at ${p.timestampMs} ms has ${total} in its le="+Inf" bucket, below its bucket le="${bounds[bounds.length - 1]}" (${below})`;
  counts.push(total - below);
  return {
    series: p.series,
    startNs: 0n,
    endNs: BigInt(p.timestampMs) * NS_PER_MS,
    kind: 'histogram',
    temporality: 'cumulative',
    count: total,
    ...(p.sum !== undefined ? { sum: p.sum } : {}),
    bounds,
    counts,
  };
}

/**
 * A native histogram as an exponential histogram: schema is the OTLP scale, and Prometheus's
 * bucket index is one above OTLP's for the same bucket ((base^(i-1), base^i] against
 * (base^i, base^(i+1)]). The zero bucket must be the exact-zero one ([0, 0]) that OTLP has.
 */
function nativePoint(series: SeriesRef, h: RemoteNativeHistogram): MetricPoint | string {
  const at = `the native histogram at ${h.timestampMs} ms`;
  if (h.unsupported) return `${at} has ${h.unsupported}, which burnwatch does not take (integer counts, positive buckets, counter histograms)`;
  if (!Number.isInteger(h.schema) || h.schema < -4 || h.schema > 8) return `${at} has schema ${h.schema}, outside Prometheus's -4..8`;
  const counts: number[] = [];
  let offset = 0;
  let next: number | undefined;
  let running = 0;
  let d = 0;
  for (const span of h.positiveSpans) {
    const start: number = next === undefined ? span.offset : next + span.offset;
    if (next === undefined) offset = start;
    else for (let i = next; i < start; i++) counts.push(0);
    for (let i = 0; i < span.length; i++) {
      if (d >= h.positiveDeltas.length) return `${at} has more bucket positions in its spans than deltas`;
      running += h.positiveDeltas[d++];
      if (running < 0) return `${at} has a negative bucket count`;
      counts.push(running);
    }
    next = start + span.length;
  }
  if (d !== h.positiveDeltas.length) return `${at} has ${h.positiveDeltas.length} deltas for ${d} bucket positions`;
  const bucketed = counts.reduce((a, b) => a + b, h.zeroCount);
  if (bucketed !== h.count) return `${at} has count ${h.count} but its buckets hold ${bucketed}`;
  // OTLP's zero count is of values that are zero; Prometheus's zero bucket is [-t, t] (client_golang:
  // t ≈ 3e-39). Equal when t lies below every populated bucket, as such a tiny t always does.
  if (counts.length > 0 && h.zeroThreshold > bucketLowerBound(offset - 1, h.schema)) {
    return `${at} has a zero bucket of width ${h.zeroThreshold}, overlapping its first bucket`;
  }
  return {
    series,
    startNs: 0n,
    endNs: BigInt(h.timestampMs) * NS_PER_MS,
    kind: 'exponential_histogram',
    temporality: 'cumulative',
    count: h.count,
    sum: h.sum,
    scale: h.schema,
    zeroCount: h.zeroCount,
    offset: offset - 1,
    counts,
  };
}
