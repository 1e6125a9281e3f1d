// A stand-in for an AWS endpoint that takes SigV4-signed HTTP (Amazon Managed Service for
// Prometheus): it checks each request's signature the way AWS documents it — the Authorization
// header's credential scope, signed headers that include host and x-amz-date (and the session
// token when the keys have one), a request time within 5 minutes of its own clock, the payload hash
// against the body, then the signature recomputed from what arrived — and refuses any failure with
// 403. A valid request goes on to the upstream (a real Prometheus), with AMP's
// `/workspaces/<id>` path prefix removed and its remote-write path mapped to Prometheus's. It can answer 429 with Retry-After, as AMP does when a
// workspace's ingestion rate is exceeded.
//
// The recomputation uses the SDK's signer over the request as received (method, raw path, decoded
// query, the listed headers' values, the body): any difference between what the client signed and
// what it sent changes the signature.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ProxyCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigV4ProxyOptions {
  /** Where valid requests go, e.g. a Prometheus server's base URL. */
  upstream: string;
  credentials: ProxyCredentials;
  region: string;
  service: string;
  /** The proxy's clock (fixed in tests). */
  now: () => Date;
}

export interface ReceivedRequest {
  method: string;
  /** Path and query as they arrived. */
  url: string;
  headers: Record<string, string>;
  /** What the proxy answered: 403 (bad signature), 429 (injected), or the upstream's status. */
  status: number;
  /** Why a request was refused. */
  reason?: string;
}

export interface SigV4Proxy {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** Every request, in arrival order. */
  received: ReceivedRequest[];
  /** Answer the next `count` correctly signed requests with 429 and `Retry-After: seconds`. */
  throttleNext(count: number, retryAfterSeconds: number): void;
  close(): Promise<void>;
}

const MAX_SKEW_MS = 5 * 60_000;
const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Why the request's signature is not acceptable, or undefined when it is. */
async function verify(req: IncomingMessage, body: Buffer, o: SigV4ProxyOptions): Promise<string | undefined> {
  const auth = header(req, 'authorization');
  if (!auth) return 'missing Authorization header';
  const m = AUTH.exec(auth);
  if (!m) return `malformed Authorization header: ${auth}`;
  const [, keyId, scopeDate, region, service, signedList, signature] = m as unknown as string[];
  if (keyId !== o.credentials.accessKeyId) return `unknown access key ${keyId}`;
  if (region !== o.region || service !== o.service) return `credential scope ${region}/${service}, expected ${o.region}/${o.service}`;
  const amzDate = header(req, 'x-amz-date');
  const when = amzDate ? parseAmzDate(amzDate) : undefined;
  if (!amzDate || !when) return 'missing or malformed X-Amz-Date';
  if (amzDate.slice(0, 8) !== scopeDate) return `credential scope date ${scopeDate} differs from X-Amz-Date ${amzDate}`;
  if (Math.abs(when.getTime() - o.now().getTime()) > MAX_SKEW_MS) return `signature expired or not yet valid: ${amzDate} is more than 5 minutes from ${o.now().toISOString()}`;
  const signed = signedList!.split(';');
  for (const required of ['host', 'x-amz-date']) if (!signed.includes(required)) return `${required} is not among the signed headers`;
  if (o.credentials.sessionToken !== undefined) {
    if (header(req, 'x-amz-security-token') !== o.credentials.sessionToken) return 'missing or wrong X-Amz-Security-Token';
    if (!signed.includes('x-amz-security-token')) return 'x-amz-security-token is not among the signed headers';
  }
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const claimed = header(req, 'x-amz-content-sha256');
  if (claimed !== undefined && claimed !== bodyHash) return 'x-amz-content-sha256 does not match the body';

  const headers: Record<string, string> = {};
  for (const name of signed) {
    const v = header(req, name);
    if (v === undefined) return `signed header ${name} is missing`;
    headers[name] = v;
  }
  const url = new URL(req.url ?? '/', 'http://proxy');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const signer = new SignatureV4({ service: o.service, region: o.region, credentials: o.credentials, sha256: Sha256 });
  const expected = await signer.sign(
    { method: req.method ?? 'GET', protocol: 'https:', hostname: headers.host ?? '', path: url.pathname, query, headers, body: body.length ? body : undefined },
    { signingDate: when },
  );
  const want = /Signature=([0-9a-f]{64})$/.exec(String(expected.headers.authorization))?.[1] ?? '';
  const ok = want.length === signature!.length && timingSafeEqual(Buffer.from(want), Buffer.from(signature!));
  return ok ? undefined : 'the request signature we calculated does not match the signature you provided';
}

const FORWARDED = ['content-type', 'content-encoding', 'x-prometheus-remote-write-version', 'accept'];

export async function startSigV4Proxy(options: SigV4ProxyOptions): Promise<SigV4Proxy> {
  const received: ReceivedRequest[] = [];
  let throttle = { count: 0, retryAfterSeconds: 0 };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const entry: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: {}, status: 0 };
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) entry.headers[k] = Array.isArray(v) ? v.join(',') : v;
    received.push(entry);
    const answer = (status: number, text: string, extra: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...extra });
      res.end(JSON.stringify({ message: text }));
    };

    const reason = await verify(req, body, options);
    if (reason !== undefined) {
      entry.reason = reason;
      return answer(403, reason);
    }
    if (throttle.count > 0) {
      throttle.count--;
      return answer(429, 'Rate exceeded', { 'retry-after': String(throttle.retryAfterSeconds) });
    }
    // AMP's paths are Prometheus's under /workspaces/<id>, except remote write (Prometheus: /api/v1/write).
    const path = (req.url ?? '/').replace(/^\/workspaces\/[^/]+/, '').replace(/^\/api\/v1\/remote_write(?=\?|$)/, '/api/v1/write');
    const headers: Record<string, string> = {};
    for (const name of FORWARDED) {
      const v = header(req, name);
      if (v !== undefined) headers[name] = v;
    }
    const up = await fetch(new URL(path, options.upstream), { method: req.method, headers, body: body.length ? new Uint8Array(body) : undefined });
    entry.status = up.status;
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(Buffer.from(await up.arrayBuffer()));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy error: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    throttleNext(count, retryAfterSeconds) {
      throttle = { count, retryAfterSeconds };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
