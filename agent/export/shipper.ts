// Sends spooled batches to an OTLP/HTTP endpoint, oldest first, one at a time.
//
// A batch leaves the spool only after a 2xx. Resending is safe: the gateway treats a repeated
// point (series, start, end) as a no-op, so any failure whose outcome is unknown (network error,
// timeout, 5xx) is simply retried, with exponential backoff and full jitter, honouring Retry-After.
// A response that says the batch itself is bad (400, 413, 415, …) will never succeed: that batch
// moves to rejected/ so it cannot block the ones behind it. Responses that are about the endpoint
// or the credentials rather than the batch (401, 403, 404, redirects) are retried like an outage:
// rejecting on them would move every batch into the bounded rejected/ directory (i.e. lose it)
// just because a key or URL is being fixed; the spool's size and age bounds still apply.

import http from 'node:http';
import https from 'node:https';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { parseRetryAfter } from '../../common/retry-after.ts';
import protobuf from 'protobufjs';
import { AGENT_VERSION } from './otlp.ts';
import type { Spool, SpoolEntry } from './spool.ts';
import { WarningLog } from './warning-log.ts';

export interface ShipperOptions {
  /** Base URL; batches go to `${endpoint}${path}`. */
  endpoint: string;
  /** The OTLP signal path; default '/v1/metrics' ('/v1/traces' for spans). */
  path?: '/v1/metrics' | '/v1/traces';
  apiKey: string;
  spool: Spool;
  /** Per request, connect to last response byte. Default 10 s. */
  timeoutMs?: number;
  /** Full-jitter exponential backoff: a delay is uniform in [0, min(maxMs, initialMs·2^attempt)). */
  backoff?: { initialMs: number; maxMs: number };
  /** Upper bound on a server's Retry-After we are willing to wait. Default 5 min. */
  maxRetryAfterMs?: number;
  log?: (line: string) => void;
  /** A warning the endpoint repeats (same words, other numbers) is logged once per this. Default 5 min. */
  warningLogIntervalMs?: number;
}

export interface ShipperStats {
  sentBatches: number;
  sentBytes: number;
  /** Attempts that failed in a way worth retrying (each is followed by a backoff). */
  retries: number;
  /** Batches the endpoint refused as bad input, moved to rejected/. */
  rejectedBatches: number;
  /** Points a 2xx response reported as rejected (OTLP partial success). */
  partiallyRejectedPoints: number;
  /**
   * Batches delivered whole whose 2xx carried a warning: an OTLP partial success with no rejected
   * point but a message (e.g. the gateway's "stored but readable only by …" for late points).
   */
  warnedBatches: number;
  /** Failed attempts since the last response that settled a batch. */
  consecutiveFailures: number;
  lastError?: { message: string; status?: number; atMs: number };
  queueDepth: number;
}

export type ResponseClass = 'sent' | 'retry' | 'reject';

/** What to do with a batch after a response with this status. */
export function classifyStatus(status: number): ResponseClass {
  if (status >= 200 && status < 300) return 'sent';
  // Not about this batch: overload, outage, timeout, or the endpoint/credentials being wrong.
  if (status >= 500 || status === 408 || status === 429) return 'retry';
  if (status === 401 || status === 403 || status === 404 || status === 407) return 'retry';
  if (status >= 400) return 'reject';
  return 'retry'; // 1xx/3xx: a misconfigured endpoint (node:http follows no redirects)
}

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Outcome =
  | { kind: 'sent'; result: HttpResult }
  | { kind: 'gone' }
  | { kind: 'retry'; message: string; status?: number; retryAfterMs?: number }
  | { kind: 'reject'; status: number; message: string };

const MAX_RESPONSE_BODY = 64 * 1024;

export class Shipper {
  private readonly url: URL;
  private readonly apiKey: string;
  private readonly spool: Spool;
  private readonly timeoutMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly maxRetryAfterMs: number;
  private readonly log: (line: string) => void;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly unsubscribe: () => void;
  private readonly loop: Promise<void>;

