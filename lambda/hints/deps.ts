// Detectors over what a service calls: per peer and operation, how much slower or more failing
// the calls got and how much of the service's extra latency or errors they account for; per
// peer, what the kernel saw of the link (retransmits, resets, connects, RTT).

import { ATTR, GO_ATTR, GO_METRIC, KERNEL_ATTR, KERNEL_METRIC } from '../../common/catalogue.ts';
import { isServerError } from '../query/outcome.ts';
import { slowRequests } from '../query/slow.ts';
import type { SpanStore } from '../storage/spans.ts';
import type { SeriesRef } from '../storage/types.ts';
import { judgeSignal, strongest, type Candidate } from './candidate.ts';
import { groupPoints, intervalStartNs, meanOf, quantileOf, rateOf, track, type Cell } from './frame.ts';
import type { OwnContext } from './own.ts';
import { peerKey } from './peers.ts';
import { clamp01 } from './robust.ts';
import { extraDuringDamage } from './sli.ts';
import { percent, perSecond, seconds } from './text.ts';

export interface DependencyContext extends OwnContext {
  spans?: SpanStore;
}

const CLIENT_METRICS: readonly { metric: string; operation: (s: SeriesRef) => string }[] = [
  { metric: GO_METRIC.httpClientDuration, operation: (s) => `HTTP ${attr(s, ATTR.httpMethod) ?? ''}`.trim() },
  { metric: GO_METRIC.rpcClientDuration, operation: (s) => `gRPC ${[attr(s, GO_ATTR.rpcService), attr(s, GO_ATTR.rpcMethod)].filter(Boolean).join('/')}`.trim() },
  { metric: GO_METRIC.dbClientDuration, operation: (s) => [attr(s, GO_ATTR.dbSystem) ?? 'db', attr(s, GO_ATTR.dbOperation)].filter(Boolean).join(' ') },
];

