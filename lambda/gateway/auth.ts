// API keys → tenants. `Authorization: Bearer <key>`; anything else is a 401 that says what to send.

import { createMiddleware } from 'hono/factory';
import { ApiError } from '../errors.ts';

export type ApiKeys = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export type TenantEnv = { Variables: { tenant: string } };

export function tenantForKey(keys: ApiKeys, key: string): string | undefined {
  if (keys instanceof Map) return keys.get(key);
  const record = keys as Readonly<Record<string, string>>;
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function requireApiKey(keys: ApiKeys) {
  return createMiddleware<TenantEnv>(async (c, next) => {
    const header = c.req.header('authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new ApiError(401, 'unauthorized', 'send an API key as "Authorization: Bearer <key>"');
    const tenant = tenantForKey(keys, match[1]);
    if (tenant === undefined) throw new ApiError(401, 'unauthorized', 'the API key is not valid');
    c.set('tenant', tenant);
    await next();
  });
}
