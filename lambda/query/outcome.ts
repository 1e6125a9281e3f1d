// Whether a data point counts requests that failed on the server's side: the one definition of
// "error" the query API, /v1/services and the availability SLO share.

import { ATTR } from '../../common/catalogue.ts';
import type { Attributes, SeriesRef } from '../storage/types.ts';

const GRPC_STATUS = 'rpc.grpc.status_code';
// gRPC codes that mean the server failed (the rest are the caller's doing or success):
// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

function integerAttribute(attrs: Attributes, key: string): number | undefined {
  const v = attrs[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}

/** HTTP status ≥ 500, or a gRPC server-error code, on the point's attributes. */
export function isServerError(series: SeriesRef): boolean {
  const http = integerAttribute(series.attributes, ATTR.httpStatus);
  if (http !== undefined) return http >= 500;
  const grpc = integerAttribute(series.attributes, GRPC_STATUS);
  return grpc !== undefined && GRPC_SERVER_ERRORS.has(grpc);
}

/** A label value for grouping: point attributes first, then resource attributes; undefined when absent. */
export function labelValue(series: SeriesRef, key: string): string | undefined {
  // Own properties only: `by=constructor` must not find Object.prototype.constructor.
  const v = Object.hasOwn(series.attributes, key) ? series.attributes[key] : Object.hasOwn(series.resource, key) ? series.resource[key] : undefined;
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}
