import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, mock, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import protobuf from 'protobufjs';
import { HTTP_SERVER_DURATION, METRICS } from '../../common/catalogue.ts';
import { encodeMetrics, exponentialHistogramMetric, resourceMetrics } from './otlp.ts';
import { parseRetryAfter } from '../../common/retry-after.ts';
import { classifyStatus, describeErrorBody, Shipper } from './shipper.ts';
import type { ShipperOptions } from './shipper.ts';
import { Spool } from './spool.ts';
import { decodeMetricsRequest, startReceiver } from './testkit.ts';
import { metricsResponseBody } from '../../lambda/otlp/metrics.ts';
import type { Receiver } from './testkit.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'burnwatch-ship-'));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const T0 = 1_763_900_000_000_000_000n;

/** A real OTLP request whose single point starts at T0 + n seconds, so the receiver can tell batches apart. */
function batch(n: number): Uint8Array {
  const start = T0 + BigInt(n) * 1_000_000_000n;
  return encodeMetrics([
    resourceMetrics({ 'service.name': 'checkout-api', 'process.pid': 4242 }, [
      exponentialHistogramMetric(METRICS[HTTP_SERVER_DURATION], [
        {
          attributes: { 'http.request.method': 'GET', 'http.route': '/orders', 'http.response.status_code': 200 },
          startTimeNs: start,
          endTimeNs: start + 1_000_000_000n,
          histogram: { scale: 5, zeroCount: 0, offset: -200, counts: [n + 1], count: n + 1, sum: 0.01 * (n + 1) },
        },
      ]),
    ]),
  ]);
}

/** Which batch(n) a received request carries. */
function batchNumber(body: Buffer): number {
  const p = decodeMetricsRequest(body)[0].scopes[0].metrics[0].points[0];
  return Number((p.startTimeUnixNano - T0) / 1_000_000_000n);
}

interface Rig {
  receiver: Receiver;
  spool: Spool;
  shipper: Shipper;
  logs: string[];
  dir: string;
}

async function rig(over: Partial<ShipperOptions> = {}, dir = tempDir()): Promise<Rig> {
  const receiver = await startReceiver();
  const logs: string[] = [];
  const spool = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 3_600_000, log: (l) => logs.push(l) });
  const shipper = new Shipper({
    endpoint: receiver.url,
    apiKey: 'k-123',
    spool,
    timeoutMs: 2000,
    backoff: { initialMs: 5, maxMs: 40 },
    log: (l) => logs.push(l),
    ...over,
  });
  return { receiver, spool, shipper, logs, dir };
}

async function teardown(r: Rig): Promise<void> {
  await r.shipper.close();
  await r.receiver.close();
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('sends spooled batches oldest first as gzip OTLP/HTTP with the API key, removing each after a 2xx', async () => {
  const r = await rig();
  try {
    for (let i = 0; i < 4; i++) await r.spool.put(batch(i));
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 1, 2, 3]);
    const q = r.receiver.requests[0];
    assert.equal(q.method, 'POST');
    assert.equal(q.url, '/v1/metrics');
    assert.equal(q.headers['content-type'], 'application/x-protobuf');
    assert.equal(q.headers['content-encoding'], 'gzip');
    assert.equal(q.headers.authorization, 'Bearer k-123');
    assert.deepEqual(new Uint8Array(q.body), batch(0), 'the gunzipped body is the encoded request, byte for byte');
    assert.equal(r.spool.stats().batches, 0);
    assert.equal(readdirSync(r.dir).filter((n) => n.endsWith('.pb.gz')).length, 0);
    const s = r.shipper.stats();
    assert.equal(s.sentBatches, 4);
    assert.equal(s.retries, 0);
    assert.equal(s.queueDepth, 0);
  } finally {
    await teardown(r);
  }
});

test('an outage loses nothing: batches wait on disk, then all arrive in order, none twice', async () => {
  const r = await rig();
  try {
    await r.receiver.down();
    for (let i = 0; i < 6; i++) await r.spool.put(batch(i));
    await waitFor('a few failed attempts', () => r.shipper.stats().retries >= 3);
    assert.equal(r.spool.stats().batches, 6);
    assert.equal(readdirSync(r.dir).filter((n) => n.endsWith('.pb.gz')).length, 6);
    assert.equal(r.shipper.stats().consecutiveFailures, r.shipper.stats().retries);
    assert.match(r.shipper.stats().lastError!.message, /ECONNREFUSED/);
    // The streak is logged once, not once per attempt.
    assert.equal(r.logs.filter((l) => l.includes('failed')).length, 1);

    await r.receiver.up();
    for (let i = 6; i < 8; i++) await r.spool.put(batch(i));
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(r.shipper.stats().sentBatches, 8);
    assert.equal(r.shipper.stats().consecutiveFailures, 0);
    assert.ok(r.logs.some((l) => /recovered after \d+ failed attempt/.test(l)));
  } finally {
    await teardown(r);
  }
});

