// What a page gets: where it is, the time range, and how to move elsewhere.

import type { Route } from './route.ts';

export interface PageContext {
  route: Route;
  range: string;
  /** The range as unix seconds, fixed for one render. */
  fromS: number;
  toS: number;
  /** Shared across renders: the SLO list's sparklines and such stay fetched between refreshes. */
  cache: Map<string, { at: number; value: unknown }>;
}

export async function cached<T>(ctx: PageContext, key: string, maxAgeMs: number, load: () => Promise<T>): Promise<T> {
  const hit = ctx.cache.get(key);
  if (hit && Date.now() - hit.at < maxAgeMs) return hit.value as T;
  const value = await load();
  ctx.cache.set(key, { at: Date.now(), value });
  return value;
}
