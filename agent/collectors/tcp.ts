// TCP signals per (process, peer) from bpf/tcp.bpf.c: retransmits, resets, connect latency
// and failures, smoothed RTT.
import path from 'node:path';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { KERNEL_ATTR, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint, type NumberPoint, type PointAttributes } from '../export/otlp.ts';
import type { CollectWindow, CollectedMetrics } from './types.ts';
import {
  Generations, KernelSignalCollector, PointsByProcess, groupBuckets, perCpuArrayTotal, sumPerCpuFields, type KernelProgram,
} from './kernel-maps.ts';
import type { KernelCollectorOptions } from './sched.ts';

// Mirrors bpf/tcp.h.
const PEER_SIZE = 32;
const AF_INET = 2;
const DIR_INBOUND = 1;
const HIST_CONNECT = 0;
const HIST_SRTT = 1;
const DROP_REASONS = ['stats_map_full', 'hist_map_full'] as const;
/** Slots of tcp_dropped that count socket-map inserts and deletes (cumulative), not drops. */
const SOCKETS_INSERTED = 2;
const SOCKETS_DELETED = 3;
const STAT = { retransmits: 0, resetsSent: 1, resetsReceived: 2, connects: 3, connectFailures: 4, connectSumNs: 5, srttSamples: 6, srttSumNs: 7 };

export const TCP_PROGRAMS: readonly KernelProgram[] = [
  { name: 'tcp_set_state', tracepoint: 'inet_sock_set_state' },
  { name: 'tcp_retransmit', tracepoint: 'tcp_retransmit_skb' },
  { name: 'tcp_send_reset', tracepoint: 'tcp_send_reset' },
  { name: 'tcp_receive_reset', tracepoint: 'tcp_receive_reset' },
];

export interface TcpPeer {
  tgid: number;
  inbound: boolean;
  address: string;
  port: number;
}

/** Decodes a struct tcp_peer. IPv4-mapped IPv6 addresses are shown as IPv4. */
export function decodePeer(k: Buffer): TcpPeer {
  const family = k.readUInt16LE(4);
  const port = k.readUInt16LE(6);
  return { tgid: k.readUInt32LE(0), inbound: k[24] === DIR_INBOUND, address: socketAddress(family, k.subarray(8, 24)), port };
}

/** The text form of a kernel socket address (`addr`: 16 bytes, IPv4 in the first 4). IPv4-mapped IPv6 is shown as IPv4. */
export function socketAddress(family: number, addr: Buffer): string {
  if (family === AF_INET) return [...addr.subarray(0, 4)].join('.');
  if (addr.subarray(0, 10).every((b) => b === 0) && addr[10] === 0xff && addr[11] === 0xff) return [...addr.subarray(12, 16)].join('.');
  return ipv6String(addr);
}

