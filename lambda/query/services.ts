// The services overview (`GET /v1/services`): every service that has reported HTTP server
// requests, with its hosts, requests, server errors and p99 over the last few minutes.

import { ATTR, HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { serviceOf } from '../storage/series.ts';
import type { MetricStore } from '../storage/types.ts';
import type { BucketBounds } from '../../common/exphist.ts';
import { Accumulator } from './accumulate.ts';
import { fetchDeltas } from './deltas.ts';
import { labelValue } from './outcome.ts';
import { msToNs } from './time.ts';

export const SERVICES_WINDOW_MS = 5 * 60_000;
/**
 * How far back a service still counts as seen: past every SLO window (30 d by default, a calendar
 * month at most). Bounded because a series read is billed by what it scans (Timestream).
 */
export const SERVICES_SEEN_MS = 32 * 86_400_000;
const DAY_MS = 86_400_000;

export interface ServiceSummary {
  name: string;
  /** Hosts that reported the service within the window. */
  hosts: string[];
  requests: number;
  /** Requests that failed on the server (HTTP status ≥ 500). */
  errors: number;
  /** Seconds; null without requests in the window. */
  p99: number | null;
  /** When p99 comes from explicit buckets: the bucket it lies in (GET /v1/query's percentile buckets). */
  p99_bucket?: BucketBounds;
}

export interface ServicesOptions {
  tenant: string;
  nowMs: number;
  windowMs?: number;
}

/**
 * Every service that reported one of `metrics` (HTTP server requests unless told) from
 * `range.fromMs` on, sorted. Up to a day ahead of `range.nowMs`: a sender whose clock runs ahead is
 * still seen. Bounded: a series read is billed by what it scans (Timestream), and a service silent
 * for a whole window would only show no data. Without `range`, every service ever seen.
 */
export async function servicesSeen(
  store: MetricStore,
  tenant: string,
  range?: { fromMs: number; nowMs: number },
  metrics: readonly string[] = [HTTP_SERVER_DURATION],
): Promise<string[]> {
  const bounds = range === undefined ? {} : { fromNs: msToNs(range.fromMs), toNs: msToNs(range.nowMs + DAY_MS) };
  const all = await Promise.all(metrics.map((metric) => store.listSeries({ tenant, metric, ...bounds })));
  return [...new Set(all.flat().map(serviceOf).filter((s): s is string => s !== undefined))].sort();
}

/** Services seen within SERVICES_SEEN_MS, sorted by name; the numbers cover [now − window, now). */
export async function listServices(store: MetricStore, opts: ServicesOptions): Promise<ServiceSummary[]> {
  const toNs = msToNs(opts.nowMs);
  const fromNs = msToNs(opts.nowMs - (opts.windowMs ?? SERVICES_WINDOW_MS));
  const [seen, deltas] = await Promise.all([
    servicesSeen(store, opts.tenant, { fromMs: opts.nowMs - SERVICES_SEEN_MS, nowMs: opts.nowMs }),
    fetchDeltas(store, { tenant: opts.tenant, metric: HTTP_SERVER_DURATION, fromNs, toNs }),
  ]);
  const byService = new Map<string, { acc: Accumulator; hosts: Set<string> }>();
  const entry = (name: string) => {
    let e = byService.get(name);
    if (!e) {
      e = { acc: new Accumulator(), hosts: new Set() };
      byService.set(name, e);
    }
    return e;
  };
  for (const name of seen) entry(name);
  for (const p of deltas) {
    const name = serviceOf(p.series);
    if (name === undefined) continue;
    const e = entry(name);
    e.acc.add(p);
    const host = labelValue(p.series, ATTR.hostName);
    if (host !== undefined) e.hosts.add(host);
  }
  return [...byService.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, { acc, hosts }]) => {
      const p99 = acc.quantileBucket(0.99);
      return { name, hosts: [...hosts].sort(), requests: acc.count, errors: acc.errors, p99: p99?.value ?? null, ...(p99?.bucket ? { p99_bucket: p99.bucket } : {}) };
    });
}
