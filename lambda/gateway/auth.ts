// API keys → tenants. `Authorization: Bearer <key>`; anything else is a 401 that says what to send.
//
// Keys are compared in constant time: both sides are hashed with SHA-256 (equal lengths whatever
// was sent) and compared with timingSafeEqual against every configured key, so neither the time
// to answer nor a Map lookup tells an attacker how much of a guess was right.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { ApiError } from '../errors.ts';

export type ApiKeys = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** Keys that can change while the gateway runs (the Lambda gateway reloads its secret on a TTL): asked at every request. */
export type ApiKeySource = () => ApiKeys | Promise<ApiKeys>;

export type TenantEnv = { Variables: { tenant: string } };

/** Shortest key accepted where keys are configured (the generated ones have 35 characters). */
export const MIN_API_KEY_LENGTH = 16;

/** Why `key` cannot be an API key (too short, spaces, …), naming where it came from; undefined when it can. */
export function apiKeyProblem(key: string, source: string): string | undefined {
  if (key.length < MIN_API_KEY_LENGTH) {
    return `the API key from ${source} has ${key.length} characters; use at least ${MIN_API_KEY_LENGTH} (e.g. the key 'burnwatch up' generates, or: openssl rand -base64 24)`;
  }
  if (/\s/.test(key)) return `the API key from ${source} contains whitespace; a key is one token without spaces`;
  return undefined;
}

const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/** The tenant whose key matches, checking every configured key in constant time. */
export function tenantForKey(keys: ApiKeys, key: string): string | undefined {
  return keyMatcher(keys)(key);
}

function keyMatcher(keys: ApiKeys): (key: string) => string | undefined {
  const entries = keys instanceof Map ? [...keys.entries()] : Object.entries(keys as Readonly<Record<string, string>>);
  const hashed = entries.map(([k, tenant]) => ({ digest: digest(k), tenant }));
  return (key) => {
    const presented = digest(key);
    let tenant: string | undefined;
    // No early exit: the time taken does not depend on which key (if any) matched.
    for (const h of hashed) if (timingSafeEqual(h.digest, presented) && tenant === undefined) tenant = h.tenant;
    return tenant;
  };
}

export function requireApiKey(keys: ApiKeys | ApiKeySource) {
  // Digests are computed once per set of keys: a source hands back the same object until it reloads.
  let last: { keys: ApiKeys; match: (key: string) => string | undefined } | undefined;
  const matcherOf = (current: ApiKeys) => (last?.keys === current ? last : (last = { keys: current, match: keyMatcher(current) })).match;
  return createMiddleware<TenantEnv>(async (c, next) => {
    const header = c.req.header('authorization');
    const bearer = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!bearer) throw new ApiError(401, 'unauthorized', 'send an API key as "Authorization: Bearer <key>"');
    const tenant = matcherOf(typeof keys === 'function' ? await keys() : keys)(bearer[1]);
    if (tenant === undefined) throw new ApiError(401, 'unauthorized', 'the API key is not valid');
    c.set('tenant', tenant);
    await next();
  });
}
