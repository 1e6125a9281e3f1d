// Timestream's size limits (ts-limits: a series' dimension names and values ≤ 2 KB, a record
// ≤ 2 KB, a dimension name ≤ 60 bytes, a measure name ≤ 256 bytes): the emulator refuses records
// over them as Timestream does (RejectedRecordsException, the rest written), and a batch carrying
// a point over them — a long service name, metric name, unit or tenant, all chosen by senders —
// is a partial success naming the field and the limit, never a 503 the agent retries forever.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RejectedRecordsException, WriteRecordsCommand } from '@aws-sdk/client-timestream-write';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { counterMetric, DURATION, expHistogramMetric, protobufBody, resourceMetrics } from '../../test/otlp-fixtures.ts';
import { createGatewayApp } from '../gateway/app.ts';
import { TimestreamStore } from './timestream.ts';

const NOW = Date.UTC(2026, 10, 20, 12, 0);

function gateway(apiKeys: Record<string, string>) {
  const emulator = new TimestreamEmulator();
  emulator.now = () => NOW;
  const store = new TimestreamStore({
    database: 'bw', pointsTable: 'points', seriesTable: 'series',
    writeClient: emulator.writeClient, queryClient: emulator.queryClient, now: () => NOW, log: () => undefined,
  });
  const app = createGatewayApp({ store, apiKeys, now: () => NOW, log: () => undefined });
  const post = async (key: string, body: Uint8Array) => {
    const res = await app.request('/v1/metrics', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-protobuf' },
      body: Buffer.from(body),
    });
    const partial = ProtobufMetricsSerializer.deserializeResponse(new Uint8Array(await res.clone().arrayBuffer())).partialSuccess;
    return {
      status: res.status,
      text: await res.text(),
      rejected: Number(partial?.rejectedDataPoints ?? 0),
      message: partial?.errorMessage ?? '',
    };
  };
  return { emulator, store, post };
}

const histogram = (endMs: number) =>
  expHistogramMetric(DURATION, [{ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [bucketIndexForSeconds(0.01, 5)]: 7 } }]);

test('the emulator refuses records over the documented limits in RejectedRecords and writes the rest', async (t) => {
  const emulator = new TimestreamEmulator();
  t.after(() => emulator.restore());
  const record = (dims: [string, string][], measure = 'point', value = '1') => ({
    Dimensions: dims.map(([Name, Value]) => ({ Name, Value, DimensionValueType: 'VARCHAR' as const })),
    MeasureName: measure,
    MeasureValueType: 'MULTI' as const,
    MeasureValues: [{ Name: 'v', Value: value, Type: 'BIGINT' as const }],
    Time: String(Date.now()),
  });
  const err = await emulator.writeClient.send(new WriteRecordsCommand({
    DatabaseName: 'bw', TableName: 't',
    Records: [
      record([['service', 'ok']]),
      record([['service', 'x'.repeat(2100)]]),
      record([['d'.repeat(61), 'v']]),
      record([['service', 'ok2']], 'm'.repeat(257)),
      // 1 KB of dimensions fits the series; with a 1.1 KB text measure the record is over 2 KB.
      { ...record([['a', 'y'.repeat(1000)]]), MeasureValues: [{ Name: 'text', Value: 'z'.repeat(1100), Type: 'VARCHAR' as const }] },
    ],
  })).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof RejectedRecordsException, String(err));
  assert.deepEqual(err.RejectedRecords!.map((r) => r.RecordIndex), [1, 2, 3, 4]);
  assert.match(err.RejectedRecords![0].Reason!, /dimension names and values of the series are 2107 bytes; the maximum is 2 KB/);
  assert.match(err.RejectedRecords![1].Reason!, /Dimension name d+… is 61 bytes; the maximum is 60 bytes/);
  assert.match(err.RejectedRecords![2].Reason!, /Measure name m+… is 257 bytes; the maximum is 256 bytes/);
  assert.match(err.RejectedRecords![3].Reason!, /The record is 2\d{3} bytes; the maximum record size is 2 KB/);
  assert.equal(emulator.tables.get('bw.t')?.size, 1, 'the record within the limits is written');
});

