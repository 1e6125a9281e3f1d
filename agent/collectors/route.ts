// Turns raw request paths into bounded `http.route` values. The kernel sees only the
// path; Go's ServeMux pattern is not at hand, so ids are recognised by shape and the
// number of distinct routes per service is capped — an id-per-path API must not turn
// into one time series per user.

/** The route reported once a service has used up its distinct-route budget. */
export const OVERFLOW_ROUTE = '/{overflow}';

const ID_SEGMENT = [
  /^\d+$/, // 123
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, // UUID
  /^[0-9a-f]{16,}$/i, // hex ids, hashes
  /^(?=.*\d)[A-Za-z0-9_-]{20,}$/, // long opaque tokens containing digits (base64url ids, ULIDs)
  /^\d[\d.:-]*\d$/, // dates, versions-as-ids, IPs
];

export function normalisePath(path: string, truncated = false): string {
  if (path === '' || path[0] !== '/') return path === '' ? '/' : '/{invalid}';
  const segments = path.split('/');
  // The last segment of a truncated path is a fragment, never a route component.
  if (truncated) segments[segments.length - 1] = '{truncated}';
  return segments.map((s) => (ID_SEGMENT.some((re) => re.test(s)) ? '{id}' : s)).join('/');
}

/** Caps distinct routes per service; routes seen before keep their name forever. */
export class RouteLimiter {
  private readonly seen = new Map<string, Set<string>>();
  overflowed = 0;

  constructor(private readonly maxRoutesPerService = 100) {}

  #reported = 0;

  /** Route look-ups that overflowed since the last call (the `route_overflow` drop count). */
  takeOverflowed(): number {
    const n = this.overflowed - this.#reported;
    this.#reported = this.overflowed;
    return n;
  }

  route(service: string, path: string, truncated = false): string {
    const route = normalisePath(path, truncated);
    let routes = this.seen.get(service);
    if (!routes) this.seen.set(service, (routes = new Set()));
    if (routes.has(route)) return route;
    if (routes.size >= this.maxRoutesPerService) {
      this.overflowed++;
      return OVERFLOW_ROUTE;
    }
    routes.add(route);
    return route;
  }
}

/**
 * Names each kernel series once per drain, however many map entries it has (one per histogram
 * bucket, one in the stats map): a path over the cap must count as one overflow, not one per
 * entry. `seriesBytes` is the length of the key prefix that identifies a series.
 */
export function oncePerSeries<T>(seriesBytes: number, name: (key: Buffer) => T): (key: Buffer) => T {
  const named = new Map<string, T>();
  return (key) => {
    const raw = key.toString('latin1', 0, seriesBytes);
    let v = named.get(raw);
    if (v === undefined) named.set(raw, (v = name(key)));
    return v;
  };
}
