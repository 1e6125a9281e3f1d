import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesFilter } from './sli.ts';
import type { MetricPoint } from '../storage/types.ts';

function point(metric: string, attributes: Record<string, string>): MetricPoint {
  return {
    kind: 'sum', temporality: 'delta', monotonic: true, value: 1, startNs: 0n, endNs: 1n,
    series: { metric, unit: '1', resource: { 'service.name': 's' }, attributes: Object.fromEntries(Object.entries(attributes)) },
  };
}

test('an SLI filter on an attribute named like an Object.prototype member matches that attribute only', () => {
  const filter = Object.fromEntries([['constructor', ['y']], ['__proto__', ['x']]]);
  const withBoth = point('http.server.request.duration', Object.fromEntries([['constructor', 'y'], ['__proto__', 'x']]));
  assert.equal(matchesFilter(withBoth, filter), true);
  assert.equal(matchesFilter(point('http.server.request.duration', { constructor: 'y' }), filter), false);
  assert.equal(matchesFilter(point('http.server.request.duration', {}), { constructor: ['y'] }), false);
});

test('the route shorthand maps to http.route on HTTP metrics and rpc.method on gRPC ones', () => {
  assert.equal(matchesFilter(point('http.server.request.duration', { 'http.route': '/a' }), { route: ['/a'] }), true);
  assert.equal(matchesFilter(point('rpc.server.call.duration', { 'rpc.method': '/a' }), { route: ['/a'] }), true);
  assert.equal(matchesFilter(point('rpc.server.call.duration', { 'http.route': '/a' }), { route: ['/a'] }), false);
});
