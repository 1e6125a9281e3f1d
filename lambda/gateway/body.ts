// Request bodies under limits: the bytes on the wire (checked against Content-Length before
// reading, and again while reading, since chunked bodies declare nothing), then the bytes after
// decompression. Hono does not decompress request bodies; gunzip runs here with
// maxOutputLength, so a gzip bomb stops at the limit instead of filling memory.

import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { ApiError } from '../errors.ts';

const gunzipAsync = promisify(gunzip);

export interface BodyLimits {
  /** Largest body accepted as sent (compressed or not). */
  maxBodyBytes: number;
  /** Largest body accepted after decompression. */
  maxDecompressedBytes: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxDecompressedBytes: 32 * 1024 * 1024,
};

export type ContentEncoding = 'identity' | 'gzip';

function tooLarge(what: string, limit: number): ApiError {
  return new ApiError(413, 'payload_too_large', `${what} is larger than the limit of ${limit} bytes`);
}

/** The Content-Encoding the body arrives in; 400 for anything but gzip and identity. */
export function contentEncodingOf(header: string | undefined): ContentEncoding {
  const value = (header ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  throw new ApiError(400, 'unsupported_encoding', `Content-Encoding "${header}" is not supported; send gzip or identity`);
}

export async function readBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limits.maxBodyBytes) throw tooLarge('the request body', limits.maxBodyBytes);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (err) {
      // The connection closed before the body ended: the client gave up, or the server's
      // request timeout cut a slow sender off. The client's doing, not a server failure.
      throw new ApiError(400, 'invalid_parameter', `body: the request body was cut off after ${total} bytes (${(err as Error).message}); nothing from it was stored`);
    }
    const { done, value } = chunk;
    if (done) break;
    total += value.byteLength;
    if (total > limits.maxBodyBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge('the request body', limits.maxBodyBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

export async function decodeBody(body: Uint8Array, encoding: ContentEncoding, limits: BodyLimits): Promise<Uint8Array> {
  if (encoding === 'identity') {
    if (body.byteLength > limits.maxDecompressedBytes) throw tooLarge('the request body', limits.maxDecompressedBytes);
    return body;
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: limits.maxDecompressedBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw tooLarge('the decompressed request body', limits.maxDecompressedBytes);
    }
    throw new ApiError(400, 'invalid_gzip', `Content-Encoding is gzip but the body does not gunzip: ${(err as Error).message}`);
  }
}
