// GET /v1/query reads raw points into memory: a range from the epoch, or one holding more points
// than a request may hold, is a 400 naming the parameter and the limit — on every backend, since
// the check lives in the query engine and each backend stops reading past PointQuery.limit.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { ApiError } from '../lambda/errors.ts';
import { MAX_QUERY_RANGE_MS, runQuery } from '../lambda/query/engine.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import type { MetricStore } from '../lambda/storage/types.ts';
import { STORE_BACKENDS } from './lib/store-backends.ts';
import { GatewayClient, counterMetric, protobufBody, resourceMetrics } from './otlp-fixtures.ts';

const NOW = 1_795_000_000_000;
const MIN = 60_000;
const POINTS = 20;

for (const backend of STORE_BACKENDS) describe(`query caps (${backend.name})`, () => {
  let dataDir: string;
  let gw: RunningGateway;
  let client: GatewayClient;
  let store: MetricStore;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-caps-'));
    // The default (DuckDB) is opened here, so the test can also call the query engine on it.
    store = (await backend.open(() => NOW)) ?? (await DuckDbStore.open({ path: ':memory:' }));
    gw = await startGateway({ port: 0, dataDir, apiKeys: { k: 'acme' }, now: () => NOW, store });
    client = new GatewayClient(gw.url, 'k');
    const points = Array.from({ length: POINTS }, (_, i) => ({ endMs: NOW - (i + 1) * MIN, value: i + 1, attributes: { region: `r${i}` } }));
    const res = await client.postMetrics(protobufBody(resourceMetrics({ 'service.name': 'orders' }, [counterMetric('orders.placed', points)])));
    assert.equal(res.status, 200, await res.text());
  });

  after(async () => {
    await gw?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('from=0 is a 400 naming from and the longest range', async () => {
    const res = await client.get('/v1/query?service=orders&metric=orders.placed&agg=count&from=0');
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_parameter');
    assert.match(body.error.message, new RegExp(`^from: the range from 0 to now is \\d+ days; at most ${MAX_QUERY_RANGE_MS / 86_400_000} days per query$`));
    // The longest range allowed still answers.
    const ok = await client.get(`/v1/query?service=orders&metric=orders.placed&agg=count&from=-${MAX_QUERY_RANGE_MS / 86_400_000}d`);
    assert.equal(ok.status, 200, await ok.text());
  });

  test('a range holding more points than a query may is a 400 naming from and the limit', async () => {
    const q = { tenant: 'acme', service: 'orders', metric: 'orders.placed', agg: 'count' as const, fromNs: BigInt(NOW - 60 * MIN) * 1_000_000n, toNs: BigInt(NOW) * 1_000_000n, by: [] };
    const whole = await runQuery(store, q, POINTS);
    assert.equal(whole.series[0].points[0][1], (POINTS * (POINTS + 1)) / 2);
    await assert.rejects(runQuery(store, q, POINTS - 1), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 400);
      assert.equal(err.message, `from: the range holds more than ${POINTS - 1} points of orders.placed for orders, the most one query reads; narrow from/to`);
      return true;
    });
  });
});
