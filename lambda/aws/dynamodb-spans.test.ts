// What the DynamoDB span store adds to the span contract (lambda/storage/span-stores.test.ts):
// the TTL, DynamoDB's size limits met with a refusal instead of a retry loop, a batch that fails
// halfway and is retried, and the hints engine reading slow requests from it on AWS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { encodeSpans } from '../../agent/export/spans.ts';
import { createGatewayApp } from '../gateway/app.ts';
import { redisDominatedSlowRequests, writeSlowRedisWorld } from '../hints/testkit.ts';
import type { StoredSpan } from '../storage/spans.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import { transition } from '../../test/lib/alert-fixtures.ts';
import { DynamoDbEmulator } from '../../test/lib/dynamodb-emulator.ts';
import { snsEvent } from '../../test/lib/lambda-events.ts';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { DEFAULT_SPAN_RETENTION_DAYS, DynamoSpanStore, SPAN_TTL_ATTRIBUTE } from './dynamodb-spans.ts';
import { createHintsHandler } from './hints.ts';

const TABLE = 'burnwatch-test-spans';
const S = 1_000_000_000n;
const T0 = 1_795_000_000n * S;
const DAY_MS = 86_400_000;

function rootSpan(traceNo: number, over: Partial<StoredSpan> = {}): StoredSpan {
  return {
    traceId: traceNo.toString(16).padStart(32, '0'), spanId: traceNo.toString(16).padStart(16, '0'), parentSpanId: '', service: 'checkout', name: 'GET /pay',
    kind: 'server', startNs: T0, endNs: T0 + S, statusCode: 0, attributes: { 'http.route': '/pay' }, ...over,
  };
}

const window = { tenant: 'acme', service: 'checkout', fromNs: T0 - 3600n * S, toNs: T0 + 3600n * S, limit: 10 };

test('spans expire with the table TTL; expired ones DynamoDB has not deleted yet are not served', async () => {
  const emulator = new DynamoDbEmulator(TABLE);
  let nowMs = Number(T0 / 1_000_000n);
  try {
    const store = new DynamoSpanStore({ tableName: TABLE, now: () => nowMs });
    await store.write('acme', [rootSpan(1)]);
    const expiresAt = Number(T0 / S) + DEFAULT_SPAN_RETENTION_DAYS * 86_400;
    assert.deepEqual([...emulator.items.values()].map((i) => i[SPAN_TTL_ATTRIBUTE]), [expiresAt, expiresAt], 'the span and its root entry');
    nowMs += (DEFAULT_SPAN_RETENTION_DAYS - 1) * DAY_MS;
    assert.equal((await store.fetchTraces(window)).length, 1);
    nowMs += 2 * DAY_MS;
    assert.equal(emulator.items.size, 2, 'still in the table: TTL deletion runs days late');
    assert.deepEqual(await store.fetchTraces(window), []);
  } finally {
    emulator.restore();
  }
});

