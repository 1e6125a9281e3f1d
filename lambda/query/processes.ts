// The host view (`GET /v1/processes`): per process, what the kernel saw of it over a time range —
// CPU, run-queue latency, page faults, TCP retransmits per peer, block I/O, starts and exits. The
// agent exports these for every process (any language) that was active in an interval.

import { ATTR, KERNEL_ATTR, KERNEL_METRIC } from '../../common/catalogue.ts';
import type { MetricPoint, MetricStore } from '../storage/types.ts';
import { Accumulator } from './accumulate.ts';
import { fetchDeltas } from './deltas.ts';
import { labelValue } from './outcome.ts';

export interface ProcessSignals {
  service: string;
  host: string | null;
  pid: number | null;
  /** CPU time per second of the range (1 = one core busy). */
  cpu_cores: number;
  /** Seconds runnable threads waited for a CPU; null without data. */
  runqueue_p99: number | null;
  faults: { major: number; minor: number };
  retransmits: { peer: string; count: number }[];
  block_io: { count: number; p99: number | null; errors: number };
  starts: number;
  exits: number;
  /** Build ids seen at exec in the range (a new one is a deploy). */
  build_ids: string[];
}

const NS_PER_S = 1e9;

function keyOf(p: MetricPoint): string | undefined {
  const service = labelValue(p.series, ATTR.serviceName);
  if (service === undefined) return undefined;
  return JSON.stringify([service, labelValue(p.series, ATTR.hostName) ?? null, labelValue(p.series, ATTR.processPid) ?? null]);
}

export async function processSignals(store: MetricStore, q: { tenant: string; fromNs: bigint; toNs: bigint; service?: string }): Promise<ProcessSignals[]> {
  const fetch = (metric: string) => fetchDeltas(store, { tenant: q.tenant, metric, fromNs: q.fromNs, toNs: q.toNs, ...(q.service ? { service: q.service } : {}) });
  const M = KERNEL_METRIC;
  const [cpu, runq, faults, retrans, blockIo, blockErr, starts, exits] = await Promise.all(
    [M.cpuTime, M.runqueueLatency, M.pageFaults, M.tcpRetransmits, M.blockIoDuration, M.blockIoErrors, M.processStarts, M.processExits].map(fetch),
  );
  const seconds = Number(q.toNs - q.fromNs) / NS_PER_S;
  const rows = new Map<string, { row: ProcessSignals; runq: Accumulator; io: Accumulator; peers: Map<string, number>; builds: Set<string> }>();
  const entry = (p: MetricPoint) => {
    const key = keyOf(p);
    if (key === undefined) return undefined;
    let e = rows.get(key);
    if (!e) {
      const [service, host, pid] = JSON.parse(key) as [string, string | null, string | null];
      e = {
        row: { service, host, pid: pid === null ? null : Number(pid), cpu_cores: 0, runqueue_p99: null, faults: { major: 0, minor: 0 }, retransmits: [], block_io: { count: 0, p99: null, errors: 0 }, starts: 0, exits: 0, build_ids: [] },
        runq: new Accumulator(),
        io: new Accumulator(),
        peers: new Map(),
        builds: new Set(),
      };
      rows.set(key, e);
    }
    return e;
  };
  const value = (p: MetricPoint) => (p.kind === 'sum' || p.kind === 'gauge' ? p.value : p.count);
  for (const p of cpu) { const e = entry(p); if (e) e.row.cpu_cores += value(p) / NS_PER_S / seconds; }
  for (const p of runq) entry(p)?.runq.add(p);
  for (const p of faults) {
    const e = entry(p);
    if (e) e.row.faults[labelValue(p.series, KERNEL_ATTR.faultType) === 'major' ? 'major' : 'minor'] += value(p);
  }
  for (const p of retrans) {
    const e = entry(p);
    if (!e) continue;
    const address = labelValue(p.series, KERNEL_ATTR.serverAddress) ?? labelValue(p.series, KERNEL_ATTR.clientAddress) ?? '?';
    const peer = `${address}:${labelValue(p.series, KERNEL_ATTR.serverPort) ?? '?'}`;
    e.peers.set(peer, (e.peers.get(peer) ?? 0) + value(p));
  }
  for (const p of blockIo) entry(p)?.io.add(p);
  for (const p of blockErr) { const e = entry(p); if (e) e.row.block_io.errors += value(p); }
  for (const p of starts) {
    const e = entry(p);
    if (!e) continue;
    e.row.starts += value(p);
    const build = labelValue(p.series, KERNEL_ATTR.buildId);
    if (build !== undefined) e.builds.add(build);
  }
  for (const p of exits) { const e = entry(p); if (e) e.row.exits += value(p); }
  return [...rows.values()]
    .map(({ row, runq, io, peers, builds }) => ({
      ...row,
      runqueue_p99: runq.quantile(0.99) ?? null,
      retransmits: [...peers.entries()].map(([peer, count]) => ({ peer, count })).sort((a, b) => b.count - a.count),
      block_io: { ...row.block_io, count: io.count, p99: io.quantile(0.99) ?? null },
      build_ids: [...builds].sort(),
    }))
    .sort((a, b) => b.cpu_cores - a.cpu_cores || a.service.localeCompare(b.service));
}