function attr(s: SeriesRef, key: string): string | undefined {
  const v = s.attributes[key];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

/** A failed call: a server-side status, or an error the client saw (error.type: refused, timeout, …). */
function failed(s: SeriesRef): boolean {
  return isServerError(s) || attr(s, GO_ATTR.errorType) !== undefined;
}

export interface DependencyFindings {
  calls: Candidate[];
  /** The link to each peer, by peerKey: the engine nests one under the calls to the same peer. */
  network: Map<string, Candidate>;
}

export async function dependencyCandidates(ctx: DependencyContext): Promise<DependencyFindings> {
  const [calls, network] = await Promise.all([callCandidates(ctx), networkCandidates(ctx)]);
  return { calls: mergeByPeer(calls), network };
}

/**
 * One candidate per kind and peer: a slow Redis slows every command sent to it, and each
 * command's time share is part of the peer's (extra time per request adds up over operations;
 * so do extra errors per request). Split per operation, no single one would explain the damage.
 */
export function mergeByPeer(calls: readonly Candidate[]): Candidate[] {
  const groups = new Map<string, Candidate[]>();
  for (const c of calls) {
    const key = JSON.stringify([c.kind, c.service, c.peer]);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].map((group) => {
    if (group.length === 1) return group[0];
    const sorted = [...group].sort((a, b) => b.share * b.strength - a.share * a.strength);
    const best = sorted[0];
    const share = clamp01(group.reduce((n, c) => n + c.share, 0));
    const others = sorted.length - 1;
    return {
      ...best,
      summary: `${best.summary.replace(/; [^;]*$/, '')}, and ${others} other operation${others > 1 ? 's' : ''} on the same peer; ${percent(share)} of the extra ${best.kind === 'dependency_errors' ? 'errors' : 'request time'} in all`,
      strength: Math.max(...group.map((c) => c.strength)),
      share,
      changedAtS: group.reduce<number | undefined>((t, c) => (c.changedAtS === undefined || (t !== undefined && t <= c.changedAtS) ? t : c.changedAtS), undefined),
      evidence: sorted.flatMap((c) => c.evidence),
    };
  });
}

async function callCandidates(ctx: DependencyContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const { sli } = ctx;
  const dominated = await seedRule(ctx);
  const out: Candidate[] = [];
  for (const { metric, operation } of CLIENT_METRICS) {
    const points = await ctx.fetcher.points(metric, ctx.service);
    const keyOf = (s: SeriesRef) => {
      const address = attr(s, GO_ATTR.serverAddress);
      const port = Number(attr(s, GO_ATTR.serverPort));
      return address === undefined ? undefined : JSON.stringify([address, Number.isInteger(port) ? port : 0, operation(s)]);
    };
    const all = groupPoints(f, points, keyOf);
    const errors = groupPoints(f, points, (s) => (failed(s) ? keyOf(s) : undefined));
    for (const [key, g] of all) {
      const [address, port, op] = JSON.parse(key) as [string, number, string];
      const peer = port ? peerKey(address, port) : address;
      const perRequest = (c: ReadonlyMap<number, Cell> | undefined, v: (cell: Cell) => number) => (i: number) =>
        sli.requests(i) > 0 ? (c?.get(i) ? v(c.get(i)!) : 0) / sli.requests(i) : undefined;
      const labels = { [GO_ATTR.serverAddress]: address, [GO_ATTR.serverPort]: String(port), operation: op };
      const dependency = { address, port };

      const mean = meanOf(g.cells);
      const p50 = quantileOf(g.cells, 0.5);
      const slow = judgeSignal(f, sli, { metric, labels: { ...labels, aggregation: 'mean' }, unit: 's', rule: { floor: 0.002, relative: 0.5 } }, track(f, (i) => mean(i) ?? p50(i)));
      if (slow) {
        const timeShare = sli.extraLatency > 0 ? clamp01(extraDuringDamage(f, sli, perRequest(g.cells, (c) => c.histogramSum)) / sli.extraLatency) : 0;
        const seed = dominated.get(peer);
        const share = Math.max(timeShare, seed?.share ?? 0);
        const p99 = judgeSignal(f, sli, { metric, labels: { ...labels, aggregation: 'p99' }, unit: 's', rule: { floor: 0.002, relative: 0.5 } }, track(f, quantileOf(g.cells, 0.99)));
        const evidence = [slow.evidence, ...(p99 ? [p99.evidence] : [])];
        if (seed) evidence.push({ metric: 'burnwatch.slow_requests.dominated', labels: { peer, rule: 'sub-call > 200 ms and > 60% of the request' }, baseline: null, incident: seed.share, unit: '1', changed_at: null });
        out.push({
          kind: 'slow_dependency', service: ctx.service, peer,
          summary: `${op} on ${peer} from ${ctx.service}: ${seconds(slow.change.incident)} per call, was ${seconds(slow.change.baseline)}; ${percent(share)} of the extra request time`,
          next_step: `look at ${peer}: its load, its slow operations and the link to it`,
          strength: slow.strength, share, changedAtS: slow.changedAtS, evidence, dependency,
        });
      }
      const errorCells = errors.get(key)?.cells;
      const failing = judgeSignal(f, sli, { metric, labels: { ...labels, aggregation: 'error_ratio' }, unit: '1', rule: { floor: 0.01, relative: 0.25 } }, track(f, (i) => (g.cells.get(i)?.acc.count ? (errorCells?.get(i)?.acc.count ?? 0) / g.cells.get(i)!.acc.count : undefined)));
      if (failing) {
        const share = sli.extraErrorRatio > 0 ? clamp01(extraDuringDamage(f, sli, perRequest(errorCells, (c) => c.acc.count)) / sli.extraErrorRatio) : 0;
        out.push({
          kind: 'dependency_errors', service: ctx.service, peer,
          summary: `${op} on ${peer} from ${ctx.service} fails: ${percent(failing.change.incident)} of calls, was ${percent(failing.change.baseline)}; ${percent(share)} of the extra errors`,
          next_step: `look at ${peer}'s errors and whether it is reachable from ${ctx.service}`,
          strength: failing.strength, share, changedAtS: failing.changedAtS, evidence: [failing.evidence], dependency,
        });
      }
    }
  }
  return out;
}

/** Per peer: the share of the service's slow requests (after the change point) that one sub-call to it dominated. */
async function seedRule(ctx: DependencyContext): Promise<Map<string, { share: number }>> {
  const out = new Map<string, { share: number }>();
  if (!ctx.spans || ctx.sli.changePoint === undefined) return out;
  let requests;
  try {
    ({ requests } = await slowRequests(ctx.spans, { tenant: ctx.frame.tenant, service: ctx.service, fromNs: intervalStartNs(ctx.frame, ctx.sli.changePoint), toNs: ctx.frame.toNs, limit: 1000 }));
  } catch {
    return out; // a span store that cannot answer: the metrics still speak
  }
  const counts = new Map<string, number>();
  for (const r of requests) {
    if (!r.dominant) continue;
    const m = /^(.*):(\d+)$/.exec(r.dominant.peer);
    const peer = m ? peerKey(m[1], m[2]) : r.dominant.peer;
    counts.set(peer, (counts.get(peer) ?? 0) + 1);
  }
  for (const [peer, n] of counts) out.set(peer, { share: n / requests.length });
  return out;
}

async function networkCandidates(ctx: DependencyContext): Promise<Map<string, Candidate>> {
  const f = ctx.frame;
  const outbound = (s: SeriesRef) => {
    const address = attr(s, KERNEL_ATTR.serverAddress);
    const port = attr(s, KERNEL_ATTR.serverPort);
    return address === undefined || port === undefined || attr(s, KERNEL_ATTR.clientAddress) !== undefined ? undefined : peerKey(address, port);
  };
  const [retransmits, resets, failures, connect, rtt] = await Promise.all(
    [KERNEL_METRIC.tcpRetransmits, KERNEL_METRIC.tcpResets, KERNEL_METRIC.tcpConnectFailures, KERNEL_METRIC.tcpConnectDuration, KERNEL_METRIC.tcpSmoothedRtt].map(async (m) =>
      groupPoints(f, await ctx.fetcher.points(m, ctx.service), outbound),
    ),
  );
  const peers = new Set([retransmits, resets, failures, connect, rtt].flatMap((m) => [...m.keys()]));
  const always = () => true;
  const out = new Map<string, Candidate>();
  for (const peer of peers) {
    const labels = { peer };
    const rate = (m: typeof retransmits, metric: string, unit: string, floor: number) =>
      judgeSignal(f, ctx.sli, { metric, labels: { ...labels, aggregation: 'rate' }, unit, rule: { floor, relative: 1 } }, track(f, rateOf(f, m.get(peer)?.cells, always)));
    const p99 = (m: typeof retransmits, metric: string) => {
      const cells = m.get(peer)?.cells;
      return cells && judgeSignal(f, ctx.sli, { metric, labels: { ...labels, aggregation: 'p99' }, unit: 's', rule: { floor: 0.005, relative: 1 } }, track(f, quantileOf(cells, 0.99)));
    };
    const found = strongest([
      rate(retransmits, KERNEL_METRIC.tcpRetransmits, '{segment}/s', 0.5),
      rate(resets, KERNEL_METRIC.tcpResets, '{segment}/s', 0.5),
      rate(failures, KERNEL_METRIC.tcpConnectFailures, '{connection}/s', 0.1),
      p99(connect, KERNEL_METRIC.tcpConnectDuration),
      p99(rtt, KERNEL_METRIC.tcpSmoothedRtt),
    ]);
    if (!found) continue;
    const { best, all } = found;
    const what = best.evidence.metric.replace(/^burnwatch\.tcp\./, '').replace(/[._]/g, ' ');
    const level = best.evidence.unit === 's' ? `${seconds(best.change.incident)}, was ${seconds(best.change.baseline)}` : `${perSecond(best.change.incident)}, was ${perSecond(best.change.baseline)}`;
    const [address, port] = [peer.slice(0, peer.lastIndexOf(':')), Number(peer.slice(peer.lastIndexOf(':') + 1))];
    out.set(peer, {
      kind: 'network', service: ctx.service, peer,
      summary: `the link from ${ctx.service} to ${peer} degraded: TCP ${what} ${level}`,
      next_step: `check packet loss and latency between ${ctx.service}'s host and ${peer} (interfaces, firewall rules, ss -ti)`,
      strength: best.strength, share: best.cooccurrence, changedAtS: best.changedAtS, evidence: all.map((c) => c.evidence),
      dependency: { address, port },
    });
  }
  return out;
}