test('points over the limits are refused by name as a partial success; the rest of the batch is stored', async (t) => {
  const { emulator, store, post } = gateway({ k1: 'acme' });
  t.after(() => emulator.restore());
  const end = NOW - 60_000;
  const longService = 's'.repeat(2100);
  const longMetric = `orders.${'m'.repeat(1700)}`;
  const body = new Uint8Array([
    ...protobufBody(resourceMetrics({ 'service.name': 'shop' }, [histogram(end)])),
    ...protobufBody(resourceMetrics({ 'service.name': longService }, [histogram(end)])),
    ...protobufBody(resourceMetrics({ 'service.name': 'shop' }, [counterMetric(longMetric, [{ endMs: end, value: 3 }])])),
    ...protobufBody(resourceMetrics({ 'service.name': 'shop' }, [counterMetric('orders.placed', [{ endMs: end, value: 5 }])])),
  ]);
  const res = await post('k1', body);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.rejected, 2);
  assert.match(res.message, /^2 point\(s\) refused by storage, first: resource attribute service\.name is 2100 bytes: the series' dimensions \(tenant, metric name, service\.name\) would total \d+ bytes, over Timestream's limit of 2048 bytes per series; also: metric name is 1707 bytes: a Timestream record is at most 2 KB, and this series' dimensions \(\d+ bytes, unit 1 bytes\) leave no room for a point's measures; they may total at most \d+ bytes$/);
  // Nothing over a limit was sent; everything else is stored and reads back.
  const sent = emulator.writeInputs().flatMap((w) => w.Records ?? []);
  assert.ok(sent.every((r) => r.Dimensions!.every((d) => d.Value !== longService && d.Value !== longMetric)));
  const from = BigInt(end - 60_000) * 1_000_000n;
  const to = BigInt(NOW) * 1_000_000n;
  assert.equal((await store.fetchPoints({ tenant: 'acme', metric: DURATION, fromNs: from, toNs: to })).length, 1);
  assert.deepEqual((await store.fetchPoints({ tenant: 'acme', metric: 'orders.placed', fromNs: from, toNs: to })).map((p) => p.kind === 'sum' && p.value), [5]);
  // Sent again (an agent's retry of the same batch): the same answer, no 503 loop.
  assert.deepEqual(await post('k1', body), res);
});

test('a unit or a tenant too long for a record is named; the same tenant with short names still fits', async (t) => {
  const longTenant = 't'.repeat(1500);
  const { emulator, post } = gateway({ k2: longTenant, k3: 'acme' });
  t.after(() => emulator.restore());
  const end = NOW - 60_000;
  const counter = counterMetric('orders.placed', [{ endMs: end, value: 1 }]);
  const withUnit = resourceMetrics({ 'service.name': 'shop' }, [{ ...counter, descriptor: { ...counter.descriptor, unit: `{${'u'.repeat(1800)}}` } }]);
  const unitAnswer = await post('k3', protobufBody(withUnit));
  assert.equal(unitAnswer.status, 200, unitAnswer.text);
  assert.match(unitAnswer.message, /^1 point\(s\) refused by storage, first: unit is 1802 bytes: a Timestream record is at most 2 KB/);

  const tenantAnswer = await post('k2', protobufBody(resourceMetrics({ 'service.name': 'a-rather-long-service-name-for-this-tenant' }, [histogram(end)])));
  assert.equal(tenantAnswer.status, 200, tenantAnswer.text);
  assert.match(tenantAnswer.message, /^1 point\(s\) refused by storage, first: tenant is 1500 bytes: a Timestream record is at most 2 KB/);
  const fits = await post('k2', protobufBody(resourceMetrics({ 'service.name': 'a' }, [counterMetric('o', [{ endMs: end, value: 1 }])])));
  assert.equal(fits.status, 200, fits.text);
  assert.deepEqual([fits.rejected, fits.message], [0, '']);
});
