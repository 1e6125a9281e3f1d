// What CLI commands that read the API share: --endpoint (default the local stack) and the key
// from $BURNWATCH_API_KEY, else the local stack's ~/.burnwatch/api-key.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8787';

/** The API could not be asked (network, auth, unexpected answer): exit code 2, not a verdict. */
export class ApiUnavailable extends Error {}

export function apiKey(env = process.env): string | undefined {
  const key = env.BURNWATCH_API_KEY?.trim();
  if (key) return key;
  try {
    return fs.readFileSync(path.join(os.homedir(), '.burnwatch', 'api-key'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function getApi<T>(endpoint: string, pathAndQuery: string): Promise<T> {
  return callApi<T>(endpoint, pathAndQuery);
}

/** Any API call; a JSON `body` is sent as such. A 204 answers undefined. */
export async function callApi<T>(endpoint: string, pathAndQuery: string, opts: { method?: string; body?: unknown } = {}): Promise<T> {
  const url = `${endpoint.replace(/\/+$/, '')}${pathAndQuery}`;
  const key = apiKey();
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? 'GET',
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new ApiUnavailable(`cannot reach ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      /* not the API's error shape */
    }
    throw new ApiUnavailable(`${url}: HTTP ${res.status}: ${message}${res.status === 401 ? ' (set BURNWATCH_API_KEY)' : ''}`);
  }
  return (res.status === 204 ? undefined : JSON.parse(text)) as T;
}
