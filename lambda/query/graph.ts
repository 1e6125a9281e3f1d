// The service graph (`GET /v1/graph`): who calls whom over a time range, with call rate, errors
// and p99 per edge. Edges come from the client-call metrics (HTTP, gRPC, SQL, Redis, per peer
// address:port) and, for callers without probed calls, from outbound TCP connections. A peer
// becomes a watched service when a process of that service accepted connections on its port
// (lambda/hints/peers.ts: the one rule the hints' recursion also follows); otherwise it is an
// external node named by its address.

import { ATTR, GO_ATTR, GO_METRIC, HTTP_SERVER_DURATION, KERNEL_ATTR, KERNEL_METRIC } from '../../common/catalogue.ts';
import { listeners, peerKey, resolvePeer } from '../hints/peers.ts';
import { serviceOf } from '../storage/series.ts';
import type { MetricPoint, MetricStore, SeriesRef } from '../storage/types.ts';
import { Accumulator } from './accumulate.ts';
import { fetchDeltas } from './deltas.ts';
import { isServerError, labelValue } from './outcome.ts';

export interface GraphNode {
  id: string;
  service: string;
  kind: 'service' | 'external';
  requests: number;
  errors: number;
  /** Seconds; null without latency data. */
  p99: number | null;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** http, grpc, the db.system of a database client (postgresql, redis, …), or tcp (connections only). */
  protocol: string;
  /** Calls (for tcp: connections opened). */
  requests: number;
  errors: number;
  p99: number | null;
}

export interface ServiceGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const SERVER_METRICS = [HTTP_SERVER_DURATION, GO_METRIC.rpcServerDuration] as const;

const CLIENT_METRICS: readonly { metric: string; protocol: (s: SeriesRef) => string }[] = [
  { metric: GO_METRIC.httpClientDuration, protocol: () => 'http' },
  { metric: GO_METRIC.rpcClientDuration, protocol: () => 'grpc' },
  { metric: GO_METRIC.dbClientDuration, protocol: (s) => labelValue(s, GO_ATTR.dbSystem) ?? 'db' },
];

/** A failed call as the caller saw it: a server-side status, or an error of its own (refused, timeout). */
function failed(s: SeriesRef): boolean {
  return isServerError(s) || labelValue(s, GO_ATTR.errorType) !== undefined;
}

interface Tally {
  acc: Accumulator;
  errors: number;
}

function tally(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key);
  if (!t) map.set(key, (t = { acc: new Accumulator(), errors: 0 }));
  return t;
}

function p99Of(t: Tally): number | null {
  try {
    return t.acc.quantile(0.99) ?? null;
  } catch {
    // Exponential and explicit histograms of one edge cannot merge: no p99 rather than a wrong one.
    return null;
  }
}

