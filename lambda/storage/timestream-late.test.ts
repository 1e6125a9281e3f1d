// TimestreamStore and the memory/magnetic split, at the SDK boundary (the emulator in test/lib
// keeps its own clock and table retentions): requests split by age, late points reported with
// when they become readable, the service's own count of magnetic-store records trusted over our
// idea of its retention, and what Timestream refuses at once versus later (S3 only).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { TimestreamStore } from './timestream.ts';
import type { MetricPoint, SeriesRef } from './types.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const NOW = Date.UTC(2026, 10, 20, 12, 0);
const series: SeriesRef = { metric: 'orders', unit: '', resource: { 'service.name': 'shop' }, attributes: {} };

function setup(memoryRetentionHours = { points: 6, series: 48 }) {
  const emulator = new TimestreamEmulator();
  let clock = NOW;
  emulator.now = () => clock;
  emulator.tableSettings.set('points', { memoryRetentionHours: 6 });
  emulator.magneticDelayMs = 3 * HOUR;
  const store = new TimestreamStore({
    database: 'bw', pointsTable: 'points', seriesTable: 'series',
    writeClient: emulator.writeClient, queryClient: emulator.queryClient,
    memoryRetentionHours, magneticQueryableAfterMs: 6 * HOUR, now: () => clock, log: () => undefined,
  });
  const read = async () =>
    (await store.fetchPoints({ tenant: 'acme', metric: 'orders', fromNs: 0n, toNs: BigInt(clock) * 1_000_000n }))
      .map((p) => Number(p.endNs / 1_000_000n)).sort((a, b) => a - b);
  return { emulator, store, read, at: (ms: number) => (clock = ms) };
}

const point = (endMs: number, value = 1): MetricPoint => ({
  series, startNs: BigInt(endMs - 10_000) * 1_000_000n, endNs: BigInt(endMs) * 1_000_000n, kind: 'sum', temporality: 'delta', monotonic: true, value,
});

test('old and recent points go in separate requests; the old ones are reported late and readable only later', async () => {
  const { emulator, store, read, at } = setup();
  const recent = [NOW - 5 * MIN, NOW - 2 * HOUR];
  const old = [NOW - 7 * HOUR, NOW - 20 * HOUR];
  const result = await store.write('acme', [point(old[0]), point(recent[0]), point(old[1]), point(recent[1])]);
  assert.equal(result.inserted, 4);
  assert.deepEqual(result.late && { ...result.late, reason: undefined }, { indices: [0, 2], reason: undefined, queryableByMs: NOW + 6 * HOUR });
  assert.match(result.late!.reason, /^older than Timestream's memory store keeps \(6 h for points, 48 h for their series records\), so written to its magnetic store/);
  // Each request is all memory-store or all magnetic-store records.
  const requests = emulator.writeInputs().filter((w) => w.TableName === 'points').map((w) => w.Records!.map((r) => Number(BigInt(r.Time!) / 1_000_000n)).sort());
  assert.deepEqual(requests, [[recent[1], recent[0]], [old[1], old[0]]]);
  assert.deepEqual(await read(), [recent[1], recent[0]], 'the magnetic store has not made them readable yet');
  at(NOW + 3 * HOUR);
  assert.deepEqual(await read(), [old[1], old[0], recent[1], recent[0]]);
});

test('a request Timestream says put records in the magnetic store makes its points late, whatever we thought', async () => {
  // The store believes the points table keeps 24 h in memory; the table keeps 6.
  const { store } = setup({ points: 24, series: 48 });
  const result = await store.write('acme', [point(NOW - 5 * MIN), point(NOW - 8 * HOUR)]);
  assert.equal(result.inserted, 2);
  assert.deepEqual(result.late?.indices, [0, 1], 'which ones the answer does not say: both');
});

test('a point whose series record goes to the magnetic store is late too: it cannot be read without it', async () => {
  const { emulator } = setup();
  emulator.tableSettings.set('series', { memoryRetentionHours: 1 });
  // The store is told the series table keeps 1 h as well: the record of today (stamped at 00:00) is old.
  const told = new TimestreamStore({
    database: 'bw', pointsTable: 'points', seriesTable: 'series', writeClient: emulator.writeClient, queryClient: emulator.queryClient,
    memoryRetentionHours: { points: 6, series: 1 }, now: () => NOW, log: () => undefined,
  });
  const result = await told.write('acme', [point(NOW - 5 * MIN)]);
  assert.deepEqual(result.late?.indices, [0]);
});

test('refused now: too far ahead, or old on a table without magnetic writes; refused later: a conflicting magnetic rewrite', async () => {
  const { emulator, store, read, at } = setup();
  const ahead = await store.write('acme', [point(NOW + 20 * MIN), point(NOW - MIN)]);
  assert.deepEqual(ahead.rejected?.map((r) => r.index), [0]);
  assert.match(ahead.rejected![0].reason, /outside the time range .* of the memory store/);

  // A conflicting rewrite of a magnetic-store point: the call succeeds, nothing is reported to
  // the writer, and Timestream's report goes to the table's S3 location only.
  const first = await store.write('acme', [point(NOW - 10 * HOUR, 1)]);
  assert.equal(first.inserted, 1);
  const again = await store.write('acme', [point(NOW - 10 * HOUR, 2)]);
  assert.deepEqual([again.inserted, again.duplicates, again.rejected, store.conflicts], [1, 0, undefined, 0]);
  assert.deepEqual(emulator.magneticRejections.map((r) => [r.table, r.reason]), [['points', 'A record with the same dimensions, time and measure name already exists with different measure values.']]);
  at(NOW + 3 * HOUR);
  const back = await store.fetchPoints({ tenant: 'acme', metric: 'orders', fromNs: BigInt(NOW - 11 * HOUR) * 1_000_000n, toNs: BigInt(NOW - 9 * HOUR) * 1_000_000n });
  assert.deepEqual(back.map((p) => p.kind === 'sum' && p.value), [1], 'the first write stands');
  assert.equal((await read()).length, 2);

  emulator.tableSettings.set('points', { memoryRetentionHours: 6, enableMagneticStoreWrites: false });
  const refused = await store.write('acme', [point(NOW - 9 * HOUR)]);
  assert.deepEqual([refused.inserted, refused.rejected?.length, refused.late], [0, 1, undefined]);
});
