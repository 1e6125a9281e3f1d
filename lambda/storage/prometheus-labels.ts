// How a burnwatch series becomes a Prometheus label set, and back.
//
// Two audiences read these labels. People querying Prometheus directly get the usual
// OpenTelemetry → Prometheus names (`http.route` → `http_route`, `http.server.request.duration`
// in seconds → `http_server_request_duration_seconds`). burnwatch itself must get back the exact
// SeriesRef it wrote (attribute names with dots, typed values, the unit), which that mapping
// cannot give (`a.b` and `a_b` map to one name; `200` and "200" to one value): so every series
// also carries its resource and attributes as canonical JSON, and the series id, which keeps two
// series apart even when their mapped labels coincide.

import { canonicalJson, seriesId, serviceOf } from './series.ts';
import type { Attributes, AttributeValue, SeriesRef } from './types.ts';

/** Labels burnwatch reserves; a mapped attribute that lands on one of these is renamed (`attr_` prefix). */
export const LABEL = {
  name: '__name__',
  tenant: 'tenant',
  metric: 'otel_metric',
  service: 'otel_service',
  seriesId: 'otel_series_id',
  unit: 'otel_unit',
  resource: 'otel_resource',
  attributes: 'otel_attributes',
  /** Which field of a point a sample holds (point-samples.ts). */
  field: 'otel_field',
  kind: 'otel_kind',
  temporality: 'otel_temporality',
  monotonic: 'otel_monotonic',
  scale: 'otel_scale',
  bounds: 'otel_bounds',
} as const;

const RESERVED = new Set<string>(Object.values(LABEL));

/** UCUM units the OTel → Prometheus rules spell out as a name suffix (the common ones). */
const UNIT_SUFFIX: Record<string, string> = {
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  '%': 'percent',
  '1': 'ratio',
};

/** A legal Prometheus name: invalid characters become `_`, runs of `_` collapse, no leading digit. */
export function sanitizeName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/__+/g, '_');
  if (out === '' || /^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

/** The metric name Prometheus users see: sanitised, unit suffix, `_total` for monotonic counters. */
export function prometheusMetricName(metric: string, unit: string, monotonicCounter: boolean): string {
  let name = sanitizeName(metric).replace(/:/g, '_');
  const suffix = UNIT_SUFFIX[unit] ?? (/^[a-zA-Z]+$/.test(unit) ? unit.toLowerCase() : '');
  // A ratio suffix on a counter reads wrong ("requests_ratio_total"); the rules omit it there.
  if (suffix !== '' && !(suffix === 'ratio' && monotonicCounter) && !name.endsWith(`_${suffix}`)) name += `_${suffix}`;
  if (monotonicCounter && !name.endsWith('_total')) name += '_total';
  return name;
}

/**
 * An attribute name as a label name; one that lands on a burnwatch label gets a prefix rather
 * than clash. Collapsing `_` runs (sanitizeName) also keeps names out of Prometheus's reserved
 * `__` prefix.
 */
export function prometheusLabelName(key: string): string {
  let name = sanitizeName(key).replace(/:/g, '_').replace(/__+/g, '_');
  if (RESERVED.has(name)) name = `attr_${name}`;
  return name;
}

/** Strings as they are; other values as canonical JSON, so `true` and "true" differ only in the JSON labels. */
export function labelValue(value: AttributeValue): string {
  return typeof value === 'string' ? value : canonicalJson(value);
}

/**
 * The labels every sample of a series carries, without `__name__` and the per-field labels.
 * Point attributes win over resource attributes that map to the same name (they are the more
 * specific); when two attributes of one kind map to one name, the first in sorted order wins.
 * Nothing is lost either way: the JSON labels hold the exact attributes.
 */
export function seriesLabels(tenant: string, series: SeriesRef): Record<string, string> {
  const labels: Record<string, string> = {};
  const mapInto = (attrs: Attributes) => {
    const mapped: Record<string, string> = {};
    for (const key of Object.keys(attrs).sort()) {
      const name = prometheusLabelName(key);
      const value = labelValue(attrs[key]);
      // Prometheus treats an empty label as absent; skipping it keeps the two readings equal.
      if (!(name in mapped) && value !== '') mapped[name] = value;
    }
    return mapped;
  };
  Object.assign(labels, mapInto(series.resource), mapInto(series.attributes));
  labels[LABEL.tenant] = tenant;
  labels[LABEL.metric] = series.metric;
  const service = serviceOf(series);
  if (service !== undefined && service !== '') labels[LABEL.service] = service;
  labels[LABEL.seriesId] = seriesId(series);
  if (series.unit !== '') labels[LABEL.unit] = series.unit;
  labels[LABEL.resource] = canonicalJson(series.resource);
  labels[LABEL.attributes] = canonicalJson(series.attributes);
  return labels;
}

/** The SeriesRef a label set was written from (the exact one: read from the JSON labels). */
export function seriesFromLabels(labels: Record<string, string>): SeriesRef {
  const metric = labels[LABEL.metric];
  if (metric === undefined) throw new Error(`Prometheus series without ${LABEL.metric}: not written by burnwatch`);
  return {
    metric,
    unit: labels[LABEL.unit] ?? '',
    resource: parseAttributes(labels[LABEL.resource], LABEL.resource),
    attributes: parseAttributes(labels[LABEL.attributes], LABEL.attributes),
  };
}

function parseAttributes(json: string | undefined, label: string): Attributes {
  if (json === undefined) return {};
  const parsed: unknown = JSON.parse(json);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`label ${label} is not a JSON object`);
  return parsed as Attributes;
}
