// Retry-After, read once for every sender that honours it (the agent's shipper, the Prometheus
// store's writes): delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

/** Retry-After as milliseconds from `nowMs`, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
