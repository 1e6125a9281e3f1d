// Errors the backend reports to its callers: a value with an HTTP status and a stable code,
// thrown anywhere (decoders, query parsing, storage) and turned into the
// `{"error":{"code","message"}}` body in one place (lambda/gateway/app.ts). Modules that throw
// these know nothing of HTTP frameworks, so the CLI and Lambda entries can call them directly.

export type ErrorCode =
  | 'unauthorized'
  | 'unsupported_media_type'
  | 'unsupported_encoding'
  | 'invalid_gzip'
  | 'payload_too_large'
  | 'invalid_protobuf'
  | 'invalid_json'
  | 'invalid_otlp'
  | 'invalid_snappy'
  | 'invalid_remote_write'
  | 'invalid_parameter'
  | 'not_found'
  | 'storage_unavailable'
  | 'overloaded'
  | 'internal';

export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (429/503). */
  readonly retryAfter?: number;

  constructor(status: number, code: ErrorCode, message: string, options?: { retryAfter?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }
}

/** A query parameter that is missing or wrong: names the parameter and why. */
export function invalidParameter(name: string, reason: string): ApiError {
  return new ApiError(400, 'invalid_parameter', `${name}: ${reason}`);
}
