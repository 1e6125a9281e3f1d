// The OTLP metrics export, both ways: a request body → storage points; a result → the response
// body OTLP/HTTP requires (same encoding as the request).

import { decodeOtlp, type OtlpEncoding } from './decode.ts';
import { normaliseMetricsRequest, type NormalisedMetrics } from './normalise.ts';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from './schema.ts';

export type { OtlpEncoding } from './decode.ts';

export const CONTENT_TYPES: Readonly<Record<OtlpEncoding, string>> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** The encoding a Content-Type names (parameters such as `; charset=utf-8` ignored), if OTLP has one. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  return undefined;
}

/** Decodes and checks an ExportMetricsServiceRequest; throws ApiError 400 when it cannot be read at all. */
export function decodeMetricsRequest(body: Uint8Array, encoding: OtlpEncoding): NormalisedMetrics {
  return normaliseMetricsRequest(decodeOtlp(ExportMetricsServiceRequest, body, encoding));
}

export interface PartialSuccess {
  rejectedDataPoints: number;
  errorMessage: string;
}

/** ExportMetricsServiceResponse: partial_success left unset on full success, as the spec requires. */
export function metricsResponseBody(encoding: OtlpEncoding, partial?: PartialSuccess): Uint8Array<ArrayBuffer> | string {
  const message = partial ? { partialSuccess: partial } : {};
  if (encoding === 'json') return JSON.stringify(message);
  // A copy typed on a plain ArrayBuffer, which is what Response bodies take.
  return new Uint8Array(ExportMetricsServiceResponse.encode(ExportMetricsServiceResponse.fromObject(message)).finish());
}
