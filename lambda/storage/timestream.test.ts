// TimestreamStore at the SDK boundary: the exact WriteRecords requests it sends, how it sorts
// rejected records, how it retries throttling, and that what it wrote reads back unchanged
// through paged queries (the emulator in test/lib answers from what was written).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RejectedRecordsException, ThrottlingException, WriteRecordsCommand } from '@aws-sdk/client-timestream-write';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { seriesId } from './series.ts';
import { TimestreamStore } from './timestream.ts';
import { DAY_NS, formatTimestreamTime, parseTimestreamTime } from './timestream-records.ts';
import type { MetricPoint, SeriesRef } from './types.ts';

const T0 = 1_795_000_000_000_000_000n; // 2026-11-18T…Z in ns
const S = 1_000_000_000n;
const TABLES = { database: 'bw', pointsTable: 'points', seriesTable: 'series' };

function setup(extra: { maxAttempts?: number } = {}) {
  const emulator = new TimestreamEmulator();
  // The service's clock and the store's: after the points written here, well inside the memory store.
  emulator.now = () => Number(T0 / 1_000_000n) + 2 * 3_600_000;
  const sleeps: number[] = [];
  const logs: string[] = [];
  const store = new TimestreamStore({
    ...TABLES,
    writeClient: emulator.writeClient,
    queryClient: emulator.queryClient,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 1,
    log: (m) => logs.push(m),
    now: () => emulator.now(),
    ...extra,
  });
  return { emulator, store, sleeps, logs };
}

const checkout: SeriesRef = {
  metric: 'http.server.request.duration',
  unit: 's',
  resource: { 'service.name': 'checkout', 'host.name': 'h1' },
  attributes: { 'http.route': '/pay', 'http.response.status_code': 200 },
};

function exp(i: number, counts: number[], series = checkout): MetricPoint {
  return {
    series, startNs: T0 + BigInt(i) * 10n * S, endNs: T0 + BigInt(i + 1) * 10n * S, kind: 'exponential_histogram', temporality: 'delta',
    count: counts.reduce((a, b) => a + b, 0), sum: 1.5, min: 0.01, max: 0.9, scale: 5, zeroCount: 1, offset: -100, counts,
  };
}

