// TimestreamStore's reads against what Timestream documents (issue 17 items 1, 2, 6): a column
// no record has carried does not exist and naming it fails with ValidationException (a fresh
// deployment's tables); several metrics in one query; series reads bounded in time; where data
// begins from the daily series records; and reading stops past a caller's point limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueryCommand, ValidationException } from '@aws-sdk/client-timestream-query';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { TimestreamStore } from './timestream.ts';
import { DAY_NS } from './timestream-records.ts';
import { TooManyPointsError, type MetricPoint, type SeriesRef } from './types.ts';

const T0 = 1_795_000_000_000_000_000n;
const S = 1_000_000_000n;
const TABLES = { database: 'bw', pointsTable: 'points', seriesTable: 'series' };

function setup() {
  const emulator = new TimestreamEmulator();
  emulator.now = () => Number(T0 / 1_000_000n) + 2 * 3_600_000;
  const store = new TimestreamStore({ ...TABLES, writeClient: emulator.writeClient, queryClient: emulator.queryClient, now: () => emulator.now(), log: () => undefined });
  return { emulator, store };
}

const series = (metric: string, service?: string): SeriesRef => ({
  metric,
  unit: '1',
  resource: service === undefined ? { 'host.name': 'h1' } : { 'service.name': service },
  attributes: {},
});

function sum(s: SeriesRef, endNs: bigint, value: number): MetricPoint {
  return { series: s, startNs: endNs - 10n * S, endNs, kind: 'sum', temporality: 'delta', monotonic: true, value };
}

test('emulator: naming a column no record has carried fails as Timestream does', async () => {
  const { emulator } = setup();
  const sql = `SELECT * FROM "bw"."points" WHERE tenant = 'acme' AND metric = 'm' AND time >= from_nanoseconds(0) AND time < from_nanoseconds(1)`;
  await assert.rejects(emulator.queryClient.send(new QueryCommand({ QueryString: sql })), (err: unknown) => {
    assert.ok(err instanceof ValidationException);
    assert.equal(err.message, `line 1:${sql.indexOf('tenant') + 1}: Column 'tenant' does not exist`);
    return true;
  });
});

test('fresh tables: every read answers empty instead of failing', async () => {
  const { emulator, store } = setup();
  const range = { tenant: 'acme', fromNs: T0 - DAY_NS, toNs: T0 + DAY_NS };
  assert.deepEqual(await store.fetchPoints({ ...range, metric: 'm' }), []);
  assert.deepEqual(await store.fetchPointsOfMetrics({ ...range, metrics: ['m', 'n'] }), []);
  assert.deepEqual(await store.listSeries({ tenant: 'acme', metric: 'm' }), []);
  assert.equal(await store.firstPointNs({ ...range, metrics: ['m'] }), undefined);
  assert.ok(emulator.queries.length >= 5, 'each read reached the emulator');

  // Points written without a service: the `service` dimension still does not exist.
  await store.write('acme', [sum(series('m'), T0, 1)]);
  assert.deepEqual(await store.fetchPoints({ ...range, metric: 'm', service: 'checkout' }), []);
  assert.equal((await store.fetchPoints({ ...range, metric: 'm' })).length, 1);
});

test('several metrics: one points query and one series query for all of them', async () => {
  const { emulator, store } = setup();
  const a = sum(series('a', 'checkout'), T0 + 10n * S, 1);
  const b = sum(series('b', 'checkout'), T0 + 20n * S, 2);
  const c = sum(series('c', 'checkout'), T0 + 30n * S, 3);
  await store.write('acme', [a, b, c]);
  const before = emulator.queries.length;
  const got = await store.fetchPointsOfMetrics({ tenant: 'acme', metrics: ['a', 'b'], fromNs: T0, toNs: T0 + DAY_NS });
  assert.deepEqual(got.sort((x, y) => Number(x.endNs - y.endNs)), [a, b]);
  // The emulator logs every page; distinct texts are distinct queries.
  const sent = [...new Set(emulator.queries.slice(before))];
  assert.equal(sent.length, 2);
  for (const sql of sent) assert.match(sql, /metric IN \('a', 'b'\)/);
});

test('listSeries with a range reads only the days it covers; firstPointNs gives the first day with data', async () => {
  const { emulator, store } = setup();
  const old = series('m', 'old');
  const recent = series('m', 'recent');
  emulator.now = () => Number((T0 - 40n * DAY_NS) / 1_000_000n) + 60_000;
  await store.write('acme', [sum(old, T0 - 40n * DAY_NS, 1)]);
  emulator.now = () => Number(T0 / 1_000_000n) + 60_000;
  await store.write('acme', [sum(recent, T0, 1)]);

  const before = emulator.queries.length;
  const seen = await store.listSeries({ tenant: 'acme', metric: 'm', fromNs: T0 - 2n * DAY_NS, toNs: T0 + DAY_NS });
  assert.deepEqual(seen, [recent]);
  const [sql] = emulator.queries.slice(before);
  assert.match(sql, new RegExp(`time >= from_nanoseconds\\(${((T0 - 2n * DAY_NS) / DAY_NS) * DAY_NS}\\)`));
  assert.deepEqual((await store.listSeries({ tenant: 'acme', metric: 'm' })).map((s) => s.resource['service.name']).sort(), ['old', 'recent']);

  const first = await store.firstPointNs({ tenant: 'acme', metrics: ['m', 'other'], fromNs: T0 - 30n * DAY_NS, toNs: T0 + DAY_NS });
  assert.equal(first, (T0 / DAY_NS) * DAY_NS, 'the first day with data inside the range, not the window start');
  assert.equal(await store.firstPointNs({ tenant: 'acme', metrics: ['m'], fromNs: T0 - 50n * DAY_NS, toNs: T0 - 39n * DAY_NS }), T0 - 40n * DAY_NS - ((T0 - 40n * DAY_NS) % DAY_NS));
  assert.equal(await store.firstPointNs({ tenant: 'acme', metrics: ['m'], fromNs: T0 - 20n * DAY_NS, toNs: T0 - DAY_NS }), undefined);
  // Per service: a service added today has today's data, whatever older ones have.
  const wide = { tenant: 'acme', metrics: ['m'], fromNs: T0 - 50n * DAY_NS, toNs: T0 + DAY_NS };
  assert.equal(await store.firstPointNs({ ...wide, services: ['recent'] }), (T0 / DAY_NS) * DAY_NS);
  assert.equal(await store.firstPointNs({ ...wide, services: ['old', 'recent'] }), ((T0 - 40n * DAY_NS) / DAY_NS) * DAY_NS);
  assert.equal(await store.firstPointNs({ ...wide, services: ['nobody'] }), undefined);
});

test('reading stops past the point limit instead of loading the whole range', async () => {
  const { emulator, store } = setup();
  const s = series('m', 'checkout');
  await store.write('acme', Array.from({ length: 30 }, (_, i) => sum(s, T0 + BigInt(i + 1) * 10n * S, 1)));
  const range = { tenant: 'acme', metric: 'm', fromNs: T0, toNs: T0 + DAY_NS };
  assert.equal((await store.fetchPoints({ ...range, limit: 30 })).length, 30);
  emulator.queries.length = 0;
  await assert.rejects(store.fetchPoints({ ...range, limit: 5 }), (err: unknown) => err instanceof TooManyPointsError && err.limit === 5);
  // Every page of the points query is logged: the whole range is 1 + 30 / pageSize pages.
  const pages = emulator.queries.filter((q) => q.includes('"points"')).length;
  assert.ok(pages <= 1 + Math.ceil(6 / emulator.pageSize), `stopped after ${pages} pages`);
});
