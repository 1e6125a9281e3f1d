// The SpanStore contract, run against every backend (test/lib/span-backends.ts): what is written
// once is read back by trace and time, the same answers from DuckDB and from DynamoDB.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpanStore, StoredSpan } from './spans.ts';
import { SPAN_BACKENDS } from '../../test/lib/span-backends.ts';

const S = 1_000_000_000n;
const T0 = 1_795_000_000n * S;
const NOW_MS = Number(T0 / 1_000_000n) + 3_600_000;

let ids = 0;
const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

function span(over: Partial<StoredSpan> & Pick<StoredSpan, 'traceId'>): StoredSpan {
  return {
    spanId: hex(++ids, 16),
    parentSpanId: '',
    service: 'checkout',
    name: 'GET /pay',
    kind: 'server',
    startNs: T0,
    endNs: T0 + S / 2n,
    statusCode: 0,
    attributes: {},
    ...over,
  };
}

/** A slow request: a root server span and one client span under it, `startS` seconds after T0. */
function request(trace: number, startS: bigint, service = 'checkout'): StoredSpan[] {
  const traceId = hex(trace, 32);
  const root = span({ traceId, service, startNs: T0 + startS * S, endNs: T0 + startS * S + S / 2n, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 } });
  const call = span({
    traceId, service, parentSpanId: root.spanId, kind: 'client', name: 'GET', startNs: root.startNs + S / 10n, endNs: root.startNs + S / 5n, statusCode: 2,
    attributes: { 'burnwatch.subcall.kind': 'redis', 'server.address': '10.0.3.7', 'server.port': 6379, nested: { list: [1, 'two', true, null] } },
  });
  return [root, call];
}

const window = (store: SpanStore, over: Partial<Parameters<SpanStore['fetchTraces']>[0]> = {}) =>
  store.fetchTraces({ tenant: 'acme', service: 'checkout', fromNs: T0, toNs: T0 + 3600n * S, limit: 100, ...over });
const traceIds = (traces: { root: StoredSpan }[]) => traces.map((t) => t.root.traceId);

for (const backend of SPAN_BACKENDS) {
  describe(`span store contract: ${backend.name}`, () => {
    test('a span is stored once: a retried batch counts as duplicates and changes nothing', async () => {
      const { store, close } = await backend.open({ nowMs: () => NOW_MS });
      try {
        const spans = [...request(1, 10n), ...request(2, 20n)];
        assert.deepEqual(await store.write('acme', spans), { inserted: 4, duplicates: 0 });
        assert.deepEqual(await store.write('acme', spans), { inserted: 0, duplicates: 4 });
        // The first copy stays: a second delivery with other content does not replace it.
        assert.deepEqual(await store.write('acme', [{ ...spans[0], name: 'changed' }, ...request(3, 30n)]), { inserted: 2, duplicates: 1 });
        const traces = await window(store);
        assert.deepEqual(traceIds(traces), [hex(3, 32), hex(2, 32), hex(1, 32)]);
        assert.equal(traces[2].root.name, 'GET /pay');
      } finally {
        await close();
      }
    });

    test('roots of the service in [from, to), newest first, at most limit, each with its whole trace in start order', async () => {
      const { store, close } = await backend.open({ nowMs: () => NOW_MS });
      try {
        await store.write('acme', [...request(1, 0n), ...request(2, 60n), ...request(3, 120n), ...request(4, 180n), ...request(5, 90n, 'cart')]);
        const all = await window(store);
        assert.deepEqual(traceIds(all), [hex(4, 32), hex(3, 32), hex(2, 32), hex(1, 32)]);
        const [root, call] = request(4, 180n);
        // Span ids differ per call of request(); compare everything else.
        const strip = ({ spanId: _s, parentSpanId: _p, ...rest }: StoredSpan) => rest;
        assert.deepEqual(strip(all[0].root), strip(root));
        assert.deepEqual(all[0].spans.map(strip), [strip(root), strip(call)]);
        assert.equal(all[0].spans[1].parentSpanId, all[0].root.spanId);
        // from is inclusive, to exclusive.
        assert.deepEqual(traceIds(await window(store, { fromNs: T0 + 60n * S, toNs: T0 + 180n * S })), [hex(3, 32), hex(2, 32)]);
        assert.deepEqual(traceIds(await window(store, { limit: 3 })), [hex(4, 32), hex(3, 32), hex(2, 32)]);
        assert.deepEqual(traceIds(await window(store, { limit: 1 })), [hex(4, 32)]);
        assert.deepEqual(traceIds(await window(store, { service: 'cart' })), [hex(5, 32)]);
        assert.deepEqual(await window(store, { service: 'nobody' }), []);
        assert.deepEqual(await window(store, { fromNs: T0 + 181n * S }), []);
        // Bounds far outside any span time (before the epoch, past 2^64 ns) take everything in between.
        assert.deepEqual(traceIds(await window(store, { fromNs: -1n, toNs: 10n ** 21n })), [hex(4, 32), hex(3, 32), hex(2, 32), hex(1, 32)]);
      } finally {
        await close();
      }
    });

    test('tenants are apart; spans of one trace that arrive in separate batches come back together', async () => {
      const { store, close } = await backend.open({ nowMs: () => NOW_MS });
      try {
        const [root, call] = request(7, 5n);
        await store.write('acme', [call]);
        assert.deepEqual(await window(store), [], 'a client span alone is no slow request');
        await store.write('acme', [root]);
        await store.write('other', request(8, 5n));
        const traces = await window(store);
        assert.deepEqual(traces.map((t) => t.spans.length), [2]);
        assert.deepEqual(traceIds(await window(store, { tenant: 'other' })), [hex(8, 32)]);
        assert.deepEqual(await window(store, { tenant: 'third' }), []);
      } finally {
        await close();
      }
    });

    test('only parentless server spans are roots', async () => {
      const { store, close } = await backend.open({ nowMs: () => NOW_MS });
      try {
        const traceId = hex(9, 32);
        await store.write('acme', [
          span({ traceId, kind: 'client' }),
          span({ traceId, kind: 'server', parentSpanId: hex(999, 16) }),
          span({ traceId: hex(10, 32), kind: 'internal' }),
        ]);
        assert.deepEqual(await window(store), []);
      } finally {
        await close();
      }
    });
  });
}