test('one write: series records first, then one multi-measure record per point with common attributes', async () => {
  const { emulator, store } = setup();
  const counter: MetricPoint = {
    series: { ...checkout, metric: 'orders', unit: '', attributes: {} }, startNs: T0, endNs: T0 + S, kind: 'sum', temporality: 'cumulative', monotonic: true, value: 7,
  };
  const gauge: MetricPoint = { series: { ...checkout, metric: 'g', resource: {} }, startNs: 0n, endNs: T0 + 2n * S, kind: 'gauge', value: -2.5 };
  assert.deepEqual(await store.write('acme', [exp(0, [3, 0, 0, 2]), counter, gauge]), { inserted: 3, duplicates: 0 });

  const [seriesWrite, pointsWrite, ...more] = emulator.writeInputs();
  assert.equal(more.length, 0);
  const common = { Dimensions: [{ Name: 'tenant', Value: 'acme', DimensionValueType: 'VARCHAR' }], MeasureValueType: 'MULTI', TimeUnit: 'NANOSECONDS' };
  assert.equal(seriesWrite.TableName, 'series');
  assert.deepEqual(seriesWrite.CommonAttributes, common);
  assert.deepEqual(seriesWrite.Records![0], {
    Dimensions: [
      { Name: 'series_id', Value: seriesId(checkout), DimensionValueType: 'VARCHAR' },
      { Name: 'metric', Value: 'http.server.request.duration', DimensionValueType: 'VARCHAR' },
      { Name: 'service', Value: 'checkout', DimensionValueType: 'VARCHAR' },
    ],
    MeasureName: 'series',
    MeasureValues: [
      { Name: 'unit', Type: 'VARCHAR', Value: 's' },
      { Name: 'parts', Type: 'BIGINT', Value: '0' },
      { Name: 'resource', Type: 'VARCHAR', Value: '{"service.name":"checkout","host.name":"h1"}' },
      { Name: 'attributes', Type: 'VARCHAR', Value: '{"http.route":"/pay","http.response.status_code":200}' },
    ],
    // Stamped with the UTC day, so every rewrite that day is the identical record.
    Time: String((T0 + 10n * S) / DAY_NS * DAY_NS),
  });
  // The gauge's series has no service.name: no service dimension (a dimension value may not be empty).
  assert.deepEqual(seriesWrite.Records![2].Dimensions!.map((d) => d.Name), ['series_id', 'metric']);

  assert.equal(pointsWrite.DatabaseName, 'bw');
  assert.equal(pointsWrite.TableName, 'points');
  assert.deepEqual(pointsWrite.CommonAttributes, common);
  assert.deepEqual(pointsWrite.Records![0], {
    Dimensions: seriesWrite.Records![0].Dimensions,
    MeasureName: 'point',
    MeasureValues: [
      { Name: 'start_ns', Type: 'BIGINT', Value: String(T0) },
      { Name: 'point_kind', Type: 'VARCHAR', Value: 'exponential_histogram' },
      { Name: 'temporality', Type: 'VARCHAR', Value: 'delta' },
      { Name: 'hist_count', Type: 'BIGINT', Value: '5' },
      { Name: 'hist_sum', Type: 'DOUBLE', Value: '1.5' },
      { Name: 'hist_min', Type: 'DOUBLE', Value: '0.01' },
      { Name: 'hist_max', Type: 'DOUBLE', Value: '0.9' },
      { Name: 'exp_scale', Type: 'BIGINT', Value: '5' },
      { Name: 'zero_count', Type: 'BIGINT', Value: '1' },
      { Name: 'bucket_offset', Type: 'BIGINT', Value: '-100' },
      { Name: 'parts', Type: 'BIGINT', Value: '0' },
      // Empty buckets are empty fields.
      { Name: 'bucket_counts', Type: 'VARCHAR', Value: '3,,,2' },
    ],
    Time: String(T0 + 10n * S),
  });
  assert.deepEqual(pointsWrite.Records![1].MeasureValues, [
    { Name: 'start_ns', Type: 'BIGINT', Value: String(T0) },
    { Name: 'point_kind', Type: 'VARCHAR', Value: 'sum' },
    { Name: 'temporality', Type: 'VARCHAR', Value: 'cumulative' },
    { Name: 'monotonic', Type: 'BOOLEAN', Value: 'true' },
    { Name: 'num_value', Type: 'DOUBLE', Value: '7' },
    { Name: 'parts', Type: 'BIGINT', Value: '0' },
  ]);
  assert.deepEqual(pointsWrite.Records![2].MeasureValues, [
    { Name: 'start_ns', Type: 'BIGINT', Value: '0' },
    { Name: 'point_kind', Type: 'VARCHAR', Value: 'gauge' },
    { Name: 'num_value', Type: 'DOUBLE', Value: '-2.5' },
    { Name: 'parts', Type: 'BIGINT', Value: '0' },
  ]);

  // Everything reads back as written (each query answered over several pages).
  emulator.pageSize = 1;
  const back = await store.fetchPoints({ tenant: 'acme', metric: 'orders', fromNs: 0n, toNs: T0 + 100n * S });
  assert.deepEqual(back, [counter]);
  assert.deepEqual(await store.fetchPoints({ tenant: 'acme', metric: checkout.metric, service: 'checkout', fromNs: T0, toNs: T0 + 100n * S }), [exp(0, [3, 0, 0, 2])]);
  assert.deepEqual(await store.fetchPoints({ tenant: 'acme', metric: 'g', fromNs: T0, toNs: T0 + 100n * S }), [gauge]);
  assert.deepEqual(await store.listSeries({ tenant: 'acme', metric: 'orders' }), [counter.series]);
  // Another tenant sees nothing.
  assert.deepEqual(await store.fetchPoints({ tenant: 'other', metric: 'orders', fromNs: 0n, toNs: T0 + 100n * S }), []);
});

