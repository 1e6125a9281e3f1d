// Prometheus remote-write 1.0 bodies: a `prometheus.WriteRequest` protobuf, snappy block-compressed.
//
// The message subset is written from the remote-write specification
// (prometheus/prompb/types.proto, remote.proto, as of Prometheus 2.42); field numbers are
// protocol facts. Float samples and integer native histograms are sent; float-count histograms,
// negative buckets, exemplars and metadata are left out (the float and negative fields are in the
// schema so the gateway's receiver, lambda/remote-write, can tell them apart and refuse them). The
// spec requires labels sorted by name and samples of one series in timestamp order.

import protobuf from 'protobufjs';
import snappy from 'snappyjs';

const PROMPB = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Histogram histograms = 4; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message BucketSpan { sint32 offset = 1; uint32 length = 2; }
message Histogram {
  uint64 count_int = 1;
  double count_float = 2;
  double sum = 3;
  sint32 schema = 4;
  double zero_threshold = 5;
  uint64 zero_count_int = 6;
  double zero_count_float = 7;
  repeated BucketSpan negative_spans = 8;
  repeated sint64 negative_deltas = 9;
  repeated double negative_counts = 10;
  repeated BucketSpan positive_spans = 11;
  repeated sint64 positive_deltas = 12;
  repeated double positive_counts = 13;
  ResetHint reset_hint = 14;
  int64 timestamp = 15;
}
enum ResetHint { UNKNOWN = 0; YES = 1; NO = 2; GAUGE = 3; }
`;

const root = new protobuf.Root();
protobuf.parse(PROMPB, root, { keepCase: true });
export const WriteRequest = root.lookupType('prometheus.WriteRequest');

/** The headers remote-write 1.0 requires on every request. */
export const REMOTE_WRITE_HEADERS = {
  'Content-Type': 'application/x-protobuf',
  'Content-Encoding': 'snappy',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
} as const;

export interface Sample {
  value: number;
  timestampMs: number;
}

/**
 * A native histogram with integer counts. `offset` is the Prometheus index of counts[0]: bucket i
 * holds (base^(i-1), base^i], one above the OTLP index of the same bucket.
 */
export interface NativeHistogramSample {
  timestampMs: number;
  count: number;
  sum: number;
  schema: number;
  zeroCount: number;
  offset: number;
  counts: number[];
  /** Deltas are independent observations (a gauge histogram); cumulative ones may reset. */
  gauge: boolean;
}

export interface TimeSeries {
  labels: Record<string, string>;
  samples: Sample[];
  histograms?: NativeHistogramSample[];
}

/** The snappy-compressed protobuf body for these series. */
export function encodeWriteRequest(series: readonly TimeSeries[]): Uint8Array {
  const message = WriteRequest.fromObject({
    timeseries: series.map((s) => ({
      labels: Object.keys(s.labels)
        .sort()
        .map((name) => ({ name, value: s.labels[name] })),
      samples: [...s.samples]
        .sort((a, b) => a.timestampMs - b.timestampMs)
        .map((x) => ({ value: x.value, timestamp: x.timestampMs })),
      histograms: [...(s.histograms ?? [])].sort((a, b) => a.timestampMs - b.timestampMs).map(histogramMessage),
    })),
  });
  return snappy.compress(WriteRequest.encode(message).finish());
}

/** One span over all buckets (zeros inside are allowed), counts as deltas from the previous bucket. */
function histogramMessage(h: NativeHistogramSample) {
  return {
    count_int: h.count,
    sum: h.sum,
    schema: h.schema,
    zero_threshold: 0,
    zero_count_int: h.zeroCount,
    positive_spans: h.counts.length === 0 ? [] : [{ offset: h.offset, length: h.counts.length }],
    positive_deltas: h.counts.map((c, i) => c - (i === 0 ? 0 : h.counts[i - 1])),
    reset_hint: h.gauge ? 'GAUGE' : 'UNKNOWN',
    timestamp: h.timestampMs,
  };
}
