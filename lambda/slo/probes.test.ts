// Which services GET /v1/probes names: active alerts (pending included, no-data excluded) and live manual requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredProbes } from './probes.ts';

const alert = (service: string, slo_id: string, state: 'pending' | 'firing' | 'resolved', since_ms: number, rule = 'page-1h-5m') => ({ service, slo_id, state, since_ms, rule });

test('services with a pending or firing alert, once each, with the earliest start and their SLOs', () => {
  const got = desiredProbes(
    [
      alert('checkout', 'checkout:latency', 'pending', 2_000),
      alert('checkout', 'checkout:availability', 'firing', 1_000),
      alert('checkout', 'checkout:availability', 'pending', 3_000, 'ticket-3d-6h'),
      alert('search', 'search:availability', 'resolved', 500),
      alert('cart', 'cart:availability', 'firing', 700, 'no_data'),
    ],
    [],
    10_000,
  );
  assert.deepEqual(got, [{ service: 'checkout', reason: 'alert', since_ms: 1_000, slos: ['checkout:availability', 'checkout:latency'] }]);
});

test('manual requests while they run, with the time left; an ended one is gone', () => {
  const got = desiredProbes(
    [alert('search', 'search:latency', 'firing', 1)],
    [
      { service: 'search', requested_ms: 0, until_ms: 60_000 },
      { service: 'cart', requested_ms: 0, until_ms: 10_000 },
    ],
    10_000,
  );
  assert.deepEqual(got, [
    { service: 'search', reason: 'alert', since_ms: 1, slos: ['search:latency'] },
    { service: 'search', reason: 'manual', until_ms: 60_000, remaining_ms: 50_000 },
  ]);
});
