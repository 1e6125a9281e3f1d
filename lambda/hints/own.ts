// Detectors over a service's own processes: the kernel and Go-runtime signals reported under
// its resource (service.name), plus its own request rate and build ids.

import { ATTR, GO_ATTR, GO_METRIC, KERNEL_ATTR, KERNEL_METRIC } from '../../common/catalogue.ts';
import type { MetricPoint, SeriesRef } from '../storage/types.ts';
import { judgeSignal, strongest, type Candidate, type SignalChange } from './candidate.ts';
import { allOf, groupPoints, type FrameFetcher, intervalSeconds, intervalStartS, quantileOf, rateOf, track, type Cell, type Frame } from './frame.ts';
import { clamp01 } from './robust.ts';
import type { Sli } from './sli.ts';
import { perSecond, seconds } from './text.ts';

export interface OwnContext {
  fetcher: FrameFetcher;
  frame: Frame;
  service: string;
  sli: Sli;
  /** The server points the SLI came from (their resources name the builds that served). */
  sliPoints: readonly MetricPoint[];
}

const always = () => true;

function str(s: SeriesRef, key: string, where: 'attributes' | 'resource' = 'attributes'): string | undefined {
  const v = s[where][key];
  return v === undefined || v === null ? undefined : String(v);
}

export async function ownCandidates(ctx: OwnContext): Promise<Candidate[]> {
  const [cpus, gcs, memories, disks, locks, traffics, lifecycles] = await Promise.all([cpu(ctx), gc(ctx), memory(ctx), disk(ctx), lock(ctx), traffic(ctx), lifecycle(ctx)]);
  const own = [...byTraffic(traffics, gcPageFaults(gcs, memories)), ...disks, ...locks, ...traffics, ...lifecycles];
  return [...ownCpuHunger(cpus, own), ...own];
}

/** incident / baseline of a candidate's leading signal (Infinity from a zero baseline). */
function growth(c: Candidate): number {
  const e = c.evidence[0];
  if (!e || e.incident === null || e.baseline === null) return Infinity;
  return e.baseline > 0 ? e.incident / e.baseline : Infinity;
}

/**
 * More requests collect more garbage and fault more pages in: a GC or page-fault rise no
 * steeper than the request rate's (within 2×) is the surge's doing, not a change in how the
 * service uses memory, and joins the traffic hint's evidence. OOM kills are never folded.
 */
function byTraffic(traffics: Candidate[], candidates: Candidate[]): Candidate[] {
  const traffic = traffics[0];
  if (!traffic) return candidates;
  const load = growth(traffic);
  const folded = candidates.filter((c) => (c.kind === 'gc' || (c.kind === 'memory' && c.evidence.every((e) => e.metric === KERNEL_METRIC.pageFaults))) && growth(c) <= 2 * load);
  traffic.evidence.push(...folded.flatMap((c) => c.evidence));
  return candidates.filter((c) => !folded.includes(c));
}

/**
 * Waiting for a CPU while using more of it is the service's own hunger: whatever made it work
 * harder (GC, page faults, more requests) is the cause, and the wait joins that hint's
 * evidence. A neighbour taking the CPU shows as waiting without using more.
 */
function ownCpuHunger(cpus: Candidate[], own: Candidate[]): Candidate[] {
  const cpu = cpus[0];
  if (!cpu || !cpu.evidence.some((e) => e.metric === KERNEL_METRIC.cpuTime)) return cpus;
  const weight = (c: Candidate) => c.strength * c.share;
  const cause = own.filter((c) => c.kind === 'gc' || c.kind === 'memory' || c.kind === 'traffic').sort((a, b) => weight(b) - weight(a))[0];
  if (!cause || weight(cause) < 0.5 * weight(cpu)) return cpus;
  cause.evidence.push(...cpu.evidence);
  return [];
}

/**
 * A Go heap that is collected and grown again faults its pages back in: page faults rising
 * with a GC surge are the collector's doing, not a memory problem of their own (a storm from
 * outside the heap — mmap, file pages — comes without one). They join the gc hint's evidence.
 * OOM kills stay memory hints whatever the GC did.
 */