test('503 with Retry-After waits as told, then delivers', async () => {
  const r = await rig();
  try {
    r.receiver.script.push({ status: 503, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' }, body: '{"error":{"code":"overloaded","message":"try later"}}' });
    await r.spool.put(batch(0));
    await r.spool.put(batch(1));
    assert.equal(await r.shipper.flush(5000), true);
    const [first, second, third] = r.receiver.requests;
    assert.equal(r.receiver.requests.length, 3);
    assert.deepEqual([first, second, third].map((q) => batchNumber(q.body)), [0, 0, 1]);
    // Backoff alone would have retried within 40 ms; the server asked for a second.
    assert.ok(second.atMs - first.atMs >= 950, `retried after ${second.atMs - first.atMs} ms`);
    assert.equal(r.shipper.stats().retries, 1);
    assert.equal(r.shipper.stats().lastError?.status, 503);
    assert.match(r.shipper.stats().lastError!.message, /HTTP 503: overloaded: try later/);
  } finally {
    await teardown(r);
  }
});

test('429 without Retry-After backs off and retries the same batch', async () => {
  const r = await rig();
  try {
    r.receiver.script.push({ status: 429 }, { status: 429 }, { status: 429 });
    await r.spool.put(batch(0));
    await r.spool.put(batch(1));
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 0, 0, 0, 1]);
    assert.equal(r.shipper.stats().retries, 3);
    assert.equal(r.shipper.stats().sentBatches, 2);
  } finally {
    await teardown(r);
  }
});

test('a 400 poison batch is moved aside with its message logged once and does not block later ones', async () => {
  const r = await rig();
  try {
    r.receiver.script.push(
      { status: 200 },
      { status: 400, headers: { 'Content-Type': 'application/json' }, body: '{"error":{"code":"invalid_argument","message":"points[0].count does not match buckets"}}' },
      { status: 415, body: 'unsupported content type' },
    );
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await r.spool.put(batch(i)))!);
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 1, 2, 3, 4], 'each batch sent exactly once');
    const s = r.shipper.stats();
    assert.equal(s.rejectedBatches, 2);
    assert.equal(s.sentBatches, 3);
    assert.equal(s.retries, 0);
    assert.equal(r.spool.stats().rejected, 2);
    assert.ok(existsSync(join(r.dir, 'rejected', `${ids[1]}.pb.gz`)));
    const why = JSON.parse(readFileSync(join(r.dir, 'rejected', `${ids[1]}.json`), 'utf8'));
    assert.deepEqual([why.status, why.message], [400, 'HTTP 400: invalid_argument: points[0].count does not match buckets']);
    const rejectLogs = r.logs.filter((l) => l.includes('rejected'));
    assert.equal(rejectLogs.length, 2);
    assert.match(rejectLogs[0], /points\[0\]\.count does not match buckets/);
    assert.match(rejectLogs[1], /HTTP 415: unsupported content type/);
  } finally {
    await teardown(r);
  }
});

test('401 is about the key, not the batch: it is retried, not thrown away', async () => {
  const r = await rig();
  try {
    r.receiver.script.push({ status: 401, headers: { 'Content-Type': 'application/json' }, body: '{"error":{"code":"unauthenticated","message":"unknown API key"}}' });
    await r.spool.put(batch(0));
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 0]);
    assert.equal(r.shipper.stats().rejectedBatches, 0);
    assert.equal(r.shipper.stats().sentBatches, 1);
    assert.ok(r.logs.some((l) => l.includes('unknown API key')));
  } finally {
    await teardown(r);
  }
});

test('after an ambiguous failure the same bytes are resent, so the gateway can treat the repeat as a no-op', async () => {
  const r = await rig();
  try {
    r.receiver.script.push({ status: 0, reset: true });
    await r.spool.put(batch(0));
    await r.spool.put(batch(1));
    assert.equal(await r.shipper.flush(5000), true);
    const [first, resent, next] = r.receiver.requests;
    assert.equal(r.receiver.requests.length, 3);
    assert.deepEqual(resent.body, first.body, 'identical request: same series, start and end');
    assert.equal(batchNumber(next.body), 1);
    assert.equal(r.shipper.stats().sentBatches, 2);
    assert.equal(r.shipper.stats().retries, 1);
  } finally {
    await teardown(r);
  }
});

