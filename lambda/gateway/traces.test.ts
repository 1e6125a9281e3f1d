// POST /v1/traces and GET /v1/slow through the real app and DuckDB stores, fed with the
// bytes the agent's span encoder produces for known slow requests; the same answers with the
// spans kept in DynamoDB, as on AWS (test/lib/span-backends.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayApp } from './app.ts';
import { DuckDbStore } from '../storage/duckdb.ts';
import { DuckDbSpanStore } from '../storage/duckdb-spans.ts';
import { dominantOf, type SlowSubcall } from '../query/slow.ts';
import { encodeSpans, slowRequestSpans } from '../../agent/export/spans.ts';
import type { SlowRequest } from '../../agent/collectors/slow-request.ts';
import { SPAN_BACKENDS, type SpanBackend } from '../../test/lib/span-backends.ts';

const MS = 1_000_000n;
const T0 = 1_795_000_000_000n * MS; // a fixed wall-clock start, ns

function request(over: Partial<SlowRequest> = {}): SlowRequest {
  return {
    pid: 42,
    service: 'checkout',
    kind: 'http',
    startNs: T0,
    durationNs: 500n * MS,
    method: 'GET',
    route: '/api/checkout',
    status: 200,
    subcalls: [
      { kind: 'sql', peer: '10.0.0.5:5432', operation: 'SELECT', startOffsetNs: 1n * MS, durationNs: 20n * MS, error: false, status: 0, dbSystem: 'postgresql' },
      { kind: 'redis', peer: '10.0.3.7:6379', operation: 'GET', startOffsetNs: 30n * MS, durationNs: 400n * MS, error: true, status: 0 },
    ],
    droppedSubcalls: 0,
    ...over,
  };
}

async function app(backend: SpanBackend = SPAN_BACKENDS[0]) {
  const now = () => Number((T0 + 60_000n * MS) / MS);
  const store = await DuckDbStore.open({ path: ':memory:' });
  const spans = await backend.open({ nowMs: now });
  const spanStore = spans.store;
  const a = createGatewayApp({ store, spanStore, apiKeys: { k: 't' }, now, log: () => undefined });
  const post = (body: Uint8Array, type = 'application/x-protobuf') =>
    a.request('/v1/traces', { method: 'POST', body: Buffer.from(body), headers: { authorization: 'Bearer k', 'content-type': type } });
  const slow = (qs: string) => a.request(`/v1/slow?${qs}`, { headers: { authorization: 'Bearer k' } });
  return { post, slow, close: async () => (await spans.close(), await store.close()) };
}

for (const backend of SPAN_BACKENDS) {
test(`agent spans in, the slow-request breakdown out, with its dominant sub-call (${backend.name})`, async () => {
  const { post, slow, close } = await app(backend);
  try {
    const spans = slowRequestSpans(request(), { 'service.name': 'checkout' });
    const res = await post(encodeSpans(spans));
    assert.equal(res.status, 200);
    // Retried delivery of the same batch stores nothing twice.
    assert.equal((await post(encodeSpans(spans))).status, 200);

    const out = await slow('service=checkout&from=-1h&to=now');
    assert.equal(out.status, 200);
    const body = await out.json();
    assert.deepEqual(body, {
      requests: [
        {
          trace_id: spans[0].spanContext().traceId,
          start: 1_795_000_000,
          route: '/api/checkout',
          status: 200,
          duration: 0.5,
          subcalls: [
            { kind: 'sql', peer: '10.0.0.5:5432', operation: 'SELECT', start_offset: 0.001, duration: 0.02, error: false },
            { kind: 'redis', peer: '10.0.3.7:6379', operation: 'GET', start_offset: 0.03, duration: 0.4, error: true },
          ],
          dominant: { kind: 'redis', peer: '10.0.3.7:6379', operation: 'GET', duration: 0.4, share: 0.8 },
        },
      ],
    });
    // Other services and windows see none of it.
    assert.deepEqual(await (await slow('service=other')).json(), { requests: [] });
    assert.deepEqual(await (await slow('service=checkout&from=-10s&to=now')).json(), { requests: [] });
  } finally {
    await close();
  }
});

test(`gRPC server requests: route is the full method, status the gRPC code (${backend.name})`, async () => {
  const { post, slow, close } = await app(backend);
  try {
    const req = request({ kind: 'grpc', method: '', route: '/shop.Cart/Add', status: 14, subcalls: [] });
    assert.equal((await post(encodeSpans(slowRequestSpans(req, { 'service.name': 'cart' })))).status, 200);
    const [r] = (await (await slow('service=cart')).json()).requests;
    assert.deepEqual([r.route, r.status, r.subcalls, r.dominant], ['/shop.Cart/Add', 14, [], null]);
  } finally {
    await close();
  }
});
}

