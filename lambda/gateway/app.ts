// The gateway and query API as a plain Hono app: it knows no runtime. lambda/local/server.ts
// serves it with Node's HTTP server; a Lambda entry will hand it events the same way.

import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { routePath } from 'hono/route';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ApiError } from '../errors.ts';
import { parseQueryParams, runQuery } from '../query/engine.ts';
import { listServices } from '../query/services.ts';
import { SloEngine } from '../slo/engine.ts';
import type { LateWrite, MetricPoint, MetricStore } from '../storage/types.ts';
import { requireApiKey, type ApiKeys, type ApiKeySource, type TenantEnv } from './auth.ts';
import { DEFAULT_BODY_LIMITS, type BodyLimits } from './body.ts';
import { ingestMetrics } from './ingest.ts';
import { receiveRemoteWrite } from './remote-write.ts';
import { WriteAdmission, type AdmissionLimits } from './admission.ts';
import { ActiveSeriesLimit, type SeriesLimits } from './series-limit.ts';
import { SelfMetrics } from './self-metrics.ts';
import { registerSloRoutes } from './slo-routes.ts';
import { registerTraceRoutes } from './trace-routes.ts';
import { registerHintRoutes } from './hint-routes.ts';
import { registerDashboardRoutes } from './dashboard-routes.ts';
import { registerProbeRoutes } from './probe-routes.ts';
import type { SpanStore } from '../storage/spans.ts';

export interface GatewayDeps {
  store: MetricStore;
  /** API key → tenant, or where to get the current ones at each request (keys reloaded while running). */
  apiKeys: ApiKeys | ApiKeySource;
  limits?: Partial<BodyLimits>;
  /** Overload protection: how many writes the gateway holds before answering 429. */
  admission?: Partial<AdmissionLimits>;
  /** Per-tenant bound on active series. */
  seriesLimits?: Partial<SeriesLimits>;
  /** Milliseconds since the epoch; injectable so queries over "the last 5 minutes" can be tested exactly. */
  now?: () => number;
  selfMetrics?: SelfMetrics;
  /** Where server-side failures are reported (default: stderr). */
  log?: (message: string) => void;
  /** The SLO engine behind /v1/slos and /v1/alerts (default: one over an in-memory SLO store). */
  slo?: SloEngine;
  /** Where POST /v1/traces writes and GET /v1/slow reads (default: an in-memory DuckDB span store). */
  spanStore?: SpanStore;
}

export function createGatewayApp(deps: GatewayDeps): Hono<TenantEnv> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? ((m: string) => console.error(m));
  const selfMetrics = deps.selfMetrics ?? new SelfMetrics();
  const limits: BodyLimits = { ...DEFAULT_BODY_LIMITS, ...deps.limits };
  const admission = new WriteAdmission(deps.admission);
  const seriesLimit = new ActiveSeriesLimit(deps.seriesLimits, now);
  selfMetrics.admission = admission;
  selfMetrics.seriesLimit = seriesLimit;
  const app = new Hono<TenantEnv>();

  app.use('*', async (c, next) => {
    await next();
    selfMetrics.countRequest(routePath(c, -1), c.res.status);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Self metrics need a key too: they tell request volumes and limits, which are not public.
  const auth = requireApiKey(deps.apiKeys);
  app.get('/metrics', auth, (c) => c.body(selfMetrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));

  app.use('/v1/*', auth);
  // Late points reach SLOs: the engine marks the rollup buckets they touch for recomputation
  // (those the store cannot read yet, for when it can).
  const afterWrite = async (tenant: string, points: readonly MetricPoint[], late?: LateWrite) => (await sloEngine()).noteWrites(tenant, points, now(), late);
  app.post('/v1/metrics', (c) => ingestMetrics(c, { store: deps.store, limits, selfMetrics, log, admission, seriesLimit, afterWrite }));
  // Prometheus remote write, at the path Prometheus servers themselves use.
  app.post('/api/v1/write', auth, (c) => receiveRemoteWrite(c, { store: deps.store, limits, selfMetrics, log, admission, seriesLimit, afterWrite }));
  app.get('/v1/services', async (c) => c.json({ services: await listServices(deps.store, { tenant: c.var.tenant, nowMs: now() }) }));
  app.get('/v1/query', async (c) => {
    const query = parseQueryParams(new URL(c.req.url).searchParams, now());
    return c.json(await runQuery(deps.store, { ...query, tenant: c.var.tenant }));
  });
  let slo: Promise<SloEngine> | undefined = deps.slo && Promise.resolve(deps.slo);
  // The in-memory DuckDB defaults are imported only when used: a Lambda bundle passes its own
  // stores and must not load DuckDB's native binding.
  const sloEngine = () =>
    (slo ??= import('../slo/duckdb-store.ts')
      .then(({ DuckDbSloStore }) => DuckDbSloStore.open(':memory:'))
      .then((sloStore) => new SloEngine({ metricStore: deps.store, sloStore, log })));
  registerSloRoutes(app, sloEngine, now);
  let spans: Promise<SpanStore> | undefined = deps.spanStore && Promise.resolve(deps.spanStore);
  registerTraceRoutes(app, { spans: () => (spans ??= import('../storage/duckdb-spans.ts').then(({ DuckDbSpanStore }) => DuckDbSpanStore.open(':memory:'))), limits, admission, now, log });
  registerHintRoutes(app, { metricStore: deps.store, spans: () => spans, now });
  registerDashboardRoutes(app, { store: deps.store, now, slo: sloEngine });
  registerProbeRoutes(app, { store: deps.store, slo: sloEngine, now });

  app.notFound((c) => errorResponse(c, new ApiError(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    if (err instanceof ApiError) return errorResponse(c, err);
    if (err instanceof HTTPException) {
      return errorResponse(c, new ApiError(err.status, err.status === 413 ? 'payload_too_large' : 'invalid_parameter', err.message || 'bad request'));
    }
    log(`burnwatch gateway: ${c.req.method} ${c.req.path} failed: ${err.stack ?? err}`);
    return errorResponse(c, new ApiError(500, 'internal', 'internal error; see the gateway log'));
  });
  return app;
}

/** The one place an error becomes a response: `{"error":{"code","message"}}` with the matching status. */
function errorResponse(c: Context, err: ApiError): Response {
  const headers: Record<string, string> = {};
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  if (err.status === 401) headers['www-authenticate'] = 'Bearer';
  // A 413 goes out before the body has been read: the rest of it is still on the socket, so a
  // keep-alive client must not send its next request there.
  if (err.status === 413) headers.connection = 'close';
  return c.json({ error: { code: err.code, message: err.message } }, err.status as ContentfulStatusCode, headers);
}
