// Deep-probe requests on AWS: the gateway Lambda entry (Function URL events) over the emulated
// DynamoDB SLO table and Timestream, as an agent and `burnwatch probe` call it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeSlowRedisWorld } from '../hints/testkit.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import { DynamoSloStore } from '../aws/dynamodb-slo-store.ts';
import type { AlertRecord } from '../slo/store.ts';
import { functionUrlEvent, lambdaContext, type UrlRequest } from '../../test/lib/lambda-events.ts';
import { deploymentNames, FakeDeployment } from '../../test/lib/lambda-deployment.ts';
import { handler as ingestQuery } from './ingest-query.ts';

const NAMES = deploymentNames();
const KEY = 'k-acme-probes-0123456789abcdef';
const END = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;

describe('deep probes through the gateway Lambda', () => {
  const aws = new FakeDeployment(NAMES);
  before(async () => {
    aws.start({ acme: [KEY] });
    // `backend` served requests in the last minutes (Timestream).
    await writeSlowRedisWorld(new TimestreamStore({ database: 'burnwatch-prod', pointsTable: 'points', seriesTable: 'series' }), 'acme', { endMs: END, faultAtMs: END - 5 * 60_000, minutes: 10 });
  });
  after(() => aws.stop());

  const call = (req: UrlRequest) => ingestQuery(functionUrlEvent(req), lambdaContext('burnwatch-prod-IngestQuery'));
  const auth = { authorization: `Bearer ${KEY}` };
  const desired = async () => {
    const res = await call({ method: 'GET', path: '/v1/probes', headers: auth });
    assert.equal(res.statusCode, 200, String(res.body));
    return JSON.parse(res.body!).services as { service: string; reason: string; remaining_ms?: number }[];
  };

  test('a manual request is stored in the SLO table with its TTL and listed to the agents; bad input is a 400', async () => {
    const bad = await call({ method: 'POST', path: '/v1/probes', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from('{"service":"backend","for":"2d"}') });
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.parse(bad.body!).error.message, /^for: must be more than 0 and at most 1d/);
    const res = await call({ method: 'POST', path: '/v1/probes', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from('{"service":"backend","for":"5m"}') });
    assert.equal(res.statusCode, 201, String(res.body));
    const item = [...aws.dynamo.itemsOf(NAMES.sloTable).values()].find((i) => i.pk === 'P#acme' && i.sk === 'backend');
    assert.ok(item, 'stored as P#<tenant> / <service>');
    assert.equal(item.expires_at, Math.ceil(Number(item.until_ms) / 1000));
    const [d] = await desired();
    assert.deepEqual([d.service, d.reason], ['backend', 'manual']);
    assert.ok(d.remaining_ms! > 290_000 && d.remaining_ms! <= 300_000, String(d.remaining_ms));
  });

  test('a pending alert stored by the evaluator makes its service deep; DELETE withdraws the manual request', async () => {
    const slo = new DynamoSloStore({ tableName: NAMES.sloTable });
    const now = Date.now();
    const record: AlertRecord = {
      alert_id: 'frontend:availability/page-1h-5m#1', slo_id: 'frontend:availability', service: 'frontend', rule: 'page-1h-5m', severity: 'page',
      state: 'pending', since_ms: now - 1_000, state_since_ms: now - 1_000, condition_since_ms: now - 1_000, episode: 1, updated_ms: now,
      burn_rates: {} as AlertRecord['burn_rates'], budget_remaining: 0.9, evidence: {} as AlertRecord['evidence'],
    };
    await slo.saveAlerts('acme', [record], []);
    await sleep(1_100); // past the answer the gateway shares for a second
    assert.deepEqual((await desired()).map((d) => `${d.service}:${d.reason}`), ['backend:manual', 'frontend:alert']);
    assert.equal((await call({ method: 'DELETE', path: '/v1/probes/backend', headers: auth })).statusCode, 204);
    assert.deepEqual((await desired()).map((d) => `${d.service}:${d.reason}`), ['frontend:alert']);
  });
});
