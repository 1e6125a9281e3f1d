// How many Timestream queries one evaluator run makes (docs/aws.md, "What it costs": queries are
// billed per TCU-hour with a 30 s minimum per use, so the count per run and whether it grows with
// the number of SLOs decide the bill). The real gateway stores OTLP through TimestreamStore into
// the emulator (test/lib), the SLO engine evaluates every minute over it, and the emulator's query
// log is read for one steady-state run — after the backfill, with new points every minute.
// `bash scripts/test infra/query-cost.test.ts` prints the figures.

import { test, type TestContext } from 'node:test';
import { QueryCommand } from '@aws-sdk/client-timestream-query';
import assert from 'node:assert/strict';
import { bucketIndexForSeconds } from '../common/exphist.ts';
import { DynamoDbEmulator } from '../test/lib/dynamodb-emulator.ts';
import { TimestreamEmulator } from '../test/lib/timestream-emulator.ts';
import { DURATION, expHistogramMetric, jsonBody, resourceMetrics, type ExpPointSpec } from '../test/otlp-fixtures.ts';
import { DynamoSloStore } from '../lambda/aws/dynamodb-slo-store.ts';
import { createGatewayApp } from '../lambda/gateway/app.ts';
import { SloEngine } from '../lambda/slo/engine.ts';
import { TimestreamStore } from '../lambda/storage/timestream.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 6, 0);
const TENANT = 'acme';
const KEY = 'query-cost-test-key-0001';
const FAST = bucketIndexForSeconds(0.01, 5);

/** Queries of the run at minute `runs` after `runs - 1` earlier minutes of traffic and evaluation, for `services` services (two default SLOs each). */
async function queriesOfOneRun(t: TestContext, services: number, runs: number): Promise<{ queries: string[]; slos: number }> {
  let clock = T0;
  const timestream = new TimestreamEmulator();
  const dynamo = new DynamoDbEmulator('burnwatch-slo');
  t.after(() => (timestream.restore(), dynamo.restore()));
  timestream.now = () => clock;
  const metricStore = new TimestreamStore({
    database: 'bw', pointsTable: 'points', seriesTable: 'series',
    writeClient: timestream.writeClient, queryClient: timestream.queryClient,
    memoryRetentionHours: { points: 24, series: 48 },
    now: () => clock,
    log: () => undefined,
  });
  const sloStore = new DynamoSloStore({ tableName: 'burnwatch-slo' });
  const engine = new SloEngine({ metricStore, sloStore, log: () => undefined });
  const app = createGatewayApp({ store: metricStore, apiKeys: { [KEY]: TENANT }, slo: engine, now: () => clock, log: () => undefined });
  let slos = 0;
  let before = 0;
  for (let m = 1; m <= runs; m++) {
    clock = T0 + m * MIN;
    for (let s = 0; s < services; s++) {
      const points: ExpPointSpec[] = [{ endMs: clock - 30_000, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [FAST]: 100 } }];
      const res = await app.request('/v1/metrics', {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: Buffer.from(jsonBody(resourceMetrics({ 'service.name': `svc-${s}` }, [expHistogramMetric(DURATION, points)]))),
      });
      assert.equal(res.status, 200, await res.clone().text());
    }
    before = timestream.queryMock.commandCalls(QueryCommand).length;
    slos = (await engine.cycle(TENANT, clock + 1_000)).slos.length;
  }
  // A call with a NextToken pages through a query already run; the executions are the calls without one.
  const calls = timestream.queryMock.commandCalls(QueryCommand).slice(before).map((c) => c.args[0].input);
  return { queries: calls.filter((q) => q.NextToken === undefined).map((q) => q.QueryString ?? ''), slos };
}

test('one evaluator run: Timestream queries per run, and how they grow with the number of SLOs', async (t) => {
  const rows: { services: number; slos: number; queries: number; points: number; series: number }[] = [];
  for (const services of [1, 4, 16]) {
    const { queries, slos } = await queriesOfOneRun(t, services, 10);
    assert.equal(slos, 2 * services, 'two default SLOs (availability, latency) per service seen');
    rows.push({ services, slos, queries: queries.length, points: queries.filter((q) => /"points"/.test(q)).length, series: queries.filter((q) => /"series"/.test(q)).length });
  }
  t.diagnostic(`steady-state evaluator run (10th minute): ${rows.map((r) => `${r.slos} SLOs → ${r.queries} queries (${r.points} points, ${r.series} series)`).join('; ')}`);
  for (const r of rows) {
    assert.ok(r.queries > 0, 'a run reads what arrived since the last one');
    assert.equal(r.points + r.series, r.queries, 'every query reads one of the two tables');
  }
  // The cost claim docs/aws.md makes: the count per run does not grow with the number of SLOs
  // (the SLI metrics of all SLOs are read together), so the TCU floor is per tenant, not per SLO.
  assert.deepEqual(rows.map((r) => r.queries), rows.map(() => rows[0].queries), JSON.stringify(rows));
});
