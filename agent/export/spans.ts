// Slow requests → OTLP spans: one server span per request, one client span per sub-call,
// encoded as an ExportTraceServiceRequest by the OpenTelemetry serializer (the same bytes an
// SDK exporter would send), ready for the spool.
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { ATTR, GO_ATTR } from '../../common/catalogue.ts';
import { hrTimeFromNs, AGENT_SCOPE } from './otlp.ts';
import { splitGrpcMethod } from '../collectors/go-calls.ts';
import type { SlowRequest, Subcall } from '../collectors/slow-request.ts';

/** Attributes our spans carry beyond the semantic conventions, read back by GET /v1/slow. */
export const SPAN_ATTR = {
  subcallKind: 'burnwatch.subcall.kind',
  subcallOperation: 'burnwatch.subcall.operation',
  slow: 'burnwatch.slow',
} as const;

/** The subset of the SDK's ReadableSpan the OTLP serializer reads. */
interface SerializableSpan {
  name: string;
  kind: SpanKind;
  spanContext(): SpanContext;
  parentSpanContext?: SpanContext;
  startTime: [number, number];
  endTime: [number, number];
  status: { code: SpanStatusCode };
  attributes: Attributes;
  links: [];
  events: [];
  duration: [number, number];
  ended: boolean;
  resource: Resource;
  instrumentationScope: { name: string; version?: string };
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
}

export function slowRequestSpans(req: SlowRequest, resource: Record<string, string | number>): SerializableSpan[] {
  const res = resourceFromAttributes(resource);
  const traceId = randomBytes(16).toString('hex');
  const rootContext: SpanContext = { traceId, spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED };
  const rootAttrs: Attributes = { [SPAN_ATTR.slow]: true };
  let name: string;
  if (req.kind === 'http') {
    rootAttrs[ATTR.httpMethod] = req.method || 'UNKNOWN';
    rootAttrs[ATTR.httpRoute] = req.route;
    rootAttrs[ATTR.httpStatus] = req.status;
    name = `${req.method || 'HTTP'} ${req.route}`;
  } else {
    const { service, method } = splitGrpcMethod(req.route);
    Object.assign(rootAttrs, { [GO_ATTR.rpcSystem]: 'grpc', [GO_ATTR.rpcService]: service, [GO_ATTR.rpcMethod]: method, [GO_ATTR.rpcGrpcStatus]: req.status });
    name = req.route;
  }
  if (req.droppedSubcalls) rootAttrs['burnwatch.subcalls.dropped'] = req.droppedSubcalls;
  const serverError = req.kind === 'http' ? req.status >= 500 : isGrpcServerError(req.status);
  const spans = [span(name, SpanKind.SERVER, rootContext, undefined, req.startNs, req.durationNs, serverError, rootAttrs, res)];
  for (const sc of req.subcalls) {
    const ctx: SpanContext = { traceId, spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED };
    spans.push(span(`${sc.kind} ${sc.operation}`, SpanKind.CLIENT, ctx, rootContext, req.startNs + sc.startOffsetNs, sc.durationNs, sc.error, subcallAttributes(sc), res));
  }
  return spans;
}

/** One ExportTraceServiceRequest for the given spans. */
export function encodeSpans(spans: readonly SerializableSpan[]): Uint8Array {
  // The serializer is typed on the SDK's ReadableSpan; ours carries every field it reads.
  const bytes = ProtobufTraceSerializer.serializeRequest(spans as unknown as Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0]);
  if (!bytes) throw new Error('the OTLP trace serializer produced no bytes');
  return bytes;
}

function subcallAttributes(sc: Subcall): Attributes {
  const a: Attributes = { [SPAN_ATTR.subcallKind]: sc.kind, [SPAN_ATTR.subcallOperation]: sc.operation };
  const colon = sc.peer.lastIndexOf(':');
  if (sc.peer) {
    a[GO_ATTR.serverAddress] = colon > 0 ? sc.peer.slice(0, colon) : sc.peer;
    if (colon > 0) a[GO_ATTR.serverPort] = Number(sc.peer.slice(colon + 1));
  }
  switch (sc.kind) {
    case 'http':
      a[ATTR.httpMethod] = sc.operation;
      if (sc.status) a[ATTR.httpStatus] = sc.status;
      break;
    case 'grpc': {
      const { service, method } = splitGrpcMethod(sc.operation);
      Object.assign(a, { [GO_ATTR.rpcSystem]: 'grpc', [GO_ATTR.rpcService]: service, [GO_ATTR.rpcMethod]: method, [GO_ATTR.rpcGrpcStatus]: sc.status });
      break;
    }
    case 'sql':
      Object.assign(a, { [GO_ATTR.dbSystem]: sc.dbSystem ?? 'other_sql', [GO_ATTR.dbOperation]: sc.operation });
      break;
    case 'redis':
      Object.assign(a, { [GO_ATTR.dbSystem]: 'redis', [GO_ATTR.dbOperation]: sc.operation });
      break;
  }
  return a;
}

/** The gRPC codes that are the server's fault (as the availability SLI counts them). */
function isGrpcServerError(code: number): boolean {
  return [2, 4, 12, 13, 14, 15].includes(code);
}

function span(
  name: string,
  kind: SpanKind,
  context: SpanContext,
  parent: SpanContext | undefined,
  startNs: bigint,
  durationNs: bigint,
  error: boolean,
  attributes: Attributes,
  resource: Resource,
): SerializableSpan {
  return {
    name,
    kind,
    spanContext: () => context,
    ...(parent ? { parentSpanContext: parent } : {}),
    startTime: hrTimeFromNs(startNs),
    endTime: hrTimeFromNs(startNs + durationNs),
    duration: hrTimeFromNs(durationNs),
    status: { code: error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: { name: AGENT_SCOPE.name, version: AGENT_SCOPE.version },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
