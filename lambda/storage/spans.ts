// The span storage contract, separate from MetricStore: spans are events (the slow-request
// breakdowns the agent exports, or any OTLP trace), read back by trace and time, never merged.
// A span's identity is (tenant, trace id, span id): writing it twice is a no-op.
import type { Attributes } from './types.ts';

export type SpanKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';

export interface StoredSpan {
  /** Lower-case hex, 32 digits. */
  traceId: string;
  /** Lower-case hex, 16 digits. */
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  /** `service.name` of the span's resource ("" when absent). */
  service: string;
  name: string;
  kind: SpanKind;
  startNs: bigint;
  endNs: bigint;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attributes: Attributes;
}

export interface SpanQuery {
  tenant: string;
  service: string;
  /** Root spans starting in [fromNs, toNs). */
  fromNs: bigint;
  toNs: bigint;
  /** At most this many traces, latest first. */
  limit: number;
}

export interface SpanWriteResult {
  inserted: number;
  duplicates: number;
  /** Spans the store can never keep (e.g. over a backend's size limit), by index in the batch: refused, not retried. */
  refused?: { index: number; reason: string }[];
}

export interface SpanStore {
  write(tenant: string, spans: readonly StoredSpan[]): Promise<SpanWriteResult>;
  /** Root server spans of the service in the window (latest first), each with every span of its trace. */
  fetchTraces(q: SpanQuery): Promise<{ root: StoredSpan; spans: StoredSpan[] }[]>;
  close(): Promise<void>;
}
