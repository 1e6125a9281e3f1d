// The user-space half of bpf/lib/aggregate.bpf.h, shared by the kernel-signal collectors:
// loading an object whose programs attach independently (a tracepoint this kernel lacks
// costs that program only, reported once), swapping the double-buffered generation before
// a drain, summing per-CPU values, and turning cumulative drop counters into deltas.
import { existsSync, readFileSync } from 'node:fs';
import { BpfObject, RingBufferReader, type BpfLink, type BpfMap } from '../bpf.ts';
import type { Collector, CollectWindow, CollectedMetrics } from './types.ts';
import { btfHasTracepoint, KERNEL_BTF_PATH } from '../kernel-btf.ts';

export interface KernelProgram {
  /** The program's name in the object (its C function). */
  name: string;
  /** The tracepoint, as `tp_btf` names it (btf_trace_<name> in the kernel's BTF), or its tracefs name with `category`. */
  tracepoint: string;
  /** A perf-event tracepoint's tracefs category (`syscalls`); one program may be attached to several. */
  category?: string;
}

export interface LoadedSignals {
  obj: BpfObject;
  links: BpfLink[];
  /** Programs that could not be attached on this kernel, with why. */
  unavailable: { program: string; reason: string }[];
}

let kernelBtf: Buffer | undefined;

/** Whether the running kernel's BTF has the typedef tp_btf programs attach through. */
export function kernelHasTracepoint(name: string): boolean {
  if (!kernelBtf) {
    try {
      kernelBtf = readFileSync(KERNEL_BTF_PATH);
    } catch {
      return false;
    }
    // Several MB: kept only while the collectors are being loaded (synchronously, one after the other).
    setImmediate(() => (kernelBtf = undefined));
  }
  return btfHasTracepoint(kernelBtf, name);
}

/**
 * Opens, loads and attaches `objectPath`. A program whose tracepoint the kernel lacks is
 * not loaded (one missing target would fail the whole load), one that fails to attach is
 * left out; both are logged once through `log` and the rest keep working. Throws only when
 * nothing at all could be attached.
 */
export function loadKernelSignals(opts: {
  signal: string;
  objectPath: string;
  programs: readonly KernelProgram[];
  rodata?: Record<string, number | bigint>;
  /** Map sizes other than the object's own. */
  maxEntries?: Record<string, number>;
  log: (line: string) => void;
}): LoadedSignals {
  const obj = BpfObject.open(opts.objectPath);
  const unavailable: LoadedSignals['unavailable'] = [];
  const wanted: KernelProgram[] = [];
  for (const p of opts.programs) {
    // A perf-event tracepoint that is missing fails its own attach, not the load.
    if (p.category || kernelHasTracepoint(p.tracepoint)) {
      wanted.push(p);
    } else {
      obj.setAutoload(p.name, false);
      unavailable.push({ program: p.name, reason: `tracepoint ${p.tracepoint} not in this kernel's BTF` });
    }
  }
  const links: BpfLink[] = [];
  try {
    if (opts.rodata) obj.setRodata(opts.rodata);
    for (const [map, n] of Object.entries(opts.maxEntries ?? {})) obj.setMapMaxEntries(map, n);
    if (wanted.length === 0) throw new Error('none of its tracepoints exist on this kernel');
    obj.load();
    for (const p of wanted) {
      try {
        const prog = obj.program(p.name);
        links.push(p.category ? prog.attachTracepoint(p.category, p.tracepoint) : prog.attach());
      } catch (err) {
        unavailable.push({ program: p.name, reason: (err as Error).message });
      }
    }
    if (links.length === 0) throw new Error(`no program attached: ${unavailable.map((u) => `${u.program}: ${u.reason}`).join('; ')}`);
  } catch (err) {
    obj.close();
    throw err;
  }
  for (const u of unavailable) opts.log(`signal ${opts.signal}: ${u.program} not attached on this kernel: ${u.reason}`);
  return { obj, links, unavailable };
}

/**
 * What every kernel-signal collector shares: one object loaded with `loadKernelSignals`, its
 * links, its `<signal>_dropped` counters, the ring buffers it reads, and closing all of that.
 * Subclasses only decode their maps in `collect`.
 */
export abstract class KernelSignalCollector implements Collector {
  abstract readonly name: string;
  /** Programs that could not be attached on this kernel, with why. */
  readonly unavailable: readonly { program: string; reason: string }[];
  protected readonly obj: BpfObject;
  protected readonly drops: DropCounters;
  private readonly links: BpfLink[];
  private readonly rings: RingBufferReader[] = [];

