// GET /v1/slow: the slow requests of a service with their sub-calls, and the verdict of the
// seed rule of the slow-dependency hint — a sub-call that took > 200 ms and > 60% of the
// request time dominates the request.
import { invalidParameter } from '../errors.ts';
import type { SpanStore, StoredSpan } from '../storage/spans.ts';
import type { AttributeValue } from '../storage/types.ts';
import { parseTime } from './time.ts';

export const DOMINANT_MIN_SECONDS = 0.2;
export const DOMINANT_MIN_SHARE = 0.6;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

export type SubcallKind = 'http' | 'grpc' | 'sql' | 'redis';

export interface SlowSubcall {
  kind: SubcallKind;
  peer: string;
  operation: string;
  start_offset: number;
  duration: number;
  error: boolean;
}

export interface SlowRequestView {
  trace_id: string;
  /** Unix seconds. */
  start: number;
  route: string;
  status: number | null;
  duration: number;
  subcalls: SlowSubcall[];
  dominant: { kind: SubcallKind; peer: string; operation: string; duration: number; share: number } | null;
}

export interface SlowQuery {
  tenant: string;
  service: string;
  fromNs: bigint;
  toNs: bigint;
  limit: number;
}

export function parseSlowParams(params: URLSearchParams, nowMs: number): Omit<SlowQuery, 'tenant'> {
  for (const key of params.keys()) {
    if (!['service', 'from', 'to', 'limit'].includes(key)) throw invalidParameter(key, 'unknown parameter (known: service, from, to, limit)');
  }
  const service = params.get('service');
  if (!service) throw invalidParameter('service', 'is required');
  const fromNs = parseTime(params.get('from') ?? '-1h', nowMs, 'from');
  const toNs = parseTime(params.get('to') ?? 'now', nowMs, 'to');
  if (fromNs >= toNs) throw invalidParameter('from', 'must be before to');
  const limitText = params.get('limit');
  const limit = limitText === null ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw invalidParameter('limit', `must be an integer in 1..${MAX_LIMIT}`);
  return { service, fromNs, toNs, limit };
}

export async function slowRequests(store: SpanStore, q: SlowQuery): Promise<{ requests: SlowRequestView[] }> {
  const traces = await store.fetchTraces(q);
  return { requests: traces.map(({ root, spans }) => view(root, spans)) };
}

function view(root: StoredSpan, spans: StoredSpan[]): SlowRequestView {
  const duration = seconds(root.endNs - root.startNs);
  const subcalls: SlowSubcall[] = [];
  for (const s of spans) {
    if (s === root || s.kind !== 'client') continue;
    const kind = subcallKind(s.attributes);
    if (!kind) continue;
    subcalls.push({
      kind,
      peer: peerOf(s.attributes),
      operation: str(s.attributes['burnwatch.subcall.operation']) ?? operationOf(kind, s),
      start_offset: seconds(s.startNs - root.startNs),
      duration: seconds(s.endNs - s.startNs),
      error: s.statusCode === 2,
    });
  }
  subcalls.sort((a, b) => a.start_offset - b.start_offset);
  return {
    trace_id: root.traceId,
    start: Number(root.startNs / 1000n) / 1e6,
    route: str(root.attributes['http.route']) ?? grpcRoute(root.attributes) ?? root.name,
    status: num(root.attributes['http.response.status_code']) ?? num(root.attributes['rpc.grpc.status_code']) ?? null,
    duration,
    subcalls,
    dominant: dominantOf(subcalls, duration),
  };
}

/** The seed rule: the longest sub-call over both the absolute and the relative bound, if any. */
export function dominantOf(subcalls: readonly SlowSubcall[], requestSeconds: number): SlowRequestView['dominant'] {
  let best: SlowSubcall | undefined;
  for (const s of subcalls) {
    if (s.duration > DOMINANT_MIN_SECONDS && requestSeconds > 0 && s.duration / requestSeconds > DOMINANT_MIN_SHARE) {
      if (!best || s.duration > best.duration) best = s;
    }
  }
  if (!best) return null;
  return { kind: best.kind, peer: best.peer, operation: best.operation, duration: best.duration, share: Math.min(1, best.duration / requestSeconds) };
}

/** Our agent names the kind; spans from other senders are classified by their semantic conventions. */
function subcallKind(a: Record<string, AttributeValue>): SubcallKind | undefined {
  const k = str(a['burnwatch.subcall.kind']);
  if (k === 'http' || k === 'grpc' || k === 'sql' || k === 'redis') return k;
  const db = str(a['db.system']) ?? str(a['db.system.name']);
  if (db) return db === 'redis' ? 'redis' : 'sql';
  if (str(a['rpc.system']) === 'grpc') return 'grpc';
  if (str(a['http.request.method'])) return 'http';
  return undefined;
}

function operationOf(kind: SubcallKind, s: StoredSpan): string {
  const a = s.attributes;
  if (kind === 'sql' || kind === 'redis') return str(a['db.operation.name']) ?? s.name;
  if (kind === 'grpc') return grpcRoute(a) ?? s.name;
  return str(a['http.request.method']) ?? s.name;
}

function grpcRoute(a: Record<string, AttributeValue>): string | undefined {
  const service = str(a['rpc.service']);
  const method = str(a['rpc.method']);
  return service !== undefined && method !== undefined ? `/${service}/${method}` : undefined;
}

function peerOf(a: Record<string, AttributeValue>): string {
  const host = str(a['server.address']);
  if (!host) return '';
  const port = num(a['server.port']);
  return port ? `${host}:${port}` : host;
}

function seconds(ns: bigint): number {
  return Number(ns) / 1e9;
}

function str(v: AttributeValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: AttributeValue | undefined): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
}
