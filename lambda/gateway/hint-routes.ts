// GET /v1/hints?service=S&from=T&to=T: root-cause hints for a service over a window (times as
// /v1/query takes them), computed by lambda/hints/engine.ts over the gateway's stores.

import type { Hono } from 'hono';
import { invalidParameter } from '../errors.ts';
import { computeHints, MAX_WINDOW_MS } from '../hints/engine.ts';
import { parseTime } from '../query/time.ts';
import type { SpanStore } from '../storage/spans.ts';
import type { MetricStore } from '../storage/types.ts';
import type { TenantEnv } from './auth.ts';

export interface HintRouteDeps {
  metricStore: MetricStore;
  /** The span store when one is in use (slow-request breakdowns sharpen slow_dependency); else undefined. */
  spans: () => Promise<SpanStore> | undefined;
  now: () => number;
}

const PARAMS = ['service', 'from', 'to'] as const;

export function parseHintsParams(params: URLSearchParams, nowMs: number): { service: string; fromMs: number; toMs: number } {
  for (const name of new Set(params.keys())) {
    if (!(PARAMS as readonly string[]).includes(name)) throw invalidParameter(name, `unknown parameter (known: ${PARAMS.join(', ')})`);
    if (params.getAll(name).length > 1) throw invalidParameter(name, 'given more than once');
  }
  const service = params.get('service')?.trim();
  if (!service) throw invalidParameter('service', 'required');
  const fromMs = Number(parseTime(params.get('from') ?? '-15m', nowMs, 'from') / 1_000_000n);
  const toMs = Number(parseTime(params.get('to') ?? 'now', nowMs, 'to') / 1_000_000n);
  if (fromMs >= toMs) throw invalidParameter('from', 'must be before to');
  if (toMs - fromMs > MAX_WINDOW_MS) throw invalidParameter('from', `the window may span at most ${MAX_WINDOW_MS / 3_600_000}h`);
  return { service, fromMs, toMs };
}

export function registerHintRoutes(app: Hono<TenantEnv>, deps: HintRouteDeps): void {
  app.get('/v1/hints', async (c) => {
    const nowMs = deps.now();
    const q = parseHintsParams(new URL(c.req.url).searchParams, nowMs);
    const spanStore = await deps.spans();
    return c.json(await computeHints({ metricStore: deps.metricStore, ...(spanStore ? { spanStore } : {}) }, c.var.tenant, q.service, q.fromMs, q.toMs, nowMs));
  });
}
