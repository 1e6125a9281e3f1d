// Times in query strings: RFC 3339 (`2026-11-23T13:00:00Z`), relative to now (`now`, `-15m`,
// `now-2h`), or unix seconds (`1795440000`, as the API's own output gives them).

import { parseDuration } from '../../common/duration.ts';
import { invalidParameter } from '../errors.ts';

const NS_PER_MS = 1_000_000n;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const UNIX_SECONDS = /^\d+(\.\d+)?([eE][+-]?\d+)?$/;
/** Stored times are int64 nanoseconds: the last one is in April 2262. */
const MAX_NS = (1n << 63n) - 1n;

/** Nanoseconds since the epoch for a time parameter; throws a 400 naming `param` when malformed. */
export function parseTime(text: string, nowMs: number, param: string): bigint {
  const s = text.trim();
  if (s === 'now') return BigInt(Math.round(nowMs)) * NS_PER_MS;
  const relative = /^(?:now)?-(.+)$/.exec(s);
  if (relative) {
    let ms: number;
    try {
      ms = parseDuration(relative[1]);
    } catch (err) {
      throw invalidParameter(param, (err as Error).message);
    }
    if (!Number.isFinite(ms)) throw invalidParameter(param, `"${text}" reaches further back than any time`);
    return BigInt(Math.round(nowMs - ms)) * NS_PER_MS;
  }
  if (UNIX_SECONDS.test(s)) {
    const ms = Number(s) * 1000;
    // 1e300 or 1e309 (Infinity) parse as numbers but are no time a 64-bit nanosecond clock holds.
    if (!Number.isFinite(ms) || BigInt(Math.round(ms)) * NS_PER_MS > MAX_NS) {
      throw invalidParameter(param, `"${text}" unix seconds is after the year 2262, the last time burnwatch stores (9223372036 at most)`);
    }
    return BigInt(Math.round(ms)) * NS_PER_MS;
  }
  if (RFC3339.test(s)) {
    const ms = Date.parse(s);
    if (!Number.isNaN(ms)) return BigInt(ms) * NS_PER_MS;
  }
  throw invalidParameter(param, `"${text}" is not a time; use RFC 3339 (2026-11-23T13:00:00Z), unix seconds, "now" or a relative time such as "-15m"`);
}

/** A positive duration parameter (e.g. `step=1m`) in nanoseconds. */
export function parseStep(text: string, param: string): bigint {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw invalidParameter(param, (err as Error).message);
  }
  if (!(ms >= 1)) throw invalidParameter(param, `must be at least 1ms, got "${text}"`);
  if (!Number.isFinite(ms)) throw invalidParameter(param, `"${text}" is longer than any time range`);
  return BigInt(Math.round(ms)) * NS_PER_MS;
}

/** Unix seconds with millisecond precision (a double cannot hold epoch nanoseconds exactly). */
export function nsToSeconds(ns: bigint): number {
  return Number(ns / NS_PER_MS) / 1000;
}

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms)) * NS_PER_MS;
}
