// A `fetch` that signs every request with AWS Signature Version 4 (the AWS SDK's own signer), for
// stores that speak plain HTTP to an AWS endpoint — Amazon Managed Service for Prometheus takes
// remote-write and PromQL over HTTP with IAM auth, and has no SDK client for those data-plane calls.
//
// Credentials come from the SDK's default provider chain: on Lambda that is the function role's
// temporary keys in the environment (with a session token); the chain caches and refreshes them.
// Each call signs afresh, so a retried request (after a 429) carries a new date and signature.

import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

export interface SigV4FetchOptions {
  /** The region the endpoint is in (on Lambda: AWS_REGION). */
  region: string;
  /** The signing name of the service: `aps` for Amazon Managed Service for Prometheus. */
  service: string;
  /** Fixed credentials or a provider; by default the SDK's default chain (env, profile, role…). */
  credentials?: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  /** The fetch that sends the signed request (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** The signing clock (tests pin it; the server refuses a signature more than 5 minutes off). */
  now?: () => Date;
}

/**
 * RFC 3986 escaping, the one SigV4 canonicalises a query with. The URL sent uses it too, so the
 * server's decoding of what arrives and the signer's view of it cannot differ — URLSearchParams
 * would send a space as `+`, which servers may not read back as a space.
 */
function escapeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function sigV4Fetch(options: SigV4FetchOptions): typeof globalThis.fetch {
  const signer = new SignatureV4({
    service: options.service,
    region: options.region,
    credentials: options.credentials ?? defaultProvider(),
    sha256: Sha256,
  });
  const send = options.fetch ?? globalThis.fetch;
  const now = options.now ?? (() => new Date());

  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    // The payload hash needs the whole body; remote-write batches and PromQL forms are small.
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;

    const query: Record<string, string | string[]> = {};
    const pairs: string[] = [];
    for (const [k, v] of url.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      pairs.push(`${escapeRfc3986(k)}=${escapeRfc3986(v)}`);
    }
    url.search = pairs.join('&');

    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    headers.host = url.host;

    const signed = await signer.sign(
      {
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname,
        query,
        headers,
        body,
      },
      { signingDate: now() },
    );
    // fetch sets Host from the URL itself (the same url.host that was signed).
    const { host: _host, ...sendHeaders } = signed.headers;
    return send(url, { method: request.method, headers: sendHeaders, body, signal: request.signal, redirect: request.redirect });
  };
}
