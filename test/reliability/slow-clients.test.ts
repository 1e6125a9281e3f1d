// Faults from clients: slow-loris (many connections trickling their headers or their body) and
// oversized requests (a body over the limit, declared or chunked, and a gzip bomb). The server
// must time the slow connections out and keep serving everyone else meanwhile; an oversized
// request gets 413 naming the limit; nothing stored before is touched — under steady load from a
// real Go service through the agent, counted exactly at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import {
  assertStoredExactly,
  counterBatch,
  getJson,
  KEY,
  postMetrics,
  report,
  sleep,
  startAgent,
  startGateway,
  startService,
  SteadyLoad,
  storedBatches,
  storedCount,
  waitFor,
  waitForAttach,
  type Gateway,
} from './harness.ts';

const SLOW_CONNECTIONS = 200;
const HEADERS_TIMEOUT_S = 2;
const REQUEST_TIMEOUT_S = 4;

interface SlowClient {
  closedAt?: number;
}

/** A connection that sends `prefix` at once, then one byte of `rest` every `everyMs`, never finishing. */
function trickle(g: Gateway, prefix: string, rest: string, everyMs: number): SlowClient {
  const client: SlowClient = {};
  const socket = net.connect(g.port, '127.0.0.1');
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    socket.write(prefix);
    timer = setInterval(() => {
      if (!socket.writable) return;
      socket.write(rest[i++ % rest.length]);
    }, everyMs);
  });
  socket.on('data', () => undefined); // a 408 the server may send first
  socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server gave up on us
  socket.on('close', () => {
    clearInterval(timer);
    client.closedAt ??= Date.now();
  });
  return client;
}

test('slow-loris connections are timed out while the gateway keeps serving; oversized requests get 413 and lose nothing', { timeout: 180_000 }, async (t) => {
  const g = await startGateway(t, ['--headers-timeout', `${HEADERS_TIMEOUT_S}s`, '--request-timeout', `${REQUEST_TIMEOUT_S}s`]);
  const { agent } = startAgent(t, g);
  const { fixture, service } = await startService(t, 'slowloris');
  await waitForAttach(agent, fixture.pid);
  const load = new SteadyLoad(t, fixture.url, ['/api/checkout', '/users/9', '/fail']);

  // Data stored before the attack, to find intact after it.
  const earlier = `${service}-earlier`;
  const res = await postMetrics(g, counterBatch(earlier, 1, 100, Date.now()));
  assert.equal(res.status, 200, await res.text());

  // Slow-loris: half trickle headers, half send headers and trickle a body that never completes.
  const postHead = `POST /v1/metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n`;
  const attackStart = Date.now();
  const slow = Array.from({ length: SLOW_CONNECTIONS }, (_, i) =>
    i % 2 === 0 ? trickle(g, 'GET /v1/services HTTP/1.1\r\n', 'X-Slow: a\r\n', 300) : trickle(g, postHead, '\u0000', 300),
  );
  await sleep(1_000);

  // While they hang on, everyone else is served: queries answer, the agent keeps shipping.
  const shippedBefore = await storedCount(g, service);
  const during = await getJson(`${g.base}/v1/services`, KEY);
  assert.equal(during.status, 200);
  await waitFor('the agent to keep shipping during the attack', async () => ((await storedCount(g, service)) > shippedBefore ? true : undefined), 20_000, 250);
  assert.ok(slow.some((c) => c.closedAt === undefined), 'the attack is still on while others are served');

  await waitFor(`all ${SLOW_CONNECTIONS} slow connections to be closed by the server`, () => (slow.every((c) => c.closedAt !== undefined) ? true : undefined), 30_000, 100);
  const closedAfterMs = Math.max(...slow.map((c) => c.closedAt! - attackStart));

  // Oversized: declared, chunked (no Content-Length), and a gzip bomb.
  const big = Buffer.alloc(9 * 1024 * 1024, 1);
  const declared = await fetch(`${g.base}/v1/metrics`, { method: 'POST', body: big, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' } });
  const declaredBody = await declared.json();
  assert.equal(declared.status, 413, JSON.stringify(declaredBody));
  assert.match(declaredBody.error.message, /larger than the limit of \d+ bytes/);
  const chunked = await fetch(`${g.base}/v1/metrics`, {
    method: 'POST',
    duplex: 'half',
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < 9; i++) c.enqueue(new Uint8Array(1024 * 1024));
        c.close();
      },
    }),
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' },
  } as RequestInit);
  assert.equal(chunked.status, 413, await chunked.text());
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  const bombed = await fetch(`${g.base}/v1/metrics`, { method: 'POST', body: bomb, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' } });
  const bombBody = await bombed.json();
  assert.equal(bombed.status, 413, JSON.stringify(bombBody));
  assert.match(bombBody.error.message, /decompressed request body is larger than the limit/);

  // Earlier data intact, the gateway alive, and every Go request counted once.
  assert.deepEqual([...(await storedBatches(g, earlier))], [[1, 100]]);
  await sleep(1_000);
  const sent = await load.stop();
  await assertStoredExactly(g, service, sent);
  assert.equal(g.proc.child.exitCode, null, 'the gateway is still running');
  // A body cut off by the timeout is the client's fault, not an internal error.
  const internal = g.proc.output().split('\n').filter((l) => / failed: /.test(l));
  assert.deepEqual(internal.slice(0, 3), [], `${internal.length} internal error(s) in the gateway log`);

  report(t, {
    fault: `slow-loris: ${SLOW_CONNECTIONS} connections trickling headers/bodies (timeouts ${HEADERS_TIMEOUT_S} s / ${REQUEST_TIMEOUT_S} s)`,
    sent: `${sent} Go requests via the agent during the attack`,
    stored: `${sent} of ${sent}`,
    lost: '0; every slow connection closed by the server',
    recoverMs: closedAfterMs,
  });
  report(t, {
    fault: 'oversized: 9 MiB declared, 9 MiB chunked, 64 MiB gzip bomb',
    sent: '3 requests',
    stored: '0 (413 payload_too_large, naming the limit)',
    lost: '0 (earlier batch intact)',
    recoverMs: null,
  });
});