test('a request with no answer times out and is retried', async () => {
  const r = await rig({ timeoutMs: 200 });
  try {
    r.receiver.script.push({ status: 0, hang: true });
    await r.spool.put(batch(0));
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 0]);
    assert.equal(r.shipper.stats().retries, 1);
    assert.match(r.shipper.stats().lastError!.message, /no response within 200 ms/);
  } finally {
    await teardown(r);
  }
});

test('a restarted agent ships what the previous run left in the spool; corrupt files do not block it', async () => {
  const dir = tempDir();
  const previous = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 3_600_000 });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await previous.put(batch(i)))!);
  const file = join(dir, `${ids[1]}.pb.gz`);
  const full = readFileSync(file);
  writeFileSync(file, full.subarray(0, full.length - 6)); // the tail (CRC, length) lost
  previous.close(); // the previous run ends
  const r = await rig({}, dir);
  try {
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0, 2, 3]);
    assert.equal(r.spool.stats().corrupt, 1);
    assert.ok(existsSync(join(dir, 'corrupt', `${ids[1]}.pb.gz`)));
  } finally {
    await teardown(r);
  }
});

test('flush gives up at its timeout while the endpoint is down, and succeeds once it is back', async () => {
  const r = await rig({ backoff: { initialMs: 5, maxMs: 20 } });
  try {
    await r.receiver.down();
    await r.spool.put(batch(0));
    assert.equal(await r.shipper.flush(150), false);
    assert.equal(r.spool.stats().batches, 1);
    await r.receiver.up();
    assert.equal(await r.shipper.flush(5000), true);
    assert.deepEqual(r.receiver.requests.map((q) => batchNumber(q.body)), [0]);
  } finally {
    await teardown(r);
  }
});

test('a partial success (2xx with rejected points) removes the batch and counts the points, in either encoding', async () => {
  const r = await rig();
  try {
    const partial = { rejectedDataPoints: 3, errorMessage: '3 points too old' };
    r.receiver.script.push(
      { status: 200, headers: { 'Content-Type': 'application/x-protobuf' }, body: metricsResponseBody('protobuf', partial) },
      { status: 200, headers: { 'Content-Type': 'application/json' }, body: metricsResponseBody('json', { ...partial, rejectedDataPoints: 2 }) },
      { status: 200, headers: { 'Content-Type': 'application/x-protobuf' }, body: metricsResponseBody('protobuf') },
    );
    for (let i = 0; i < 3; i++) await r.spool.put(batch(i));
    assert.equal(await r.shipper.flush(5000), true);
    assert.equal(r.shipper.stats().partiallyRejectedPoints, 5);
    assert.equal(r.shipper.stats().sentBatches, 3);
    assert.equal(r.logs.filter((l) => l.includes('point(s) rejected: 3 points too old')).length, 2);
  } finally {
    await teardown(r);
  }
});

test('a partial success with nothing rejected is a warning: counted per batch, logged once per kind per interval (the numbers in it may differ)', async () => {
  mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 10, 30, 10) });
  const r = await rig({ warningLogIntervalMs: 300_000 });
  try {
    const late = (n: number, by: string) => ({ rejectedDataPoints: 0, errorMessage: `${n} point(s) stored but readable only by ${by} (SLOs count them then): older than the memory store keeps` });
    const ok = (encoding: 'protobuf' | 'json', partial?: { rejectedDataPoints: number; errorMessage: string }) => ({
      status: 200,
      headers: { 'Content-Type': encoding === 'json' ? 'application/json' : 'application/x-protobuf' },
      body: metricsResponseBody(encoding, partial),
    });
    r.receiver.script.push(
      ok('protobuf', late(12, '2026-11-30T16:00:00.000Z')),
      ok('json', late(3, '2026-11-30T16:00:10.000Z')),
      ok('protobuf', { rejectedDataPoints: 0, errorMessage: 'tenant near its active-series limit' }),
      ok('protobuf', late(7, '2026-11-30T16:00:20.000Z')),
      ok('protobuf'),
    );
    for (let i = 0; i < 5; i++) await r.spool.put(batch(i));
    assert.equal(await r.shipper.flush(5000), true);
    const warned = () => r.logs.filter((l) => l.includes('with a warning from'));
    assert.deepEqual([r.shipper.stats().warnedBatches, r.shipper.stats().sentBatches, r.shipper.stats().partiallyRejectedPoints], [4, 5, 0]);
    assert.equal(warned().length, 2, warned().join('\n'));
    assert.match(warned()[0], /: 200 with a warning from http:\/\/127\.0\.0\.1:\d+: 12 point\(s\) stored but readable only by 2026-11-30T16:00:00\.000Z \(SLOs count them then\): older than the memory store keeps$/);
    assert.match(warned()[1], /with a warning from .*: tenant near its active-series limit$/);

    // Past the interval, the next one of a kind is logged again, saying how many went unlogged.
    mock.timers.tick(300_000);
    r.receiver.script.push(ok('protobuf', late(1, '2026-11-30T16:05:00.000Z')));
    await r.spool.put(batch(5));
    assert.equal(await r.shipper.flush(5000), true);
    assert.equal(warned().length, 3);
    assert.match(warned()[2], /1 point\(s\) stored but readable only by 2026-11-30T16:05:00\.000Z .* \(and 2 more batch\(es\) warned alike since it was last logged\)$/);
    assert.equal(r.shipper.stats().warnedBatches, 5);
  } finally {
    await teardown(r);
    mock.timers.reset();
  }
});

