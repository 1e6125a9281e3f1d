// On AWS the evaluator is the one writer of SLO rollups: the gateway function's GET /v1/slos and
// GET /v1/slos/{id} read what it stored and say how fresh that is (`evaluated_at`), through the
// Lambda entries as Lambda invokes them. AWS is mocked at the SDK boundary only: Secrets Manager,
// SNS, and the Timestream and DynamoDB emulators of test/lib.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deploymentNames, FakeDeployment } from '../../test/lib/lambda-deployment.ts';
import { functionUrlEvent, lambdaContext, scheduledEvent } from '../../test/lib/lambda-events.ts';
import { DURATION, expHistogramMetric, protobufBody, resourceMetrics } from '../../test/otlp-fixtures.ts';
import { handler as ingestQuery } from './ingest-query.ts';
import { handler as evaluate } from './evaluate.ts';

const NAMES = deploymentNames('test');
const KEY = 'k-readonly-0123456789abcdefghij';
const MIN = 60_000;
const NOW = Math.floor(Date.now() / MIN) * MIN;

const aws = new FakeDeployment(NAMES);
before(() => {
  aws.start({ shop: [KEY] });
});

after(() => {
  aws.stop();
});

const get = async (path: string) => {
  const res = await ingestQuery(functionUrlEvent({ method: 'GET', path, headers: { authorization: `Bearer ${KEY}` } }), lambdaContext('burnwatch-test-IngestQuery'));
  assert.equal(res.statusCode, 200, String(res.body));
  return JSON.parse(String(res.body));
};
/** The tenant's rollup chunks and watermarks as stored, revisions included: any write changes them. */
const rollupItems = () => JSON.stringify([...aws.dynamo.items.values()].filter((i) => i.pk.startsWith('R#shop#') || i.pk === 'W#shop').sort((a, b) => (a.pk + a.sk < b.pk + b.sk ? -1 : 1)));

test('GET /v1/slos on the Function URL writes no rollup: before the first evaluation it says so, after it answers as of the evaluation', async () => {
  // 10 requests a minute for 5 minutes, one of them failing each minute.
  const points = Array.from({ length: 5 }, (_, i) => [
    { endMs: NOW - (5 - i) * MIN + 30_000, attributes: { 'http.response.status_code': 200, 'http.route': '/cart' }, scale: 5, buckets: { [-97]: 9 } },
    { endMs: NOW - (5 - i) * MIN + 30_000, attributes: { 'http.response.status_code': 500, 'http.route': '/cart' }, scale: 5, buckets: { [-97]: 1 } },
  ]).flat();
  const body = protobufBody(resourceMetrics({ 'service.name': 'cart', 'host.name': 'h1' }, [expHistogramMetric(DURATION, points)]));
  const sent = await ingestQuery(functionUrlEvent({ method: 'POST', path: '/v1/metrics', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' }, body, gzip: true }), lambdaContext('burnwatch-test-IngestQuery'));
  assert.equal(sent.statusCode, 200, String(sent.body));

  // Never evaluated: nothing computed, and the answer says so rather than computing it here.
  const fresh = (await get('/v1/slos')).slos.find((s: { id: string }) => s.id === 'cart:availability');
  assert.deepEqual([fresh.evaluated_at, fresh.total, fresh.status], [null, 0, 'no_data']);
  assert.equal(rollupItems(), '[]');

  await evaluate(scheduledEvent(new Date(NOW).toISOString()));
  const stored = rollupItems();
  assert.notEqual(stored, '[]');
  const list = (await get('/v1/slos')).slos.find((s: { id: string }) => s.id === 'cart:availability');
  assert.deepEqual([list.evaluated_at, list.good, list.total], [new Date(NOW).toISOString(), 45, 50]);
  const detail = (await get('/v1/slos/cart:availability')).slo;
  assert.deepEqual([detail.evaluated_at, detail.good, detail.total], [new Date(NOW).toISOString(), 45, 50]);
  // A longer window than the evaluator keeps (gate --window) is not backfilled by the request: the
  // answer says from where its figures count.
  const longer = (await get('/v1/slos?window=90d')).slos.find((s: { id: string }) => s.id === 'cart:availability');
  assert.deepEqual([longer.window, longer.covered_from, longer.total], ['90d', new Date(NOW - 30 * 86_400_000).toISOString(), 50]);
  // The reads changed nothing the evaluator owns.
  assert.equal(rollupItems(), stored);
});
