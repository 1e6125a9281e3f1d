// Prometheus remote-write 1.0 bodies: a `prometheus.WriteRequest` protobuf, snappy block-compressed.
//
// The message subset is written from the remote-write specification
// (prometheus/prompb/types.proto, remote.proto); field numbers are protocol facts. Only float
// samples are sent (point-samples.ts says why not native histograms), so Histogram, Exemplar and
// metadata are left out. The spec requires labels sorted by name and samples of one series in
// timestamp order.

import protobuf from 'protobufjs';
import snappy from 'snappyjs';

const PROMPB = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
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

export interface TimeSeries {
  labels: Record<string, string>;
  samples: Sample[];
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
    })),
  });
  return snappy.compress(WriteRequest.encode(message).finish());
}

/** The inverse, for tests and proxies that inspect what was sent. */
export function decodeWriteRequest(body: Uint8Array): TimeSeries[] {
  const message = WriteRequest.toObject(WriteRequest.decode(snappy.uncompress(body)), { longs: Number }) as {
    timeseries?: { labels?: { name: string; value: string }[]; samples?: { value?: number; timestamp?: number }[] }[];
  };
  return (message.timeseries ?? []).map((ts) => ({
    labels: Object.fromEntries((ts.labels ?? []).map((l) => [l.name, l.value])),
    samples: (ts.samples ?? []).map((s) => ({ value: s.value ?? 0, timestampMs: s.timestamp ?? 0 })),
  }));
}