test('close() aborts a request in flight and leaves nothing that keeps the process alive', async () => {
  const receiver = await startReceiver();
  receiver.script.push({ status: 0, hang: true });
  const dir = tempDir();
  const here = (f: string) => pathToFileURL(join(import.meta.dirname, f)).href;
  const script = join(dir, 'agent-close.mts'); // .mts: ESM (top-level await) outside the package
  writeFileSync(
    script,
    `import { Spool } from ${JSON.stringify(here('spool.ts'))};
import { Shipper } from ${JSON.stringify(here('shipper.ts'))};
const spool = new Spool(${JSON.stringify(join(dir, 'spool'))}, { maxBytes: 1 << 20, maxAgeMs: 3_600_000 });
// Long timeout and backoff: if close() left either timer running, the process would stay up.
const shipper = new Shipper({ endpoint: process.env.ENDPOINT!, apiKey: 'k', spool, timeoutMs: 60_000, backoff: { initialMs: 60_000, maxMs: 60_000 }, log: () => {} });
await spool.put(new Uint8Array([10, 0]));
// The parent says when the request is in flight (its receiver never answers it).
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();
await shipper.close();
console.log(JSON.stringify({ ...shipper.stats(), lastError: undefined }));
`,
  );
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, ENDPOINT: receiver.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await Promise.race([
      receiver.waitForRequests(1, 15_000),
      exited.then((code) => {
        throw new Error(`child exited (${code}) before its request arrived: ${err}`);
      }),
    ]);
    child.stdin.end('close\n');
    const code = await exited;
    clearTimeout(killer);
    assert.equal(code, 0, `child exited with ${code}: ${err}`);
    const stats = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(stats.queueDepth, 1, 'the aborted batch stays spooled for the next run');
    assert.equal(stats.sentBatches, 0);
    assert.ok(receiver.requests.some((q) => q.url === '/v1/metrics'), 'the request was in flight when close() ran');
  } finally {
    await receiver.close();
  }
});

test('status classes, Retry-After and error bodies', () => {
  assert.deepEqual([200, 204, 400, 401, 403, 404, 408, 413, 415, 422, 429, 500, 502, 503, 301].map(classifyStatus), [
    'sent', 'sent', 'reject', 'retry', 'retry', 'retry', 'retry', 'reject', 'reject', 'reject', 'retry', 'retry', 'retry', 'retry', 'retry',
  ]);
  assert.equal(parseRetryAfter('7'), 7000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10_000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
  const status = protobuf.Writer.create().uint32((1 << 3) | 0).int32(3).uint32((2 << 3) | 2).string('bad scale').finish();
  assert.equal(describeErrorBody({ headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from(status) }), 'bad scale');
  assert.equal(describeErrorBody({ headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([0xff, 0xff]) }), '\ufffd\ufffd', 'unreadable protobuf falls back to text');
  assert.equal(describeErrorBody({ headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from('{"error":{"code":"too_large","message":"body over 5 MiB"}}') }), 'too_large: body over 5 MiB');
  assert.equal(describeErrorBody({ headers: {}, body: Buffer.from('x'.repeat(400)) }).length, 301);
  assert.equal(describeErrorBody({ headers: {}, body: Buffer.alloc(0) }), '(empty response)');
  assert.throws(() => new Shipper({ endpoint: 'ftp://x', apiKey: 'k', spool: undefined as unknown as Spool }), /endpoint must be http or https/);
  assert.throws(() => new Shipper({ endpoint: 'not a url', apiKey: 'k', spool: undefined as unknown as Spool }), /endpoint must be an absolute http\(s\) URL/);
  assert.throws(() => new Shipper({ endpoint: 'http://x', apiKey: '', spool: undefined as unknown as Spool }), /apiKey must be a non-empty/);
});
