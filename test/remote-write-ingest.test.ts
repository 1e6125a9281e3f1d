// POST /api/v1/write on the real gateway (DuckDB): Prometheus remote-write 1.0 bodies, built with
// the Prometheus store's own encoder (snappy + prometheus.WriteRequest), become the points the
// query API and the SLO engine read — cumulative counters and classic histograms counted exactly,
// restarts included — and bad input is a 4xx naming what is wrong without losing the rest.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import snappy from 'snappyjs';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, WriteRequest, type TimeSeries } from '../lambda/storage/prometheus-remote-write.ts';
import { REMOTE_WRITE_NAMES } from '../lambda/remote-write/points.ts';
import { METRICS } from '../common/catalogue.ts';
import { subtractExplicitHistogramsOnSharedBounds } from '../common/exphist.ts';
import { prometheusMetricName } from '../lambda/storage/prometheus-labels.ts';
import { tempDir } from './lib/processes.ts';
import { DURATION, GatewayClient } from './otlp-fixtures.ts';

const MIN = 60_000;
const KEY = 'remote-write-ingest-key-0123456789';
const TENANT = 'rw-tenant';
const T0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN;
const HIST = 'http_server_request_duration_seconds';
const BOUNDS = [0.1, 0.25, 0.5, 1];

let gw: RunningGateway;
let dataDir: string;
let client: GatewayClient;
let clock = T0;

before(async () => {
  dataDir = tempDir('burnwatch-rw-ingest');
  gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: TENANT }, now: () => clock, log: () => undefined, slo: { log: () => undefined } });
  client = new GatewayClient(gw.url, KEY);
});

