import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { AGENT_METRIC, ATTR, GO_METRIC, HTTP_SERVER_DURATION, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { bucketIndexForNanos, histogramFromBuckets, type ExpHistogram } from '../../common/exphist.ts';
import { encodeMetrics, exponentialHistogramMetric, numberMetric, resourceMetrics } from './otlp.ts';
import { decodeMetricsRequest } from './testkit.ts';
import { CLASSIC_BOUNDS, PrometheusExposition, negotiateFormat } from './prometheus-exposition.ts';
import { parseListenAddress, serveExposition } from './prometheus-listener.ts';

const T0 = 1_763_900_000_000_000_000n;
const S = 1_000_000_000n;

function histogramOf(valuesNs: readonly number[]): ExpHistogram {
  const buckets = new Map<number, number>();
  for (const v of valuesNs) buckets.set(bucketIndexForNanos(v, 5), (buckets.get(bucketIndexForNanos(v, 5)) ?? 0) + 1);
  return histogramFromBuckets(5, buckets, valuesNs.reduce((a, b) => a + b, 0));
}

const CHECKOUT = { [ATTR.serviceName]: 'checkout', [ATTR.hostName]: 'h1', [ATTR.processPid]: 41, [ATTR.buildId]: 'ab12' };
const CART = { [ATTR.serviceName]: 'cart', [ATTR.hostName]: 'h1', [ATTR.processPid]: 42 };
const OK = { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: '/orders/{id}', [ATTR.httpStatus]: 200 };
const FAIL = { [ATTR.httpMethod]: 'POST', [ATTR.httpRoute]: '/pay "now"', [ATTR.httpStatus]: 503 };

// Durations around bounds: 0.25 s exactly (on a bound: counted at le=0.25), one ns over, tiny and huge ones.
const INTERVAL_1 = { ok: [250_000_000, 250_000_001, 3_000, 1_000_000, 7_000_000], fail: [600_000_000_000] };
const INTERVAL_2 = { ok: [125_000_000, 499_999_999, 500_000_000], fail: [2_000_000_000, 4_000] };

function interval(k: number, values: { ok: number[]; fail: number[] }) {
  const start = T0 + BigInt(k) * 10n * S;
  const end = start + 10n * S;
  return [
    resourceMetrics(CHECKOUT, [
      exponentialHistogramMetric(METRICS[HTTP_SERVER_DURATION], [
        { attributes: OK, startTimeNs: start, endTimeNs: end, histogram: histogramOf(values.ok) },
        { attributes: FAIL, startTimeNs: start, endTimeNs: end, histogram: histogramOf(values.fail) },
      ]),
      numberMetric(METRICS[KERNEL_METRIC.tcpRetransmits], [{ attributes: { 'server.address': '10.0.0.7', 'server.port': 6379 }, startTimeNs: start, endTimeNs: end, value: 3 + k }]),
      numberMetric(METRICS[GO_METRIC.goroutines], [{ attributes: {}, startTimeNs: start, endTimeNs: end, value: 10 + k }]),
    ]),
    resourceMetrics(CART, [numberMetric(METRICS[AGENT_METRIC.spoolBytes], [{ attributes: {}, startTimeNs: start, endTimeNs: end, value: 500 * (k + 1) }])]),
  ];
}

/** name{labels} → value, the labels in sorted order, from either text format. */
function parseSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable sample line: ${line}`);
    // Label order is free in both formats: sorted here, as key() writes them.
    const pairs = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((p) => `${p[1]}="${p[2]}"`).sort();
    out.set(pairs.length ? `${m[1]}{${pairs.join(',')}}` : m[1], m[3] === '+Inf' ? Infinity : Number(m[3]));
  }
  return out;
}

function key(name: string, labels: Record<string, string | number>): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const parts = Object.keys(labels).sort().map((k) => `${k}="${esc(String(labels[k]))}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

const checkoutLabels = { service_name: 'checkout', host_name: 'h1', process_pid: '41', process_executable_build_id: 'ab12' };
const okLabels = { ...checkoutLabels, http_request_method: 'GET', http_route: '/orders/{id}', http_response_status_code: '200' };
const failLabels = { ...checkoutLabels, http_request_method: 'POST', http_route: '/pay "now"', http_response_status_code: '503' };

test('a scrape holds the running totals of every interval added: counts, exact classic buckets, counters, gauges, created times', () => {
  const expo = new PrometheusExposition();
  expo.add(interval(0, INTERVAL_1));
  expo.add(interval(1, INTERVAL_2));
  const text = expo.render('openmetrics');
  const samples = parseSamples(text);
  const name = 'http_server_request_duration_seconds';
  for (const [labels, values] of [
    [okLabels, [...INTERVAL_1.ok, ...INTERVAL_2.ok]],
    [failLabels, [...INTERVAL_1.fail, ...INTERVAL_2.fail]],
  ] as const) {
    assert.equal(samples.get(key(`${name}_count`, labels)), values.length);
    assert.equal(samples.get(key(`${name}_bucket`, { ...labels, le: '+Inf' })), values.length);
    assert.ok(Math.abs(samples.get(key(`${name}_sum`, labels))! - values.reduce((a, b) => a + b, 0) / 1e9) < 1e-9);
    // Every bound: exactly the durations at or under it (a duration on the bound is under it).
    for (const le of CLASSIC_BOUNDS) {
      const expected = values.filter((ns) => ns <= le * 1e9).length;
      assert.equal(samples.get(key(`${name}_bucket`, { ...labels, le: String(le) })), expected, `le=${le}`);
    }
    assert.equal(samples.get(key(`${name}_created`, labels)), Number(T0 / S));
  }
  const peer = { ...checkoutLabels, server_address: '10.0.0.7', server_port: '6379' };
  assert.equal(samples.get(key('burnwatch_tcp_retransmits_total', peer)), 3 + 4);
  assert.equal(samples.get(key('burnwatch_tcp_retransmits_created', peer)), Number(T0 / S));
  assert.equal(samples.get(key('go_goroutine_count', checkoutLabels)), 11, 'a gauge is its last value');
  assert.equal(samples.get(key('burnwatch_agent_spool_bytes', { service_name: 'cart', host_name: 'h1', process_pid: '42' })), 1000);
  assert.equal(samples.get(key('target_info', checkoutLabels)), 1);
  assert.match(text, /^# TYPE target info$/m);
  assert.match(text, /^# TYPE burnwatch_tcp_retransmits counter$/m);
  assert.match(text, /^# TYPE http_server_request_duration_seconds histogram$/m);
  assert.ok(text.endsWith('# EOF\n'));
});

test('the counts a scrape shows are those the same batches carry over OTLP', () => {
  const expo = new PrometheusExposition();
  const shipped = new Map<string, number>();
  for (const [k, values] of [INTERVAL_1, INTERVAL_2, INTERVAL_1].entries()) {
    const batch = interval(k, values);
    expo.add(batch);
    for (const r of decodeMetricsRequest(encodeMetrics(batch))) {
      for (const m of r.scopes.flatMap((s) => s.metrics)) {
        if (m.name !== HTTP_SERVER_DURATION) continue;
        for (const p of m.points) {
          const id = `${r.attributes[ATTR.serviceName]}/${p.attributes[ATTR.httpStatus]}`;
          shipped.set(id, (shipped.get(id) ?? 0) + p.histogram!.count);
        }
      }
    }
  }
  const samples = parseSamples(expo.render('text'));
  assert.equal(samples.get(key('http_server_request_duration_seconds_count', okLabels)), shipped.get('checkout/200'));
  assert.equal(samples.get(key('http_server_request_duration_seconds_count', failLabels)), shipped.get('checkout/503'));
  assert.equal(shipped.get('checkout/200'), 2 * INTERVAL_1.ok.length + INTERVAL_2.ok.length);
});

test('the classic text format names counters by their sample, has no created samples, and passes promtool', () => {
  const expo = new PrometheusExposition();
  expo.add(interval(0, INTERVAL_1));
  const text = expo.render('text');
  assert.match(text, /^# TYPE burnwatch_tcp_retransmits_total counter$/m);
  assert.match(text, /^# TYPE target_info gauge$/m);
  assert.doesNotMatch(text, /_created|# EOF/);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  // promtool lints too (e.g. counters named without a unit); only parse errors fail the check here.
  assert.doesNotMatch(`${check.stdout}${check.stderr}`, /error while linting|parse error|text format parsing error/i, check.stderr);
});

test('series and resources no batch carried for longer than idleMs leave the endpoint; one that comes back starts from zero', () => {
  let nowMs = 0;
  const expo = new PrometheusExposition({ idleMs: 60_000, now: () => nowMs });
  expo.add(interval(0, INTERVAL_1));
  nowMs = 50_000;
  // Only checkout's tcp counter is carried again.
  expo.add([resourceMetrics(CHECKOUT, [numberMetric(METRICS[KERNEL_METRIC.tcpRetransmits], [{ attributes: { 'server.address': '10.0.0.7', 'server.port': 6379 }, startTimeNs: T0 + 10n * S, endTimeNs: T0 + 20n * S, value: 2 }])])]);
  nowMs = 100_000;
  expo.add([]);
  const samples = parseSamples(expo.render('openmetrics'));
  const peer = { ...checkoutLabels, server_address: '10.0.0.7', server_port: '6379' };
  assert.equal(samples.get(key('burnwatch_tcp_retransmits_total', peer)), 5);
  assert.equal(samples.get(key('http_server_request_duration_seconds_count', okLabels)), undefined, 'idle for 100 s');
  assert.equal(samples.get(key('burnwatch_agent_spool_bytes', { service_name: 'cart', host_name: 'h1', process_pid: '42' })), undefined);
  assert.equal(samples.get(key('target_info', { service_name: 'cart', host_name: 'h1', process_pid: '42' })), undefined);
  assert.equal(samples.get(key('target_info', checkoutLabels)), 1);
  assert.doesNotMatch(expo.render('openmetrics'), /# TYPE http_server_request_duration_seconds /, 'a family without series is not declared');
  expo.add(interval(3, INTERVAL_2));
  assert.equal(parseSamples(expo.render('text')).get(key('http_server_request_duration_seconds_count', okLabels)), INTERVAL_2.ok.length);
});

test('the scrape format follows the Accept header, and the listener serves /metrics only', async () => {
  assert.equal(negotiateFormat('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), 'openmetrics');
  assert.equal(negotiateFormat('text/plain'), 'text');
  assert.equal(negotiateFormat(undefined), 'text');
  assert.deepEqual(parseListenAddress(':9464'), { host: '', port: 9464 });
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
  for (const bad of ['9464', 'localhost', ':99999', 'a:b:9464', ':']) assert.throws(() => parseListenAddress(bad), /--prometheus-listen must be \[HOST\]:PORT/);

  const expo = new PrometheusExposition();
  expo.add(interval(0, INTERVAL_1));
  const server = await serveExposition(expo, parseListenAddress('127.0.0.1:0'));
  try {
    const base = `http://127.0.0.1:${server.address.port}`;
    const om = await fetch(`${base}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.ok((await om.text()).endsWith('# EOF\n'));
    const plain = await fetch(`${base}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(plain.headers.get('content-encoding'), null);
    const plainText = await plain.text();
    // As Prometheus asks: gzip, the same text inside.
    const zipped = await new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) =>
      http.get(`${base}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) })).on('error', reject);
      }),
    );
    assert.equal(zipped.encoding, 'gzip');
    assert.equal(gunzipSync(zipped.body).toString('utf8'), plainText);
    assert.ok(zipped.body.length < plainText.length / 3, `${zipped.body.length} gzip bytes for ${plainText.length}`);
    assert.equal((await fetch(`${base}/other`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});