function gcPageFaults(gcs: Candidate[], memories: Candidate[]): Candidate[] {
  const gc = gcs[0];
  if (!gc) return memories;
  const faults = memories.filter((m) => m.evidence.every((e) => e.metric === KERNEL_METRIC.pageFaults));
  const explained = faults.filter((m) => gc.strength * gc.share >= 0.5 * m.strength * m.share);
  return [{ ...gc, evidence: [...gc.evidence, ...explained.flatMap((m) => m.evidence)] }, ...memories.filter((m) => !explained.includes(m))];
}

async function cells(ctx: OwnContext, metric: string): Promise<Map<number, Cell>> {
  return allOf(ctx.frame, await ctx.fetcher.points(metric, ctx.service));
}

function candidate(ctx: OwnContext, kind: Candidate['kind'], found: { best: SignalChange; all: SignalChange[] } | undefined, summary: (c: SignalChange) => string, next_step: string): Candidate[] {
  if (!found) return [];
  const { best, all } = found;
  return [{ kind, service: ctx.service, peer: null, summary: summary(best), next_step, strength: best.strength, share: best.cooccurrence, changedAtS: best.changedAtS, evidence: all.map((c) => c.evidence) }];
}

/** Run-queue latency is the CPU signal: CPU time alone rises with any extra work, waiting for a CPU only under contention. */
async function cpu(ctx: OwnContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const [runq, cpuTime] = await Promise.all([cells(ctx, KERNEL_METRIC.runqueueLatency), cells(ctx, KERNEL_METRIC.cpuTime)]);
  // Two views of waiting: how long one wakeup waits (p90), and how much waiting there is in all
  // per second of wall time (like PSI's "some" CPU pressure). A scheduler that favours short
  // wakers keeps each wait short under a hog, yet the waits add up.
  const found = strongest([
    judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.runqueueLatency, labels: { aggregation: 'p90' }, unit: 's', rule: { floor: 0.0005, relative: 1 } }, track(f, quantileOf(runq, 0.9))),
    judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.runqueueLatency, labels: { aggregation: 'sum_rate' }, unit: 's/s', rule: { floor: 0.05, relative: 1 } }, track(f, (i) => (runq.get(i)?.histogramSum ?? 0) / intervalSeconds(f, i))),
  ]);
  if (!found) return [];
  const wait = found.best;
  // cpu.time is in ns: per second of wall time it is the share of one CPU used.
  const used = judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.cpuTime, labels: { aggregation: 'cpus' }, unit: '1', rule: { floor: 0.05, relative: 0.3 } }, track(f, (i) => (cpuTime.get(i)?.acc.count ?? 0) / 1e9 / intervalSeconds(f, i)));
  return candidate(ctx, 'cpu', { best: wait, all: used ? [...found.all, used] : found.all }, (c) => `${ctx.service}'s threads waited for a CPU: ${c.evidence.unit === 's/s' ? `${seconds(c.change.incident)} of waiting per second` : `run-queue p90 ${seconds(c.change.incident)}`}, was ${seconds(c.change.baseline)}`, `check what else runs on ${ctx.service}'s CPUs (noisy neighbours, CPU limits/throttling) and its CPU profile`);
}

async function gc(ctx: OwnContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const [cycles, pauses, assists] = await Promise.all([cells(ctx, GO_METRIC.gcCycles), cells(ctx, GO_METRIC.gcPause), cells(ctx, GO_METRIC.gcAssist)]);
  const found = strongest([
    judgeSignal(f, ctx.sli, { metric: GO_METRIC.gcCycles, labels: { aggregation: 'rate' }, unit: '{cycle}/s', rule: { floor: 1, relative: 1 } }, track(f, rateOf(f, cycles, always))),
    judgeSignal(f, ctx.sli, { metric: GO_METRIC.gcPause, labels: { aggregation: 'sum_rate' }, unit: 's/s', rule: { floor: 0.001, relative: 1 } }, track(f, (i) => (pauses.get(i)?.histogramSum ?? 0) / intervalSeconds(f, i))),
    // Allocating goroutines pay the marker's debt before any pause grows: seconds of assist per second.
    judgeSignal(f, ctx.sli, { metric: GO_METRIC.gcAssist, labels: { aggregation: 'sum_rate' }, unit: 's/s', rule: { floor: 0.005, relative: 1 } }, track(f, (i) => (assists.get(i)?.histogramSum ?? 0) / intervalSeconds(f, i))),
  ]);
  const says = (c: SignalChange) =>
    c.evidence.metric === GO_METRIC.gcCycles
      ? `${perSecond(c.change.incident)} GC cycles, was ${perSecond(c.change.baseline)}`
      : c.evidence.metric === GO_METRIC.gcAssist
        ? `allocating goroutines stalled in GC assist ${seconds(c.change.incident)} per second, was ${seconds(c.change.baseline)}`
        : `GC pauses ${seconds(c.change.incident)} per second, was ${seconds(c.change.baseline)}`;
  return candidate(ctx, 'gc', found, (c) => `${ctx.service} is collecting garbage more: ${says(c)}`, `look at ${ctx.service}'s allocation profile (heap growth, GOGC/GOMEMLIMIT) around the change`);
}

