// PrometheusStore against a real Prometheus 2.42 server (Debian's package, started per file):
// points read back exactly as DuckDB returns them, resends count once, tenants and escaping hold,
// refusals are partial successes, and 429 with Retry-After is waited out, then given up on.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrometheus, type PrometheusServer } from '../../test/lib/prometheus-server.ts';
import { DuckDbStore, DUCKDB_FILE_NAME } from './duckdb.ts';
import { PrometheusHttpError, PrometheusStore, type PrometheusStoreOptions } from './prometheus.ts';
import type { MetricPoint, SeriesRef } from './types.ts';

const T0 = 1_795_000_000_000_000_000n;
const S = 1_000_000_000n;
const DAY = 86_400n * S;

function series(service: string, attributes: SeriesRef['attributes'] = {}, metric = 'http.server.request.duration'): SeriesRef {
  return { metric, unit: 's', resource: { 'service.name': service, 'host.name': 'h1' }, attributes };
}

function expPoint(s: SeriesRef, endNs: bigint, counts: number[], offset = -100): MetricPoint {
  return {
    series: s, startNs: endNs - 10n * S, endNs, kind: 'exponential_histogram', temporality: 'delta',
    count: counts.reduce((a, b) => a + b, 0), sum: 1.5, min: 0.01, max: 0.9, scale: 5, zeroCount: 2, offset, counts,
  };
}

const byIdentity = (a: MetricPoint, b: MetricPoint) =>
  JSON.stringify([a.series, String(a.endNs)]).localeCompare(JSON.stringify([b.series, String(b.endNs)]));

