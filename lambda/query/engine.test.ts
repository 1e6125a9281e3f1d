import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../errors.ts';
import type { MetricPoint, SeriesRef } from '../storage/types.ts';
import { toDeltas } from './deltas.ts';
import { parseQueryParams } from './engine.ts';
import { isServerError } from './outcome.ts';
import { nsToSeconds, parseStep, parseTime } from './time.ts';

const NOW_MS = 1_795_000_000_123;
const MS = 1_000_000n;

test('parseTime: RFC 3339, unix seconds, now and relative times', () => {
  assert.equal(parseTime('now', NOW_MS, 'to'), BigInt(NOW_MS) * MS);
  assert.equal(parseTime('-15m', NOW_MS, 'from'), BigInt(NOW_MS - 900_000) * MS);
  assert.equal(parseTime('now-2h', NOW_MS, 'from'), BigInt(NOW_MS - 7_200_000) * MS);
  assert.equal(parseTime('2026-11-23T13:00:00Z', NOW_MS, 'from'), BigInt(Date.UTC(2026, 10, 23, 13)) * MS);
  assert.equal(parseTime('2026-11-23T14:00:00.5+01:00', NOW_MS, 'from'), BigInt(Date.UTC(2026, 10, 23, 13, 0, 0, 500)) * MS);
  assert.equal(parseTime('1795000000.25', NOW_MS, 'from'), 1_795_000_000_250n * MS);
  for (const bad of ['yesterday', '2026-11-23', '2026-13-45T99:00:00Z', '-', '-15', '+5m', '']) {
    assert.throws(() => parseTime(bad, NOW_MS, 'from'), (err: unknown) => err instanceof ApiError && err.status === 400 && err.message.startsWith('from: '), bad);
  }
  assert.equal(parseStep('90s', 'step'), 90_000n * MS);
  assert.throws(() => parseStep('0s', 'step'), /step: must be at least 1ms/);
  assert.equal(nsToSeconds(1_795_000_000_123_456_789n), 1_795_000_000.123);
});

test('parseQueryParams: defaults, lists and the errors that name the parameter', () => {
  const q = parseQueryParams(new URLSearchParams('service=a&metric=m&agg=p95&by=x, y'), NOW_MS);
  assert.deepEqual(q, { service: 'a', metric: 'm', agg: 'p95', fromNs: BigInt(NOW_MS - 900_000) * MS, toNs: BigInt(NOW_MS) * MS, by: ['x', 'y'] });
  const stepped = parseQueryParams(new URLSearchParams('service=a&metric=m&agg=rate&from=-1h&step=1m'), NOW_MS);
  assert.equal(stepped.stepNs, 60_000n * MS);
  const errors: [string, RegExp][] = [
    ['metric=m&agg=count', /^service: required$/],
    ['service=&metric=m&agg=count', /^service: required$/],
    ['service=a&metric=m&agg=count&by=x,x', /^by: names an attribute twice$/],
    ['service=a&metric=m&agg=count&from=-1h&to=-2h', /^from: must be before to$/],
    ['service=a&metric=m&agg=count&from=-1d&step=5ms', /^step: 5ms gives \d+ buckets/],
  ];
  for (const [query, message] of errors) {
    assert.throws(() => parseQueryParams(new URLSearchParams(query), NOW_MS), (err: unknown) => err instanceof ApiError && err.status === 400 && message.test(err.message), query);
  }
});

const series: SeriesRef = { metric: 'm', unit: '1', resource: { 'service.name': 's' }, attributes: {} };
const sum = (startNs: bigint, endNs: bigint, value: number, monotonic = true): MetricPoint => ({
  series, startNs, endNs, kind: 'sum', temporality: 'cumulative', monotonic, value,
});

test('toDeltas: cumulative sums become increases; a drop in a monotonic sum is a restart', () => {
  const points = [sum(100n, 300n, 15), sum(100n, 200n, 10), sum(100n, 400n, 4), sum(100n, 500n, 6)];
  const deltas = toDeltas(points, 50n);
  assert.deepEqual(deltas.map((p) => [p.startNs, p.endNs, p.kind === 'sum' && p.value]), [
    [100n, 200n, 10], // started inside the range: all of it
    [200n, 300n, 5],
    [100n, 400n, 4], // 15 → 4: a restart, counts whole
    [400n, 500n, 2],
  ]);
  // Started before the range: the first snapshot is only a baseline.
  assert.deepEqual(toDeltas(points, 150n).map((p) => p.kind === 'sum' && p.value), [5, 4, 2]);
  // A non-monotonic sum may go down.
  assert.deepEqual(toDeltas([sum(1n, 2n, 5, false), sum(1n, 3n, 2, false)], 0n).map((p) => p.kind === 'sum' && p.value), [5, -3]);
  // Delta points pass through untouched.
  const delta: MetricPoint = { series, startNs: 1n, endNs: 2n, kind: 'sum', temporality: 'delta', monotonic: true, value: 3 };
  assert.deepEqual(toDeltas([delta], 10n), [delta]);
});

test('isServerError: HTTP status ≥ 500 and gRPC server-side codes', () => {
  const with_ = (attributes: SeriesRef['attributes']) => ({ ...series, attributes });
  assert.equal(isServerError(with_({ 'http.response.status_code': 500 })), true);
  assert.equal(isServerError(with_({ 'http.response.status_code': '503' })), true);
  assert.equal(isServerError(with_({ 'http.response.status_code': 404 })), false);
  assert.equal(isServerError(with_({ 'rpc.grpc.status_code': 14 })), true);
  assert.equal(isServerError(with_({ 'rpc.grpc.status_code': 5 })), false);
  assert.equal(isServerError(with_({})), false);
});
