// Damaged OTLP bodies (flipped, truncated, spliced bytes of real requests) never get a 5xx or
// take the gateway down: each is stored, partly stored, or refused with a 400 in the error shape.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { DURATION, GatewayClient, counterMetric, expHistogramMetric, jsonBody, protobufBody, resourceMetrics } from './otlp-fixtures.ts';

let dataDir: string;
let gw: RunningGateway;
let client: GatewayClient;
/** What the gateway logged as its own failure (any 5xx is logged). */
const failures: string[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-fuzz-'));
  gw = await startGateway({ port: 0, dataDir, apiKeys: { k: 't' }, log: (m) => failures.push(m) });
  client = new GatewayClient(gw.url, 'k');
});

after(async () => {
  await gw?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** xorshift32: the same damage on every run, so a failure reproduces. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function damage(body: Uint8Array, rnd: () => number): Uint8Array {
  const out = Buffer.from(body);
  switch (Math.floor(rnd() * 4)) {
    case 0: // flip a few bytes
      for (let i = 0; i < 1 + rnd() * 4; i++) out[Math.floor(rnd() * out.length)] ^= 1 << Math.floor(rnd() * 8);
      return out;
    case 1: // truncate
      return out.subarray(0, Math.floor(rnd() * out.length));
    case 2: // duplicate a slice in place
    {
      const a = Math.floor(rnd() * out.length);
      const b = Math.min(out.length, a + Math.floor(rnd() * 40));
      return Buffer.concat([out.subarray(0, b), out.subarray(a, b), out.subarray(b)]);
    }
    default: // overwrite a byte with a random one
      out[Math.floor(rnd() * out.length)] = Math.floor(rnd() * 256);
      return out;
  }
}

test('damaged protobuf and JSON requests get 200 or 400, never a 5xx', async () => {
  const end = Date.now();
  const rm = resourceMetrics({ 'service.name': 'fuzz', 'host.name': 'h' }, [
    expHistogramMetric(DURATION, [
      { endMs: end, attributes: { 'http.response.status_code': 200, 'http.route': '/a' }, scale: 5, buckets: { [-100]: 3, [-90]: 4, [-80]: 1 } },
      { endMs: end, attributes: { 'http.response.status_code': 500, 'http.route': '/b' }, scale: 3, buckets: { [-20]: 2 } },
    ]),
    counterMetric('fuzz.count', [{ endMs: end, value: 5, attributes: { k: 'v' } }]),
  ]);
  const bodies = { protobuf: protobufBody(rm), json: jsonBody(rm) };
  const rnd = random(Number(process.env.FUZZ_SEED ?? 0x5eed));
  const seen = new Map<number, number>();
  for (let i = 0; i < Number(process.env.FUZZ_ROUNDS ?? 400); i++) {
    const kind = i % 2 === 0 ? 'protobuf' : 'json';
    const damaged = damage(bodies[kind], rnd);
    const gzip = i % 5 === 0;
    const res = await client.postMetrics(gzip ? gzipSync(damaged) : damaged, kind === 'protobuf' ? 'application/x-protobuf' : 'application/json', gzip ? { 'content-encoding': 'gzip' } : {});
    const text = await res.text();
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    assert.ok(res.status === 200 || res.status === 400, `request ${i} (${kind}): ${res.status} ${text}`);
    if (res.status === 400) {
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      assert.match(body.error.code, /^invalid_(protobuf|json|otlp)$/);
    }
  }
  assert.ok((seen.get(400) ?? 0) > 0 && (seen.get(200) ?? 0) > 0, JSON.stringify([...seen]));
  assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  // Queries over whatever the damaged requests stored still answer.
  for (const agg of ['count', 'p99', 'error_ratio', 'max']) {
    const res = await client.get(`/v1/query?service=fuzz&metric=${DURATION}&agg=${agg}&from=-1h&by=http.route`);
    assert.equal(res.status, 200, await res.text());
  }
  assert.equal((await client.get('/v1/services')).status, 200);
  assert.equal((await client.get('/v1/slos')).status, 200);
  assert.deepEqual(failures, []);
});