describe('PrometheusStore on a real Prometheus', () => {
  let server: PrometheusServer;
  const open = (opts: Partial<PrometheusStoreOptions> = {}) =>
    new PrometheusStore({ remoteWriteUrl: server.remoteWriteUrl, queryUrl: server.url, log: () => undefined, ...opts });

  before(async () => {
    server = await startPrometheus({ outOfOrderWindow: '30d' });
  });
  after(async () => {
    await server.stop();
  });

  test('every kind reads back as the DuckDB store returns it, histograms in either form: nanosecond times, typed attributes, interior zero buckets', async () => {
    const a = series('checkout', { 'http.route': '/pay', 'http.response.status_code': 200, retried: true, tags: ['x', 1] });
    // `a.b` and `a_b` map to one Prometheus label name; the series must stay apart and exact.
    const b = series('checkout', { 'a.b': 'dot', a_b: 'underscore', 'http.response.status_code': '200' });
    const points: MetricPoint[] = [
      expPoint(a, T0 + 123n, [1, 0, 0, 3]),
      expPoint(b, T0 + 10n * S, [5], -97),
      // Past Prometheus's schemas (8): per-bucket float samples. Without a sum: floats too.
      { ...expPoint(series('fine'), T0 + 3n, [2, 0, 7], 4000), scale: 12 } as MetricPoint,
      { ...expPoint(series('nosum'), T0 + 4n, [3], -5), sum: undefined } as MetricPoint,
      { series: { ...a, metric: 'c' }, startNs: T0 - 999_999n, endNs: T0 + S + 1n, kind: 'sum', temporality: 'cumulative', monotonic: true, value: 7 },
      { series: { ...a, metric: 'c' }, startNs: T0 + S, endNs: T0 + 2n * S, kind: 'sum', temporality: 'delta', monotonic: false, value: -3 },
      { series: { ...a, metric: 'g' }, startNs: 0n, endNs: T0 + S, kind: 'gauge', value: -2.5 },
      { series: { ...a, metric: 'h', unit: '' }, startNs: T0, endNs: T0 + S, kind: 'histogram', temporality: 'delta', count: 3, bounds: [0.1, 0.3], counts: [1, 0, 2] },
    ];
    const dir = mkdtempSync(join(tmpdir(), 'burnwatch-prom-duckdb-'));
    const duck = await DuckDbStore.open({ path: join(dir, DUCKDB_FILE_NAME) });
    const prom = open();
    try {
      await duck.write('same', points);
      assert.deepEqual(await prom.write('same', points), { inserted: points.length, duplicates: 0 });
      for (const metric of ['http.server.request.duration', 'c', 'g', 'h']) {
        for (const service of [undefined, 'checkout', 'fine', 'other']) {
          const q = { tenant: 'same', metric, service, fromNs: T0 - DAY, toNs: T0 + DAY };
          const want = (await duck.fetchPoints(q)).sort(byIdentity);
          assert.deepEqual((await prom.fetchPoints(q)).sort(byIdentity), want, `${metric} ${service}`);
        }
        const seriesWant = (await duck.listSeries({ tenant: 'same', metric })).map((s) => JSON.stringify(s)).sort();
        assert.deepEqual((await prom.listSeries({ tenant: 'same', metric })).map((s) => JSON.stringify(s)).sort(), seriesWant);
      }
      // The same points as native histograms (where they fit) read back the same.
      const native = open({ nativeHistograms: true });
      await native.write('same-native', points);
      for (const metric of ['http.server.request.duration', 'c', 'g', 'h']) {
        const q = { metric, fromNs: T0 - DAY, toNs: T0 + DAY };
        const want = (await duck.fetchPoints({ ...q, tenant: 'same' })).sort(byIdentity);
        assert.deepEqual((await native.fetchPoints({ ...q, tenant: 'same-native' })).sort(byIdentity), want, `native ${metric}`);
      }
      assert.equal(native.nativeHistograms, true);
      const several = { tenant: 'same', metrics: ['c', 'g', 'http.server.request.duration'], fromNs: T0 - DAY, toNs: T0 + DAY };
      assert.deepEqual((await prom.fetchPointsOfMetrics(several)).sort(byIdentity), (await duck.fetchPointsOfMetrics(several)).sort(byIdentity));
      assert.equal((await prom.fetchPointsOfMetrics(several)).length, 7);
      // The range is [from, to) on the exact nanosecond end time, not on Prometheus's milliseconds.
      const at = { tenant: 'same', metric: 'http.server.request.duration', service: 'checkout' };
      assert.equal((await prom.fetchPoints({ ...at, fromNs: T0 + 123n, toNs: T0 + 124n })).length, 1);
      assert.equal((await prom.fetchPoints({ ...at, fromNs: T0 + 124n, toNs: T0 + S })).length, 0);
      assert.equal((await prom.fetchPoints({ ...at, fromNs: T0, toNs: T0 + 123n })).length, 0);
    } finally {
      await duck.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with nativeHistograms, exponential histograms are native histograms Prometheus users can query; a server without them gets float buckets; exact either way', async () => {
    const s = series('native', { 'http.route': '/n' });
    const point = expPoint(s, T0, [90, 0, 0, 8], -98);
    const store = open({ nativeHistograms: true });
    await store.write('native', [point]);
    const res = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ query: 'histogram_count(http_server_request_duration_seconds{tenant="native"})', time: String(Number(T0 / 1_000_000n) / 1000) })}`);
    const result = ((await res.json()) as { data: { result: { value: [number, string] }[] } }).data.result;
    assert.deepEqual(result.map((r) => r.value[1]), ['98']);
    const quantile = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ query: 'histogram_quantile(0.5, http_server_request_duration_seconds{tenant="native"})', time: String(Number(T0 / 1_000_000n) / 1000) })}`);
    const median = Number(((await quantile.json()) as { data: { result: { value: [number, string] }[] } }).data.result[0].value[1]);
    // OTLP bucket -98 at scale 5 is (2^(-98/32), 2^(-97/32)]: the median lies in it.
    assert.ok(median > 2 ** (-98 / 32) && median <= 2 ** (-97 / 32), `median ${median}`);
    assert.deepEqual(await store.fetchPoints({ tenant: 'native', metric: s.metric, fromNs: T0, toNs: T0 + 1n }), [point]);

    const plain = await startPrometheus({ nativeHistograms: false });
    try {
      const logged: string[] = [];
      const fallback = new PrometheusStore({ remoteWriteUrl: plain.remoteWriteUrl, queryUrl: plain.url, nativeHistograms: true, log: (m) => logged.push(m) });
      assert.deepEqual(await fallback.write('native', [point]), { inserted: 1, duplicates: 0 });
      assert.equal(fallback.nativeHistograms, false);
      assert.match(logged.join('\n'), /takes no native histograms/);
      assert.deepEqual(await fallback.fetchPoints({ tenant: 'native', metric: s.metric, fromNs: T0, toNs: T0 + 1n }), [point]);
    } finally {
      await plain.stop();
    }
  });

  test('a range longer than one query is read in pieces: every point once, boundaries exact to the nanosecond', async () => {
    const s = series('pieces');
    // Pieces of 1 s; points on and next to piece boundaries (the range ends at T0 + 5 s + 7 ns).
    const ends = [T0 + 7n, T0 + 6n, T0 + S + 7n, T0 + S + 8n, T0 + 2n * S + 6n, T0 + 3n * S, T0 + 4n * S + 7n, T0 + 5n * S + 6n, T0 + 5n * S + 7n];
    const points = ends.map((e, i) => ({ ...expPoint(s, e, [i + 1]), series: { ...s, attributes: { i } } }));
    const store = open({ maxQueryRangeMs: 1000 });
    await store.write('pieces', points);
    const got = await store.fetchPoints({ tenant: 'pieces', metric: s.metric, fromNs: T0 + 7n, toNs: T0 + 5n * S + 7n });
    const want = ends.filter((e) => e >= T0 + 7n && e < T0 + 5n * S + 7n).map(String).sort();
    assert.deepEqual(got.map((p) => String(p.endNs)).sort(), want);
    assert.equal(want.length, 7);
  });

  test('the first point of some metrics is found exactly (counted by UTC day, then read); series are listed by range; a limit stops reading', async () => {
    const store = open({ maxQueryRangeMs: 3_600_000 });
    const dayStart = (T0 / DAY) * DAY;
    const first = dayStart - 3n * DAY + 5n * 3600n * S + 17n; // three days back, 05:00
    const s = series('first', {}, 'first.a');
    await store.write('first', [expPoint(s, first, [1]), expPoint(s, dayStart + S, [1]), expPoint({ ...s, metric: 'first.b' }, dayStart - DAY, [1])]);
    const found = await store.firstPointNs({ tenant: 'first', metrics: ['first.a', 'first.b'], fromNs: dayStart - 10n * DAY, toNs: T0 + DAY });
    assert.equal(found, first);
    assert.equal(await store.firstPointNs({ tenant: 'first', metrics: ['first.a'], fromNs: first + 1n, toNs: T0 + DAY }), dayStart + S);
    assert.equal(await store.firstPointNs({ tenant: 'first', metrics: ['first.b'], fromNs: dayStart - DAY + 1n, toNs: T0 + DAY }), undefined);
    assert.equal(await store.firstPointNs({ tenant: 'other', metrics: ['first.a'], fromNs: dayStart - 10n * DAY, toNs: T0 + DAY }), undefined);
    assert.deepEqual(await store.listSeries({ tenant: 'first', metric: 'first.b', fromNs: dayStart - DAY, toNs: dayStart }), [{ ...s, metric: 'first.b' }]);
    const limited = await store.fetchPoints({ tenant: 'first', metric: 'first.a', fromNs: dayStart - 10n * DAY, toNs: T0 + DAY, limit: 1 });
    assert.ok(limited.length > 1 && limited.length < 3, `read ${limited.length} points: stops past the limit, before the range's end`);
  });

  test('a resent batch, from this gateway or another one, stores nothing twice', async () => {
    const s = series('resend');
    const points = [0n, 1n, 2n].map((i) => expPoint(s, T0 + i * 10n * S, [2, 3]));
    await open().write('resend', points);
    await open().write('resend', points); // another stateless instance, same points
    const repeat = await open().write('resend', [points[1], points[1]]);
    assert.equal(repeat.duplicates, 1, 'a repeat inside one batch is a duplicate');
    const got = await open().fetchPoints({ tenant: 'resend', metric: s.metric, fromNs: T0 - DAY, toNs: T0 + DAY });
    assert.equal(got.length, 3);
    assert.equal(got.reduce((n, p) => n + (p.kind === 'exponential_histogram' ? p.count : 0), 0), 15);
  });

  test('a rewrite with other values keeps the stored point and says so; points past the out-of-order window are refused, the rest stored', async () => {
    const s = series('late');
    const store = open();
    await store.write('late', [expPoint(s, T0, [4])]);
    const conflict = await store.write('late', [expPoint(s, T0, [9])]);
    assert.deepEqual(conflict, { inserted: 0, duplicates: 1 });
    assert.equal(store.conflicts, 1);
    const batch = [expPoint(s, T0 + S, [1]), expPoint(s, T0 - 40n * DAY, [1]), expPoint(s, T0 - DAY, [1]), expPoint(s, T0 - 41n * DAY, [2])];
    const result = await store.write('late', batch);
    assert.equal(result.inserted, 2);
    assert.deepEqual(result.rejected?.map((r) => r.index), [1, 3]);
    for (const r of result.rejected ?? []) assert.match(r.reason, /too old sample|out of bounds/);
    const got = await store.fetchPoints({ tenant: 'late', metric: s.metric, fromNs: T0 - 50n * DAY, toNs: T0 + DAY });
    assert.deepEqual(got.map((p) => (p.kind === 'exponential_histogram' ? [String(p.endNs), p.counts] : [])).sort(), [
      [String(T0 - DAY), [1]], [String(T0), [4]], [String(T0 + S), [1]],
    ].sort());
  });

  test('tenants never see each other, and quotes, backslashes and newlines in values are escaped in every query', async () => {
    const nasty = 'a"b\\c\nd\'e}{';
    const s = series(nasty, { 'http.route': nasty });
    const store = open();
    await store.write(nasty, [expPoint(s, T0, [1])]);
    await store.write('other', [expPoint(series('x'), T0, [1])]);
    const q = { metric: s.metric, fromNs: T0 - S, toNs: T0 + S };
    const mine = await store.fetchPoints({ ...q, tenant: nasty, service: nasty });
    assert.equal(mine.length, 1);
    assert.deepEqual(mine[0].series, s);
    assert.equal((await store.fetchPoints({ ...q, tenant: nasty, service: 'a"b' })).length, 0);
    assert.equal((await store.fetchPoints({ ...q, tenant: 'a"b' })).length, 0);
    assert.deepEqual((await store.fetchPoints({ ...q, tenant: 'other' })).map((p) => p.series.resource['service.name']), ['x']);
    assert.deepEqual(await store.listSeries({ tenant: nasty, metric: s.metric }), [s]);
    await assert.rejects(store.fetchPoints({ ...q, tenant: '' }), /needs a tenant/);
  });

  test('Prometheus users see the OpenTelemetry names mapped and a tenant label on every series', async () => {
    const s = series('named', { 'http.route': '/pay', 'http.response.status_code': 200 });
    await open().write('named', [expPoint(s, T0, [2, 0, 5]), { series: { ...s, metric: 'http.server.requests', unit: '1' }, startNs: T0 - S, endNs: T0, kind: 'sum', temporality: 'delta', monotonic: true, value: 7 }]);
    const query = async (promql: string) => {
      const res = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ query: promql, time: String(Number(T0 / 1_000_000n) / 1000) })}`);
      return ((await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    };
    const count = await query('http_server_request_duration_seconds_count{tenant="named",http_route="/pay",http_response_status_code="200",service_name="named"}');
    assert.deepEqual(count.map((r) => r.value[1]), ['7']);
    const buckets = await query('sum(http_server_request_duration_seconds_bucket{tenant="named"})');
    assert.deepEqual(buckets.map((r) => r.value[1]), ['7']);
    assert.deepEqual((await query('http_server_requests_total{tenant="named"}')).map((r) => r.value[1]), ['7']);
    assert.deepEqual(await query('count({__name__=~".+", tenant=""})'), []);
  });

  test('429 and 503 with Retry-After are waited out as the server asks; a server that keeps refusing gives a clear error', async () => {
    const waits: number[] = [];
    let refusals = 2;
    const flaky: typeof fetch = async (input, init) => {
      if (refusals > 0) {
        refusals--;
        return new Response('slow down', { status: refusals === 1 ? 429 : 503, headers: { 'Retry-After': '3' } });
      }
      return fetch(input, init);
    };
    const s = series('throttled');
    const store = open({ fetch: flaky, sleep: async (ms) => void waits.push(ms) });
    assert.deepEqual(await store.write('throttled', [expPoint(s, T0, [1])]), { inserted: 1, duplicates: 0 });
    assert.deepEqual(waits, [3000, 3000]);
    assert.equal((await store.fetchPoints({ tenant: 'throttled', metric: s.metric, fromNs: T0 - S, toNs: T0 + S })).length, 1);

    const always: typeof fetch = async () => new Response('over quota', { status: 429, headers: { 'Retry-After': '600' } });
    const stuck = open({ fetch: always, maxAttempts: 3, sleep: async (ms) => void waits.push(ms) });
    const err = await stuck.write('throttled', [expPoint(s, T0, [1])]).catch((e: unknown) => e);
    assert.ok(err instanceof PrometheusHttpError);
    assert.equal(err.status, 429);
    assert.match(err.message, /still 429 after 3 attempts \(Retry-After 600\): over quota/);
    assert.deepEqual(waits.slice(2), [30_000, 30_000], 'a long Retry-After is capped');
  });

  test('a server that never answers costs one timeout per attempt, then a clear error', async () => {
    let calls = 0;
    const silent: typeof fetch = (_input, init) => {
      calls++;
      return new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    };
    const store = open({ fetch: silent, maxAttempts: 2, requestTimeoutMs: 50, sleep: async () => undefined });
    await assert.rejects(store.write('t', [expPoint(series('silent'), T0, [1])]), /remote write to .*: gave up after 2 attempts: .*(timeout|aborted)/i);
    assert.equal(calls, 2);
  });
});
