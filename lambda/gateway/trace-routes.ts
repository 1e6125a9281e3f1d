// POST /v1/traces (OTLP/HTTP spans in, stored once each) and GET /v1/slow (slow requests
// with their sub-call breakdown and dominant sub-call).
import type { Context, Hono } from 'hono';
import { ApiError } from '../errors.ts';
import { CONTENT_TYPES, encodingOf } from '../otlp/metrics.ts';
import { describeRejections } from '../otlp/normalise.ts';
import { decodeTracesRequest, tracesResponseBody } from '../otlp/traces.ts';
import { parseSlowParams, slowRequests } from '../query/slow.ts';
import type { SpanStore, SpanWriteResult } from '../storage/spans.ts';
import type { WriteAdmission } from './admission.ts';
import type { TenantEnv } from './auth.ts';
import { contentEncodingOf, decodeBody, readBody, type BodyLimits } from './body.ts';

export interface TraceRouteDeps {
  spans: () => Promise<SpanStore>;
  limits: BodyLimits;
  /** The same bound on pending writes as metrics: spans and metrics share the store's capacity. */
  admission: WriteAdmission;
  now: () => number;
  log: (message: string) => void;
}

const STORAGE_RETRY_AFTER_S = 5;

export function registerTraceRoutes(app: Hono<TenantEnv>, deps: TraceRouteDeps): void {
  app.post('/v1/traces', (c) => ingestTraces(c, deps));
  app.get('/v1/slow', async (c) => {
    const q = parseSlowParams(new URL(c.req.url).searchParams, deps.now());
    return c.json(await slowRequests(await deps.spans(), { ...q, tenant: c.var.tenant }));
  });
}

async function ingestTraces(c: Context<TenantEnv>, deps: TraceRouteDeps): Promise<Response> {
  const encoding = encodingOf(c.req.header('content-type'));
  if (!encoding) {
    throw new ApiError(415, 'unsupported_media_type', `Content-Type "${c.req.header('content-type') ?? ''}" is not OTLP; send application/x-protobuf or application/json`);
  }
  deps.admission.checkRoom();
  const raw = await readBody(c.req.raw, deps.limits);
  const body = await decodeBody(raw, contentEncodingOf(c.req.header('content-encoding')), deps.limits);
  const batch = decodeTracesRequest(body, encoding);
  const rejected = batch.rejections.length;
  if (rejected > 0 && batch.spans.length === 0) {
    throw new ApiError(400, 'invalid_otlp', `no span could be accepted: ${describeRejections(batch.rejections.map((r) => ({ ...r, points: 1 })))}`);
  }
  let refused: SpanWriteResult['refused'];
  try {
    const store = await deps.spans();
    ({ refused } = await deps.admission.run(() => store.write(c.var.tenant, batch.spans)));
  } catch (err) {
    if (err instanceof ApiError) throw err; // 429 from admission: not a storage failure
    deps.log(`burnwatch gateway: span write failed: ${(err as Error).stack ?? err}`);
    throw new ApiError(503, 'storage_unavailable', 'storage is unavailable; retry later', { retryAfter: STORAGE_RETRY_AFTER_S, cause: err });
  }
  // Spans the store refuses for good are reported like malformed ones: a retry could not store them either.
  const messages = [
    ...(rejected > 0 ? [describeRejections(batch.rejections.map((r) => ({ ...r, points: 1 })))] : []),
    ...(refused?.length ? [`${refused.length} span(s) refused by storage, first: ${refused[0].reason}`] : []),
  ];
  const partial = messages.length > 0 ? { rejectedSpans: rejected + (refused?.length ?? 0), errorMessage: messages.join('; ') } : undefined;
  return c.body(tracesResponseBody(encoding, partial), 200, { 'content-type': CONTENT_TYPES[encoding] });
}
