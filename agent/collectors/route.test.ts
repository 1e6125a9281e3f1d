import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalisePath, RouteLimiter, OVERFLOW_ROUTE } from './route.ts';

test('ids in paths become {id}; names stay', () => {
  assert.equal(normalisePath('/users/123'), '/users/{id}');
  assert.equal(normalisePath('/users/7d444840-9dc0-11d1-b245-5ffdce74fad2/orders'), '/users/{id}/orders');
  assert.equal(normalisePath('/blobs/9f86d081884c7d659a2feaa0c55ad015'), '/blobs/{id}');
  assert.equal(normalisePath('/t/01ARZ3NDEKTSV4RRFFQ69G5FAV'), '/t/{id}');
  assert.equal(normalisePath('/api/v2/checkout'), '/api/v2/checkout');
  assert.equal(normalisePath('/api/checkout'), '/api/checkout');
  assert.equal(normalisePath('/'), '/');
  assert.equal(normalisePath(''), '/');
  assert.equal(normalisePath('*'), '/{invalid}');
  assert.equal(normalisePath('/reports/2026-11-23'), '/reports/{id}');
});

test('a truncated path ends in {truncated}', () => {
  assert.equal(normalisePath('/very/long/segment-that-was-cut', true), '/very/long/{truncated}');
});

test('distinct routes per service are capped; earlier routes keep their names', () => {
  const l = new RouteLimiter(3);
  assert.equal(l.route('a', '/x'), '/x');
  assert.equal(l.route('a', '/y'), '/y');
  assert.equal(l.route('a', '/z/1'), '/z/{id}');
  assert.equal(l.route('a', '/w'), OVERFLOW_ROUTE);
  assert.equal(l.route('a', '/z/2'), '/z/{id}');
  assert.equal(l.route('a', '/x'), '/x');
  assert.equal(l.route('b', '/w'), '/w', 'the budget is per service');
  assert.equal(l.overflowed, 1);
});
