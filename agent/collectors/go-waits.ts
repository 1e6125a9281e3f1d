// Loads bpf/go_waits.bpf.o and attaches it to Go processes: time goroutines spend parked on
// contended sync.Mutex / sync.RWMutex (burnwatch.go.lock.wait, per waiting function) and in
// GC assist (burnwatch.go.gc.assist). Only contended acquisitions and assists reach a probe
// (see the probe sets goLockWait and goGcAssist in agent/goinspect/probe-sets.ts).
import { BpfObject, type BpfLink } from '../bpf.ts';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { GO_ATTR, GO_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, type ExpHistogramPoint } from '../export/otlp.ts';
import { withElfFile } from '../goinspect/elf.ts';
import { GoFunctionTable } from '../goinspect/pclntab.ts';
import { processLoadBias } from '../goinspect/load-bias.ts';
import type { DiscoveredProcess } from '../discovery.ts';
import type { GoBinaryInfo } from '../goinspect/index.ts';
import type { Collector, CollectWindow, CollectedMetrics } from './types.ts';
import { DropCounters, Generations, INFLIGHT_MAX_AGE_NS, groupBuckets, sumPerCpuFields, sweepInflight } from './kernel-maps.ts';

// ---- Mirrors bpf/go_waits.h ----
const KIND_LOCK = 1;
const KIND_GC_ASSIST = 2;
const FRAMES = 4;
const SERIES_SIZE = 8 + FRAMES * 8;
const DROP_REASONS = ['hist_map_full', 'stats_map_full', 'inflight_full', 'inflight_unfinished', 'series_over'] as const;
/** GO_COOKIE_AT_JBE of bpf/lib/go_abi.bpf.h. */
const COOKIE_AT_JBE = 1n << 16n;

export interface GoWaitsCollectorOptions {
  objectPath: string;
  scale?: number;
  /** Distinct lock call sites kept per process and interval (the rest lose their function name). */
  seriesCap?: number;
  log?: (line: string) => void;
}

interface Watched {
  links: BpfLink[];
  bias: bigint;
  functions: GoFunctionTable;
}

/** The waiting function of a lock wait: the first frame outside the sync package and the runtime. */
export function waitingFunction(names: readonly (string | undefined)[]): string | undefined {
  return names.find((n) => n !== undefined && !n.startsWith('sync.') && !n.startsWith('runtime.'));
}

export class GoWaitsCollector implements Collector {
  readonly name = 'go-waits';
  private readonly obj: BpfObject;
  private readonly generations: Generations;
  private readonly drops: DropCounters;
  private readonly scale: number;
  private readonly log: (line: string) => void;
  private readonly watched = new Map<number, Watched>();
  private readonly attaching = new Map<number, Promise<void>>();
  /** Exited processes: their last data is decoded with their table at the next collect. */
  private readonly exited = new Map<number, Watched>();

  constructor(opts: GoWaitsCollectorOptions) {
    this.scale = opts.scale ?? 5;
    this.log = opts.log ?? ((l) => console.error(`[agent] ${l}`));
    this.obj = BpfObject.open(opts.objectPath);
    this.obj.setRodata({ hist_scale: this.scale, series_cap: BigInt(opts.seriesCap ?? 64) });
    this.obj.load();
    this.generations = new Generations(this.obj, 'waits_control');
    this.drops = new DropCounters(this.obj.map('waits_dropped'), DROP_REASONS);
  }

  attachGo(proc: DiscoveredProcess, info: GoBinaryInfo): void {
    if (!info.probeSets.goLockWait && !info.probeSets.goGcAssist) {
      const why = info.skipped.filter((s) => s.probeSet === 'goLockWait' || s.probeSet === 'goGcAssist').map((s) => s.reason);
      throw new Error(`neither lock-wait nor GC-assist probes resolved${why.length ? `: ${why.join('; ')}` : ''}`);
    }
    const done = this.attach(proc.pid, proc.exePath, info).catch((err) => this.log(`go-waits: attaching pid ${proc.pid} failed: ${(err as Error).message}`));
    this.attaching.set(proc.pid, done);
  }

  /** Resolves once the probes of a process handed to attachGo are in place (or failed, logged). */
  async whenAttached(pid: number): Promise<void> {
    await this.attaching.get(pid);
  }

  isAttached(pid: number): boolean {
    return this.watched.has(pid);
  }