/**
 * Lock contention: seconds per second that goroutines spent parked on contended sync locks, in
 * all and per waiting function (the strongest names the function). A process without Go lock
 * probes is judged on its futex waits instead; a Go process's futex waits are mostly its idle
 * runtime threads, which say nothing about locks.
 */
async function lock(ctx: OwnContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const [waits, futexes, goroutines] = await Promise.all([
    ctx.fetcher.points(GO_METRIC.lockWait, ctx.service),
    ctx.fetcher.points(KERNEL_METRIC.futexWait, ctx.service),
    ctx.fetcher.points(GO_METRIC.goroutines, ctx.service),
  ]);
  const perSecondOf = (cells: ReadonlyMap<number, Cell> | undefined) => track(f, (i) => (cells?.get(i)?.histogramSum ?? 0) / intervalSeconds(f, i));
  const rule = { floor: 0.01, relative: 1 };
  const signals: (SignalChange | undefined)[] = [];
  if (waits.length > 0) {
    signals.push(judgeSignal(f, ctx.sli, { metric: GO_METRIC.lockWait, labels: { aggregation: 'sum_rate' }, unit: 's/s', rule }, perSecondOf(allOf(f, waits))));
    for (const [fn, g] of groupPoints(f, waits, (s) => str(s, GO_ATTR.codeFunction))) {
      signals.push(judgeSignal(f, ctx.sli, { metric: GO_METRIC.lockWait, labels: { aggregation: 'sum_rate', [GO_ATTR.codeFunction]: fn }, unit: 's/s', rule }, perSecondOf(g.cells)));
    }
  } else if (goroutines.length === 0) {
    const waitOp = groupPoints(f, futexes, (s) => str(s, KERNEL_ATTR.futexOp)).get('wait');
    signals.push(judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.futexWait, labels: { aggregation: 'sum_rate', [KERNEL_ATTR.futexOp]: 'wait' }, unit: 's/s', rule: { floor: 0.05, relative: 1 } }, perSecondOf(waitOp?.cells)));
  }
  const found = strongest(signals);
  if (!found) return [];
  // The waiting function named is the one that changed and waits most.
  const named = found.all
    .filter((c) => c.evidence.labels[GO_ATTR.codeFunction] !== undefined)
    .sort((a, b) => (b.change.incident ?? 0) - (a.change.incident ?? 0))[0];
  const where = named ? ` in ${named.evidence.labels[GO_ATTR.codeFunction]}` : '';
  const what = found.best.evidence.metric === KERNEL_METRIC.futexWait ? 'threads waited in futex (locks, condition variables)' : `goroutines waited on contended locks${where}`;
  return candidate(ctx, 'lock', found, (c) => `${ctx.service}'s ${what}: ${seconds(c.change.incident)} of waiting per second, was ${seconds(c.change.baseline)}`, `find what holds the lock${where} and for how long (Go: the mutex profile, /debug/pprof/mutex with runtime.SetMutexProfileFraction); shorten the critical section or split the lock`);
}

