// evaluateSlos (the default SLOs straight from raw points) over the Timestream store, emulated at
// the SDK boundary: the services it evaluates are those seen within the SLO window, found by a
// series read bounded to that window (series records are daily: the bound falls back to its UTC
// day), never read from the epoch — a query is billed by what it scans.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import type { MetricPoint, SeriesRef } from '../storage/types.ts';
import { BUILTIN_DEFAULTS } from './definitions.ts';
import { evaluateSlos } from './evaluate.ts';
import { windowStartMs } from './math.ts';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const DAY_NS = 86_400_000_000_000n;
const NOW = Math.floor(Date.UTC(2026, 10, 30, 9, 30) / MIN) * MIN;

function requests(service: string, endMs: number, count: number, status = 200): MetricPoint {
  const series: SeriesRef = { metric: HTTP_SERVER_DURATION, unit: 's', resource: { 'service.name': service }, attributes: { 'http.response.status_code': status } };
  const endNs = BigInt(endMs) * 1_000_000n;
  return { series, startNs: endNs - 10_000_000_000n, endNs, kind: 'exponential_histogram', temporality: 'delta', count, sum: count * 0.01, scale: 5, zeroCount: 0, offset: -213, counts: [count] };
}

test('evaluateSlos over Timestream: the services seen within the window, from reads bounded to it', async () => {
  const emulator = new TimestreamEmulator();
  try {
    const store = new TimestreamStore({ database: 'bw', pointsTable: 'points', seriesTable: 'series', writeClient: emulator.writeClient, queryClient: emulator.queryClient, now: () => emulator.now(), log: () => undefined });
    // Each written when it happened (the memory store), as an agent would have.
    const writes: [number, MetricPoint[]][] = [
      [NOW - 40 * DAY, [requests('retired', NOW - 40 * DAY, 100)]],
      [NOW - 10 * DAY, [requests('checkout', NOW - 10 * DAY, 90), requests('checkout', NOW - 10 * DAY, 10, 503)]],
      [NOW - 5 * MIN, [requests('search', NOW - 5 * MIN, 50)]],
    ];
    for (const [atMs, points] of writes) {
      emulator.now = () => atMs + MIN;
      assert.equal((await store.write('acme', points)).inserted, points.length);
    }
    emulator.now = () => NOW;
    const before = emulator.queries.length;
    const slos = await evaluateSlos(store, { tenant: 'acme', nowMs: NOW });
    assert.deepEqual(slos.map((s) => [s.id, s.good, s.total]), [
      ['checkout:availability', 90, 100],
      ['checkout:latency', 100, 100],
      ['search:availability', 50, 50],
      ['search:latency', 50, 50],
    ]);
    const sent = emulator.queries.slice(before);
    assert.ok(sent.some((q) => q.includes('"series"')), 'the services came from a series read');
    const floor = (BigInt(windowStartMs(BUILTIN_DEFAULTS.window, NOW)) * 1_000_000n / DAY_NS) * DAY_NS;
    for (const sql of sent) {
      const m = /time >= from_nanoseconds\((\d+)\)/.exec(sql);
      assert.ok(m && BigInt(m[1]) >= floor, `read from before the window's first day: ${sql}`);
    }
  } finally {
    emulator.restore();
  }
});
