// Webhook notifier: POSTs each transition as JSON, signed, retried with exponential backoff.
//
// Signature: header `X-Burnwatch-Signature: sha256=<hex>` where hex is HMAC-SHA256 over
// `<timestamp>.<body>` with the shared secret, and `X-Burnwatch-Timestamp: <unix seconds>`;
// the receiver recomputes it over the raw body (verifySignature) and may reject old timestamps
// to stop replays. `X-Burnwatch-Event-Id` carries the transition id, the same on every retry,
// so a receiver that saw it already can drop the repeat.
//
// Redirects are not followed: fetch would resend the signed body to wherever a Location header
// points (another host included), so a 3xx is a delivery failure that names the target.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlertTransition, Notifier } from './types.ts';

export const SIGNATURE_HEADER = 'x-burnwatch-signature';
export const TIMESTAMP_HEADER = 'x-burnwatch-timestamp';
export const EVENT_ID_HEADER = 'x-burnwatch-event-id';

export interface WebhookOptions {
  url: string;
  /** Shared secret for the HMAC; without one, requests are sent unsigned. */
  secret?: string;
  /** Attempts in all (default 5). */
  attempts?: number;
  /** First retry delay; doubles each time, with jitter (default 500 ms). */
  backoffMs?: number;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Constant-time check of a received signature header against the raw body. */
export function verifySignature(secret: string, timestamp: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(sign(secret, timestamp, body));
  const got = Buffer.from(header);
  return want.length === got.length && timingSafeEqual(want, got);
}

export class WebhookNotifier implements Notifier {
  readonly name: string;
  constructor(private readonly opts: WebhookOptions) {
    this.name = `webhook ${opts.url}`;
  }

  async notify(t: AlertTransition): Promise<void> {
    const body = JSON.stringify(t);
    const attempts = this.opts.attempts ?? 5;
    let delay = this.opts.backoffMs ?? 500;
    let last = '';
    for (let i = 1; i <= attempts; i++) {
      const timestamp = String(Math.floor((this.opts.now ?? Date.now)() / 1000));
      const headers: Record<string, string> = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp, [EVENT_ID_HEADER]: t.id };
      if (this.opts.secret) headers[SIGNATURE_HEADER] = sign(this.opts.secret, timestamp, body);
      try {
        const res = await fetch(this.opts.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
        await res.arrayBuffer();
        if (res.ok) return;
        if (res.status >= 300 && res.status < 400) {
          // Configuration, not an outage: retrying would get the same redirect.
          last = `HTTP ${res.status} redirect to ${res.headers.get('location') ?? '(no Location)'} not followed: the signed alert goes only to the configured URL; configure the final URL`;
          break;
        }
        last = `HTTP ${res.status}`;
        // A 4xx other than 408/429 is the receiver refusing this message: retrying cannot help.
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) break;
      } catch (err) {
        last = (err as Error).message;
      }
      if (i < attempts) {
        await sleep(delay * (0.5 + Math.random()));
        delay *= 2;
      }
    }
    throw new Error(`webhook ${this.opts.url}: ${t.id} not delivered: ${last}`);
  }
}
