// The hints engine: for a service and a window, what changed in its SLIs and which candidate
// explains it, recursing into dependencies that are watched services themselves so the deepest
// cause ranks first (design §7). Plain TypeScript over MetricStore/SpanStore: `burnwatch up`,
// the gateway's GET /v1/hints and the AWS hints function all call computeHints.

import { ATTR, KERNEL_METRIC } from '../../common/catalogue.ts';
import { ApiError, invalidParameter } from '../errors.ts';
import { msToNs, nsToSeconds } from '../query/time.ts';
import { serviceOf } from '../storage/series.ts';
import type { MetricPoint } from '../storage/types.ts';
import type { Candidate } from './candidate.ts';
import { dependencyCandidates } from './deps.ts';
import { baselineFromNs, FrameFetcher, intervalSeconds, intervalStartS, makeFrame, MAX_BASELINE_NS, type Frame } from './frame.ts';
import { ownCandidates } from './own.ts';
import { listeners, resolvePeer, type Listener } from './peers.ts';
import { alignment, clamp01 } from './robust.ts';
import { assessSli, earliestNs, fetchServerPoints, SERVER_METRICS, type Sli } from './sli.ts';
import type { Evidence, Hint, HintsReport, HintStores } from './types.ts';

/** Below this a candidate is noise, not a hint. */
const MIN_CONFIDENCE = 0.1;
const MAX_HINTS = 10;
/** Dependencies followed at most this deep (frontend → backend → … ). */
const MAX_DEPTH = 4;
/** The longest window one request may analyse (the cost grows with it). */
export const MAX_WINDOW_MS = 24 * 3600_000;

interface Node {
  candidate: Candidate;
  confidence: number;
  chain: string[];
  /** The analysed service's SLI evidence, shown after the candidate's own. */
  symptom: Evidence[];
  /** Deeper causes of this one: the link to its peer, and the peer service's own hints. */
  children: Node[];
  /** A deeper cause explains this one: it is the way there, shown however unsure it has become. */
  path?: boolean;
}

interface Analysis {
  sli: Sli;
  nodes: Node[];
}

class HintsRun {
  private readonly analyses = new Map<string, Promise<Analysis>>();
  private listenerList: Promise<Listener[]> | undefined;

  constructor(
    private readonly stores: HintStores,
    private readonly frame: Frame,
    private readonly fetcher: FrameFetcher,
  ) {}

  /** `caller`: the SLI of the service that calls this one, whose damage this one may cause. */
  analyse(service: string, chain: string[], sliPoints?: readonly MetricPoint[], caller?: Sli): Promise<Analysis> {
    const key = JSON.stringify(chain);
    let a = this.analyses.get(key);
    if (!a) this.analyses.set(key, (a = this.run(service, chain, sliPoints, caller)));
    return a;
  }

  private async run(service: string, chain: string[], given?: readonly MetricPoint[], caller?: Sli): Promise<Analysis> {
    const f = this.frame;
    const sliPoints = given ?? (await fetchServerPoints(this.stores.metricStore, f, service));
    let sli = assessSli(f, service, sliPoints);
    // A dependency can hurt its callers without its own SLIs showing it (it crashed, or answered
    // nobody): then its signals are judged against the caller's damage, and none of its own
    // latency or errors is there for its dependencies to explain.
    if (sli.changePoint === undefined && caller) sli = { ...sli, damaged: caller.damaged, changePoint: caller.changePoint, extraLatency: 0, extraErrorRatio: 0 };
    if (sli.changePoint === undefined) return { sli, nodes: [] };
    const ctx = { fetcher: this.fetcher, frame: f, service, sli, sliPoints, ...(this.stores.spanStore ? { spans: this.stores.spanStore } : {}) };
    const [own, deps] = await Promise.all([ownCandidates(ctx), dependencyCandidates(ctx)]);
    const sliS = intervalStartS(f, sli.changePoint);
    const stepS = intervalSeconds(f, -1);
    const node = (c: Candidate, c2: string[] = chain): Node => ({
      candidate: c,
      confidence: clamp01(c.strength * c.share * (c.changedAtS === undefined ? 0 : alignment(c.changedAtS, sliS, stepS))),
      chain: c2,
      symptom: sli.evidence,
      children: [],
    });
    const hosts = new Set(sliPoints.map((p) => p.series.resource[ATTR.hostName]).filter((h): h is string => typeof h === 'string'));
    const nodes = own.map((c) => node(c));
    const nested = new Set<string>();
    for (const c of deps.calls) {
      const n = node(c);
      nodes.push(n);
      const link = c.peer === null ? undefined : deps.network.get(c.peer);
      if (link) {
        // The link explains the calls' damage as far as it was degraded while they were.
        n.children.push(node({ ...link, share: link.share * c.share }));
        nested.add(c.peer!);
      }
      const behind = c.dependency && resolvePeer(await this.listeners(), c.dependency.address, c.dependency.port, hosts);
      if (behind && !chain.includes(behind) && chain.length < MAX_DEPTH) {
        c.next_step = `${c.next_step}; ${behind} is watched: burnwatch hints ${behind}`;
        const deeper = await this.analyse(behind, [...chain, behind], undefined, sli);
        n.children.push(...deeper.nodes.map((d) => capped(d, n.confidence)));
      }
    }
    for (const [peer, link] of deps.network) if (!nested.has(peer)) nodes.push(node(link));
    return { sli, nodes };
  }

  private listeners(): Promise<Listener[]> {
    return (this.listenerList ??= listeners(this.stores.metricStore, this.frame.tenant, baselineFromNs(this.frame), this.frame.toNs));
  }
}