  private closed = false;
  private attempt = 0;
  private wakePending = false;
  private waker: (() => void) | undefined;
  private sleeper: { done: () => void; interruptible: boolean } | undefined;
  private inflight: AbortController | undefined;
  private readonly flushWaiters = new Set<(empty: boolean) => void>();
  private readonly counters = { sentBatches: 0, sentBytes: 0, retries: 0, rejectedBatches: 0, partiallyRejectedPoints: 0, warnedBatches: 0, consecutiveFailures: 0 };
  private readonly warnings: WarningLog;
  private lastError: ShipperStats['lastError'];

  /** Starts shipping what the spool holds at once, and whatever is put into it later. */
  constructor(options: ShipperOptions) {
    let base: URL;
    try {
      base = new URL(options.endpoint);
    } catch {
      throw new TypeError(`shipper endpoint must be an absolute http(s) URL, got '${options.endpoint}'`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`shipper endpoint must be http or https, got '${base.protocol}'`);
    }
    if (typeof options.apiKey !== 'string' || options.apiKey === '' || /[\r\n]/.test(options.apiKey)) {
      throw new TypeError('shipper apiKey must be a non-empty single-line string');
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!(timeoutMs > 0)) throw new RangeError(`shipper timeoutMs must be > 0, got ${timeoutMs}`);
    const backoff = options.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    if (!(backoff.initialMs > 0) || !(backoff.maxMs >= backoff.initialMs)) {
      throw new RangeError(`shipper backoff needs 0 < initialMs <= maxMs, got initialMs=${backoff.initialMs} maxMs=${backoff.maxMs}`);
    }
    this.url = new URL(base.pathname.replace(/\/+$/, '') + (options.path ?? '/v1/metrics'), base);
    this.apiKey = options.apiKey;
    this.spool = options.spool;
    this.timeoutMs = timeoutMs;
    this.backoff = { ...backoff };
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
    const log = options.log ?? ((line: string) => console.error(`[burnwatch agent] ${line}`));
    // A logger that throws must not stop the shipping loop.
    this.log = (line) => {
      try {
        log(line);
      } catch {
        // nothing sensible to do with a failing logger
      }
    };
    // A warning comes back with every batch while its cause lasts (late data: every batch for hours).
    this.warnings = new WarningLog(this.log, options.warningLogIntervalMs ?? 300_000);
    this.transport = base.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 1 });
    this.unsubscribe = this.spool.onPut(() => this.wake());
    this.loop = this.run();
  }

  stats(): ShipperStats {
    return {
      ...this.counters,
      ...(this.lastError ? { lastError: { ...this.lastError } } : {}),
      queueDepth: this.spool.stats().batches,
    };
  }

  /**
   * Waits until the spool is empty (true) or timeoutMs passed (false). Cuts a jittered backoff
   * short to try at once; a server's Retry-After is still honoured. What is not sent stays in the
   * spool for the next run.
   */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(this.spool.stats().batches === 0);
    return new Promise<boolean>((resolve) => {
      const settle = (empty: boolean) => {
        clearTimeout(timer);
        this.flushWaiters.delete(settle);
        resolve(empty);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      this.flushWaiters.add(settle);
      this.wake();
      if (this.sleeper?.interruptible) this.sleeper.done();
    });
  }

  /** Stops at once: aborts a request in flight (its batch stays spooled), clears every timer. */
  async close(): Promise<void> {
    if (this.closed) return this.loop;
    this.closed = true;
    this.unsubscribe();
    this.inflight?.abort();
    this.sleeper?.done();
    this.waker?.();
    for (const settle of [...this.flushWaiters]) settle(this.spool.stats().batches === 0);
    await this.loop;
    this.agent.destroy();
  }

  private wake(): void {
    this.wakePending = true;
    const w = this.waker;
    this.waker = undefined;
    w?.();
  }

  private idle(): Promise<void> {
    if (this.wakePending || this.closed) return Promise.resolve();
    return new Promise((resolve) => (this.waker = resolve));
  }

  private pause(ms: number, interruptible: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleeper = { done, interruptible };
    });
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      this.wakePending = false;
      try {
        const [next] = await this.spool.list();
        if (!next) {
          for (const settle of [...this.flushWaiters]) settle(true);
          await this.idle();
          continue;
        }
        const outcome = await this.deliver(next);
        // A request cut short by close() says nothing about the batch; any other answer is kept.
        if (this.closed && outcome.kind === 'retry') break;
        await this.settle(next, outcome);
      } catch (err) {
        // Spool I/O (disk full, permissions): nothing to do but wait and try again.
        if (this.closed) break;
        this.noteFailure(`spool: ${(err as Error).message}`);
        await this.pause(this.nextBackoff(), true);
      }
    }
  }

  private async deliver(entry: SpoolEntry): Promise<Outcome> {
    const body = await this.spool.read(entry.id);
    if (!body) return { kind: 'gone' };
    let result: HttpResult;
    try {
      result = await this.post(body);
    } catch (err) {
      return { kind: 'retry', message: (err as Error).message };
    }
    const kind = classifyStatus(result.status);
    if (kind === 'sent') return { kind, result };
    const message = `HTTP ${result.status}: ${describeErrorBody(result)}`;
    if (kind === 'reject') return { kind, status: result.status, message };
    const retryAfter = parseRetryAfter(headerValue(result.headers['retry-after']));
    return { kind, status: result.status, message, retryAfterMs: retryAfter === undefined ? undefined : Math.min(retryAfter, this.maxRetryAfterMs) };
  }

  private async settle(entry: SpoolEntry, outcome: Outcome): Promise<void> {
    switch (outcome.kind) {
      case 'gone':
        return;
      case 'sent': {
        await this.spool.remove(entry.id);
        this.counters.sentBatches++;
        this.counters.sentBytes += entry.bytes;
        this.notePartialSuccess(entry.id, outcome.result);
        this.noteSettled();
        return;
      }
      case 'reject': {
        await this.spool.reject(entry.id, { status: outcome.status, message: outcome.message });
        this.counters.rejectedBatches++;
        this.lastError = { message: outcome.message, status: outcome.status, atMs: Date.now() };
        this.log(`batch ${entry.id} rejected by ${this.url.origin} (${outcome.message}); moved to ${this.spool.dir}/rejected/, not retried`);
        this.noteSettled();
        return;
      }
      case 'retry': {
        this.counters.retries++;
        this.noteFailure(outcome.message, outcome.status);
        const jittered = outcome.retryAfterMs === undefined;
        await this.pause(jittered ? this.nextBackoff() : outcome.retryAfterMs!, jittered);
        return;
      }
    }
  }

  /** Logs the first failure of a streak and every change of reason, not every attempt. */
  private noteFailure(message: string, status?: number): void {
    if (this.counters.consecutiveFailures === 0 || this.lastError?.message !== message) {
      this.log(`export to ${this.url.href} failed (${message}); batches stay spooled and are retried`);
    }
    this.counters.consecutiveFailures++;
    this.lastError = { message, ...(status !== undefined ? { status } : {}), atMs: Date.now() };
  }

  private noteSettled(): void {
    if (this.counters.consecutiveFailures > 0) {
      this.log(`export to ${this.url.href} recovered after ${this.counters.consecutiveFailures} failed attempt(s)`);
    }
    this.counters.consecutiveFailures = 0;
    this.attempt = 0;
  }

  private notePartialSuccess(id: string, result: HttpResult): void {
    const partial = parsePartialSuccess(result);
    if (partial && partial.rejected > 0) {
      this.counters.partiallyRejectedPoints += partial.rejected;
      this.log(`batch ${id}: ${result.status} but ${partial.rejected} point(s) rejected: ${partial.message || '(no message)'}`);
    } else if (partial && partial.message !== '') {
      // OTLP: a partial success with nothing rejected is a warning; the batch is delivered whole.
      this.counters.warnedBatches++;
      const message = shorten(partial.message);
      this.warnings.warn(message, (repeats) => `batch ${id}: ${result.status} with a warning from ${this.url.origin}: ${message}${repeats > 0 ? ` (and ${repeats} more batch(es) warned alike since it was last logged)` : ''}`);
    }
  }

  private nextBackoff(): number {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    if (ceiling < this.backoff.maxMs) this.attempt++;
    return Math.random() * ceiling;
  }

  private post(body: Uint8Array): Promise<HttpResult> {
    if (this.closed) return Promise.reject(new Error('shipper closed'));
    return new Promise<HttpResult>((resolve, reject) => {
      const abort = new AbortController();
      this.inflight = abort;
      let timedOut = false;
      let settled = false;
      const timer = setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, this.timeoutMs);
      const finish = (err: Error | undefined, result?: HttpResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.inflight === abort) this.inflight = undefined;
        if (err) reject(timedOut ? new Error(`no response within ${this.timeoutMs} ms`) : err);
        else resolve(result!);
      };
      const req = this.transport.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          signal: abort.signal,
          headers: {
            'Content-Type': 'application/x-protobuf',
            'Content-Encoding': 'gzip',
            'Content-Length': body.length,
            Authorization: `Bearer ${this.apiKey}`,
            'User-Agent': `burnwatch-agent/${AGENT_VERSION}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          res.on('data', (c: Buffer) => {
            if (kept < MAX_RESPONSE_BODY) {
              chunks.push(c);
              kept += c.length;
            }
          });
          res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', (err) => finish(err));
          res.on('close', () => finish(new Error('connection closed before the response ended')));
        },
      );
      req.on('error', (err) => finish(err));
      req.end(body);
    });
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isProtobuf(headers: http.IncomingHttpHeaders): boolean {
  return (headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/x-protobuf';
}

function isJson(headers: http.IncomingHttpHeaders): boolean {
  return /^application\/(.+\+)?json$/.test((headers['content-type'] ?? '').split(';')[0].trim().toLowerCase());
}

/**
 * The message in an error response: the gateway's `{"error":{"code","message"}}`, an OTLP
 * google.rpc.Status (protobuf, message = field 2), or the text itself, shortened.
 */
export function describeErrorBody(result: { headers: http.IncomingHttpHeaders; body: Buffer }): string {
  const { headers, body } = result;
  if (body.length === 0) return '(empty response)';
  try {
    if (isJson(headers)) {
      const j = JSON.parse(body.toString('utf8'));
      const msg = j?.error?.message ?? j?.message;
      if (typeof msg === 'string') return shorten(j?.error?.code ? `${j.error.code}: ${msg}` : msg);
    } else if (isProtobuf(headers)) {
      const r = protobuf.Reader.create(body);
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag >>> 3 === 2 && (tag & 7) === 2) return shorten(r.string());
        r.skipType(tag & 7);
      }
    }
  } catch {
    // fall through to the raw text
  }
  return shorten(body.toString('utf8'));
}

function shorten(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 300 ? `${one.slice(0, 300)}…` : one;
}

function parsePartialSuccess(result: HttpResult): { rejected: number; message: string } | undefined {
  if (result.body.length === 0) return undefined;
  try {
    if (isProtobuf(result.headers)) {
      const p = ProtobufMetricsSerializer.deserializeResponse(result.body).partialSuccess;
      return p ? { rejected: Number(p.rejectedDataPoints ?? 0), message: p.errorMessage ?? '' } : undefined;
    }
    if (isJson(result.headers)) {
      const p = JSON.parse(result.body.toString('utf8'))?.partialSuccess;
      return p ? { rejected: Number(p.rejectedDataPoints ?? 0), message: String(p.errorMessage ?? '') } : undefined;
    }
  } catch {
    // A 2xx with an unreadable body still means the batch was accepted.
  }
  return undefined;
}
