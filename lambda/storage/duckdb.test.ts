import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DuckDbStore, DUCKDB_FILE_NAME } from './duckdb.ts';
import type { MetricPoint, SeriesRef } from './types.ts';

const T0 = 1_795_000_000_000_000_000n;
const S = 1_000_000_000n;

function series(service: string, attributes: SeriesRef['attributes'] = {}): SeriesRef {
  return { metric: 'http.server.request.duration', unit: 's', resource: { 'service.name': service, 'host.name': 'h1' }, attributes };
}

function expPoint(s: SeriesRef, i: number, counts: number[]): MetricPoint {
  return {
    series: s,
    startNs: T0 + BigInt(i) * 10n * S,
    endNs: T0 + BigInt(i + 1) * 10n * S,
    kind: 'exponential_histogram',
    temporality: 'delta',
    count: counts.reduce((a, b) => a + b, 0),
    sum: 1.5,
    min: 0.01,
    max: 0.9,
    scale: 5,
    zeroCount: 0,
    offset: -100,
    counts,
  };
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'burnwatch-duckdb-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('points round-trip with every kind, and a rewrite of the same identity is a no-op', withDir(async (dir) => {
  const store = await DuckDbStore.open({ path: join(dir, DUCKDB_FILE_NAME) });
  try {
    const a = series('checkout', { 'http.route': '/pay', 'http.response.status_code': 200 });
    const points: MetricPoint[] = [
      expPoint(a, 0, [1, 2, 3]),
      { series: { ...a, metric: 'c' }, startNs: T0, endNs: T0 + S, kind: 'sum', temporality: 'cumulative', monotonic: true, value: 7 },
      { series: { ...a, metric: 'g' }, startNs: 0n, endNs: T0 + S, kind: 'gauge', value: -2.5 },
      {
        series: { ...a, metric: 'h' }, startNs: T0, endNs: T0 + S, kind: 'histogram', temporality: 'delta',
        count: 3, sum: 0.6, bounds: [0.1, 0.3], counts: [1, 1, 1],
      },
    ];
    assert.deepEqual(await store.write('t1', points), { inserted: 4, duplicates: 0 });
    // Same identities again (one with a different value: first write wins) plus a repeat inside the batch.
    const again = [expPoint(a, 0, [9, 9, 9]), points[1], points[1]];
    assert.deepEqual(await store.write('t1', again), { inserted: 0, duplicates: 3 });

    const got = await store.fetchPoints({ tenant: 't1', metric: a.metric, fromNs: T0, toNs: T0 + 100n * S });
    assert.deepEqual(got, [points[0]]);
    for (const p of points.slice(1)) {
      const [only] = await store.fetchPoints({ tenant: 't1', metric: p.series.metric, fromNs: 0n, toNs: T0 + 100n * S });
      assert.deepEqual(only, p);
    }
    // Tenants are separate: the same point for another tenant is new.
    assert.deepEqual(await store.write('t2', [points[0]]), { inserted: 1, duplicates: 0 });
    assert.equal((await store.fetchPoints({ tenant: 't2', metric: a.metric, fromNs: 0n, toNs: T0 * 2n })).length, 1);
  } finally {
    await store.close();
  }
}));

test('fetchPoints filters by service and by end time in [from, to)', withDir(async (dir) => {
  const store = await DuckDbStore.open({ path: join(dir, DUCKDB_FILE_NAME) });
  try {
    const a = series('a');
    const b = series('b');
    await store.write('t', [expPoint(a, 0, [1]), expPoint(a, 1, [2]), expPoint(a, 2, [3]), expPoint(b, 0, [4])]);
    const ends = (ps: MetricPoint[]) => ps.map((p) => p.endNs).sort();
    const window = { tenant: 't', metric: a.metric, fromNs: T0 + 10n * S, toNs: T0 + 30n * S };
    assert.deepEqual(ends(await store.fetchPoints({ ...window, service: 'a' })), [T0 + 10n * S, T0 + 20n * S]);
    assert.deepEqual(ends(await store.fetchPoints(window)), [T0 + 10n * S, T0 + 10n * S, T0 + 20n * S]);
    assert.deepEqual(await store.fetchPoints({ ...window, service: 'nobody' }), []);
    const seen = (await store.listSeries({ tenant: 't', metric: a.metric })).map((s) => s.resource['service.name']).sort();
    assert.deepEqual(seen, ['a', 'b']);
  } finally {
    await store.close();
  }
}));

test('data survives closing and reopening the file', withDir(async (dir) => {
  const path = join(dir, DUCKDB_FILE_NAME);
  const first = await DuckDbStore.open({ path });
  const p = expPoint(series('a'), 0, [5, 5]);
  await first.write('t', [p]);
  await first.close();
  const second = await DuckDbStore.open({ path });
  try {
    assert.deepEqual(await second.fetchPoints({ tenant: 't', metric: p.series.metric, fromNs: 0n, toNs: T0 * 2n }), [p]);
    assert.deepEqual(await second.write('t', [p]), { inserted: 0, duplicates: 1 });
  } finally {
    await second.close();
  }
}));

test('a resolved write survives the process being killed right after it', withDir(async (dir) => {
  const path = join(dir, DUCKDB_FILE_NAME);
  // A child process writes one point and SIGKILLs itself the moment write() resolves: no close,
  // no checkpoint. What it wrote must be in the write-ahead log DuckDB synced at COMMIT.
  const store = fileURLToPath(new URL('./duckdb.ts', import.meta.url));
  const script = `
    const { DuckDbStore } = await import(${JSON.stringify(store)});
    const s = await DuckDbStore.open({ path: ${JSON.stringify(path)} });
    await s.write('t', [{ series: { metric: 'm', unit: '', resource: {}, attributes: {} }, startNs: 1n, endNs: 2n, kind: 'gauge', value: 42 }]);
    process.kill(process.pid, 'SIGKILL');`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  const reopened = await DuckDbStore.open({ path });
  try {
    const [p] = await reopened.fetchPoints({ tenant: 't', metric: 'm', fromNs: 0n, toNs: 3n });
    assert.equal(p?.kind === 'gauge' && p.value, 42);
  } finally {
    await reopened.close();
  }
}));

test('concurrent writes are serialised and each counts its own duplicates', withDir(async (dir) => {
  const store = await DuckDbStore.open({ path: join(dir, DUCKDB_FILE_NAME) });
  try {
    const a = series('a');
    const batch = Array.from({ length: 50 }, (_, i) => expPoint(a, i, [1, i]));
    const results = await Promise.all([store.write('t', batch), store.write('t', batch), store.write('t', batch.slice(0, 10))]);
    assert.equal(results.reduce((n, r) => n + r.inserted, 0), 50);
    assert.equal(results.reduce((n, r) => n + r.duplicates, 0), 60);
    assert.equal((await store.fetchPoints({ tenant: 't', metric: a.metric, fromNs: 0n, toNs: T0 * 2n })).length, 50);
  } finally {
    await store.close();
  }
}));
