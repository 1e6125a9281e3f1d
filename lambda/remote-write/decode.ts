// A Prometheus remote-write 1.0 body → series with plain labels and samples, or a 4xx naming the
// problem. The body is a snappy block holding a `prometheus.WriteRequest` (the message schema is
// written once, in lambda/storage/prometheus-remote-write.ts, which the Prometheus store sends with).
//
// What makes the whole request unreadable (not snappy, over the size limit, not protobuf) is an
// error here; what is wrong with one series (no metric name, a bad label) is returned beside the
// good series, so the caller stores the rest.

import snappy from 'snappyjs';
import { ApiError } from '../errors.ts';
import type { BodyLimits } from '../gateway/body.ts';
import { WriteRequest } from '../storage/prometheus-remote-write.ts';

export interface RemoteSample {
  value: number;
  timestampMs: number;
}

/** A native histogram sample, integer counts, buckets as Prometheus sends them (spans and deltas). */
export interface RemoteNativeHistogram {
  timestampMs: number;
  count: number;
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  positiveSpans: { offset: number; length: number }[];
  positiveDeltas: number[];
  /** Negative buckets, float counts or a gauge reset hint: what burnwatch does not take. */
  unsupported?: string;
}

export interface RemoteSeries {
  labels: Record<string, string>;
  samples: RemoteSample[];
  histograms: RemoteNativeHistogram[];
}

export interface SeriesProblem {
  /** Which series: its name, or its index when it has none. */
  series: string;
  reason: string;
  /** Samples and histograms it held (all refused). */
  points: number;
}

export interface DecodedWriteRequest {
  series: RemoteSeries[];
  problems: SeriesProblem[];
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Points are stored with signed 64-bit nanoseconds: the last millisecond that fits (in 2262). */
export const MAX_TIMESTAMP_MS = Number(((1n << 63n) - 1n) / 1_000_000n);

const validTimestamp = (ms: number) => Number.isSafeInteger(ms) && ms > 0 && ms <= MAX_TIMESTAMP_MS;

export function decodeRemoteWrite(body: Uint8Array, limits: BodyLimits): DecodedWriteRequest {
  let raw: Uint8Array;
  try {
    raw = snappy.uncompress(body, limits.maxDecompressedBytes);
  } catch (err) {
    const message = (err as Error).message;
    if (/too big/.test(message)) throw new ApiError(413, 'payload_too_large', `the snappy-decompressed body is larger than the limit of ${limits.maxDecompressedBytes} bytes`);
    throw new ApiError(400, 'invalid_snappy', `Content-Encoding is snappy but the body is not a snappy block (remote write uses block format, not framed): ${message}`);
  }
  // The decoded message is read as it is (toObject would copy every series once more): repeated
  // fields default to [], scalars to 0, and 64-bit integers are numbers or Longs (long.js).
  let message: Record<string, any>;
  try {
    message = WriteRequest.decode(raw) as unknown as Record<string, any>;
  } catch (err) {
    throw new ApiError(400, 'invalid_protobuf', `the body is not a prometheus.WriteRequest protobuf: ${(err as Error).message}`);
  }
  const out: DecodedWriteRequest = { series: [], problems: [] };
  (message.timeseries as Record<string, any>[]).forEach((ts, i) => {
    const points = ts.samples.length + ts.histograms.length;
    const labels: Record<string, string> = {};
    let problem: string | undefined;
    for (const { name, value } of ts.labels as { name: string; value: string }[]) {
      if (!LABEL_NAME.test(name)) problem ??= `label name "${name}" is not a Prometheus label name`;
      else if (name in labels) problem ??= `label "${name}" appears twice`;
      labels[name] = value;
    }
    const metric = labels.__name__;
    if (!metric) problem ??= 'no __name__ label (every series needs its metric name)';
    const samples: RemoteSample[] = [];
    for (const s of ts.samples as { value: number; timestamp: unknown }[]) {
      const timestampMs = int64(s.timestamp);
      if (!validTimestamp(timestampMs)) problem ??= `sample timestamp ${s.timestamp} is not milliseconds since the epoch up to the year 2262`;
      samples.push({ value: s.value, timestampMs });
    }
    const histograms = (ts.histograms as Record<string, any>[]).map((h) => nativeHistogram(h));
    for (const h of histograms) if (!validTimestamp(h.timestampMs)) problem ??= `histogram timestamp ${h.timestampMs} is not milliseconds since the epoch up to the year 2262`;
    if (problem) out.problems.push({ series: metric ? `${metric}${describeLabels(labels)}` : `timeseries[${i}]`, reason: problem, points });
    else out.series.push({ labels, samples, histograms });
  });
  return out;
}

/** A protobuf 64-bit integer as a number: exact up to 2^53, which every valid field here is below. */
function int64(v: unknown): number {
  return typeof v === 'number' ? v : Number(String(v));
}

const RESET_HINT_GAUGE = 3;

function nativeHistogram(h: Record<string, any>): RemoteNativeHistogram {
  const unsupported = [
    h.count_float !== 0 || h.positive_counts.length > 0 ? 'float counts' : undefined,
    h.negative_spans.length > 0 ? 'negative buckets' : undefined,
    h.reset_hint === RESET_HINT_GAUGE ? 'a gauge histogram' : undefined,
  ].filter((x) => x !== undefined);
  return {
    timestampMs: int64(h.timestamp),
    count: int64(h.count_int),
    sum: h.sum,
    schema: h.schema,
    zeroThreshold: h.zero_threshold,
    zeroCount: int64(h.zero_count_int),
    positiveSpans: h.positive_spans.map((s: { offset: number; length: number }) => ({ offset: s.offset, length: s.length })),
    positiveDeltas: h.positive_deltas.map(int64),
    ...(unsupported.length ? { unsupported: unsupported.join(', ') } : {}),
  };
}

/** `{a="1",b="2"}` without the name, for messages; long label sets are cut. */
export function describeLabels(labels: Record<string, string>): string {
  const text = Object.keys(labels)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
  return `{${text.length > 200 ? `${text.slice(0, 200)}…` : text}}`;
}
