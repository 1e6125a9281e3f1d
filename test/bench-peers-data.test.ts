// The benchmark's two wire formats of the same data (bench/peers-data.ts): an OTLP request split
// back into its resources byte for byte, and the classic histogram Prometheus gets for an
// exponential one (what the ingest comparison's "same samples" rests on).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMetricsRequest, type DecodedMetric } from '../agent/export/testkit.ts';
import { otlpRequest, partsOfProcess, remoteWriteSeries, resourceParts } from '../bench/peers-data.ts';

const duration: DecodedMetric = {
  name: 'http.server.request.duration',
  unit: 's',
  description: '',
  kind: 'exponential_histogram',
  points: [
    {
      attributes: { 'http.route': '/pay', 'http.response.status_code': 200 },
      startTimeUnixNano: 1_000_000_000_000n,
      timeUnixNano: 1_010_000_000_000n,
      // scale 0: bucket i holds (2^i, 2^(i+1)]; -8 → (0.0039, 0.0078], -7 → (…, 0.0156], -6 → (…, 0.03125]
      histogram: { count: 9, sum: 0.1, scale: 0, zeroCount: 1, offset: -8, counts: [3, 0, 5] },
    },
  ],
};
const faults: DecodedMetric = {
  name: 'burnwatch.page_faults',
  unit: '1',
  description: '',
  kind: 'sum',
  isMonotonic: true,
  points: [{ attributes: { 'burnwatch.fault.type': 'minor' }, startTimeUnixNano: 1_000_000_000_000n, timeUnixNano: 1_010_000_000_000n, value: 7 }],
};
const resource = { 'service.name': 'pay', 'host.name': 'h1', 'process.pid': 42 };

test('an OTLP request splits into its resources, byte for byte, and one process is picked out', () => {
  const a = otlpRequest(resource, [duration]);
  const b = otlpRequest({ ...resource, 'service.name': 'other', 'process.pid': 43 }, [faults]);
  const both = Buffer.concat([a, b]);
  const parts = resourceParts(both);
  assert.equal(parts.length, 2);
  assert.deepEqual(Buffer.from(parts[0]), Buffer.from(a));
  assert.deepEqual(Buffer.from(parts[1]), Buffer.from(b));
  const mine = partsOfProcess(both, 43);
  assert.equal(mine.bytes.length, 1);
  assert.equal(mine.resources[0].attributes['service.name'], 'other');
  assert.deepEqual(decodeMetricsRequest(a)[0].scopes[0].metrics[0].points[0].histogram?.counts, [3, 0, 5]);
});

test('an exponential histogram becomes the classic histogram over the default buckets; a sum a _total', () => {
  const series = remoteWriteSeries(resource, [duration, faults]);
  const value = (name: string, le?: string) => {
    const s = series.find((x) => x.labels.__name__ === name && x.labels.le === le);
    assert.ok(s, `${name} le=${le}`);
    return s.samples[0].value;
  };
  assert.equal(value('http_server_request_duration_bucket', '0.005'), 1); // the zero bucket only
  assert.equal(value('http_server_request_duration_bucket', '0.01'), 4);
  assert.equal(value('http_server_request_duration_bucket', '0.025'), 4);
  assert.equal(value('http_server_request_duration_bucket', '0.05'), 9);
  assert.equal(value('http_server_request_duration_bucket', '10'), 9);
  assert.equal(value('http_server_request_duration_bucket', '+Inf'), 9);
  assert.equal(value('http_server_request_duration_count'), 9);
  assert.equal(value('http_server_request_duration_sum'), 0.1);
  assert.equal(value('burnwatch_page_faults_total'), 7);
  assert.equal(series.length, 12 + 2 + 1);
  const bucket = series[0];
  assert.deepEqual(
    { job: bucket.labels.job, instance: bucket.labels.instance, route: bucket.labels.http_route, status: bucket.labels.http_response_status_code },
    { job: 'pay', instance: 'h1:42', route: '/pay', status: '200' },
  );
  assert.equal(bucket.samples[0].timestampMs, 1_010_000);
});
