// Deep links: the hash holds the page, its subject and the time range, so a URL pasted into a
// chat opens the same view (#/slo/checkout-api%3Aavailability?range=6h).

export type Page = 'slos' | 'slo' | 'incident' | 'map' | 'host';
const PAGES: readonly Page[] = ['slos', 'slo', 'incident', 'map', 'host'];

export interface Route {
  page: Page;
  /** The SLO id or alert id the page is about. */
  arg?: string;
  params: URLSearchParams;
}

export const RANGES = ['15m', '1h', '6h', '24h', '7d', '30d'] as const;
export const DEFAULT_RANGE = '1h';
const RANGE_SECONDS: Record<string, number> = { '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400, '7d': 604_800, '30d': 2_592_000 };

export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const [page, ...rest] = path.split('/');
  const params = new URLSearchParams(query);
  if (!(PAGES as readonly string[]).includes(page)) return { page: 'slos', params };
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  return { page: page as Page, ...(arg ? { arg } : {}), params };
}

export function href(page: Page, arg?: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  const s = q.toString();
  return `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ''}${s ? `?${s}` : ''}`;
}

export function rangeOf(route: Route): string {
  const r = route.params.get('range') ?? DEFAULT_RANGE;
  return r in RANGE_SECONDS ? r : DEFAULT_RANGE;
}

export function rangeSeconds(range: string): number {
  return RANGE_SECONDS[range] ?? RANGE_SECONDS[DEFAULT_RANGE];
}

const STEPS = [10, 30, 60, 300, 900, 1800, 3600, 10_800, 21_600];

/** A step giving at most about 120 points over `seconds`, on a round value. */
export function stepFor(seconds: number, points = 120): number {
  return STEPS.find((s) => seconds / s <= points) ?? STEPS[STEPS.length - 1];
}
