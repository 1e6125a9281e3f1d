// The gateway and hints Lambda entries on what issue 17 found missing on AWS: slow-request spans
// stored (DynamoDB, emulated) and served by GET /v1/slow and the hints function; API keys
// reloaded from Secrets Manager after their TTL; /metrics refused without a key on the Function
// URL. Invoked as Lambda invokes them, with the AWS SDK mocked at the client boundary only.

import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { encodeSpans } from '../../agent/export/spans.ts';
import { API_KEYS_TTL_MS } from '../aws/secrets.ts';
import { redisDominatedSlowRequests, writeSlowRedisWorld } from '../hints/testkit.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import { transition } from '../../test/lib/alert-fixtures.ts';
import { functionUrlEvent, lambdaContext, snsEvent, type UrlRequest } from '../../test/lib/lambda-events.ts';
import { deploymentNames, FakeDeployment } from '../../test/lib/lambda-deployment.ts';
import { handler as hints } from './hints.ts';
import { handler as ingestQuery } from './ingest-query.ts';

const NAMES = deploymentNames();
const KEY = 'k-acme-0123456789abcdefghij';
const REVOKED = 'k-acme-revoked-0123456789';
const SPANS_TABLE = NAMES.spansTable;
const END = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const FAULT_AT = END - 6 * 60_000;

describe('Lambda entries: spans, keys and /metrics on AWS', () => {
  const aws = new FakeDeployment(NAMES);
  const secret = (doc: Record<string, string[]>) => aws.setKeys(doc);
  before(() => {
    aws.start({ acme: [KEY, REVOKED] });
  });

  after(() => {
    mock.timers.reset();
    aws.stop();
  });

  const call = (req: UrlRequest) => ingestQuery(functionUrlEvent(req), lambdaContext('burnwatch-prod-IngestQuery'));
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  test('POST /v1/traces stores the slow requests in DynamoDB; GET /v1/slow serves them with their dominant sub-call', async () => {
    const spans = redisDominatedSlowRequests([FAULT_AT + 60_000, FAULT_AT + 90_000], 300, 310);
    const posted = await call({ method: 'POST', path: '/v1/traces', headers: { ...bearer(KEY), 'content-type': 'application/x-protobuf' }, body: encodeSpans(spans), gzip: true });
    assert.equal(posted.statusCode, 200, String(posted.body));
    assert.equal(aws.dynamo.itemsOf(SPANS_TABLE).size, spans.length + 2, 'each span, and an entry per root');
    const slow = await call({ method: 'GET', path: '/v1/slow', headers: bearer(KEY), query: { service: 'backend', from: String(FAULT_AT / 1000), to: String(END / 1000) } });
    assert.equal(slow.statusCode, 200, String(slow.body));
    const { requests } = JSON.parse(slow.body!);
    assert.deepEqual(requests.map((r: { start: number }) => r.start), [(FAULT_AT + 90_000) / 1000, (FAULT_AT + 60_000) / 1000]);
    const { share, ...dominant } = requests[0].dominant;
    assert.deepEqual(dominant, { kind: 'redis', peer: '127.0.0.1:6379', operation: 'GET', duration: 0.3 });
    assert.ok(Math.abs(share - 300 / 310) < 1e-9, String(share));
  });

  test('the hints function reads those slow requests: the seed rule is in the Redis hint\'s evidence', async () => {
    const store = new TimestreamStore({ database: 'burnwatch-prod', pointsTable: 'points', seriesTable: 'series' });
    await writeSlowRedisWorld(store, 'acme', { endMs: END, faultAtMs: FAULT_AT, minutes: 20 });
    const alert = { ...transition, service: 'backend', slo_id: 'backend:latency', since: new Date(FAULT_AT + 2 * 60_000).toISOString(), at: new Date(END).toISOString() };
    const { results } = await hints(snsEvent([JSON.stringify(alert)], { to: 'firing' }));
    const first = results[0].hints[0];
    assert.deepEqual([first.kind, first.peer], ['slow_dependency', '127.0.0.1:6379']);
    assert.equal(first.evidence.find((e) => e.metric === 'burnwatch.slow_requests.dominated')?.incident, 1, JSON.stringify(first.evidence));
  });

  test('/metrics on the Function URL: 401 without a valid key, the self metrics with one; no other spelling serves them', async () => {
    for (const headers of [{}, bearer('k-not-a-key-0123456789'), { authorization: KEY }]) {
      const res = await call({ method: 'GET', path: '/metrics', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(JSON.parse(res.body!).error.code, 'unauthorized');
    }
    for (const path of ['/metrics/', '//metrics', '/METRICS', '/v1/../metrics/']) {
      const res = await call({ method: 'GET', path });
      assert.ok(res.statusCode === 401 || res.statusCode === 404, `${path}: ${res.statusCode}`);
      assert.doesNotMatch(String(res.body), /burnwatch_/, path);
    }
    const ok = await call({ method: 'GET', path: '/metrics', headers: bearer(KEY) });
    assert.equal(ok.statusCode, 200);
    assert.match(String(ok.body), /^# (HELP|TYPE) burnwatch_/m);
  });

  test('a key removed from the secret stops working once the keys are older than their TTL; the new ones start', async () => {
    assert.equal((await call({ method: 'GET', path: '/v1/services', headers: bearer(REVOKED) })).statusCode, 200);
    const reads = aws.secrets.commandCalls(GetSecretValueCommand).length;
    secret({ acme: [KEY] });
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    assert.equal((await call({ method: 'GET', path: '/v1/services', headers: bearer(REVOKED) })).statusCode, 200, 'within the TTL the cached keys answer');
    assert.equal(aws.secrets.commandCalls(GetSecretValueCommand).length, reads);
    mock.timers.tick(API_KEYS_TTL_MS);
    const revoked = await call({ method: 'GET', path: '/v1/services', headers: bearer(REVOKED) });
    assert.equal(revoked.statusCode, 401);
    assert.equal((await call({ method: 'GET', path: '/v1/services', headers: bearer(KEY) })).statusCode, 200);
    assert.equal(aws.secrets.commandCalls(GetSecretValueCommand).length, reads + 1);
  });
});
