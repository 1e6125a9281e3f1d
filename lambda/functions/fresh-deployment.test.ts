// A fresh `cdk deploy` before the first agent writes (issue 17 item 2): Timestream has created
// the tables but none of the columns a record brings (tenant, metric, service…), and a query
// naming one fails with ValidationException. The Lambda entries, invoked as Lambda invokes them
// over the emulator (which raises it as Timestream does), must answer as for an empty store.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PublishCommand } from '@aws-sdk/client-sns';
import { deploymentNames, FakeDeployment } from '../../test/lib/lambda-deployment.ts';
import { functionUrlEvent, lambdaContext, scheduledEvent } from '../../test/lib/lambda-events.ts';
import { handler as ingestQuery } from './ingest-query.ts';
import { handler as evaluate } from './evaluate.ts';

const NAMES = deploymentNames();
const KEY = 'k-acme-0123456789abcdefghij';
const NOW = Math.floor(Date.now() / 60_000) * 60_000;

describe('a fresh deployment, before the first write', () => {
  const aws = new FakeDeployment(NAMES);
  before(() => {
    aws.start({ acme: [KEY] });
  });

  after(() => {
    aws.stop();
  });

  /** Queries the emulator refused for a missing column: proof the reads met what Timestream answers. */
  const refusedQueries = () => aws.timestream.failedQueries.filter((q) => q.error.message.includes('does not exist')).length;

  test('the evaluator runs and evaluates nothing', async () => {
    const summary = await evaluate(scheduledEvent(new Date(NOW).toISOString()), lambdaContext('burnwatch-prod-Evaluate'));
    assert.deepEqual([summary.tenants, summary.slos, summary.transitions, summary.failed], [1, 0, 0, []]);
    assert.ok(refusedQueries() > 0, 'the series reads met the ValidationException');
    assert.equal(aws.sns.commandCalls(PublishCommand).length, 0);
  });

  test('the query API answers empty: /v1/services, /v1/query, /v1/slos', async () => {
    const before = refusedQueries();
    const get = (path: string, query: Record<string, string> = {}) =>
      ingestQuery(functionUrlEvent({ method: 'GET', path, headers: { authorization: `Bearer ${KEY}` }, query }, NOW), lambdaContext('burnwatch-prod-IngestQuery'));
    const services = await get('/v1/services');
    assert.equal(services.statusCode, 200, services.body);
    assert.deepEqual(JSON.parse(services.body!), { services: [] });
    const query = await get('/v1/query', { service: 'checkout', metric: 'http.server.request.duration', agg: 'p99', from: '-1h' });
    assert.equal(query.statusCode, 200, query.body);
    assert.deepEqual(JSON.parse(query.body!), { series: [] });
    const slos = await get('/v1/slos');
    assert.equal(slos.statusCode, 200, slos.body);
    assert.ok(refusedQueries() > before);
  });
});
