// The dashboard (GET / and its built assets, no key: the page signs in itself) and the reads
// only the dashboard needs: GET /v1/graph (service map), /v1/heatmap (latency heatmap) and
// /v1/processes (host view). The /v1 routes sit behind the gateway's API-key middleware.

import type { Hono } from 'hono';
import { dashboardAsset, dashboardBuilt } from '../dashboard/assets.ts';
import { ApiError, invalidParameter } from '../errors.ts';
import { serviceGraph } from '../query/graph.ts';
import { latencyHeatmap } from '../query/heatmap.ts';
import { processSignals } from '../query/processes.ts';
import { parseStep, parseTime } from '../query/time.ts';
import type { SloEngine } from '../slo/engine.ts';
import type { MetricStore } from '../storage/types.ts';
import type { TenantEnv } from './auth.ts';

export interface DashboardRouteDeps {
  store: MetricStore;
  now: () => number;
  slo: () => Promise<SloEngine>;
}

/** Steps a burn-rate series may have (the page asks for a few hundred). */
export const MAX_SERIES_STEPS = 5_000;
/** A 90-day window plus its longest alert window. */
const MAX_SERIES_RANGE_MS = 100 * 86_400_000;

/** The longest range the graph and host view read raw points for (they aggregate every point). */
export const MAX_RANGE_MS = 7 * 86_400_000;
/** Columns a heatmap may have. */
export const MAX_HEATMAP_COLUMNS = 2_000;

// The page may only talk to this origin; uPlot sizes its canvases with inline styles.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function parseParams(params: URLSearchParams, known: readonly string[], nowMs: number, maxMs = MAX_RANGE_MS): { get: (name: string) => string | undefined; fromNs: bigint; toNs: bigint } {
  for (const name of new Set(params.keys())) {
    if (!known.includes(name)) throw invalidParameter(name, `unknown parameter (known: ${known.join(', ')})`);
    if (params.getAll(name).length > 1) throw invalidParameter(name, 'given more than once');
  }
  const fromNs = parseTime(params.get('from') ?? '-1h', nowMs, 'from');
  const toNs = parseTime(params.get('to') ?? 'now', nowMs, 'to');
  if (fromNs >= toNs) throw invalidParameter('from', 'must be before to');
  if (toNs - fromNs > BigInt(maxMs) * 1_000_000n) throw invalidParameter('from', `the range may span at most ${maxMs / 86_400_000}d`);
  return { get: (name) => params.get(name)?.trim() || undefined, fromNs, toNs };
}

export function registerDashboardRoutes(app: Hono<TenantEnv>, deps: DashboardRouteDeps): void {
  const serve = async (name: string, acceptEncoding: string | undefined) => {
    const asset = await dashboardAsset(name);
    if (!asset) {
      throw new ApiError(404, 'not_found', (await dashboardBuilt()) ? `no dashboard asset ${name}` : 'the dashboard is not built: run `npm run build` (scripts/setup builds it)');
    }
    const gzip = /\bgzip\b/.test(acceptEncoding ?? '');
    const headers: Record<string, string> = { 'content-type': asset.type, 'cache-control': 'no-cache', etag: asset.etag, vary: 'accept-encoding', ...PAGE_HEADERS };
    if (gzip) headers['content-encoding'] = 'gzip';
    return new Response(gzip ? asset.gzip : asset.body, { status: 200, headers });
  };
  app.get('/', (c) => serve('index.html', c.req.header('accept-encoding')));
  app.get('/assets/:name', (c) => serve(c.req.param('name'), c.req.header('accept-encoding')));

  app.get('/v1/graph', async (c) => {
    const q = parseParams(new URL(c.req.url).searchParams, ['from', 'to'], deps.now());
    return c.json(await serviceGraph(deps.store, { tenant: c.var.tenant, fromNs: q.fromNs, toNs: q.toNs }));
  });
  app.get('/v1/processes', async (c) => {
    const q = parseParams(new URL(c.req.url).searchParams, ['from', 'to', 'service'], deps.now());
    const service = q.get('service');
    return c.json({ processes: await processSignals(deps.store, { tenant: c.var.tenant, fromNs: q.fromNs, toNs: q.toNs, ...(service ? { service } : {}) }) });
  });
  // Per-step good/total of one SLO: the SLO page turns it into burn rates over each alert window.
  app.get('/v1/slos/:id/series', async (c) => {
    const q = parseParams(new URL(c.req.url).searchParams, ['from', 'to', 'step'], deps.now(), MAX_SERIES_RANGE_MS);
    const engine = await deps.slo();
    const stepNs = parseStep(q.get('step') ?? '1m', 'step');
    if ((q.toNs - q.fromNs) / stepNs > BigInt(MAX_SERIES_STEPS)) throw invalidParameter('step', `gives more than ${MAX_SERIES_STEPS} steps over the range (use a larger step)`);
    const ms = (ns: bigint) => Number(ns / 1_000_000n);
    return c.json(await engine.series(c.var.tenant, c.req.param('id'), ms(q.fromNs), ms(q.toNs), ms(stepNs)));
  });
  app.get('/v1/heatmap', async (c) => {
    // Columns are bounded, so the heatmap may span an SLO's whole window.
    const q = parseParams(new URL(c.req.url).searchParams, ['service', 'metric', 'from', 'to', 'step'], deps.now(), MAX_SERIES_RANGE_MS);
    const service = q.get('service');
    if (!service) throw invalidParameter('service', 'required');
    const stepNs = parseStep(q.get('step') ?? '1m', 'step');
    const columns = (q.toNs - (q.fromNs / stepNs) * stepNs + stepNs - 1n) / stepNs;
    if (columns > BigInt(MAX_HEATMAP_COLUMNS)) throw invalidParameter('step', `gives ${columns} columns over the range; at most ${MAX_HEATMAP_COLUMNS} (use a larger step)`);
    const metric = q.get('metric');
    return c.json(await latencyHeatmap(deps.store, { tenant: c.var.tenant, service, fromNs: q.fromNs, toNs: q.toNs, stepNs, ...(metric ? { metric } : {}) }));
  });
}