  protected constructor(load: Parameters<typeof loadKernelSignals>[0], dropReasons: readonly string[]) {
    const loaded = loadKernelSignals(load);
    this.obj = loaded.obj;
    this.links = loaded.links;
    this.unavailable = loaded.unavailable;
    this.drops = new DropCounters(this.obj.map(`${load.signal}_dropped`), dropReasons);
  }

  abstract collect(window: CollectWindow): Promise<CollectedMetrics[]>;

  /** Reads the ring buffer `map` in batches; it is closed with the collector. */
  protected readRing(map: string, onBatch: (records: Buffer[]) => void, opts?: { pollMs?: number }): void {
    this.rings.push(new RingBufferReader(this.obj.map(map), onBatch, opts));
  }

  takeDrops(): Map<string, number> {
    return this.drops.take();
  }

  close(): void {
    for (const r of this.rings) r.close();
    for (const l of this.links) l.detach();
    this.obj.close();
  }
}

/**
 * The user-space half of GENERATION_CONTROL_MAP (bpf/lib/aggregate.bpf.h): retires the
 * generation the probes write to by swapping the other generation's tag into the control
 * map-in-map. The swap resolves after the kernel has waited for every running program, so
 * the retired copies can be drained completely and exactly once.
 */
export class Generations {
  #current: 0 | 1 = 0;
  readonly #control: BpfMap;
  readonly #tags: readonly [BpfMap, BpfMap];
  #swapping: Promise<unknown> = Promise.resolve();

  constructor(obj: BpfObject, controlMap: string) {
    const sleepable = obj.programs.filter((p) => obj.program(p).sleepable);
    if (sleepable.length) {
      // The swap's grace period does not cover sleepable programs (see aggregate.bpf.h).
      throw new Error(`${obj.path}: sleepable programs (${sleepable.join(', ')}) cannot share the generation scheme`);
    }
    this.#control = obj.map(controlMap);
    this.#tags = [obj.map(`${controlMap}_tag_0`), obj.map(`${controlMap}_tag_1`)];
    this.#tags[1].update(Buffer.alloc(4), u32(1));
  }

  /** Moves the probes to the other generation; resolves with the retired one, safe to drain. */
  async flip(): Promise<0 | 1> {
    // One swap at a time: two overlapping flips would retire the same generation twice.
    const run = this.#swapping.then(async () => {
      const retired = this.#current;
      const next = (retired ^ 1) as 0 | 1;
      await this.#control.setInner(Buffer.alloc(4), this.#tags[next]);
      this.#current = next;
      return retired;
    });
    this.#swapping = run.catch(() => undefined);
    return run;
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export interface InflightSweep {
  /** The process (tgid) an entry belongs to, when its exit ends the entry's chance to end. */
  tgidOf?(key: Buffer): number;
  /** When the entry started, in CLOCK_MONOTONIC ns (bpf_ktime_get_ns). */
  startNsOf(value: Buffer): bigint;
  /** Entries older than this never end (their goroutine was hijacked, or is stuck). */
  maxAgeNs: bigint;
}

/** Default for InflightSweep.maxAgeNs: far above any request an SLO is about. */
export const INFLIGHT_MAX_AGE_NS = 3_600_000_000_000n;

/**
 * Removes the entries of an INFLIGHT_MAP (bpf/lib/aggregate.bpf.h) whose end can never
 * come — their process exited, or they are older than `maxAgeNs` — and says how many, so
 * they are counted rather than left to fill the map. An entry that ends between the look
 * and the delete is one whose age is already past maxAgeNs (or whose process is gone).
 */
export function sweepInflight(map: BpfMap, sweep: InflightSweep): { exited: number; stale: number } {
  // process.hrtime is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
  const now = process.hrtime.bigint();
  const alive = new Map<number, boolean>();
  let exited = 0;
  let stale = 0;
  for (const key of map.keys()) {
    const value = map.lookup(key);
    if (!value) continue; // ended meanwhile
    const tgid = sweep.tgidOf?.(key);
    let live = tgid === undefined ? true : alive.get(tgid);
    if (live === undefined) alive.set(tgid!, (live = existsSync(`/proc/${tgid}`)));
    if (!live) {
      if (map.delete(key)) exited++;
    } else if (now - sweep.startNsOf(value) > sweep.maxAgeNs) {
      if (map.delete(key)) stale++;
    }
  }
  return { exited, stale };
}

/** Byte stride of one CPU's slot in a per-CPU map value. */
export function perCpuStride(valueSize: number): number {
  return (valueSize + 7) & ~7;
}