/** RFC 5952 text form: lower case, the longest run of two or more zero groups as '::'. */
function ipv6String(a: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(a.readUInt16BE(i));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function peerAttributes(p: TcpPeer): PointAttributes {
  return p.inbound
    ? { [KERNEL_ATTR.clientAddress]: p.address, [KERNEL_ATTR.serverPort]: p.port }
    : { [KERNEL_ATTR.serverAddress]: p.address, [KERNEL_ATTR.serverPort]: p.port };
}

export interface TcpCollectorOptions extends KernelCollectorOptions {
  /** Sockets whose owner is remembered (LRU; default 65536). */
  socketMapEntries?: number;
}

export class TcpCollector extends KernelSignalCollector {
  readonly name = 'tcp';
  private readonly generations: Generations;
  private readonly scale: number;
  private evictionsReported = 0;

  constructor(opts: TcpCollectorOptions) {
    const scale = opts.scale ?? 5;
    super(
      {
        signal: 'tcp',
        objectPath: path.join(opts.objectDir, 'tcp.bpf.o'),
        programs: TCP_PROGRAMS,
        rodata: { hist_scale: scale },
        ...(opts.socketMapEntries ? { maxEntries: { tcp_socks: opts.socketMapEntries } } : {}),
        log: opts.log,
      },
      DROP_REASONS,
    );
    this.scale = scale;
    this.generations = new Generations(this.obj, 'tcp_control');
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const idle = await this.generations.flip();
    this.drops.poll();
    this.countEvictions();
    const times = { startTimeNs: window.startNs, endTimeNs: window.endNs };
    const counters = {
      retransmits: new PointsByProcess<NumberPoint>(),
      resets: new PointsByProcess<NumberPoint>(),
      failures: new PointsByProcess<NumberPoint>(),
    };
    const sums = new Map<string, bigint[]>();
    const statsMap = this.obj.map(`tcp_stats_${idle}`);
    const drained = statsMap.drain();
    for (let i = 0; i < drained.keys.length; i++) {
      const peer = decodePeer(drained.keys[i]);
      const s = sumPerCpuFields(drained.values[i], statsMap.valueSize);
      sums.set(drained.keys[i].toString('hex'), s);
      const attrs = peerAttributes(peer);
      const add = (to: PointsByProcess<NumberPoint>, v: bigint, extra: PointAttributes = {}) => {
        if (v > 0n) to.add(peer.tgid, { attributes: { ...attrs, ...extra }, ...times, value: Number(v) });
      };
      add(counters.retransmits, s[STAT.retransmits]);
      add(counters.resets, s[STAT.resetsSent], { [KERNEL_ATTR.resetDirection]: 'sent' });
      add(counters.resets, s[STAT.resetsReceived], { [KERNEL_ATTR.resetDirection]: 'received' });
      add(counters.failures, s[STAT.connectFailures]);
    }

    const hists = { [HIST_CONNECT]: new PointsByProcess<ExpHistogramPoint>(), [HIST_SRTT]: new PointsByProcess<ExpHistogramPoint>() };
    const grouped = groupBuckets(this.obj.map(`tcp_hist_${idle}`).drain(), PEER_SIZE + 4, (k) => {
      const kind = k.readUInt32LE(PEER_SIZE);
      return { id: `${k.toString('hex', 0, PEER_SIZE)}/${kind}`, series: { peerKey: k.toString('hex', 0, PEER_SIZE), peer: decodePeer(k), kind } };
    });
    for (const { series, buckets } of grouped.values()) {
      if (buckets.size === 0 || (series.kind !== HIST_CONNECT && series.kind !== HIST_SRTT)) continue;
      const s = sums.get(series.peerKey);
      const sumNs = s ? s[series.kind === HIST_CONNECT ? STAT.connectSumNs : STAT.srttSumNs] : 0n;
      hists[series.kind].add(series.peer.tgid, { attributes: peerAttributes(series.peer), ...times, histogram: histogramFromBuckets(this.scale, buckets, sumNs) });
    }

    const byPid = new Map<number | undefined, CollectedMetrics['metrics']>();
    const push = (pid: number | undefined, m: CollectedMetrics['metrics'][number]) => byPid.set(pid, [...(byPid.get(pid) ?? []), m]);
    for (const [pid, pts] of counters.retransmits.entries()) push(pid, numberMetric(METRICS[KERNEL_METRIC.tcpRetransmits], pts));
    for (const [pid, pts] of counters.resets.entries()) push(pid, numberMetric(METRICS[KERNEL_METRIC.tcpResets], pts));
    for (const [pid, pts] of counters.failures.entries()) push(pid, numberMetric(METRICS[KERNEL_METRIC.tcpConnectFailures], pts));
    for (const [pid, pts] of hists[HIST_CONNECT].entries()) {
      // Connect latency is an outbound notion; inbound peers never get one.
      push(pid, exponentialHistogramMetric(METRICS[KERNEL_METRIC.tcpConnectDuration], pts));
    }
    for (const [pid, pts] of hists[HIST_SRTT].entries()) push(pid, exponentialHistogramMetric(METRICS[KERNEL_METRIC.tcpSmoothedRtt], pts));
    return [...byPid].map(([pid, metrics]) => (pid === undefined ? { metrics } : { pid, metrics }));
  }

  /**
   * The LRU socket map evicts silently when full; every insert beyond (deletes + live
   * entries) was an eviction. Counting live entries walks the map, so only when an
   * eviction is possible at all.
   */
  private countEvictions(): void {
    const dropped = this.obj.map('tcp_dropped');
    const inserted = Number(perCpuArrayTotal(dropped, SOCKETS_INSERTED));
    const deleted = Number(perCpuArrayTotal(dropped, SOCKETS_DELETED));
    const socks = this.obj.map('tcp_socks');
    if (inserted - deleted <= socks.maxEntries) return;
    const evicted = inserted - deleted - socks.count();
    if (evicted > this.evictionsReported) {
      this.drops.add('socket_map_evicted', evicted - this.evictionsReported);
      this.evictionsReported = evicted;
    }
  }

}
