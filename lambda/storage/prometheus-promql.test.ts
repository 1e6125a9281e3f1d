// The pure parts of the Prometheus backend: PromQL building and escaping, OTel → Prometheus names,
// Retry-After and sample values. The server-facing behaviour is in prometheus.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prometheusLabelName, prometheusMetricName, seriesFromLabels, seriesLabels } from './prometheus-labels.ts';
import { promqlString, rangeSelector, tenantSelector } from './prometheus-promql.ts';
import { parseRetryAfter } from '../../common/retry-after.ts';
import { sampleValue } from './prometheus.ts';

test('no selector can be built without a tenant, and the tenant cannot be set twice', () => {
  assert.throws(() => tenantSelector(''), /needs a tenant/);
  assert.throws(() => tenantSelector(undefined as unknown as string), /needs a tenant/);
  assert.throws(() => tenantSelector('t', [{ label: 'tenant', op: '=', value: 'other' }]), /set once/);
  assert.throws(() => tenantSelector('t', [{ label: 'a-b', op: '=', value: 'x' }]), /not a Prometheus label name/);
  assert.equal(tenantSelector('t', [{ label: 'otel_metric', op: '=', value: 'm' }]), '{tenant="t",otel_metric="m"}');
  assert.equal(rangeSelector('{tenant="t"}', 1500), '{tenant="t"}[1500ms]');
  assert.throws(() => rangeSelector('{tenant="t"}', 0), /positive/);
});

test('values are escaped by Go string rules: quote, backslash, newline and control characters', () => {
  assert.equal(promqlString('a"b'), '"a\\"b"');
  assert.equal(promqlString('a\\b'), '"a\\\\b"');
  assert.equal(promqlString('a\nb\tc\u0001'), '"a\\nb\\tc\\u0001"');
  assert.equal(tenantSelector('x"}or{tenant=~".+'), '{tenant="x\\"}or{tenant=~\\".+"}');
});

test('OTel names map by the usual rules; reserved and colliding names cannot shadow burnwatch labels', () => {
  assert.equal(prometheusMetricName('http.server.request.duration', 's', false), 'http_server_request_duration_seconds');
  assert.equal(prometheusMetricName('http.server.requests', '1', true), 'http_server_requests_total');
  assert.equal(prometheusMetricName('process.memory', 'By', false), 'process_memory_bytes');
  assert.equal(prometheusMetricName('cpu.utilization', '1', false), 'cpu_utilization_ratio');
  assert.equal(prometheusMetricName('queue_seconds', 's', false), 'queue_seconds');
  assert.equal(prometheusMetricName('2xx.count', '{request}', true), '_2xx_count_total');
  assert.equal(prometheusLabelName('http.route'), 'http_route');
  assert.equal(prometheusLabelName('http.response.status_code'), 'http_response_status_code');
  assert.equal(prometheusLabelName('__name__'), '_name_', 'never the reserved __ prefix');
  assert.equal(prometheusLabelName('a:_b'), 'a_b');
  assert.equal(prometheusLabelName('tenant'), 'attr_tenant');
  assert.equal(prometheusLabelName('otel.series.id'), 'attr_otel_series_id');
  assert.equal(prometheusLabelName('9lives'), '_9lives');
});

test('a series maps to labels and back exactly, attribute spoofing of the tenant included', () => {
  const series = { metric: 'm.x', unit: 's', resource: { 'service.name': 'svc', tenant: 'evil' }, attributes: { 'http.route': '/a', code: 200, ok: true, empty: '' } };
  const labels = seriesLabels('acme', series);
  assert.equal(labels.tenant, 'acme');
  assert.equal(labels.attr_tenant, 'evil');
  assert.equal(labels.http_route, '/a');
  assert.equal(labels.code, '200');
  assert.equal(labels.ok, 'true');
  assert.equal('empty' in labels, false, 'Prometheus treats an empty label as absent');
  assert.equal(labels.otel_service, 'svc');
  assert.deepEqual(seriesFromLabels(labels), series);
});

test('Retry-After in seconds or as an HTTP date; sample values including infinities', () => {
  assert.equal(parseRetryAfter('7', 0), 7000);
  assert.equal(parseRetryAfter(new Date(60_000).toUTCString(), 30_000), 30_000);
  assert.equal(parseRetryAfter(new Date(0).toUTCString(), 30_000), 0);
  assert.equal(parseRetryAfter('soon', 0), undefined);
  assert.equal(parseRetryAfter(null, 0), undefined);
  assert.equal(sampleValue('+Inf'), Infinity);
  assert.equal(sampleValue('-Inf'), -Infinity);
  assert.ok(Number.isNaN(sampleValue('NaN')));
  assert.equal(sampleValue('1e+21'), 1e21);
});