async function memory(ctx: OwnContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const [faultPoints, ooms] = await Promise.all([ctx.fetcher.points(KERNEL_METRIC.pageFaults, ctx.service), cells(ctx, KERNEL_METRIC.oomKills)]);
  const byType = groupPoints(f, faultPoints, (s) => str(s, KERNEL_ATTR.faultType) ?? 'minor');
  const faults = (type: string, floor: number) =>
    judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.pageFaults, labels: { [KERNEL_ATTR.faultType]: type }, unit: '{fault}/s', rule: { floor, relative: 1 } }, track(f, rateOf(f, byType.get(type)?.cells, always)));
  const kills = events(ctx, ooms);
  const faulting = candidate(ctx, 'memory', strongest([faults('major', 5), faults('minor', 200)]), (c) => `page faults in ${ctx.service}: ${perSecond(c.change.incident)} ${c.evidence.labels[KERNEL_ATTR.faultType]}, was ${perSecond(c.change.baseline)}`, `check ${ctx.service}'s memory use and the host's free memory/swap`);
  if (!kills) return faulting;
  // One memory hint: the kills, with the faults that led up to them as evidence.
  const out: Candidate[] = [{
    kind: 'memory', service: ctx.service, peer: null,
    summary: `${ctx.service} was killed by the OOM killer ${kills.count} time(s)`,
    next_step: `check ${ctx.service}'s memory limit and heap growth before the kill`,
    strength: kills.strength, share: kills.share, changedAtS: kills.atS,
    evidence: [{ metric: KERNEL_METRIC.oomKills, labels: {}, baseline: kills.baselinePerInterval, incident: kills.count, unit: '{process}', changed_at: kills.atS }, ...faulting.flatMap((c) => c.evidence)],
  }];
  return out;
}

async function disk(ctx: OwnContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const [latency, errors] = await Promise.all([cells(ctx, KERNEL_METRIC.blockIoDuration), cells(ctx, KERNEL_METRIC.blockIoErrors)]);
  const found = strongest([
    judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.blockIoDuration, labels: { aggregation: 'p90' }, unit: 's', rule: { floor: 0.005, relative: 1 } }, track(f, quantileOf(latency, 0.9))),
    judgeSignal(f, ctx.sli, { metric: KERNEL_METRIC.blockIoErrors, labels: { aggregation: 'rate' }, unit: '{request}/s', rule: { floor: 0.05, relative: 0 } }, track(f, rateOf(f, errors, always))),
  ]);
  return candidate(ctx, 'disk', found, (c) => (c.evidence.metric === KERNEL_METRIC.blockIoErrors ? `block I/O of ${ctx.service} failing: ${perSecond(c.change.incident)} errors` : `block I/O of ${ctx.service} is slow: p90 ${seconds(c.change.incident)}, was ${seconds(c.change.baseline)}`), `check the device's latency and queue (iostat) and what else writes to it`);
}

async function traffic(ctx: OwnContext): Promise<Candidate[]> {
  const rate = ctx.sli.rate;
  if (!rate || rate.z <= 3 || rate.changedAt === undefined) return [];
  const f = ctx.frame;
  const c = judgeSignal(f, ctx.sli, { metric: ctx.sli.metric, labels: { aggregation: 'rate' }, unit: '{request}/s', rule: { floor: 1, relative: 0.5 } }, track(f, (i) => ctx.sli.requests(i) / intervalSeconds(f, i)));
  return candidate(ctx, 'traffic', c && { best: c, all: [c] }, (s) => `requests to ${ctx.service} surged: ${perSecond(s.change.incident)}, was ${perSecond(s.change.baseline)}`, `find who sends the extra requests (callers, retries) and whether ${ctx.service} can scale out`);
}

interface Events {
  count: number;
  /** Unix seconds of the interval of the first one. */
  atS: number;
  firstIndex: number;
  baselinePerInterval: number;
  strength: number;
  share: number;
}

/**
 * Discrete events (kills, exits) that matter around the damage: those from a few intervals
 * before the window on. Strength falls as the baseline had as many; the share is the damage in
 * the intervals right after an event (a restart hurts for a while, not forever).
 */
function events(ctx: OwnContext, cells: ReadonlyMap<number, Cell>, keep: (i: number) => boolean = always): Events | undefined {
  const f = ctx.frame;
  const lead = Math.min(f.baselineIntervals, Math.ceil(300 / intervalSeconds(f, -1)));
  let count = 0;
  let first: number | undefined;
  let before = 0;
  const hit: number[] = [];
  for (const [i, c] of [...cells].sort((a, b) => a[0] - b[0])) {
    const n = c.acc.count;
    if (n <= 0 || !keep(i)) continue;
    if (i < -lead) before += n;
    else {
      count += n;
      first ??= i;
      hit.push(i);
    }
  }
  if (first === undefined) return undefined;
  const baselinePerInterval = before / Math.max(1, f.baselineIntervals - lead);
  const expected = baselinePerInterval * (f.incidentIntervals + lead);
  const affected = ctx.sli.damaged.map((_, i) => hit.some((h) => i >= h - 1 && i <= h + 6));
  const hurt = ctx.sli.damaged.filter(Boolean).length;
  const share = hurt === 0 ? 0 : ctx.sli.damaged.filter((d, i) => d && affected[i]).length / hurt;
  return { count, atS: intervalStartS(f, first), firstIndex: first, baselinePerInterval, strength: 0.95 * clamp01(1 - expected / count), share };
}