test('bad trace bodies and parameters are 4xx with the field named', async () => {
  const { post, slow, close } = await app();
  try {
    const garbage = await post(new Uint8Array([0xff, 0xff, 0xff]));
    assert.equal(garbage.status, 400);
    const badId = await post(new TextEncoder().encode(JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '00', spanId: '0102030405060708', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }],
    })), 'application/json');
    assert.equal(badId.status, 400);
    assert.match((await badId.json()).error.message, /traceId must be 16 bytes/);
    assert.equal((await post(new Uint8Array(), 'text/plain')).status, 415);
    const noService = await slow('from=-1h');
    assert.equal(noService.status, 400);
    assert.match((await noService.json()).error.message, /^service: is required/);
    assert.match((await (await slow('service=a&limit=0')).json()).error.message, /^limit:/);
    assert.match((await (await slow('service=a&bogus=1')).json()).error.message, /^bogus: unknown parameter/);
  } finally {
    await close();
  }
});

test('the dominant rule: over 200 ms and over 60% of the request, both strictly', () => {
  const sc = (duration: number): SlowSubcall => ({ kind: 'sql', peer: 'p', operation: 'SELECT', start_offset: 0, duration, error: false });
  assert.equal(dominantOf([sc(0.2)], 0.25), null, 'exactly 200 ms is not over');
  assert.equal(dominantOf([sc(0.3)], 0.5), null, 'exactly 60% is not over');
  assert.equal(dominantOf([sc(0.19)], 0.2), null, 'a large share of a short request is not enough');
  assert.deepEqual(dominantOf([sc(0.25), sc(0.31)], 0.5), { kind: 'sql', peer: 'p', operation: 'SELECT', duration: 0.31, share: 0.62 });
  assert.equal(dominantOf([], 1), null);
});

test('span writes share the pending-write bound: past it a batch is refused with 429 and Retry-After, stored once admitted', async () => {
  const store = await DuckDbStore.open({ path: ':memory:' });
  const real = await DuckDbSpanStore.open(':memory:');
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  // A span store that holds its first write until told, so the one slot stays taken.
  const slowStore = Object.assign(Object.create(real), {
    write: async (tenant: string, spans: Parameters<typeof real.write>[1]) => {
      await held;
      return real.write(tenant, spans);
    },
  });
  const a = createGatewayApp({ store, spanStore: slowStore, apiKeys: { k: 't' }, admission: { maxPendingWrites: 1 }, now: () => Number((T0 + 60_000n * MS) / MS), log: () => undefined });
  const post = (body: Uint8Array) => a.request('/v1/traces', { method: 'POST', body: Buffer.from(body), headers: { authorization: 'Bearer k', 'content-type': 'application/x-protobuf' } });
  try {
    const body = encodeSpans(slowRequestSpans(request(), { 'service.name': 'checkout' }));
    const first = post(body);
    await new Promise((r) => setTimeout(r, 50));
    const refused = await post(body);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '2');
    release();
    assert.equal((await first).status, 200);
    assert.equal((await post(body)).status, 200);
    const slow = await (await a.request(`/v1/slow?service=checkout&from=${Number(T0 / MS) / 1000 - 1}&to=${Number(T0 / MS) / 1000 + 10}`, { headers: { authorization: 'Bearer k' } })).json();
    assert.equal(slow.requests.length, 1);
  } finally {
    await real.close();
    await store.close();
  }
});
