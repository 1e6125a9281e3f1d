// Series identity shared by every storage backend: the same metric name, resource attributes and
// point attributes give the same id whatever order the sender listed the attributes in.

import { createHash } from 'node:crypto';
import { ATTR } from '../../common/catalogue.ts';
import type { AttributeValue, Attributes, SeriesRef } from './types.ts';

/** JSON with object keys sorted at every depth, so equal attribute sets serialise equally. */
export function canonicalJson(value: AttributeValue | Attributes): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

/** 128 bits of SHA-256 over the canonical series: collisions are out of reach at any real cardinality. */
export function seriesId(series: SeriesRef): string {
  return createHash('sha256')
    .update(series.metric)
    .update('\0')
    .update(canonicalJson(series.resource))
    .update('\0')
    .update(canonicalJson(series.attributes))
    .digest('hex')
    .slice(0, 32);
}

/** The service a series belongs to, from its resource; undefined when the sender set none. */
export function serviceOf(series: SeriesRef): string | undefined {
  const v = series.resource[ATTR.serviceName];
  return typeof v === 'string' ? v : undefined;
}
