// The AMP point store end to end, as a Lambda function opens it (ampStoreFromEnv):
// PrometheusStore → sigV4Fetch → a proxy that verifies SigV4 like AMP (fixed keys and clock) and
// throttles with 429 + Retry-After → a real Prometheus server. Writes and reads give exact counts,
// and a resent batch counts once.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ampStoreFromEnv } from './env.ts';
import type { MetricPoint, SeriesRef } from '../storage/types.ts';
import { startPrometheus, type PrometheusServer } from '../../test/lib/prometheus-server.ts';
import { startSigV4Proxy, type SigV4Proxy } from '../../test/lib/sigv4-verifying-proxy.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const KEYS = { accessKeyId: 'ASIAAMPSTORETEST', secretAccessKey: 'YW1wLXN0b3JlLXRlc3Qtc2VjcmV0LWtleS0wMDAx', sessionToken: 'FwoGZXIvYXdzEAMP//session' };
const WORKSPACE = 'ws-11111111-2222-3333-4444-555555555555';

describe('the AMP store through a SigV4-verifying proxy to a real Prometheus', () => {
  let prometheus: PrometheusServer;
  let proxy: SigV4Proxy;
  const saved: Record<string, string | undefined> = {};
  const env = () => ({ BURNWATCH_STORAGE: 'amp', BURNWATCH_AMP_ENDPOINT: `${proxy.url}/workspaces/${WORKSPACE}/`, AWS_REGION: 'eu-west-1' });

  before(async () => {
    prometheus = await startPrometheus();
    proxy = await startSigV4Proxy({ upstream: prometheus.url, credentials: KEYS, region: 'eu-west-1', service: 'aps', now: () => NOW });
    // The role's keys as Lambda puts them in the environment: the SDK's default chain finds them there.
    for (const [k, v] of Object.entries({ AWS_ACCESS_KEY_ID: KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey, AWS_SESSION_TOKEN: KEYS.sessionToken })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await proxy?.close();
    await prometheus?.stop();
  });

  // Sample times near the server's own clock (its head block); the signing clock is the proxy's.
  const t0 = BigInt(Date.now() - 30 * 60_000) * 1_000_000n;
  const S = 1_000_000_000n;
  const series = (service: string, route: string): SeriesRef => ({
    metric: 'http.server.request.duration',
    unit: 's',
    resource: { 'service.name': service, 'host.name': 'h1' },
    attributes: { 'http.route': route, 'http.response.status_code': 200 },
  });
  const point = (s: SeriesRef, i: number, counts: number[]): MetricPoint => ({
    series: s,
    startNs: t0 + BigInt(i) * 10n * S,
    endNs: t0 + BigInt(i + 1) * 10n * S,
    kind: 'exponential_histogram',
    temporality: 'delta',
    count: counts.reduce((a, b) => a + b, 0),
    sum: 0.25 * (i + 1),
    min: 0.001,
    max: 0.5,
    scale: 3,
    zeroCount: 1,
    offset: -40,
    counts,
  });
  const batch = [series('checkout', '/pay'), series('checkout', '/cart'), series('search', '/q')].flatMap((s, k) =>
    Array.from({ length: 10 }, (_, i) => point(s, i, [i + 1, 0, k + 2, 3])),
  );
  const expectedCount = (ps: readonly MetricPoint[]) => ps.reduce((n, p) => n + (p.kind === 'exponential_histogram' ? p.count : 0), 0);

  test('a write throttled twice (429, Retry-After: 1) is retried, signed afresh, and stored exactly once', async () => {
    const store = ampStoreFromEnv(env(), { now: () => NOW });
    proxy.throttleNext(2, 1);
    const first = proxy.received.length;
    const result = await store.write('acme', batch);
    assert.deepEqual(result, { inserted: 30, duplicates: 0 });
    const writes = proxy.received.slice(first);
    assert.deepEqual(writes.map((r) => [r.url, r.status]), [
      [`/workspaces/${WORKSPACE}/api/v1/remote_write`, 429],
      [`/workspaces/${WORKSPACE}/api/v1/remote_write`, 429],
      [`/workspaces/${WORKSPACE}/api/v1/remote_write`, 204],
    ]);
    for (const r of writes) {
      assert.match(r.headers.authorization!, /^AWS4-HMAC-SHA256 Credential=ASIAAMPSTORETEST\/20260301\/eu-west-1\/aps\/aws4_request, SignedHeaders=content-encoding;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-prometheus-remote-write-version, /);
      assert.equal(r.headers['content-encoding'], 'snappy');
    }
  });

  test('queries through the proxy: every point back with its exact counts, the series listed, nothing of another tenant', async () => {
    const store = ampStoreFromEnv(env(), { now: () => NOW });
    const first = proxy.received.length;
    const range = { tenant: 'acme', metric: 'http.server.request.duration', fromNs: t0, toNs: t0 + 200n * S };
    const points = await store.fetchPoints(range);
    assert.equal(points.length, 30);
    assert.equal(expectedCount(points), expectedCount(batch));
    const key = (p: MetricPoint) => `${p.series.resource['service.name']} ${p.series.attributes['http.route']} ${p.endNs}`;
    const byKey = new Map(points.map((p) => [key(p), p]));
    for (const p of batch) assert.deepEqual(byKey.get(key(p)), p, key(p));
    assert.equal((await store.fetchPoints({ ...range, service: 'search' })).length, 10);
    const listed = (await store.listSeries({ tenant: 'acme', metric: range.metric })).map((s) => `${s.resource['service.name']} ${s.attributes['http.route']}`).sort();
    assert.deepEqual(listed, ['checkout /cart', 'checkout /pay', 'search /q']);
    assert.deepEqual(await store.fetchPoints({ ...range, tenant: 'other' }), []);
    const reads = proxy.received.slice(first);
    assert.ok(reads.length >= 4);
    for (const r of reads) {
      assert.equal(r.status, 200, `${r.url}: ${r.reason ?? ''}`);
      assert.match(r.url, new RegExp(`^/workspaces/${WORKSPACE}/api/v1/(query|series)$`));
    }
  });

  test('the same batch resent (a spool replay) stores nothing new: counts stay exact', async () => {
    const store = ampStoreFromEnv(env(), { now: () => NOW });
    await store.write('acme', batch);
    const points = await store.fetchPoints({ tenant: 'acme', metric: 'http.server.request.duration', fromNs: t0, toNs: t0 + 200n * S });
    assert.equal(points.length, 30);
    assert.equal(expectedCount(points), expectedCount(batch));
  });

  test('keys the proxy does not accept: the write fails with the 403 named, nothing is stored', async () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'd3Jvbmctc2VjcmV0LWtleS1mb3ItdGhpcy10ZXN0';
    try {
      const store = ampStoreFromEnv(env(), { now: () => NOW });
      const other = [point(series('billing', '/invoice'), 0, [5])];
      await assert.rejects(store.write('acme', other), /403/);
      assert.match(proxy.received.at(-1)!.reason ?? '', /does not match/);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
    const store = ampStoreFromEnv(env(), { now: () => NOW });
    assert.deepEqual(await store.fetchPoints({ tenant: 'acme', metric: 'http.server.request.duration', service: 'billing', fromNs: t0, toNs: t0 + 200n * S }), []);
  });
});
