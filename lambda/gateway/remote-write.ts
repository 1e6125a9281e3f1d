// POST /api/v1/write: Prometheus remote write 1.0 in (snappy-compressed prometheus.WriteRequest),
// so an existing Prometheus feeds burnwatch's SLOs and hints. Same API keys, limits, overload
// protection, series limit and store as POST /v1/metrics (ingest.ts's storePoints).
//
// Remote write has no partial success: 2xx means all taken, 5xx and 429 are retried, other 4xx
// make the sender drop the request. So series that cannot be taken (see lambda/remote-write) do
// not hold back the rest: the good points are stored, then the answer is a 400 naming what was
// refused and why — it lands in Prometheus's log, and a resend could not fix it anyway.

import type { Context } from 'hono';
import { ApiError } from '../errors.ts';
import { decodeRemoteWrite, type SeriesProblem } from '../remote-write/decode.ts';
import { remoteWritePoints } from '../remote-write/points.ts';
import type { TenantEnv } from './auth.ts';
import { readBody } from './body.ts';
import { describeRefusals, storePoints, type IngestDeps } from './ingest.ts';

export async function receiveRemoteWrite(c: Context<TenantEnv>, deps: IngestDeps): Promise<Response> {
  const contentType = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (contentType !== 'application/x-protobuf') {
    throw new ApiError(415, 'unsupported_media_type', `Content-Type "${c.req.header('content-type') ?? ''}" is not remote write; send application/x-protobuf (a snappy-compressed prometheus.WriteRequest)`);
  }
  // Remote write 2.0 announces itself in the Content-Type's proto parameter.
  const proto = /proto=([^;\s]+)/i.exec(c.req.header('content-type') ?? '')?.[1];
  if (proto !== undefined && proto !== 'prometheus.WriteRequest') {
    throw new ApiError(415, 'unsupported_media_type', `remote write message ${proto} is not supported; send remote write 1.0 (prometheus.WriteRequest)`);
  }
  const encoding = (c.req.header('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== 'snappy') {
    throw new ApiError(415, 'unsupported_encoding', `Content-Encoding "${c.req.header('content-encoding') ?? ''}" is not supported here; remote write bodies are snappy-compressed (Content-Encoding: snappy)`);
  }
  deps.admission.checkRoom();
  const decoded = decodeRemoteWrite(await readBody(c.req.raw, deps.limits), deps.limits);
  const mapped = remoteWritePoints(decoded.series);
  const problems: SeriesProblem[] = [...decoded.problems, ...mapped.problems];
  const refusedPoints = problems.reduce((n, p) => n + p.points, 0);
  deps.selfMetrics.pointsRejected += refusedPoints;
  if (mapped.points.length === 0 && problems.length > 0) {
    throw new ApiError(400, 'invalid_remote_write', `nothing could be taken: ${describeProblems(problems)}`);
  }
  const { admitted, written } = mapped.points.length === 0 ? { admitted: undefined, written: undefined } : await storePoints(c.var.tenant, mapped.points, deps);
  const refused = written?.rejected ?? [];
  const messages = [
    ...(problems.length > 0 ? [`${refusedPoints} sample(s) refused: ${describeProblems(problems)}`] : []),
    ...(admitted?.message ? [admitted.message] : []),
    ...(refused.length > 0 ? [`${refused.length} point(s) refused by storage, ${describeRefusals(refused)}`] : []),
  ];
  if (messages.length === 0) return c.body(null, 204);
  const stored = (written?.inserted ?? 0) + (written?.duplicates ?? 0);
  throw new ApiError(400, 'invalid_remote_write', `${stored} point(s) stored; ${messages.join('; ')}`);
}

/** The first few problems, each naming its series. */
function describeProblems(problems: readonly SeriesProblem[], limit = 5): string {
  const shown = problems.slice(0, limit).map((p) => `${p.series}: ${p.reason}`);
  return `${shown.join('; ')}${problems.length > limit ? `; and ${problems.length - limit} more series` : ''}`;
}
