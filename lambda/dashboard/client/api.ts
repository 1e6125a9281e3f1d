// Every API call of the dashboard: the key from session storage as a Bearer token, errors as
// the gateway words them ({"error":{"code","message"}}).

const KEY = 'burnwatch.apiKey';

export class ApiCallError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function rememberKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}

export async function api<T>(path: string, params: Record<string, string | number | undefined> = {}, key = storedKey(), send?: { method: string; body: unknown }): Promise<T> {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v));
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (send) headers['content-type'] = 'application/json';
  const res = await fetch(url, send ? { method: send.method, headers, body: JSON.stringify(send.body) } : { headers });
  const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!res.ok) throw new ApiCallError(res.status, body?.error?.code ?? 'http_error', body?.error?.message ?? `HTTP ${res.status}`);
  return body as T;
}
