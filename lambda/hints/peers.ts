// Which watched service is behind a dependency's address and port. The kernel's TCP signals
// attribute accepted connections to the process that accepted them (client.address +
// server.port, the local port), so "some process of service B accepted connections on port P"
// is known from the series stored, whatever the agent's host. A peer address on loopback means
// the caller's own host; a host name means that host; otherwise the port decides, and only when
// it is unambiguous — a guess would chain the hint to the wrong service.

import { ATTR, KERNEL_ATTR, KERNEL_METRIC } from '../../common/catalogue.ts';
import type { MetricStore, SeriesRef } from '../storage/types.ts';

/** TCP metrics that carry client.address for accepted connections. */
const INBOUND_METRICS = [KERNEL_METRIC.tcpSmoothedRtt, KERNEL_METRIC.tcpRetransmits, KERNEL_METRIC.tcpResets] as const;

export interface Listener {
  service: string;
  host: string | undefined;
  port: number;
}

/** One spelling per address: loopback in any form is 127.0.0.1; IPv4-mapped IPv6 is IPv4. */
export function normalAddress(address: string): string {
  const a = address.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (a === 'localhost' || a === '::1' || /^127\./.test(a) || a === '::ffff:127.0.0.1') return '127.0.0.1';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? mapped[1] : a;
}

export function peerKey(address: string, port: number | string): string {
  return `${normalAddress(address)}:${port}`;
}

/** The services that accepted connections in [fromNs, toNs) (the frame analysed: a listener gone before it is no candidate). */
export async function listeners(store: MetricStore, tenant: string, fromNs: bigint, toNs: bigint): Promise<Listener[]> {
  const seen = new Map<string, Listener>();
  for (const series of (await Promise.all(INBOUND_METRICS.map((metric) => store.listSeries({ tenant, metric, fromNs, toNs })))).flat()) {
    const l = listenerOf(series);
    if (l) seen.set(JSON.stringify([l.service, l.host, l.port]), l);
  }
  return [...seen.values()];
}

function listenerOf(s: SeriesRef): Listener | undefined {
  const service = s.resource[ATTR.serviceName];
  const port = Number(s.attributes[KERNEL_ATTR.serverPort]);
  if (typeof service !== 'string' || s.attributes[KERNEL_ATTR.clientAddress] === undefined || !Number.isInteger(port)) return undefined;
  const host = s.resource[ATTR.hostName];
  return { service, host: typeof host === 'string' ? host : undefined, port };
}

/** The one service listening at address:port as the caller (on `callerHosts`) reaches it; undefined when none or ambiguous. */
export function resolvePeer(all: readonly Listener[], address: string, port: number, callerHosts: ReadonlySet<string>): string | undefined {
  const onPort = all.filter((l) => l.port === port);
  const a = normalAddress(address);
  const named = onPort.filter((l) => l.host !== undefined && normalAddress(l.host) === a);
  const candidates = a === '127.0.0.1' ? onPort.filter((l) => l.host === undefined || callerHosts.has(l.host)) : named.length > 0 ? named : onPort;
  const services = new Set(candidates.map((l) => l.service));
  return services.size === 1 ? [...services][0] : undefined;
}