after(async () => {
  await gw?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function write(body: Uint8Array, headers: Record<string, string> = REMOTE_WRITE_HEADERS, key = KEY): Promise<Response> {
  return fetch(`${gw.url}/api/v1/write`, { method: 'POST', body: Buffer.from(body), headers: { authorization: `Bearer ${key}`, ...headers } });
}

/** Running totals of one process's requests, as a Prometheus client library keeps them. */
class ClassicHistogram {
  buckets = BOUNDS.map(() => 0);
  count = 0;
  sum = 0;
  constructor(readonly labels: Record<string, string>, readonly createdMs: number) {}
  observe(seconds: number): void {
    BOUNDS.forEach((b, i) => seconds <= b && this.buckets[i]++);
    this.count++;
    this.sum += seconds;
  }
  /** The series one scrape of it gives, as Prometheus forwards them. */
  series(atMs: number): TimeSeries[] {
    const at = (value: number) => [{ value, timestampMs: atMs }];
    return [
      ...BOUNDS.map((le, i) => ({ labels: { ...this.labels, __name__: `${HIST}_bucket`, le: String(le) }, samples: at(this.buckets[i]) })),
      { labels: { ...this.labels, __name__: `${HIST}_bucket`, le: '+Inf' }, samples: at(this.count) },
      { labels: { ...this.labels, __name__: `${HIST}_count` }, samples: at(this.count) },
      { labels: { ...this.labels, __name__: `${HIST}_sum` }, samples: at(this.sum) },
      { labels: { ...this.labels, __name__: `${HIST}_created` }, samples: at(this.createdMs / 1000) },
    ];
  }
}

async function count(service: string, agg: 'count' | 'errors', fromMs: number, toMs: number): Promise<number> {
  const { series } = await client.query({ service, metric: DURATION, agg, from: String(fromMs / 1000), to: String(toMs / 1000) });
  return series.reduce((n, s) => n + s.points.reduce((a, p) => a + p[1], 0), 0);
}

describe('remote-written cumulative series reach the query API and SLOs exactly', () => {
  test('classic histograms scraped every 15 s, a restart halfway, every request counted once', async () => {
    const service = 'rw-checkout';
    const base = { job: 'scrape-job', instance: '10.0.0.5:8080', service_name: service, http_route: '/pay' };
    const mk = (createdMs: number) => ({
      ok: new ClassicHistogram({ ...base, http_response_status_code: '200' }, createdMs),
      bad: new ClassicHistogram({ ...base, http_response_status_code: '503' }, createdMs),
    });
    let proc = mk(T0 + 5_000);
    const sent = { total: 0, bad: 0, byMinute: new Map<number, number>() };
    const restartAt = T0 + 10 * MIN + 2_000;
    let restarted = false;
    for (let k = 1, at = T0 + 15_000; at < T0 + 20 * MIN; k++, at += 15_000) {
      if (!restarted && at > restartAt) {
        proc = mk(restartAt);
        restarted = true;
      }
      for (let i = 0; i < 1 + (k % 4); i++) {
        const fail = (k + i) % 3 === 0;
        (fail ? proc.bad : proc.ok).observe(0.05 * ((k + i) % 30));
        sent.total++;
        if (fail) sent.bad++;
        const minute = Math.floor(at / MIN) * MIN;
        sent.byMinute.set(minute, (sent.byMinute.get(minute) ?? 0) + 1);
      }
      clock = at + 1_000;
      // A series not updated in a scrape is still sent (its value unchanged), as Prometheus does.
      const res = await write(encodeWriteRequest([...proc.ok.series(at), ...proc.bad.series(at)]));
      assert.equal(res.status, 204, await res.text());
    }
    clock = T0 + 20 * MIN;
    assert.equal(await count(service, 'count', T0, T0 + 20 * MIN), sent.total);
    assert.equal(await count(service, 'errors', T0, T0 + 20 * MIN), sent.bad);
    // A range starting mid-run reads the baseline before it: exactly the requests inside.
    const inside = [...sent.byMinute].filter(([m]) => m >= T0 + 7 * MIN && m < T0 + 13 * MIN).reduce((a, [, n]) => a + n, 0);
    assert.equal(await count(service, 'count', T0 + 7 * MIN, T0 + 13 * MIN), inside);

    // The SLO engine reads the same points: the availability SLO of the service counts them all.
    await gw.slo.cycle(TENANT, T0 + 20 * MIN);
    const slos = await gw.slo.statuses(TENANT, T0 + 20 * MIN, { refresh: false });
    const availability = slos.find((s) => s.id === `${service}:availability`);
    assert.ok(availability, `no availability SLO for ${service}: ${slos.map((s) => s.id).join(', ')}`);
    assert.deepEqual([availability.total, availability.good], [sent.total, sent.total - sent.bad]);

    // A resent request (Prometheus retries after a timeout) changes nothing.
    const again = await write(encodeWriteRequest([...proc.ok.series(T0 + 19 * MIN + 45_000), ...proc.bad.series(T0 + 19 * MIN + 45_000)]));
    assert.equal(again.status, 204);
    assert.equal(await count(service, 'count', T0, T0 + 20 * MIN), sent.total);
  });

  test('a counter with _created counts its first sample; labels become the catalogue attributes; job names the service', async () => {
    const total = prometheusMetricName('burnwatch.tcp.retransmits', '{segment}', true);
    assert.equal(total, 'burnwatch_tcp_retransmits_total');
    const labels = { job: 'rw-redis-client', server_address: '10.1.1.1', server_port: '6379' };
    const at = T0 + 3 * MIN;
    const res = await write(encodeWriteRequest([
      { labels: { ...labels, __name__: total }, samples: [{ value: 4, timestampMs: at }, { value: 9, timestampMs: at + 15_000 }] },
      { labels: { ...labels, __name__: 'burnwatch_tcp_retransmits_created' }, samples: [{ value: (at - 20_000) / 1000, timestampMs: at }] },
      { labels: { ...labels, __name__: 'target_info' }, samples: [{ value: 1, timestampMs: at }] },
      { labels: { ...labels, __name__: 'some_other_exporter_metric' }, samples: [{ value: 7, timestampMs: at }] },
    ]));
    assert.equal(res.status, 204, await res.text());
    const points = await gw.store.fetchPoints({ tenant: TENANT, metric: 'burnwatch.tcp.retransmits', fromNs: BigInt(T0) * 1_000_000n, toNs: BigInt(T0 + 30 * MIN) * 1_000_000n });
    assert.deepEqual(
      points.map((p) => [p.series.resource['service.name'], p.series.attributes, p.kind === 'sum' ? p.value : undefined]).sort((a, b) => Number(a[2]) - Number(b[2])),
      [
        ['rw-redis-client', { 'server.address': '10.1.1.1', 'server.port': '6379' }, 0],
        ['rw-redis-client', { 'server.address': '10.1.1.1', 'server.port': '6379' }, 4],
        ['rw-redis-client', { 'server.address': '10.1.1.1', 'server.port': '6379' }, 9],
      ],
    );
    const { series } = await client.query({ service: 'rw-redis-client', metric: 'burnwatch.tcp.retransmits', agg: 'count', from: String(T0 / 1000), to: String((T0 + 30 * MIN) / 1000) });
    assert.equal(series.reduce((n, s) => n + s.points.reduce((a, p) => a + p[1], 0), 0), 9);
    const other = await gw.store.listSeries({ tenant: TENANT, metric: 'some_other_exporter_metric' });
    assert.deepEqual(other, [], 'names outside the catalogue are not stored');
  });

  test('histograms cut by batch boundaries: the upper part counts at coarser bounds, the lower part is left out, totals stay exact', async () => {
    const service = 'rw-cut';
    const h = new ClassicHistogram({ service_name: service, http_route: '/c', http_response_status_code: '200' }, T0 + 1_000);
    let total = 0;
    for (let k = 0, at = T0 + 15_000; k < 12; k++, at += 15_000) {
      for (let i = 0; i <= k % 3; i++, total++) h.observe([0.05, 0.2, 0.7, 3][(k + i) % 4]);
      const series = h.series(at);
      // Every third scrape reaches the gateway in two requests, cut after the k-th series.
      const cut = k % 3 === 1 ? 1 + (k % 4) : 0;
      for (const part of cut ? [series.slice(0, cut), series.slice(cut)] : [series]) {
        const res = await write(encodeWriteRequest(part));
        assert.equal(res.status, 204, await res.text());
      }
    }
    assert.equal(await count(service, 'count', T0, T0 + 20 * MIN), total);
  });

  test('subtracting snapshots over their shared bounds is exact there; a zero snapshot keeps the later one whole', () => {
    const earlier = { bounds: [0.1, 0.25, 0.5], counts: [1, 2, 3, 4], count: 10, sum: 5 };
    const later = { bounds: [0.25, 0.5], counts: [6, 5, 7], count: 18, sum: 9 };
    assert.deepEqual(subtractExplicitHistogramsOnSharedBounds(later, earlier), { bounds: [0.25, 0.5], counts: [3, 2, 3], count: 8, sum: 4 });
    assert.equal(subtractExplicitHistogramsOnSharedBounds(earlier, later), undefined, 'counts going down: a reset');
    assert.deepEqual(subtractExplicitHistogramsOnSharedBounds(earlier, { bounds: [], counts: [0], count: 0, sum: 0 }), earlier);
  });

  test('every catalogue metric has its Prometheus names mapped back, none claimed twice', () => {
    for (const d of Object.values(METRICS)) {
      const names = d.kind === 'counter' ? [prometheusMetricName(d.name, d.unit, true)] : d.kind === 'gauge' ? [prometheusMetricName(d.name, d.unit, false)] : ['_bucket', '_count', '_sum'].map((s) => prometheusMetricName(d.name, d.unit, false) + s);
      for (const n of names) assert.equal(REMOTE_WRITE_NAMES.get(n)?.descriptor.name, d.name, n);
    }
    assert.equal(REMOTE_WRITE_NAMES.get('http_server_request_duration_seconds_bucket')?.descriptor.name, 'http.server.request.duration');
  });

  test('native histograms become exponential histograms: buckets one index apart, counts exact', async () => {
    const at = T0 + 4 * MIN;
    const labels = { __name__: HIST, service_name: 'rw-native', http_route: '/n', http_response_status_code: '200' };
    // Prometheus buckets 3..5 at schema 2 hold 1, 0, 4: OTLP indices 2..4.
    const res = await write(encodeWriteRequest([{ labels, samples: [], histograms: [{ timestampMs: at, count: 6, sum: 9.5, schema: 2, zeroCount: 1, offset: 3, counts: [1, 0, 4], gauge: false }] }]));
    assert.equal(res.status, 204, await res.text());
    const [p] = await gw.store.fetchPoints({ tenant: TENANT, metric: DURATION, service: 'rw-native', fromNs: BigInt(T0) * 1_000_000n, toNs: BigInt(T0 + 30 * MIN) * 1_000_000n });
    assert.equal(p.kind, 'exponential_histogram');
    if (p.kind !== 'exponential_histogram') return;
    assert.deepEqual([p.temporality, p.scale, p.offset, p.counts, p.zeroCount, p.count, p.sum], ['cumulative', 2, 2, [1, 0, 4], 1, 6, 9.5]);
  });
});

describe('bad remote-write input is a clear 4xx and loses nothing already taken', () => {
  /** One request of 0.2 s since the histogram's creation a second before `at`. */
  const good = (service: string, at: number): TimeSeries[] => {
    const h = new ClassicHistogram({ service_name: service, http_route: '/g', http_response_status_code: '200' }, at - 1_000);
    h.observe(0.2);
    return h.series(at);
  };

  test('no key or a wrong one is a 401', async () => {
    const body = encodeWriteRequest(good('rw-auth', T0));
    assert.equal((await fetch(`${gw.url}/api/v1/write`, { method: 'POST', body: Buffer.from(body), headers: REMOTE_WRITE_HEADERS })).status, 401);
    assert.equal((await write(body, REMOTE_WRITE_HEADERS, 'not-the-key-0123456789')).status, 401);
  });

  test('wrong content type or encoding, remote write 2.0, a body that is not snappy or not protobuf: 4xx naming it', async () => {
    const body = encodeWriteRequest(good('rw-bad', T0));
    const cases: [Uint8Array, Record<string, string>, number, RegExp][] = [
      [body, { ...REMOTE_WRITE_HEADERS, 'Content-Type': 'application/json' }, 415, /Content-Type "application\/json" is not remote write/],
      [body, { ...REMOTE_WRITE_HEADERS, 'Content-Type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }, 415, /io\.prometheus\.write\.v2\.Request is not supported/],
      [body, { ...REMOTE_WRITE_HEADERS, 'Content-Encoding': 'gzip' }, 415, /Content-Encoding "gzip" is not supported here/],
      [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), REMOTE_WRITE_HEADERS, 400, /not a snappy block/],
      [snappy.compress(new Uint8Array([0x0a, 0xff, 0x01])), REMOTE_WRITE_HEADERS, 400, /not a prometheus\.WriteRequest protobuf/],
    ];
    for (const [b, headers, status, message] of cases) {
      const res = await write(b, headers);
      assert.equal(res.status, status);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      assert.match(error.message, message);
    }
    assert.equal(await count('rw-bad', 'count', T0 - MIN, T0 + 30 * MIN), 0);
  });

  test('a body whose snappy header claims more than the decompressed limit is a 413 before inflating it', async () => {
    // Snappy's header is the uncompressed length as a varint: 2^30 here.
    const res = await write(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x04, 0x00]));
    assert.equal(res.status, 413);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /snappy-decompressed body is larger than the limit/);
  });

  test('a series without a name, an inconsistent histogram, a negative count: the rest is stored, the 400 names each', async () => {
    const at = T0 + 6 * MIN;
    const incomplete = good('rw-partial-incomplete', at).filter((s) => s.labels.le !== '+Inf');
    const inconsistent = good('rw-partial-inconsistent', at).map((s) => (s.labels.le === '0.25' ? { ...s, samples: [{ value: 99, timestampMs: at }] } : s));
    const res = await write(encodeWriteRequest([
      ...good('rw-partial-ok', at),
      { labels: { job: 'x' }, samples: [{ value: 1, timestampMs: at }] },
      ...incomplete,
      ...inconsistent,
      { labels: { __name__: 'burnwatch_tcp_resets_total', job: 'rw-partial-ok' }, samples: [{ value: -3, timestampMs: at }] },
    ]));
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'invalid_remote_write');
    // The good histogram and every created time (a zero point) went in; 1 + 1 + 7 samples did not,
    // and the part of a histogram without its +Inf bucket (a batch cut) is left out without blame.
    assert.match(error.message, /^4 point\(s\) stored; 9 sample\(s\) refused: /);
    assert.doesNotMatch(error.message, /rw-partial-incomplete/);
    assert.match(error.message, /timeseries\[\d+\]: no __name__ label/);
    assert.match(error.message, /rw-partial-inconsistent[^}]*\}: the histogram at \d+ ms has le="0.5" holding \d+, fewer than a lower bucket \(99\)/);
    assert.match(error.message, /burnwatch_tcp_resets_total\{job="rw-partial-ok"\}: sample at \d+ ms is -3; counts must be finite and not negative/);
    assert.equal(await count('rw-partial-ok', 'count', T0, T0 + 30 * MIN), 1);
    assert.equal(await count('rw-partial-incomplete', 'count', T0, T0 + 30 * MIN), 0);
  });

  test('nothing usable at all is a 400 that stores nothing; stale markers and unknown names are not errors', async () => {
    const res = await write(encodeWriteRequest([{ labels: { job: 'nameless' }, samples: [{ value: 1, timestampMs: T0 }] }]));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /^nothing could be taken: timeseries\[0\]: no __name__ label/);

    // Prometheus marks a vanished series with a NaN of one payload; the encoder is bypassed so the bits stay exact.
    const stale = new DataView(new ArrayBuffer(8));
    stale.setBigUint64(0, 0x7ff0000000000002n);
    const message = WriteRequest.fromObject({
      timeseries: [
        { labels: [{ name: '__name__', value: 'burnwatch_tcp_resets_total' }, { name: 'job', value: 'rw-stale' }], samples: [{ value: stale.getFloat64(0), timestamp: T0 }] },
        { labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'rw-stale' }], samples: [{ value: 1, timestamp: T0 }] },
      ],
    });
    const ok = await write(snappy.compress(WriteRequest.encode(message).finish()));
    assert.equal(ok.status, 204, await ok.text());
  });

  test('a time past what a point can hold, or a creation time after its sample, is refused naming it (not a storage failure)', async () => {
    const res = await write(encodeWriteRequest([
      { labels: { __name__: 'burnwatch_tcp_resets_total', job: 'rw-times' }, samples: [{ value: 1, timestampMs: 9_300_000_000_000 }] },
      { labels: { __name__: 'burnwatch_tcp_resets_created', job: 'rw-times' }, samples: [{ value: (T0 + 60_000) / 1000, timestampMs: T0 }] },
      { labels: { __name__: 'burnwatch_tcp_resets_total', job: 'rw-times' }, samples: [{ value: 2, timestampMs: T0 }] },
    ]));
    assert.equal(res.status, 400);
    const text = ((await res.json()) as { error: { message: string } }).error.message;
    assert.match(text, /^1 point\(s\) stored; /);
    assert.match(text, /sample timestamp 9300000000000 is not milliseconds since the epoch up to the year 2262/);
    assert.match(text, /burnwatch_tcp_resets_created says the series was created at \d+ s, not before the sample at \d+ ms/);
  });

  test('a label name Prometheus could not have sent, or one given twice, refuses that series', async () => {
    const message = WriteRequest.fromObject({
      timeseries: [
        { labels: [{ name: '__name__', value: 'burnwatch_tcp_resets_total' }, { name: 'job', value: 'a' }, { name: 'job', value: 'b' }], samples: [{ value: 1, timestamp: T0 }] },
        { labels: [{ name: '__name__', value: 'burnwatch_tcp_resets_total' }, { name: 'bad-name', value: 'a' }], samples: [{ value: 1, timestamp: T0 }] },
      ],
    });
    const res = await write(snappy.compress(WriteRequest.encode(message).finish()));
    assert.equal(res.status, 400);
    const text = ((await res.json()) as { error: { message: string } }).error.message;
    assert.match(text, /label "job" appears twice/);
    assert.match(text, /label name "bad-name" is not a Prometheus label name/);
  });
});
