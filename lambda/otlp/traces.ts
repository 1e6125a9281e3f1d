// The OTLP trace export: a request body → spans to store; a result → the OTLP response.
import { decodeOtlp, type OtlpEncoding } from './decode.ts';
import { attributes, type KeyValue } from './normalise.ts';
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from './schema.ts';
import type { SpanKind, StoredSpan } from '../storage/spans.ts';

export interface NormalisedTraces {
  spans: StoredSpan[];
  rejections: { path: string; reason: string }[];
}

const KINDS: Record<string, SpanKind> = {
  SPAN_KIND_UNSPECIFIED: 'unspecified',
  SPAN_KIND_INTERNAL: 'internal',
  SPAN_KIND_SERVER: 'server',
  SPAN_KIND_CLIENT: 'client',
  SPAN_KIND_PRODUCER: 'producer',
  SPAN_KIND_CONSUMER: 'consumer',
};
const STATUS: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

type Obj = Record<string, unknown>;
interface RawSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: string;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: KeyValue[];
  status?: { code?: string };
}

/** Decodes an ExportTraceServiceRequest; spans that cannot be stored are listed, not fatal. */
export function decodeTracesRequest(body: Uint8Array, encoding: OtlpEncoding): NormalisedTraces {
  const request = decodeOtlp(ExportTraceServiceRequest, body, encoding);
  const out: NormalisedTraces = { spans: [], rejections: [] };
  ((request.resourceSpans as Obj[] | undefined) ?? []).forEach((rs, i) => {
    const resource = attributes(((rs.resource as Obj | undefined)?.attributes as KeyValue[] | undefined) ?? []);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : '';
    ((rs.scopeSpans as Obj[] | undefined) ?? []).forEach((ss, j) => {
      ((ss.spans as RawSpan[] | undefined) ?? []).forEach((s, k) => {
        const path = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
        try {
          out.spans.push(normaliseSpan(s, service));
        } catch (err) {
          out.rejections.push({ path, reason: (err as Error).message });
        }
      });
    });
  });
  return out;
}

function normaliseSpan(s: RawSpan, service: string): StoredSpan {
  const traceId = hexId(s.traceId, 16, 'traceId');
  const spanId = hexId(s.spanId, 8, 'spanId');
  const parentSpanId = s.parentSpanId ? hexId(s.parentSpanId, 8, 'parentSpanId') : '';
  const startNs = BigInt(s.startTimeUnixNano ?? '0');
  const endNs = BigInt(s.endTimeUnixNano ?? '0');
  if (startNs <= 0n) throw new Error('startTimeUnixNano must be set');
  if (endNs < startNs) throw new Error('endTimeUnixNano must not be before startTimeUnixNano');
  return {
    traceId,
    spanId,
    parentSpanId,
    service,
    name: s.name ?? '',
    kind: KINDS[s.kind ?? ''] ?? 'unspecified',
    startNs,
    endNs,
    statusCode: STATUS[s.status?.code ?? ''] ?? 0,
    attributes: attributes(s.attributes ?? []),
  };
}

/** protobufjs gives bytes as base64 (JSON's hex ids were converted to bytes on the way in). */
function hexId(b64: string | undefined, bytes: number, field: string): string {
  const buf = Buffer.from(b64 ?? '', 'base64');
  if (buf.length !== bytes) throw new Error(`${field} must be ${bytes} bytes, got ${buf.length}`);
  if (buf.every((x) => x === 0)) throw new Error(`${field} must not be all zeros`);
  return buf.toString('hex');
}

export function tracesResponseBody(encoding: OtlpEncoding, partial?: { rejectedSpans: number; errorMessage: string }): Uint8Array<ArrayBuffer> | string {
  const message = partial ? { partialSuccess: partial } : {};
  if (encoding === 'json') return JSON.stringify(message);
  return new Uint8Array(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(message)).finish());
}