/** A chain is as strong as its weakest link: a deeper cause is no surer than the call that leads to it. */
function capped(n: Node, parent: number): Node {
  return { ...n, confidence: Math.min(n.confidence, parent), children: n.children.map((c) => capped(c, parent)) };
}

function groupScore(n: Node): number {
  return Math.max(n.confidence, ...n.children.map(groupScore));
}

/** Deepest first: a child that explains its parent well comes before it, weaker ones after. */
function flatten(n: Node): Node[] {
  const children = [...n.children].sort((a, b) => groupScore(b) - groupScore(a));
  const strong = children.filter((c) => groupScore(c) >= 0.5 * n.confidence);
  const weak = children.filter((c) => !strong.includes(c));
  // A call whose damage a deeper cause explains is the way to that cause, not a cause of its
  // own: it keeps only the confidence the deeper one leaves (a hint ≥ 0.5 says "look here").
  const self = strong.length === 0 ? n : { ...n, confidence: n.confidence * (1 - Math.max(...strong.map(groupScore))), path: true };
  return [...strong.flatMap(flatten), self, ...weak.flatMap(flatten)];
}

export async function computeHints(stores: HintStores, tenant: string, service: string, fromMs: number, toMs: number, nowMs: number = Date.now()): Promise<HintsReport> {
  const to = Math.min(toMs, nowMs);
  if (!(fromMs < to)) throw invalidParameter('from', 'must be before to (and before now)');
  if (to - fromMs > MAX_WINDOW_MS) throw invalidParameter('from', `the window may span at most ${MAX_WINDOW_MS / 3600_000}h`);
  const fromNs = msToNs(fromMs);
  const toNs = msToNs(to);
  await requireKnown(stores, tenant, service, fromNs - MAX_BASELINE_NS, toNs);
  // The baseline reaches back as far as the service's requests do (≤ 1 h, ≥ 1 min).
  const reach = makeFrame(tenant, fromNs, toNs, fromNs - MAX_BASELINE_NS);
  const sliPoints = await fetchServerPoints(stores.metricStore, reach, service);
  const frame = makeFrame(tenant, fromNs, toNs, earliestNs(sliPoints.filter((p) => p.endNs <= fromNs)));
  const run = new HintsRun(stores, frame, new FrameFetcher(stores.metricStore, frame));
  const { sli, nodes } = await run.analyse(service, [service], sliPoints);

  const ordered = [...nodes].sort((a, b) => groupScore(b) - groupScore(a)).flatMap(flatten);
  const seen = new Set<string>();
  const hints: Hint[] = [];
  for (const n of ordered) {
    const c = n.candidate;
    const key = JSON.stringify([c.kind, c.service, c.peer, c.evidence[0]?.labels]);
    if (seen.has(key) || (n.confidence < MIN_CONFIDENCE && !n.path)) continue;
    seen.add(key);
    hints.push({
      rank: hints.length + 1,
      kind: c.kind,
      service: c.service,
      peer: c.peer,
      summary: c.summary,
      confidence: round(n.confidence, 3),
      explained_share: round(c.share, 3),
      evidence: [...c.evidence, ...n.symptom].map(roundEvidence),
      chain: n.chain,
      next_step: c.next_step,
    });
    if (hints.length === MAX_HINTS) break;
  }
  if (hints.length === 0) hints.push(noneHint(service, frame, sli));
  return {
    service,
    from: nsToSeconds(fromNs),
    to: nsToSeconds(toNs),
    baseline: { from: nsToSeconds(baselineFromNs(frame)), to: nsToSeconds(fromNs) },
    hints,
  };
}

/** Never a made-up cause: say that nothing explains it, with the SLI change that was seen. */
function noneHint(service: string, f: Frame, sli: Sli): Hint {
  const changed = sli.changePoint !== undefined;
  return {
    rank: 1,
    kind: 'none',
    service,
    peer: null,
    summary: changed
      ? `${service}'s SLIs changed at ${new Date(intervalStartS(f, sli.changePoint!) * 1000).toISOString()}, but no signal burnwatch watches explains it`
      : `${service}'s latency and errors did not change against the baseline`,
    confidence: 0,
    explained_share: 0,
    evidence: sli.evidence.map(roundEvidence),
    chain: [service],
    next_step: changed ? `look at ${service}'s own logs and recent changes outside what the agent sees (configuration, data)` : 'nothing to do: compare a longer window if an alert says otherwise',
  };
}

/**
 * A 404 unless the service has data where the analysis looks: the window and the longest
 * baseline before it. Bounded because a series read is billed by what it scans (Timestream) and
 * every firing alert asks; data outside that range could not change the hints anyway.
 */
async function requireKnown(stores: HintStores, tenant: string, service: string, fromNs: bigint, toNs: bigint): Promise<void> {
  for (const metric of [...SERVER_METRICS, KERNEL_METRIC.cpuTime]) {
    const series = await stores.metricStore.listSeries({ tenant, metric, fromNs, toNs });
    if (series.some((s) => serviceOf(s) === service)) return;
  }
  const iso = (ns: bigint) => new Date(nsToSeconds(ns) * 1000).toISOString();
  throw new ApiError(404, 'not_found', `service "${service}": no data has been received for it from ${iso(fromNs)} to ${iso(toNs)} (the window and the hour before it)`);
}

function round(x: number, digits: number): number {
  const p = 10 ** digits;
  return Math.round(x * p) / p;
}

function roundEvidence(e: Evidence): Evidence {
  const r = (x: number | null) => (x === null ? null : Number(x.toPrecision(6)));
  return { ...e, baseline: r(e.baseline), incident: r(e.incident) };
}

/** What an alert transition keeps: the top hints at the moment it fired. */
export function topHints(report: HintsReport, n = 3): Hint[] {
  return report.hints.slice(0, n);
}