test('batches of at most 100 records; a series is written once a day per container', async () => {
  const { emulator, store } = setup();
  const points = Array.from({ length: 250 }, (_, i) => exp(i, [1, 2]));
  assert.deepEqual(await store.write('acme', points), { inserted: 250, duplicates: 0 });
  const writes = emulator.writeInputs();
  assert.deepEqual(writes.map((w) => [w.TableName, w.Records!.length]), [['series', 1], ['points', 100], ['points', 100], ['points', 50]]);
  assert.deepEqual(writes[3].Records!.map((r) => r.Time), points.slice(200).map((p) => String(p.endNs)));
  // Next batch, same day: no series write.
  await store.write('acme', [exp(300, [1])]);
  assert.deepEqual(emulator.writeInputs().slice(4).map((w) => w.TableName), ['points']);
  const back = await store.fetchPoints({ tenant: 'acme', metric: checkout.metric, fromNs: T0, toNs: T0 + 10_000n * S });
  assert.equal(back.length, 251);
});

test('a point too big for one 2 KB record continues in further records and reads back whole', async () => {
  const { emulator, store } = setup();
  const wide = exp(0, Array.from({ length: 600 }, (_, i) => 1000 + i));
  const bigAttrs: SeriesRef = { ...checkout, attributes: { 'http.route': `/${'ü'.repeat(1500)}` } };
  const bounds: MetricPoint = {
    series: { ...checkout, metric: 'explicit' }, startNs: T0, endNs: T0 + S, kind: 'histogram', temporality: 'delta',
    count: 401, bounds: Array.from({ length: 400 }, (_, i) => 0.001 * (i + 1)), counts: Array.from({ length: 401 }, () => 1),
  };
  // The emulator refuses any record over 2 KB, so a successful write shows every record fits.
  assert.deepEqual(await store.write('acme', [wide, exp(1, [1], bigAttrs), bounds]), { inserted: 3, duplicates: 0 });
  const points = emulator.writeInputs().find((w) => w.TableName === 'points')!;
  const names = points.Records!.map((r) => r.MeasureName);
  assert.ok(names.filter((n) => n === 'point').length === 3 && names.includes('point.1') && names.includes('point.2'), names.join());
  const series = emulator.writeInputs().find((w) => w.TableName === 'series')!;
  assert.ok(series.Records!.some((r) => r.MeasureName === 'series.1'), 'the big attributes continue in series.1');
  const back = await store.fetchPoints({ tenant: 'acme', metric: checkout.metric, fromNs: T0, toNs: T0 + 100n * S });
  assert.deepEqual(back.sort((a, b) => Number(a.endNs - b.endNs)), [wide, exp(1, [1], bigAttrs)]);
  assert.deepEqual(await store.fetchPoints({ tenant: 'acme', metric: 'explicit', fromNs: T0, toNs: T0 + 100n * S }), [bounds]);
});

test('an identical rewrite is a no-op; a conflicting one is reported and the first write kept', async () => {
  const { store, logs } = setup();
  const p = exp(0, [1, 2]);
  assert.deepEqual(await store.write('acme', [p]), { inserted: 1, duplicates: 0 });
  // Timestream accepts an identical record silently: it cannot be told from a new one.
  assert.deepEqual(await store.write('acme', [p]), { inserted: 1, duplicates: 0 });
  assert.equal(store.conflicts, 0);
  const changed = exp(0, [5, 5]);
  assert.deepEqual(await store.write('acme', [changed, exp(1, [1])]), { inserted: 1, duplicates: 1 });
  assert.equal(store.conflicts, 1);
  assert.match(logs.join('\n'), /1 point\(s\) conflict with a stored point of the same series and end time; the stored one is kept/);
  const back = await store.fetchPoints({ tenant: 'acme', metric: checkout.metric, fromNs: T0, toNs: T0 + 100n * S });
  assert.deepEqual(back.sort((a, b) => Number(a.endNs - b.endNs)), [p, exp(1, [1])]);
});