  async attach(pid: number, binaryPath: string, info: GoBinaryInfo): Promise<void> {
    if (this.watched.has(pid)) return;
    const { bias, functions } = await withElfFile(binaryPath, async (elf) => ({
      bias: await processLoadBias(pid, elf),
      functions: await GoFunctionTable.read(elf),
    }));
    const links: BpfLink[] = [];
    const w: Watched = { links, bias, functions };
    this.watched.set(pid, w);
    const probe = (program: string, fileOffset: number, cookie = 0n) =>
      links.push(this.obj.program(program).attachUprobe({ binaryPath, fileOffset, pid, cookie }));
    try {
      const lock = info.probeSets.goLockWait;
      if (lock) {
        // The return site is compared with a run-time return address: a PIE's is biased.
        const returnSite = BigInt(lock.points.fromMutex.addresses[0]) + bias;
        if (lock.points.fromMutex.addresses.length !== 1) throw new Error('sync.runtime_SemacquireMutex calls semacquire1 more than once');
        for (const off of lock.points.waitStart.fileOffsets) probe('go_lock_wait_start', off, returnSite);
        for (const off of lock.points.waitEnd.fileOffsets) probe('go_lock_wait_end', off);
      }
      const gc = info.probeSets.goGcAssist;
      if (gc) {
        const start = gc.points.assistStart;
        probe('go_gc_assist_start', start.fileOffset, start.kind === 'stack-check-jbe' ? COOKIE_AT_JBE : 0n);
        for (const off of gc.points.assistEnd.fileOffsets) probe('go_gc_assist_end', off);
      }
    } catch (err) {
      this.detach(pid);
      throw err;
    }
  }

  processExited(pid: number): void {
    this.detach(pid);
  }

  detach(pid: number): void {
    const w = this.watched.get(pid);
    if (!w) return;
    for (const l of w.links) l.detach();
    this.watched.delete(pid);
    this.attaching.delete(pid);
    this.exited.set(pid, w);
  }

  takeDrops(): Map<string, number> {
    return this.drops.take();
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const exited = [...this.exited.keys()];
    const idle = await this.generations.flip();
    this.drops.poll();
    const { exited: gone, stale } = sweepInflight(this.obj.map('waits_inflight'), {
      tgidOf: (k) => k.readUInt32LE(0),
      startNsOf: (v) => v.readBigUInt64LE(0),
      maxAgeNs: INFLIGHT_MAX_AGE_NS,
    });
    if (gone + stale > 0) this.drops.add('inflight_unfinished', gone + stale);
    this.obj.map(`waits_series_count_${idle}`).drain();

    // A series' kernel key (frames are run-time addresses) → what it is exported as.
    const nameOf = (series: Buffer): { id: string; pid: number; kind: number; fn?: string } | undefined => {
      const pid = series.readUInt32LE(0);
      const kind = series.readUInt32LE(4);
      let fn: string | undefined;
      if (kind === KIND_LOCK) {
        const w = this.watched.get(pid) ?? this.exited.get(pid);
        if (!w) return undefined;
        const names: (string | undefined)[] = [];
        for (let i = 0; i < FRAMES; i++) {
          const pc = series.readBigUInt64LE(8 + i * 8);
          if (pc === 0n) break;
          // A return address points after its call: the call itself is at pc-1.
          names.push(w.functions.nameAt(Number(pc - w.bias - 1n)));
        }
        fn = waitingFunction(names);
      }
      return { id: `${pid}\0${kind}\0${fn ?? ''}`, pid, kind, ...(fn ? { fn } : {}) };
    };

    const statsMap = this.obj.map(`waits_stats_${idle}`);
    const stats = statsMap.drain();
    const sums = new Map<string, bigint>();
    for (let i = 0; i < stats.keys.length; i++) {
      const s = nameOf(stats.keys[i]);
      if (s) sums.set(s.id, (sums.get(s.id) ?? 0n) + sumPerCpuFields(stats.values[i], statsMap.valueSize)[1]);
    }
    const hists = groupBuckets(this.obj.map(`waits_hist_${idle}`).drain(), SERIES_SIZE, (k) => {
      const s = nameOf(k.subarray(0, SERIES_SIZE));
      return s && { id: s.id, series: s };
    });

    const byPid = new Map<number, { lock: ExpHistogramPoint[]; assist: ExpHistogramPoint[] }>();
    for (const [id, { series, buckets }] of hists) {
      if (buckets.size === 0) continue;
      const point: ExpHistogramPoint = {
        attributes: series.fn ? { [GO_ATTR.codeFunction]: series.fn } : {},
        startTimeNs: window.startNs,
        endTimeNs: window.endNs,
        histogram: histogramFromBuckets(this.scale, buckets, sums.get(id) ?? 0n),
      };
      let acc = byPid.get(series.pid);
      if (!acc) byPid.set(series.pid, (acc = { lock: [], assist: [] }));
      (series.kind === KIND_GC_ASSIST ? acc.assist : acc.lock).push(point);
    }
    for (const pid of exited) if (!this.watched.has(pid)) this.exited.delete(pid);
    return [...byPid].map(([pid, { lock, assist }]) => ({
      pid,
      metrics: [
        ...(lock.length ? [exponentialHistogramMetric(METRICS[GO_METRIC.lockWait], lock)] : []),
        ...(assist.length ? [exponentialHistogramMetric(METRICS[GO_METRIC.gcAssist], assist)] : []),
      ],
    }));
  }

  close(): void {
    for (const pid of [...this.watched.keys()]) this.detach(pid);
    this.obj.close();
  }
}