/** Deploys (a build id not running before) and crashes (exits by a signal or a failure code). */
async function lifecycle(ctx: OwnContext): Promise<Candidate[]> {
  const f = ctx.frame;
  const [starts, exits, ooms] = await Promise.all([
    ctx.fetcher.points(KERNEL_METRIC.processStarts, ctx.service),
    ctx.fetcher.points(KERNEL_METRIC.processExits, ctx.service),
    cells(ctx, KERNEL_METRIC.oomKills),
  ]);
  const out: Candidate[] = [];
  // When each build was first seen: started (lifecycle signal) or serving (the SLI's resource).
  const firstSeen = new Map<string, number>();
  const see = (build: string | undefined, i: number) => {
    if (build !== undefined && i < (firstSeen.get(build) ?? Infinity)) firstSeen.set(build, i);
  };
  for (const [build, g] of groupPoints(f, starts, (s) => str(s, KERNEL_ATTR.buildId))) for (const i of g.cells.keys()) see(build, i);
  for (const [build, g] of groupPoints(f, ctx.sliPoints, (s) => str(s, ATTR.buildId, 'resource'))) for (const i of g.cells.keys()) see(build, i);
  const oldest = Math.min(...firstSeen.values());
  for (const [build, i] of firstSeen) {
    // The first build seen was running already; a later one replaced (or joined) it.
    if (i === oldest || i <= -f.baselineIntervals) continue;
    const startCells = groupPoints(f, starts, (s) => (str(s, KERNEL_ATTR.buildId) === build ? build : undefined)).get(build)?.cells;
    const atS = intervalStartS(f, i);
    const damagedAfter = ctx.sli.damaged.filter((d, k) => d && k >= i - 1).length;
    const hurt = ctx.sli.damaged.filter(Boolean).length;
    out.push({
      kind: 'deploy', service: ctx.service, peer: null,
      summary: `a new build of ${ctx.service} started at ${new Date(atS * 1000).toISOString()} (build id ${build.slice(0, 12)})`,
      next_step: `compare build ${build.slice(0, 12)} with the one before it; roll back if the change is not wanted`,
      strength: 0.95, share: hurt === 0 ? 0 : damagedAfter / hurt, changedAtS: atS,
      evidence: [{ metric: KERNEL_METRIC.processStarts, labels: { [KERNEL_ATTR.buildId]: build }, baseline: 0, incident: startCells ? [...startCells.values()].reduce((n, c) => n + c.acc.count, 0) : 1, unit: '{process}', changed_at: atS }],
    });
  }
  // An exit the OOM killer caused is the memory hint's; a clean exit (code 0, SIGTERM/SIGINT) is a stop, not a crash.
  const killed = new Set([...ooms].filter(([, c]) => c.acc.count > 0).flatMap(([i]) => [i - 1, i, i + 1]));
  const crashes = groupPoints(f, exits, (s) => {
    const signal = str(s, KERNEL_ATTR.exitSignal);
    const code = Number(str(s, KERNEL_ATTR.exitCode) ?? 0);
    return signal === 'SIGTERM' || signal === 'SIGINT' || (signal === undefined && code === 0) ? undefined : 'crash';
  }).get('crash');
  const crashed = crashes && events(ctx, crashes.cells, (i) => !killed.has(i));
  if (crashed) {
    const signal = str(crashes.series, KERNEL_ATTR.exitSignal);
    out.push({
      kind: 'crash', service: ctx.service, peer: null,
      summary: `${ctx.service} exited ${crashed.count} time(s)${signal ? ` (${signal})` : ` (exit code ${str(crashes.series, KERNEL_ATTR.exitCode)})`}`,
      next_step: `read ${ctx.service}'s last log lines before the exit and its restart policy`,
      strength: crashed.strength, share: crashed.share, changedAtS: crashed.atS,
      evidence: [{ metric: KERNEL_METRIC.processExits, labels: {}, baseline: crashed.baselinePerInterval, incident: crashed.count, unit: '{process}', changed_at: crashed.atS }],
    });
  }
  return out;
}
