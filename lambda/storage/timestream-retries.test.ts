// TimestreamStore's retries at the SDK boundary (aws-sdk-client-mock, through the emulator in
// test/lib): a stale cell endpoint (InvalidEndpointException) and broken sockets are retried with
// bounded backoff, the endpoint is discovered again, and the points are stored exactly once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidEndpointException, ValidationException, WriteRecordsCommand } from '@aws-sdk/client-timestream-write';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { TimestreamStore } from './timestream.ts';
import type { MetricPoint, SeriesRef } from './types.ts';

const S = 1_000_000_000n;
const TABLES = { database: 'bw', pointsTable: 'points', seriesTable: 'series' };

const series: SeriesRef = { metric: 'orders', unit: '', resource: { 'service.name': 'shop' }, attributes: {} };

function setup(extra: { maxAttempts?: number; maxDelayMs?: number } = {}) {
  const emulator = new TimestreamEmulator();
  const nowMs = emulator.now();
  const sleeps: number[] = [];
  const store = new TimestreamStore({
    ...TABLES,
    writeClient: emulator.writeClient,
    queryClient: emulator.queryClient,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 1,
    log: () => undefined,
    ...extra,
  });
  const t0 = BigInt(nowMs) * 1_000_000n - 600n * S;
  const point = (i: number, value: number): MetricPoint => ({
    series, startNs: t0 + BigInt(i) * 10n * S, endNs: t0 + BigInt(i + 1) * 10n * S, kind: 'sum', temporality: 'delta', monotonic: true, value,
  });
  const stored = async () => {
    const back = await store.fetchPoints({ tenant: 'acme', metric: 'orders', fromNs: t0, toNs: t0 + 1000n * S });
    return back.map((p) => (p.kind === 'sum' ? p.value : NaN)).sort((a, b) => a - b);
  };
  return { emulator, store, sleeps, point, stored };
}

/** Errors as Node's HTTP stack raises them when a connection breaks. */
function socketError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

test('InvalidEndpointException: the discovered endpoint is forgotten, the write retried and stored once', async () => {
  const { emulator, store, sleeps, point, stored } = setup();
  // What DescribeEndpoints answered earlier: a cell the SDK keeps using for a day.
  const cache = emulator.writeClient.config.endpointCache;
  cache.set('{"accessKeyId":"AKIDTEST"}', [{ Address: 'ingest-cell2.timestream.us-east-1.amazonaws.com', CachePeriodInMinutes: 1440 }]);
  assert.equal(cache.getEndpoint('{"accessKeyId":"AKIDTEST"}'), 'ingest-cell2.timestream.us-east-1.amazonaws.com');
  emulator.tableFaults.set('points', [new InvalidEndpointException({ $metadata: { httpStatusCode: 421 }, message: 'The endpoint is not valid.', Message: 'The endpoint is not valid.' })]);

  assert.deepEqual(await store.write('acme', [point(0, 1), point(1, 2)]), { inserted: 2, duplicates: 0 });
  assert.equal(cache.getEndpoint('{"accessKeyId":"AKIDTEST"}'), undefined, 'the next call discovers the endpoint again');
  const pointWrites = emulator.writeMock.commandCalls(WriteRecordsCommand, { TableName: 'points' });
  assert.equal(pointWrites.length, 2, 'refused once, then written');
  assert.deepEqual(sleeps, [100]);
  assert.deepEqual(await stored(), [1, 2]);
});

test('socket errors before or after the request reached Timestream are retried; each point is stored once', async () => {
  const { emulator, store, sleeps, point, stored } = setup();
  emulator.tableFaults.set('points', [
    socketError('read ECONNRESET', 'ECONNRESET'),
    socketError('connect ETIMEDOUT 52.94.1.1:443', 'ETIMEDOUT'),
    socketError('write EPIPE', 'EPIPE'),
  ]);
  assert.deepEqual(await store.write('acme', [point(0, 10)]), { inserted: 1, duplicates: 0 });
  assert.equal(emulator.writeMock.commandCalls(WriteRecordsCommand, { TableName: 'points' }).length, 4);
  assert.deepEqual(sleeps, [100, 200, 400]);

  // The request was written, then the connection hung up before the answer: the resend is the
  // identical record, which Timestream accepts as a no-op — no duplicate, no conflict.
  emulator.failAfterWrite.push(socketError('socket hang up', 'ECONNRESET'));
  assert.deepEqual(await store.write('acme', [point(1, 20)]), { inserted: 1, duplicates: 0 });
  assert.equal(store.conflicts, 0);
  assert.deepEqual(await stored(), [10, 20]);
});

test('backoff is bounded per attempt and in attempts; errors that cannot pass are not retried', async () => {
  const { emulator, store, sleeps, point, stored } = setup({ maxAttempts: 5, maxDelayMs: 250 });
  emulator.tableFaults.set('points', Array.from({ length: 5 }, () => socketError('socket hang up', 'ECONNRESET')));
  await assert.rejects(store.write('acme', [point(0, 1)]), /WriteRecords points: gave up after 5 attempts: socket hang up/);
  assert.deepEqual(sleeps, [100, 200, 250, 250]);

  sleeps.length = 0;
  emulator.tableFaults.set('points', [new ValidationException({ $metadata: { httpStatusCode: 400 }, message: 'bad', Message: 'bad' })]);
  await assert.rejects(store.write('acme', [point(1, 2)]), (err: Error) => err.name === 'ValidationException');
  assert.deepEqual(sleeps, []);
  assert.deepEqual(await stored(), []);
});
