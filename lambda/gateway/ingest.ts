// POST /v1/metrics: OTLP/HTTP in, points stored, an OTLP response out — 200 only once the
// write is durable, a partial success when some points were rejected (invalid, over the
// tenant's active-series limit, or refused by storage, e.g. over Timestream's size limits), 400
// when none were usable, 429 when the gateway holds as many writes as it may (nothing of that
// request is stored; the sender retries it). Points stored but readable only later (Timestream's
// magnetic store) are a warning in the partial success (0 rejected), as OTLP allows.

import type { Context } from 'hono';
import { ApiError } from '../errors.ts';
import { CONTENT_TYPES, decodeMetricsRequest, encodingOf, metricsResponseBody, type PartialSuccess } from '../otlp/metrics.ts';
import { describeRejections } from '../otlp/normalise.ts';
import type { LateWrite, MetricPoint, MetricStore, StoreRejection, WriteResult } from '../storage/types.ts';
import type { TenantEnv } from './auth.ts';
import { contentEncodingOf, decodeBody, readBody, type BodyLimits } from './body.ts';
import type { WriteAdmission } from './admission.ts';
import type { SelfMetrics } from './self-metrics.ts';
import type { ActiveSeriesLimit, SeriesAdmission } from './series-limit.ts';

export interface IngestDeps {
  store: MetricStore;
  limits: BodyLimits;
  selfMetrics: SelfMetrics;
  log: (message: string) => void;
  admission: WriteAdmission;
  seriesLimit: ActiveSeriesLimit;
  /**
   * After a durable write (the SLO engine marks late points' buckets dirty; `late`: those stored
   * but not readable yet, by index into `points`); failing is a 503 like the write.
   */
  afterWrite?: (tenant: string, points: readonly MetricPoint[], late?: LateWrite) => Promise<void>;
}

/** Seconds a sender should wait when storage fails (OTLP senders retry 503 with Retry-After). */
const STORAGE_RETRY_AFTER_S = 5;

export async function ingestMetrics(c: Context<TenantEnv>, deps: IngestDeps): Promise<Response> {
  const encoding = encodingOf(c.req.header('content-type'));
  if (!encoding) {
    throw new ApiError(415, 'unsupported_media_type', `Content-Type "${c.req.header('content-type') ?? ''}" is not OTLP; send application/x-protobuf or application/json`);
  }
  const contentEncoding = contentEncodingOf(c.req.header('content-encoding'));
  deps.admission.checkRoom();
  const raw = await readBody(c.req.raw, deps.limits);
  const body = await decodeBody(raw, contentEncoding, deps.limits);
  const batch = decodeMetricsRequest(body, encoding);

  const rejected = batch.rejections.reduce((n, r) => n + r.points, 0);
  deps.selfMetrics.pointsRejected += rejected;
  if (rejected > 0 && batch.points.length === 0) {
    throw new ApiError(400, 'invalid_otlp', `no data point could be accepted: ${describeRejections(batch.rejections)}`);
  }
  const { admitted, written } = await storePoints(c.var.tenant, batch.points, deps);
  const refused = written.rejected ?? [];
  const messages = [
    ...(rejected > 0 ? [describeRejections(batch.rejections)] : []),
    ...(admitted.message ? [admitted.message] : []),
    ...(refused.length > 0 ? [`${refused.length} point(s) refused by storage, ${describeRefusals(refused)}`] : []),
    ...(written.late ? [`${written.late.indices.length} point(s) stored but readable only by ${new Date(written.late.queryableByMs).toISOString()} (SLOs count them then): ${written.late.reason}`] : []),
  ];
  const notStored = rejected + admitted.refusedPoints + refused.length;
  const partial: PartialSuccess | undefined = messages.length > 0 ? { rejectedDataPoints: notStored, errorMessage: messages.join('; ') } : undefined;
  return c.body(metricsResponseBody(encoding, partial), 200, { 'content-type': CONTENT_TYPES[encoding] });
}

/**
 * Points through the tenant's series limit into the store, then `afterWrite`; counted in the self
 * metrics. Shared by every ingest route (OTLP, Prometheus remote write). A storage failure is a 503
 * with Retry-After; the admission's 429 passes through.
 */
export async function storePoints(tenant: string, points: readonly MetricPoint[], deps: IngestDeps): Promise<{ admitted: SeriesAdmission; written: WriteResult }> {
  const admitted = deps.seriesLimit.admit(tenant, points);
  let written: WriteResult;
  try {
    written = admitted.accepted.length === 0 ? { inserted: 0, duplicates: 0 } : await deps.admission.run(() => deps.store.write(tenant, admitted.accepted));
    if (admitted.accepted.length > 0) await deps.afterWrite?.(tenant, admitted.accepted, written.late);
  } catch (err) {
    if (err instanceof ApiError) throw err; // 429 from admission: not a storage failure
    deps.log(`burnwatch gateway: storage write failed: ${(err as Error).stack ?? err}`);
    throw new ApiError(503, 'storage_unavailable', 'storage is unavailable; retry later', { retryAfter: STORAGE_RETRY_AFTER_S, cause: err });
  }
  deps.selfMetrics.pointsAccepted += written.inserted;
  deps.selfMetrics.pointsDuplicate += written.duplicates;
  // Points the store refused for good (e.g. older than Timestream's retention) are reported like
  // decoding rejections: a retry could not store them either.
  deps.selfMetrics.pointsRejected += (written.rejected ?? []).length;
  return { admitted, written };
}

/** The first reason, then each other distinct one once (a few at most), so every field over a limit is named. */
export function describeRefusals(refused: readonly StoreRejection[]): string {
  const others = [...new Set(refused.map((r) => r.reason))].slice(1);
  const shown = others.slice(0, 3).join('; ');
  return `first: ${refused[0].reason}${others.length === 0 ? '' : `; also: ${shown}${others.length > 3 ? `; and ${others.length - 3} other reason(s)` : ''}`}`;
}
