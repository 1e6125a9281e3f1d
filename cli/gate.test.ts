import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge } from './gate.ts';
import type { SloReport } from '../lambda/slo/engine.ts';

function report(over: Partial<SloReport>): SloReport {
  return {
    id: 'svc-latency', service: 'svc', kind: 'latency', objective: 0.99, sli: null, budget_remaining: null, status: 'no_data',
    window: '30d', window_start: '2026-11-01T00:00:00.000Z', good: 0, total: 0, bad: 0, budget_remaining_requests: 0,
    budget_allowed_bad_requests: 0, burn_rate: null, burn_rates: { '5m': null, '30m': null, '1h': null, '6h': null, '1d': null, '3d': null },
    windows: [], time_to_exhaustion_seconds: null, metrics: [], filter: {}, source: 'default', alerts: [], ...over,
  } as SloReport;
}

test('an SLI the buckets cannot answer is judged as unknown, with the reason, and fails unless allowed', () => {
  const unknown = report({ status: 'unknown', unknown: 200, sli_unknown_reason: 'bucket (0, 5] straddles 0.3 s' });
  const failed = judge([unknown], 0.8, false);
  assert.equal(failed.result, 'fail');
  assert.match(failed.lines[0], /SLI unknown in 30d: bucket \(0, 5\] straddles 0\.3 s/);
  assert.equal(judge([unknown], 0.8, true).result, 'pass');
  const empty = judge([report({})], 0.8, false);
  assert.match(empty.lines[0], /no data in 30d/);
});
