// sigV4Fetch against a local proxy that verifies SigV4 as AWS documents it (fixed credentials and
// clock): what a correctly signed request looks like, that the proxy refuses what AWS would refuse
// (so a pass means something), credentials from the SDK's default chain as Lambda provides them,
// and a 429 with Retry-After passed back to the caller untouched.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sigV4Fetch } from './sigv4-fetch.ts';
import { startSigV4Proxy, type SigV4Proxy } from '../../test/lib/sigv4-verifying-proxy.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const KEYS = { accessKeyId: 'AKIDBURNWATCHTEST', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SESSION = { accessKeyId: 'ASIABURNWATCHTEST', secretAccessKey: 'c2Vzc2lvbi1zZWNyZXQta2V5LWZvci10ZXN0cw', sessionToken: 'IQoJb3JpZ2luX2VjEJ//////////session+token=' };
const WS = '/workspaces/ws-0123abcd-4567-89ef-0123-456789abcdef';

/** An upstream that answers with what reached it, so a test sees what the proxy forwarded. */
async function startEcho(): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('base64') }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('sigV4Fetch through a SigV4-verifying proxy', () => {
  let echo: { url: string; server: Server };
  let proxy: SigV4Proxy;
  let sessionProxy: SigV4Proxy;

  before(async () => {
    echo = await startEcho();
    proxy = await startSigV4Proxy({ upstream: echo.url, credentials: KEYS, region: 'eu-west-1', service: 'aps', now: () => NOW });
    sessionProxy = await startSigV4Proxy({ upstream: echo.url, credentials: SESSION, region: 'eu-west-1', service: 'aps', now: () => NOW });
  });
  after(async () => {
    await proxy.close();
    await sessionProxy.close();
    await new Promise<void>((r) => echo.server.close(() => r()));
  });

  const signedFetch = (over: Partial<Parameters<typeof sigV4Fetch>[0]> = {}) =>
    sigV4Fetch({ region: 'eu-west-1', service: 'aps', credentials: KEYS, now: () => NOW, ...over });

  test('a PromQL GET (spaces, quotes, braces, a repeated match[]) verifies and arrives with the same query, prefix removed', async () => {
    const params = new URLSearchParams();
    params.set('query', 'sum by (le) (rate(http_server_duration_bucket{tenant="acme",http_route="/a b?c=1&d"}[5m]))');
    params.append('match[]', '{tenant="acme"}');
    params.append('match[]', '{tenant="acme",service_name=~"check.*"}');
    params.set('time', '1772366400.5');
    const res = await signedFetch()(`${proxy.url}${WS}/api/v1/query?${params}`);
    const last = proxy.received.at(-1)!;
    assert.equal(res.status, 200, last.reason);
    const seen = (await res.json()) as { method: string; url: string };
    assert.equal(seen.method, 'GET');
    const got = new URL(seen.url, 'http://x');
    assert.equal(got.pathname, '/api/v1/query');
    assert.deepEqual([...got.searchParams], [...params]);
    // Sent with RFC 3986 escaping (what SigV4 canonicalises), never `+` for a space.
    assert.ok(!last.url.includes('+') && last.url.includes('%20'), last.url);
  });

  test('a remote-write POST carries the documented signature shape and its body unchanged', async () => {
    const body = new Uint8Array([0xff, 0x00, 0x10, 0x7f, 0x80, 0x01, 0x02, 0x03]);
    const res = await signedFetch()(`${proxy.url}${WS}/api/v1/remote_write`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
      body,
    });
    const last = proxy.received.at(-1)!;
    assert.equal(res.status, 200, last.reason);
    const seen = (await res.json()) as { url: string; body: string; headers: Record<string, string> };
    assert.equal(seen.url, '/api/v1/write', 'AMP remote write maps to Prometheus remote write');
    assert.deepEqual(new Uint8Array(Buffer.from(seen.body, 'base64')), body);
    assert.equal(seen.headers['content-encoding'], 'snappy');
    assert.equal(last.headers['x-amz-date'], '20260301T120000Z');
    assert.match(
      last.headers.authorization!,
      /^AWS4-HMAC-SHA256 Credential=AKIDBURNWATCHTEST\/20260301\/eu-west-1\/aps\/aws4_request, SignedHeaders=content-encoding;content-type;host;x-amz-content-sha256;x-amz-date;x-prometheus-remote-write-version, Signature=[0-9a-f]{64}$/,
    );
    assert.equal(last.headers['x-amz-content-sha256'], createHash('sha256').update(body).digest('hex'));
  });

  test('the proxy refuses with 403 what AWS refuses: wrong secret, skewed clock, body or query changed after signing', async () => {
    const cases: [string, typeof globalThis.fetch, string, RegExp][] = [
      ['wrong secret', signedFetch({ credentials: { ...KEYS, secretAccessKey: 'not-the-secret' } }), `${WS}/api/v1/query?query=up`, /does not match/],
      ['clock 6 minutes ahead', signedFetch({ now: () => new Date(NOW.getTime() + 6 * 60_000) }), `${WS}/api/v1/query?query=up`, /more than 5 minutes/],
      ['unknown key', signedFetch({ credentials: { ...KEYS, accessKeyId: 'AKIDSOMEONEELSE' } }), `${WS}/api/v1/query?query=up`, /unknown access key/],
      ['another region', signedFetch({ region: 'us-east-1' }), `${WS}/api/v1/query?query=up`, /credential scope/],
      // A fetch underneath that alters the request after it was signed.
      ['body swapped', signedFetch({ fetch: (url, init) => fetch(url, { ...init, body: new Uint8Array([1, 2, 3]) }) }), `${WS}/api/v1/remote_write`, /x-amz-content-sha256/],
      ['query changed', signedFetch({ fetch: (url, init) => fetch(String(url).replace('up', 'down'), init) }), `${WS}/api/v1/query?query=up`, /does not match/],
    ];
    for (const [what, f, path, why] of cases) {
      const res = await f(`${proxy.url}${path}`, path.endsWith('remote_write') ? { method: 'POST', body: new Uint8Array([9, 9, 9]) } : undefined);
      assert.equal(res.status, 403, what);
      assert.match(proxy.received.at(-1)!.reason ?? '', why, what);
    }
  });

  test('session credentials: the token is sent and signed; without it the request is refused', async () => {
    const ok = await signedFetch({ credentials: SESSION })(`${sessionProxy.url}${WS}/api/v1/labels`);
    assert.equal(ok.status, 200, sessionProxy.received.at(-1)!.reason);
    assert.match(sessionProxy.received.at(-1)!.headers.authorization!, /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);
    const { sessionToken: _t, ...noToken } = SESSION;
    const refused = await signedFetch({ credentials: noToken })(`${sessionProxy.url}${WS}/api/v1/labels`);
    assert.equal(refused.status, 403);
    assert.match(sessionProxy.received.at(-1)!.reason ?? '', /X-Amz-Security-Token/);
  });

  test("credentials from the SDK's default chain: the environment Lambda sets for the function role", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: SESSION.accessKeyId, AWS_SECRET_ACCESS_KEY: SESSION.secretAccessKey, AWS_SESSION_TOKEN: SESSION.sessionToken });
    try {
      const res = await sigV4Fetch({ region: 'eu-west-1', service: 'aps', now: () => NOW })(`${sessionProxy.url}${WS}/api/v1/series?match[]=up`);
      assert.equal(res.status, 200, sessionProxy.received.at(-1)!.reason);
      assert.equal(sessionProxy.received.at(-1)!.headers['x-amz-security-token'], SESSION.sessionToken);
    } finally {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  test('a 429 with Retry-After reaches the caller as is; the retry is signed afresh and passes', async () => {
    let clock = NOW.getTime();
    const f = signedFetch({ now: () => new Date(clock) });
    proxy.throttleNext(1, 2);
    const first = await f(`${proxy.url}${WS}/api/v1/remote_write`, { method: 'POST', body: new Uint8Array([1]) });
    assert.equal(first.status, 429);
    assert.equal(first.headers.get('retry-after'), '2');
    clock += 2000;
    const second = await f(`${proxy.url}${WS}/api/v1/remote_write`, { method: 'POST', body: new Uint8Array([1]) });
    assert.equal(second.status, 200, proxy.received.at(-1)!.reason);
    assert.equal(proxy.received.at(-1)!.headers['x-amz-date'], '20260301T120002Z');
  });
});