test('records refused for good are returned by index, and the batch is not resent', async () => {
  const { emulator, store, logs } = setup();
  const reason = 'The record timestamp is outside the time range [2026-11-22T10:00:00Z, 2026-11-23T10:15:00Z) of the memory store.';
  emulator.writeMock.on(WriteRecordsCommand, { TableName: 'points' }).rejectsOnce(
    new RejectedRecordsException({ $metadata: {}, message: 'One or more records have been rejected.', RejectedRecords: [{ RecordIndex: 1, Reason: reason }] }),
  );
  const result = await store.write('acme', [exp(0, [1]), exp(1, [1]), exp(2, [1])]);
  assert.deepEqual(result, { inserted: 2, duplicates: 0, rejected: [{ index: 1, reason }] });
  assert.equal(emulator.writeMock.commandCalls(WriteRecordsCommand, { TableName: 'points' }).length, 1);
  assert.match(logs.join('\n'), /1 point\(s\) refused: The record timestamp is outside/);
});

test('throttling is retried with exponential backoff, then given up with the attempt count', async () => {
  const { emulator, store, sleeps } = setup({ maxAttempts: 4 });
  const throttle = () => new ThrottlingException({ $metadata: {}, message: 'Rate exceeded', Message: 'Rate exceeded' });
  emulator.writeFaults.push(throttle(), throttle());
  assert.deepEqual(await store.write('acme', [exp(0, [1])]), { inserted: 1, duplicates: 0 });
  assert.deepEqual(sleeps, [100, 200]); // full jitter with random() = 1: the whole window
  assert.equal(emulator.writeInputs().length, 4); // series: throttled twice, then written; points once

  emulator.writeFaults.push(throttle(), throttle(), throttle(), throttle());
  await assert.rejects(store.write('acme', [exp(1, [1])]), (err: Error) => err.name === 'ThrottlingException' && /WriteRecords points: gave up after 4 attempts/.test(err.message));
  // A validation error is not retried.
  emulator.writeFaults.push(new Error('boom'));
  await assert.rejects(store.write('acme', [exp(2, [1])]), /boom/);
});

test('query text: literals escaped, bounds clamped to what Timestream accepts; times parse both ways', async () => {
  const { emulator, store } = setup();
  const odd: SeriesRef = { ...checkout, resource: { 'service.name': "o'brien" } };
  await store.write("t'1", [exp(0, [4], odd)]);
  const back = await store.fetchPoints({ tenant: "t'1", metric: checkout.metric, service: "o'brien", fromNs: -5n, toNs: 1n << 70n });
  assert.deepEqual(back, [exp(0, [4], odd)]);
  const sql = emulator.queries.at(-1)!;
  assert.match(sql, /^SELECT \* FROM "bw"\."points" WHERE tenant = 't''1' AND metric = 'http\.server\.request\.duration' AND service = 'o''brien' AND time >= from_nanoseconds\(0\) AND time < from_nanoseconds\(9223372036854775807\)$/);
  assert.equal(formatTimestreamTime(1_795_000_000_123_456_789n), '2026-11-18 11:06:40.123456789');
  assert.equal(parseTimestreamTime('2026-11-18 11:06:40.123456789'), 1_795_000_000_123_456_789n);
  assert.equal(parseTimestreamTime('2026-11-18 11:06:40'), 1_795_000_000_000_000_000n);
  assert.throws(() => parseTimestreamTime('yesterday'), /Timestream time "yesterday"/);
});