export async function serviceGraph(store: MetricStore, q: { tenant: string; fromNs: bigint; toNs: bigint }): Promise<ServiceGraph> {
  const fetch = (metric: string) => fetchDeltas(store, { tenant: q.tenant, metric, fromNs: q.fromNs, toNs: q.toNs });
  const [servers, clients, connects, known] = await Promise.all([
    Promise.all(SERVER_METRICS.map(fetch)),
    Promise.all(CLIENT_METRICS.map((c) => fetch(c.metric))),
    fetch(KERNEL_METRIC.tcpConnectDuration),
    listeners(store, q.tenant, q.fromNs, q.toNs),
  ]);

  const nodes = new Map<string, Tally>();
  const hostsOf = new Map<string, Set<string>>();
  const note = (p: MetricPoint): string | undefined => {
    const service = serviceOf(p.series);
    if (service === undefined) return undefined;
    const host = labelValue(p.series, ATTR.hostName);
    if (host !== undefined) (hostsOf.get(service) ?? hostsOf.set(service, new Set()).get(service)!).add(host);
    return service;
  };
  for (const p of servers.flat()) {
    const service = note(p);
    if (service === undefined) continue;
    const t = tally(nodes, service);
    t.acc.add(p);
  }

  const edges = new Map<string, Tally & { from: string; to: string; protocol: string }>();
  const externals = new Set<string>();
  const edge = (from: string, to: string, protocol: string) => {
    const key = JSON.stringify([from, to, protocol]);
    let e = edges.get(key);
    if (!e) edges.set(key, (e = { acc: new Accumulator(), errors: 0, from, to, protocol }));
    return e;
  };
  const target = (caller: string, s: SeriesRef): string | undefined => {
    const address = labelValue(s, GO_ATTR.serverAddress);
    const port = Number(labelValue(s, GO_ATTR.serverPort));
    if (address === undefined || !Number.isInteger(port)) return undefined;
    const resolved = resolvePeer(known, address, port, hostsOf.get(caller) ?? new Set());
    if (resolved !== undefined) return resolved;
    const id = peerKey(address, port);
    externals.add(id);
    return id;
  };
  // Callers first seen as clients are nodes too (a batch job that serves nothing still calls).
  const callPoints = clients.flatMap((points, i) => points.map((p) => ({ p, protocol: CLIENT_METRICS[i].protocol(p.series) })));
  for (const { p } of callPoints) {
    const s = note(p);
    if (s !== undefined) tally(nodes, s);
  }
  for (const { p, protocol } of callPoints) {
    const from = serviceOf(p.series);
    const to = from === undefined ? undefined : target(from, p.series);
    if (from === undefined || to === undefined) continue;
    const e = edge(from, to, protocol);
    e.acc.add(p);
    if (failed(p.series)) e.errors += p.kind === 'sum' ? p.value : 'count' in p ? p.count : 0;
  }
  // Connections without probed calls over them (a caller in another language, an unprobed client).
  const called = new Set([...edges.values()].map((e) => JSON.stringify([e.from, e.to])));
  const tcp = new Map<string, Tally & { from: string; to: string }>();
  for (const p of connects) {
    const from = note(p);
    if (from === undefined) continue;
    const address = labelValue(p.series, KERNEL_ATTR.serverAddress);
    const port = Number(labelValue(p.series, KERNEL_ATTR.serverPort));
    if (address === undefined || !Number.isInteger(port)) continue;
    const to = resolvePeer(known, address, port, hostsOf.get(from) ?? new Set());
    // Only between watched services: every process connects to many things a map need not show.
    if (to === undefined || to === from || called.has(JSON.stringify([from, to]))) continue;
    tally(nodes, from);
    const key = JSON.stringify([from, to]);
    let e = tcp.get(key);
    if (!e) tcp.set(key, (e = { acc: new Accumulator(), errors: 0, from, to }));
    e.acc.add(p);
  }

  const outEdges: GraphEdge[] = [
    ...[...edges.values()].map((e) => ({ from: e.from, to: e.to, protocol: e.protocol, requests: e.acc.count, errors: e.errors, p99: p99Of(e) })),
    ...[...tcp.values()].map((e) => ({ from: e.from, to: e.to, protocol: 'tcp', requests: e.acc.count, errors: 0, p99: p99Of(e) })),
  ].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.protocol.localeCompare(b.protocol));
  for (const e of outEdges) if (!externals.has(e.to)) tally(nodes, e.to);

  const outNodes: GraphNode[] = [...nodes.entries()].map(([id, t]) => ({ id, service: id, kind: 'service' as const, requests: t.acc.count, errors: t.acc.errors, p99: p99Of(t) }));
  for (const id of externals) {
    const incoming = outEdges.filter((e) => e.to === id);
    const p99s = incoming.map((e) => e.p99).filter((v): v is number => v !== null);
    outNodes.push({
      id,
      service: id,
      kind: 'external',
      requests: incoming.reduce((n, e) => n + e.requests, 0),
      errors: incoming.reduce((n, e) => n + e.errors, 0),
      // The worst caller's view: a node's own p99 cannot be rebuilt from its callers' p99s.
      p99: p99s.length ? Math.max(...p99s) : null,
    });
  }
  outNodes.sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
  return { nodes: outNodes, edges: outEdges };
}