/** Sums the u64 at `offset` of every CPU's slot of a per-CPU value. */
export function sumPerCpu(v: Buffer, offset: number, stride: number): bigint {
  let total = 0n;
  for (let off = offset; off < v.length; off += stride) total += v.readBigUInt64LE(off);
  return total;
}

/** Sums every u64 field of a per-CPU struct value: field i is the sum of offset 8i over CPUs. */
export function sumPerCpuFields(v: Buffer, valueSize: number): bigint[] {
  const stride = perCpuStride(valueSize);
  const out: bigint[] = [];
  for (let f = 0; f * 8 < valueSize; f++) out.push(sumPerCpu(v, f * 8, stride));
  return out;
}

/** Duration totals a series accumulates across CPUs (and kernel maps) within one drain. */
export interface DurationTotals {
  sumNs: bigint;
  minNs?: bigint;
  maxNs?: bigint;
}

/**
 * Folds a per-CPU `struct http_stats { count, sum_ns, min_ns, max_ns }` value into `acc`: sums add,
 * min/max take the extremes, and a CPU that counted nothing is skipped (its min is 0, not a value).
 */
export function addPerCpuDurationStats(acc: DurationTotals, v: Buffer, valueSize: number): void {
  const stride = perCpuStride(valueSize);
  for (let off = 0; off < v.length; off += stride) {
    if (v.readBigUInt64LE(off) === 0n) continue;
    acc.sumNs += v.readBigUInt64LE(off + 8);
    const min = v.readBigUInt64LE(off + 16);
    const max = v.readBigUInt64LE(off + 24);
    if (acc.minNs === undefined || min < acc.minNs) acc.minNs = min;
    if (acc.maxNs === undefined || max > acc.maxNs) acc.maxNs = max;
  }
}

/** Slot `index` of a per-CPU array of u64 counters, summed over CPUs. */
export function perCpuArrayTotal(map: BpfMap, index: number): bigint {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const v = map.lookup(key);
  return v ? sumPerCpu(v, 0, 8) : 0n;
}

/** Delta counts of a DROP_COUNTER_MAP (cumulative per-CPU counters) since the last call, by reason. */
export class DropCounters {
  readonly #last: bigint[] = [];
  readonly #pending = new Map<string, number>();

  constructor(
    private readonly map: BpfMap,
    private readonly reasons: readonly string[],
  ) {}

  /** Reads the counters now (call at each collect, so drops land in the interval they happened in). */
  poll(): void {
    this.reasons.forEach((reason, i) => {
      const total = perCpuArrayTotal(this.map, i);
      const delta = total - (this.#last[i] ?? 0n);
      this.#last[i] = total;
      if (delta > 0n) this.add(reason, Number(delta));
    });
  }

  /** Counts a drop seen in user space (e.g. a cardinality cap). */
  add(reason: string, n: number): void {
    this.#pending.set(reason, (this.#pending.get(reason) ?? 0) + n);
  }

  take(): Map<string, number> {
    const out = new Map(this.#pending);
    this.#pending.clear();
    return out;
  }
}

/**
 * Groups drained histogram bucket entries (keys: a series, then an s32 bucket index at
 * `bucketOffset`; values: per-CPU u64 counts) by series: `seriesOf` names a key's series
 * (undefined skips it).
 */
export function groupBuckets<S>(
  drained: { keys: Buffer[]; values: Buffer[] },
  bucketOffset: number,
  seriesOf: (key: Buffer) => { id: string; series: S } | undefined,
): Map<string, { series: S; buckets: Map<number, number> }> {
  const out = new Map<string, { series: S; buckets: Map<number, number> }>();
  for (let i = 0; i < drained.keys.length; i++) {
    const key = drained.keys[i];
    const s = seriesOf(key);
    if (!s) continue;
    let acc = out.get(s.id);
    if (!acc) out.set(s.id, (acc = { series: s.series, buckets: new Map() }));
    const bucket = key.readInt32LE(bucketOffset);
    const n = Number(sumPerCpu(drained.values[i], 0, 8));
    if (n > 0) acc.buckets.set(bucket, (acc.buckets.get(bucket) ?? 0) + n);
  }
  return out;
}

/** Points per process, then one CollectedMetrics per process; tgid 0 (unattributed) goes to the host. */
export class PointsByProcess<P> {
  readonly #byPid = new Map<number, P[]>();

  add(tgid: number, point: P): void {
    let list = this.#byPid.get(tgid);
    if (!list) this.#byPid.set(tgid, (list = []));
    list.push(point);
  }

  entries(): [pid: number | undefined, points: P[]][] {
    return [...this.#byPid].map(([pid, points]) => [pid === 0 ? undefined : pid, points]);
  }
}