test('a span DynamoDB can never store is refused by index and reason; the rest of the batch is kept', async () => {
  const emulator = new DynamoDbEmulator(TABLE);
  try {
    const store = new DynamoSpanStore({ tableName: TABLE, now: () => Number(T0 / 1_000_000n) });
    const huge = rootSpan(2, { attributes: { 'db.statement': 'x'.repeat(500_000) } });
    const longService = rootSpan(3, { service: 's'.repeat(3000) });
    const result = await store.write('acme', [rootSpan(1), huge, longService]);
    assert.deepEqual(result.inserted, 1);
    assert.deepEqual(result.refused?.map((r) => r.index), [1, 2]);
    assert.match(result.refused![0].reason, /^the span takes \d+ bytes stored .*at most 409600 per span$/);
    assert.match(result.refused![1].reason, /^tenant and service\.name take 30\d\d bytes of the span store's key; at most 2048$/);
    assert.deepEqual((await store.fetchTraces(window)).map((t) => t.root.traceId), [rootSpan(1).traceId]);
  } finally {
    emulator.restore();
  }
});

test('POST /v1/traces over DynamoDB: an oversized span is a partial success (not a 503 retried forever)', async () => {
  const emulator = new DynamoDbEmulator(TABLE);
  try {
    const nowMs = Date.now();
    const app = createGatewayApp({
      store: {} as never, apiKeys: { 'k-0123456789abcdef': 'acme' }, log: () => undefined, now: () => nowMs,
      spanStore: new DynamoSpanStore({ tableName: TABLE, now: () => nowMs }),
    });
    const [ok, oversized] = [1, 2].map((n) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
      scopeSpans: [{ spans: [{
        traceId: n.toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '0'), name: 'GET /pay', kind: 'SPAN_KIND_SERVER',
        startTimeUnixNano: String(BigInt(nowMs - 60_000) * 1_000_000n), endTimeUnixNano: String(BigInt(nowMs - 59_000) * 1_000_000n),
        attributes: n === 2 ? [{ key: 'db.statement', value: { stringValue: 'x'.repeat(450_000) } }] : [],
      }] }],
    }));
    const res = await app.request('/v1/traces', {
      method: 'POST', body: JSON.stringify({ resourceSpans: [ok, oversized] }),
      headers: { authorization: 'Bearer k-0123456789abcdef', 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    assert.equal(Number(body.partialSuccess.rejectedSpans), 1);
    assert.match(body.partialSuccess.errorMessage, /^1 span\(s\) refused by storage, first: the span takes \d+ bytes stored/);
    const slow = await (await app.request('/v1/slow?service=checkout&from=-5m', { headers: { authorization: 'Bearer k-0123456789abcdef' } })).json();
    assert.equal(slow.requests.length, 1);
  } finally {
    emulator.restore();
  }
});

test('a batch that fails halfway is stored whole by its retry, roots and all', async () => {
  const emulator = new DynamoDbEmulator(TABLE);
  try {
    const real = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    let calls = 0;
    let failAt = 3;
    // The third call of the first delivery fails as a throttled request would.
    const flaky = { send: (command: Parameters<typeof real.send>[0]) => (++calls === failAt ? Promise.reject(new Error('ProvisionedThroughputExceededException')) : real.send(command)) } as unknown as DynamoDBDocumentClient;
    const store = new DynamoSpanStore({ tableName: TABLE, client: flaky, now: () => Number(T0 / 1_000_000n) });
    const batch = [1, 2, 3].map((n) => rootSpan(n, { startNs: T0 + BigInt(n) * S }));
    await assert.rejects(store.write('acme', batch), /ProvisionedThroughputExceededException/);
    failAt = 0;
    const retried = await store.write('acme', batch);
    assert.equal(retried.inserted + retried.duplicates, 3);
    assert.ok(retried.duplicates >= 1);
    assert.deepEqual((await store.fetchTraces(window)).map((t) => t.root.spanId), [3, 2, 1].map((n) => rootSpan(n).spanId));
  } finally {
    emulator.restore();
  }
});

test('the AWS hints function reads slow requests from DynamoDB: the seed rule speaks there as it does locally', async () => {
  const timestream = new TimestreamEmulator();
  const dynamo = new DynamoDbEmulator(TABLE);
  try {
    const metricStore = new TimestreamStore({ database: 'burnwatch-test', pointsTable: 'points', seriesTable: 'series', writeClient: timestream.writeClient, queryClient: timestream.queryClient });
    const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const faultAt = end - 6 * 60_000;
    await writeSlowRedisWorld(metricStore, 'acme', { endMs: end, faultAtMs: faultAt, minutes: 20 });
    const spanStore = new DynamoSpanStore({ tableName: TABLE });
    const app = createGatewayApp({ store: metricStore, spanStore, apiKeys: { 'k-0123456789abcdef': 'acme' }, log: () => undefined });
    const spans = redisDominatedSlowRequests(Array.from({ length: 4 }, (_, k) => faultAt + 60_000 + k * 30_000), 300, 310);
    const posted = await app.request('/v1/traces', { method: 'POST', body: Buffer.from(encodeSpans(spans)), headers: { authorization: 'Bearer k-0123456789abcdef', 'content-type': 'application/x-protobuf' } });
    assert.equal(posted.status, 200);

    const alert = { ...transition, service: 'backend', slo_id: 'backend:latency', since: new Date(faultAt + 2 * 60_000).toISOString(), at: new Date(end).toISOString() };
    const { results } = await createHintsHandler(() => ({ metricStore, spanStore }), () => undefined)(snsEvent([JSON.stringify(alert)]));
    const first = results[0].hints[0];
    assert.deepEqual([first.kind, first.peer], ['slow_dependency', '127.0.0.1:6379']);
    const seed = first.evidence.find((e) => e.metric === 'burnwatch.slow_requests.dominated');
    assert.equal(seed?.incident, 1, JSON.stringify(first.evidence));
  } finally {
    dynamo.restore();
    timestream.restore();
  }
});
