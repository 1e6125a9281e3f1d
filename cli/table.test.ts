import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable, formatSeconds } from './table.ts';

test('the live table aligns columns and shows missing values as dashes', () => {
  const out = renderTable(
    [
      { service: 'checkout-api', hosts: ['h'], requestsPerSecond: 38.25, errorRatio: 0.0021, p99: 0.0123, budgetRemaining: 0.789, worstSlo: 'checkout-api:availability' },
      { service: 'x', hosts: ['h'], requestsPerSecond: 0, errorRatio: null, p99: null, budgetRemaining: null, worstSlo: null },
    ],
    new Date('2026-11-23T10:00:05Z'),
  );
  assert.equal(
    out,
    [
      '— 10:00:05 —',
      'service       req/s  error %      p99       SLO budget left',
      'checkout-api   38.3    0.21%  12.3 ms  78.9% (availability)',
      'x               0.0        —        —                     —',
    ].join('\n'),
  );
  assert.match(renderTable([]), /no services seen yet/);
});

test('seconds are shown in a readable unit', () => {
  assert.equal(formatSeconds(0.000_25), '250 µs');
  assert.equal(formatSeconds(0.004_56), '4.56 ms');
  assert.equal(formatSeconds(0.35), '350.0 ms');
  assert.equal(formatSeconds(2.5), '2.50 s');
});
