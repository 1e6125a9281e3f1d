// Loads bpf/go_calls.bpf.o and attaches it to Go processes, one probe family per module under
// go-calls/ (gRPC server and client, outbound HTTP, database/sql, Redis, GC pauses, goroutine
// lineage); turns the in-kernel histograms into the GO_METRICS of the catalogue and the
// ring-buffer records into SlowRequest values. HTTP server requests become slow-request roots
// in http-server's object, whose request-root maps this object shares (go-calls/request-roots.ts).
import { BpfObject, RingBufferReader, type BpfLink } from '../bpf.ts';
import { histogramFromBuckets, type ExpHistogram } from '../../common/exphist.ts';
import { GO_ATTR, GO_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint } from '../export/otlp.ts';
import { epochFromMonotonicNs } from '../clock.ts';
import { withElfFile, type ElfFile } from '../goinspect/elf.ts';
import { processLoadBias } from '../goinspect/load-bias.ts';
import type { DiscoveredProcess } from '../discovery.ts';
import { GO_PROBE_SETS, type GoBinaryInfo, type ProbeSetName, type ResolvedProbeSets } from '../goinspect/index.ts';
import type { Collector, CollectWindow, CollectedMetrics } from './types.ts';
import type { SlowRequest, Subcall } from './slow-request.ts';
import { RouteLimiter } from './route.ts';
import { DropCounters, Generations, INFLIGHT_MAX_AGE_NS, addPerCpuDurationStats, sumPerCpu, sweepInflight, type InflightSweep } from './kernel-maps.ts';
import { cString } from './c-string.ts';
import { hasSubcallProbes, type RequestRootMapsOwner } from './go-calls/request-roots.ts';
import {
  DROP_REASONS, KIND, METHOD_MAX, OFFSETS_SIZE, REQUEST_KIND_AT, ROUTE_MAX, SERIES_SIZE, SLOW_RECORD_SIZE, SLOW_SUBS_AT, SUBCALLS_MAX,
  SUBCALL_SIZE, U64_AT, decodeSeries, decodeSubcall, type DecodedSeries,
} from './go-calls/layout.ts';
import { GO_CALL_FAMILIES, seriesKind, subcallSeries } from './go-calls/families.ts';
import type { SeriesContext } from './go-calls/family.ts';
import { GC_CYCLE_PHASE } from './go-calls/gc-pause.ts';
import { sqlSystemsOf } from './go-calls/sql.ts';
import { peerOf } from './go-calls/peer.ts';
import { countGoroutines } from './go-calls/goroutines.ts';
import type { SlowThresholds } from './go-calls/slow-thresholds.ts';

export { slowThresholdsFromEnv } from './go-calls/slow-thresholds.ts';
export { splitGrpcMethod } from './go-calls/grpc.ts';
export { operationWord } from './go-calls/sql.ts';
export { peerOf } from './go-calls/peer.ts';
export { countGoroutines } from './go-calls/goroutines.ts';

const COOKIE_AT_JBE = 1n << 16n;
const MAX_PENDING_SLOW = 10_000;

/** The probe sets this collector uses; a binary without a library simply lacks its set. */
const OWN_SETS: ProbeSetName[] = ['grpcServer', 'grpcClient', 'httpClient', 'sqlClient', 'sqlPq', 'redigo', 'redisV5', 'netPeer', 'goRuntime'];

export interface GoCallsCollectorOptions extends SlowThresholds {
  objectPath: string;
  scale?: number;
  /** One line per problem worth an operator's attention (skipped probe sets). */
  log?: (line: string) => void;
  /** Ring-buffer poll period. Default 1000 ms (records are written without wake-ups). */
  ringPollMs?: number;
  /** In-flight calls older than this are swept (and counted as inflight_stale); long streams count too. */
  inflightMaxAgeNs?: bigint;
  /**
   * Whether attach() also attaches the costly probes (default true). The agent passes false and
   * turns them on per process (setDeepProbes) as its probe mode decides (agent/probe-mode.ts).
   */
  deepProbes?: boolean;
  /** Map sizes other than the object's own (e.g. fewer go_calls_offsets slots). */
  maxEntries?: Record<string, number>;
  /**
   * The collector that owns the HTTP server probes: its object keeps the request-root maps this
   * one reuses, so HTTP requests become roots of the slow breakdown without probes of our own
   * on ServeHTTP / finishRequest / handlerDone. Without it, only gRPC server requests are roots.
   */
  httpServer?: RequestRootMapsOwner;
}

/** A process's costly probes: entry probes and the probes that end what they started. */
interface DeepLinks {
  starts: BpfLink[];
  ends: BpfLink[];
}

/** Detaches and empties the list. */
function detachAll(links: BpfLink[]): void {
  for (let l = links.pop(); l; l = links.pop()) l.detach();
}

interface BinarySlot {
  slot: number;
  /** this.slots' key: the binary, and for a PIE the load bias of its process. */
  key: string;
  /** Run-time = link-time address + bias (0 but for a PIE). */
  bias: bigint;
  /** driver.Conn itab address → db.system, for SQL series. */
  sqlSystems: Map<bigint, string>;
  /** Where to count goroutines (binaries with the runtime fields resolved). */
  goroutines?: { allgs: bigint; statusOffset: number };
}

interface SeriesAcc {
  pid: number;
  kind: number;
  attributes: Record<string, string | number>;
  buckets: Map<number, number>;
  count: number;
  sumNs: bigint;
  minNs?: bigint;
  maxNs?: bigint;
  gcPhase?: number;
}

export class GoCallsCollector implements Collector, SeriesContext {
  readonly name = 'go-calls';
  private readonly obj: BpfObject;
  private readonly ring: RingBufferReader;
  /** Always-on probes per process (and the mark that a process is attached). */
  private readonly links = new Map<number, BpfLink[]>();
  /** Costly probes per process, while they are on. */
  private readonly deepLinks = new Map<number, DeepLinks>();
  /** What attach was given per attached process: the deep probes attach later from it. */
  private readonly targets = new Map<number, { binaryPath: string; info: GoBinaryInfo }>();
  private readonly deepByDefault: boolean;
  private readonly slots = new Map<string, Promise<BinarySlot>>();
  private readonly slotOfPid = new Map<number, BinarySlot>();
  private readonly serviceOfPid = new Map<number, string>();
  private readonly scale: number;
  private readonly log: (line: string) => void;
  private readonly thresholds: Record<string, bigint>;
  private readonly routes = new RouteLimiter(100);
  private readonly generations: Generations;
  private readonly inflightMaxAgeNs: bigint;
  private readonly drops: DropCounters;
  private readonly reportedSkips = new Set<string>();
  private pendingSlow: SlowRequest[] = [];
  private readonly exitedPids = new Set<number>();
  private nextSlot = 0;

  constructor(opts: GoCallsCollectorOptions) {
    this.scale = opts.scale ?? 5;
    this.log = opts.log ?? ((l) => console.error(`[agent] ${l}`));
    this.thresholds = opts.slowThresholdsByService ?? {};
    this.inflightMaxAgeNs = opts.inflightMaxAgeNs ?? INFLIGHT_MAX_AGE_NS;
    this.deepByDefault = opts.deepProbes ?? true;
    this.obj = BpfObject.open(opts.objectPath);
    this.obj.setRodata({ hist_scale: this.scale });
    for (const [map, n] of Object.entries(opts.maxEntries ?? {})) this.obj.setMapMaxEntries(map, n);
    if (opts.httpServer) for (const [name, map] of opts.httpServer.requestRootMaps()) this.obj.reuseMap(name, map);
    this.obj.load();
    this.setSlowThreshold(0, opts.slowThresholdNs ?? 200_000_000n); // key 0: every pid without its own
    this.generations = new Generations(this.obj, 'calls_control');
    this.drops = new DropCounters(this.obj.map('calls_dropped'), DROP_REASONS);
    if (this.obj.map('go_calls_offsets').valueSize !== OFFSETS_SIZE) {
      throw new Error(`bpf/go_calls.h and go-calls.ts disagree: offsets value is ${this.obj.map('go_calls_offsets').valueSize} bytes`);
    }
    this.ring = new RingBufferReader(this.obj.map('slow_requests'), (records) => this.onSlowRecords(records), { pollMs: opts.ringPollMs ?? 1000 });
  }

  isAttached(pid: number): boolean {
    return this.links.has(pid);
  }

  /** The offsets slot of a process: processes of one binary share one (and the one loaded object). */
  slotOf(pid: number): number | undefined {
    return this.slotOfPid.get(pid)?.slot;
  }

  attachGo(proc: DiscoveredProcess, info: GoBinaryInfo): void {
    // Synchronous part of the contract: the agent wants to know at once whether anything applies.
    const sets = info.probeSets;
    if (!OWN_SETS.some((s) => s !== 'netPeer' && s !== 'sqlPq' && sets[s])) {
      throw new Error('no gRPC, HTTP client, database/sql, Redis or Go runtime probe resolved');
    }
    this.reportSkips(proc, info);
    const done = this.attach(proc.pid, proc.exePath, info, proc.serviceName).catch((err) =>
      this.log(`go-calls: attaching pid ${proc.pid} failed: ${(err as Error).message}`),
    );
    this.attaching.set(proc.pid, done);
  }

  /** Resolves once the probes of a process handed to attachGo are in place (or failed, logged). */
  async whenAttached(pid: number): Promise<void> {
    await this.attaching.get(pid);
  }
  private readonly attaching = new Map<number, Promise<void>>();

  /**
   * Attaches the always-on programs whose probe set resolved for the binary (gRPC server RED, GC
   * pauses) and, when `deep`, the costly ones (see setDeepProbes); resolves when done.
   */
  async attach(pid: number, binaryPath: string, info: GoBinaryInfo, service?: string, deep = this.deepByDefault): Promise<void> {
    if (this.links.has(pid)) return;
    this.links.set(pid, []);
    let slot: BinarySlot;
    try {
      slot = await this.slotFor(pid, binaryPath, info);
      // Its binary's last process was forgotten meanwhile, and the slot freed: take a new one.
      if (!this.slots.has(slot.key)) slot = await this.slotFor(pid, binaryPath, info);
    } catch (err) {
      this.links.delete(pid); // not attached (e.g. it exited before its maps could be read)
      throw err;
    }
    if (!this.links.has(pid)) {
      this.releaseSlotIfUnused(slot); // exited meanwhile
      return;
    }
    this.slotOfPid.set(pid, slot);
    this.targets.set(pid, { binaryPath, info });
    if (service !== undefined) {
      this.serviceOfPid.set(pid, service);
      const t = this.thresholds[service];
      if (t !== undefined) this.setSlowThreshold(pid, t);
    }
    try {
      this.attachFamilies(pid, 'red', this.links.get(pid)!);
    } catch (err) {
      this.detach(pid);
      throw err;
    }
    if (deep) this.attachDeep(pid);
  }

  /**
   * Attaches (`on`) or detaches the costly probes of one attached process: client calls (HTTP,
   * gRPC, SQL, Redis, with their RET probes), HTTP request roots and goroutine lineage (the
   * slow-request breakdown). Calls queue per process; resolves once the probes are in place or
   * gone. A process not attached (or gone) is a no-op.
   */
  setDeepProbes(pid: number, on: boolean): Promise<void> {
    const prev = Promise.all([this.attaching.get(pid), this.deepChange.get(pid)?.catch(() => undefined)]);
    const next = prev.then(() => (on ? this.attachDeep(pid) : this.detachDeep(pid)));
    this.deepChange.set(pid, next);
    return next;
  }
  private readonly deepChange = new Map<number, Promise<void>>();

  /** Processes with their deep probes attached now. */
  deepPids(): number[] {
    return [...this.deepLinks.keys()];
  }

  /** What the deep probes measure for a process while they are on (its binary's client and database calls). */
  deepCoverage(pid: number): { httpClient: boolean; db: boolean } {
    const s = this.targets.get(pid)?.info.probeSets;
    return { httpClient: Boolean(s?.httpClient), db: Boolean(s && (s.sqlClient || s.redigo || s.redisV5)) };
  }

  private attachDeep(pid: number): void {
    if (this.deepLinks.has(pid) || !this.links.has(pid) || !this.targets.has(pid)) return;
    const links: DeepLinks = { starts: [], ends: [] };
    try {
      this.attachFamilies(pid, 'deep', links);
    } catch (err) {
      detachAll(links.starts);
      detachAll(links.ends);
      this.purgeDeepInflight(pid);
      throw err;
    }
    this.deepLinks.set(pid, links);
    if (hasSubcallProbes(this.targets.get(pid)!.info.probeSets)) this.setRequestRoots(pid, true);
  }

  /**
   * Whether the process's HTTP requests are roots of the slow breakdown: read by the HTTP
   * server probes (http-server's object, whose request_roots map this object shares) when a
   * request starts. Harmless while those probes are not attached to the process.
   */
  private setRequestRoots(pid: number, on: boolean): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(pid);
    if (on) this.obj.map('request_roots').update(k, Buffer.from([1]));
    else this.obj.map('request_roots').delete(k);
  }

  /**
   * Every entry probe goes first, so nothing new starts; then the ends, so calls in flight still
   * end; then the state of calls and requests that will never see their end is removed, so a
   * later attach cannot end them with a wrong duration. Each uprobe detach waits for the kernel
   * (an RCU grace period, tens of ms here): the event loop gets a turn between them.
   */
  private async detachDeep(pid: number): Promise<void> {
    const links = this.deepLinks.get(pid);
    if (!links) return;
    this.deepLinks.delete(pid);
    this.detachingDeep.set(pid, links);
    this.setRequestRoots(pid, false); // no new HTTP root starts; those in flight are purged below
    try {
      for (const list of [links.starts, links.ends]) {
        // Popped one by one: detach(pid) or close() meanwhile take whatever is left.
        for (let l = list.pop(); l; l = list.pop()) {
          l.detach();
          await new Promise((r) => setImmediate(r));
        }
      }
      if (this.links.has(pid)) this.purgeDeepInflight(pid);
    } finally {
      this.detachingDeep.delete(pid);
    }
  }
  private readonly detachingDeep = new Map<number, DeepLinks>();

  /** Server requests of a process in flight now as roots (walks the map: for checks, not per interval). */
  inflightRequests(pid: number): number {
    return this.obj.map('requests').keys().filter((k) => k.readUInt32LE(0) === pid).length;
  }

  /** Removes one process's in-flight client calls and HTTP request roots (the gRPC server's requests are always-on state). */
  private purgeDeepInflight(pid: number): void {
    const calls = this.obj.map('call_inflight');
    for (const k of calls.keys()) if (k.readUInt32LE(0) === pid) calls.delete(k);
    const requests = this.obj.map('requests');
    for (const k of requests.keys()) {
      if (k.readUInt32LE(0) !== pid) continue;
      if (requests.lookup(k)?.readUInt32LE(REQUEST_KIND_AT) === KIND.httpServer) requests.delete(k);
    }
  }

  /**
   * The programs of the families attached `when` for a process. Within a family the end probes
   * attach before the entry probes, so no call that starts while they attach is left without its end.
   */
  private attachFamilies(pid: number, when: 'red' | 'deep', into: BpfLink[] | DeepLinks): void {
    const { binaryPath, info } = this.targets.get(pid)!;
    const slot = BigInt(this.slotOfPid.get(pid)!.slot);
    for (const family of GO_CALL_FAMILIES) {
      if (family.when !== when) continue;
      for (const p of family.points(info.probeSets)) {
        const list = Array.isArray(into) ? into : /_(end|ret)$/.test(p.program) ? into.ends : into.starts;
        const program = this.obj.program(p.program);
        if ('entry' in p) {
          const cookie = slot | (p.entry.kind === 'stack-check-jbe' ? COOKIE_AT_JBE : 0n);
          list.push(program.attachUprobe({ binaryPath, fileOffset: p.entry.fileOffset, pid, cookie }));
        } else {
          for (const fileOffset of p.returns) list.push(program.attachUprobe({ binaryPath, fileOffset, pid, cookie: slot }));
        }
      }
    }
  }

  /** The slow threshold of one process (ns); others keep the default. */
  setSlowThreshold(pid: number, ns: bigint): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(pid);
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(ns);
    this.obj.map('slow_threshold').update(k, v);
  }

  processExited(pid: number): void {
    this.detach(pid);
  }

  detach(pid: number): void {
    for (const deep of [this.deepLinks.get(pid), this.detachingDeep.get(pid)]) {
      if (!deep) continue;
      detachAll(deep.starts);
      detachAll(deep.ends);
    }
    this.deepLinks.delete(pid);
    this.deepChange.delete(pid);
    this.setRequestRoots(pid, false);
    for (const l of this.links.get(pid) ?? []) l.detach();
    this.links.delete(pid);
    this.targets.delete(pid);
    this.attaching.delete(pid);
    // Its last data is still to be collected (and decoded with its binary's slot).
    this.exitedPids.add(pid);
    const k = Buffer.alloc(4);
    k.writeUInt32LE(pid);
    try {
      this.obj.map('slow_threshold').delete(k);
    } catch {
      // not set
    }
  }

  takeSlowRequests(): SlowRequest[] {
    const out = this.pendingSlow;
    this.pendingSlow = [];
    return out;
  }

  takeDrops(): Map<string, number> {
    this.drops.poll();
    return this.drops.take();
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const forget = [...this.exitedPids].filter((pid) => !this.links.has(pid));
    const series = await this.drain();
    const byPid = new Map<number, Map<string, ExpHistogramPoint[]>>();
    const gcCycles = new Map<number, number>();
    for (const s of series) {
      if (s.buckets.size === 0) continue;
      const metric = seriesKind(s.kind).metric;
      let m = byPid.get(s.pid);
      if (!m) byPid.set(s.pid, (m = new Map()));
      let list = m.get(metric);
      if (!list) m.set(metric, (list = []));
      const histogram: ExpHistogram = histogramFromBuckets(this.scale, s.buckets, s.sumNs, { minNs: s.minNs, maxNs: s.maxNs });
      list.push({ attributes: s.attributes, startTimeNs: window.startNs, endTimeNs: window.endNs, histogram });
      if (s.kind === KIND.gcPause && s.gcPhase === GC_CYCLE_PHASE) gcCycles.set(s.pid, (gcCycles.get(s.pid) ?? 0) + s.count);
    }
    const goroutines = new Map<number, number>();
    for (const [pid, slot] of this.slotOfPid) {
      if (!slot.goroutines || !this.links.has(pid)) continue;
      const n = countGoroutines(pid, slot.goroutines.allgs, slot.goroutines.statusOffset);
      if (n === undefined) continue;
      goroutines.set(pid, n);
      if (!byPid.has(pid)) byPid.set(pid, new Map());
    }
    const out: CollectedMetrics[] = [];
    for (const [pid, metrics] of byPid) {
      const list: CollectedMetrics['metrics'] = [...metrics].map(([name, points]) => exponentialHistogramMetric(METRICS[name], points));
      const cycles = gcCycles.get(pid);
      if (cycles) {
        list.push(numberMetric(METRICS[GO_METRIC.gcCycles], [{ attributes: {}, startTimeNs: window.startNs, endTimeNs: window.endNs, value: cycles }]));
      }
      const live = goroutines.get(pid);
      if (live !== undefined) {
        list.push(numberMetric(METRICS[GO_METRIC.goroutines], [{ attributes: {}, startTimeNs: window.startNs, endTimeNs: window.endNs, value: live }]));
      }
      out.push({ pid, metrics: list });
    }
    for (const pid of forget) {
      const slot = this.slotOfPid.get(pid);
      this.slotOfPid.delete(pid);
      if (slot) this.releaseSlotIfUnused(slot);
      this.serviceOfPid.delete(pid);
      this.exitedPids.delete(pid);
    }
    return out;
  }

  close(): void {
    this.ring.close();
    for (const pid of [...this.links.keys()]) this.detach(pid);
    this.obj.close();
  }

  // ---- internals ----

  /** One log line per binary and probe set whose library is there but could not be resolved. */
  private reportSkips(proc: DiscoveredProcess, info: GoBinaryInfo): void {
    for (const { probeSet, reason } of info.skipped) {
      // A library the binary does not link is not a problem; fields-only sets are optional helpers.
      const spec = GO_PROBE_SETS[probeSet];
      if (!OWN_SETS.includes(probeSet) || Object.keys(spec.points).length === 0 || / not found \(in \.symtab or \.gopclntab\)/.test(reason)) continue;
      const key = `${info.fileKey}|${probeSet}`;
      if (this.reportedSkips.has(key)) continue;
      this.reportedSkips.add(key);
      this.log(`go-calls: pid ${proc.pid} (${proc.serviceName}): probe set ${probeSet} skipped: ${reason}`);
      this.drops.add(`skipped_${probeSet}`, 1);
    }
  }

  /**
   * Processes of one binary share a slot (offsets + data addresses), filled once. A PIE's data
   * addresses depend on where each process was loaded, so its processes share one only when
   * their load bias is equal (ASLR makes that rare). A slot is freed with its last process, so
   * any number of distinct binaries can come and go. The ELF is opened once: for the load bias
   * and, for a new slot, the symbols.
   */
  private slotFor(pid: number, binaryPath: string, info: GoBinaryInfo): Promise<BinarySlot> {
    return withElfFile(binaryPath, async (elf) => {
      const bias = await processLoadBias(pid, elf);
      const key = bias === 0n ? info.fileKey : `${info.fileKey}@${bias.toString(16)}`;
      const existing = this.slots.get(key);
      if (existing) return existing;
      const max = this.obj.map('go_calls_offsets').maxEntries;
      const slot = this.freeSlots.pop() ?? this.nextSlot;
      if (slot >= max) throw new Error(`more than ${max} distinct Go binaries attached at once (PIE processes count one each); ${binaryPath} not attached`);
      if (slot === this.nextSlot) this.nextSlot++;
      const p = this.fillSlot(slot, key, bias, info, elf);
      this.slots.set(key, p);
      // A failed read (the process exited under us) must not stick to the binary.
      p.catch(() => {
        this.slots.delete(key);
        this.freeSlots.push(slot);
      });
      return p;
    });
  }

  /** Frees a slot no process uses any more (their probes are detached: nothing reads it). */
  private releaseSlotIfUnused(slot: BinarySlot): void {
    for (const s of this.slotOfPid.values()) if (s === slot) return;
    if (this.slots.delete(slot.key)) this.freeSlots.push(slot.slot);
  }
  private readonly freeSlots: number[] = [];

  private async fillSlot(slot: number, key: string, bias: bigint, info: GoBinaryInfo, elf: ElfFile): Promise<BinarySlot> {
    const s: ResolvedProbeSets = info.probeSets;
    const o = <T extends Record<string, number>>(x: { offsets: T } | undefined, k: keyof T): number => (x ? x.offsets[k] : 0);
    const net = s.netPeer;
    const u32 = [
      1,
      o(s.grpcServer, 'streamMethod'), o(s.grpcServer, 'statusS'), o(s.grpcClient, 'statusErrorE'),
      o(s.grpcServer, 'spbCode') || o(s.grpcClient, 'spbCode'), o(s.grpcClient, 'clientConnTarget'),
      o(s.grpcClient, 'clientStreamCallHdr'), o(s.grpcClient, 'callHdrMethod'), o(s.grpcClient, 'clientStreamCc'),
      o(s.httpClient, 'requestMethod'), o(s.httpClient, 'requestUrl'), o(s.httpClient, 'urlHost'), o(s.httpClient, 'responseStatusCode'),
      o(s.sqlClient, 'driverConnCi'), o(s.sqlPq, 'pqConnC'),
      o(s.redigo, 'connConn'),
      o(s.redisV5, 'clientOpt'), o(s.redisV5, 'optionsAddr'), o(s.redisV5, 'cmdArgs'),
      net ? net.offsets.tcpConnConn + net.offsets.connFd : 0, o(net, 'netFdRaddr'), o(net, 'tcpAddrIp'), o(net, 'tcpAddrPort'),
      o(s.goRuntime, 'gM'), o(s.goRuntime, 'gSched'), o(s.goRuntime, 'mCurg'), o(s.goRuntime, 'mPreemptoff'),
    ];
    if (u32.length * 4 > U64_AT) throw new Error('go_calls_offsets: more u32 fields than bpf/go_calls.h has');
    // Type identities and variables by symbol: link-time addresses moved by the process's
    // load bias (a PIE's); a symbol the binary lacks stays 0 and the probes skip what needs it.
    let sqlSystems = new Map<bigint, string>();
    const addr = { tcp: 0n, statusError: 0n, pq: 0n, ioEof: 0n, redis5Error: 0n, allgs: 0n };
    {
      const syms = await elf.symbols();
      const get = (name: string) => {
        const sym = syms.get(name);
        return sym ? BigInt(sym.value) + bias : 0n;
      };
      addr.tcp = net ? get('go.itab.*net.TCPConn,net.Conn') : 0n;
      addr.statusError = get('go.itab.*google.golang.org/grpc/internal/status.Error,error');
      addr.pq = s.sqlPq ? get('go.itab.*github.com/lib/pq.conn,database/sql/driver.Conn') : 0n;
      addr.ioEof = get('io.EOF');
      addr.redis5Error = s.redisV5 ? get('go.itab.gopkg.in/redis.v5/internal.RedisError,error') : 0n;
      addr.allgs = s.goRuntime ? get('runtime.allgs') : 0n;
      sqlSystems = sqlSystemsOf(syms, bias);
    }
    const v = Buffer.alloc(OFFSETS_SIZE);
    u32.forEach((x, i) => v.writeUInt32LE(x, i * 4));
    [addr.tcp, addr.statusError, addr.pq, addr.ioEof, addr.redis5Error].forEach((x, i) => v.writeBigUInt64LE(x, U64_AT + i * 8));
    const k = Buffer.alloc(4);
    k.writeUInt32LE(slot);
    this.obj.map('go_calls_offsets').update(k, v);
    return {
      slot,
      key,
      bias,
      sqlSystems,
      ...(addr.allgs && s.goRuntime ? { goroutines: { allgs: addr.allgs, statusOffset: s.goRuntime.offsets.gAtomicstatus } } : {}),
    };
  }

  private async drain(): Promise<SeriesAcc[]> {
    const idle = await this.generations.flip();
    this.sweepInflight();

    const series = new Map<string, SeriesAcc>();
    const buckets = this.obj.map(`call_buckets_${idle}`).drain();
    for (let i = 0; i < buckets.keys.length; i++) {
      const acc = this.accumulator(series, buckets.keys[i]);
      const bucket = buckets.keys[i].readInt32LE(SERIES_SIZE);
      const n = Number(sumPerCpu(buckets.values[i], 0, 8));
      acc.buckets.set(bucket, (acc.buckets.get(bucket) ?? 0) + n);
      acc.count += n;
    }
    const statsMap = this.obj.map(`call_stats_${idle}`);
    const stats = statsMap.drain();
    for (let i = 0; i < stats.keys.length; i++) addPerCpuDurationStats(this.accumulator(series, stats.keys[i]), stats.values[i], statsMap.valueSize);
    return [...series.values()];
  }

  /** Series with equal exported attributes merge (e.g. SQL statements with one operation word). */
  private accumulator(series: Map<string, SeriesAcc>, key: Buffer): SeriesAcc {
    const d = decodeSeries(key);
    const attributes = this.attributesOf(d);
    const id = `${d.pid}\0${d.kind}\0${JSON.stringify(attributes)}`;
    let acc = series.get(id);
    if (!acc) {
      acc = { pid: d.pid, kind: d.kind, attributes, buckets: new Map(), count: 0, sumNs: 0n, gcPhase: d.kind === KIND.gcPause ? d.status : undefined };
      series.set(id, acc);
    }
    return acc;
  }

  private attributesOf(d: DecodedSeries): Record<string, string | number> {
    const kind = seriesKind(d.kind);
    const a: Record<string, string | number> = {};
    const peer = kind.noPeer ? {} : peerOf(d.peer, d.ip4, d.port);
    if (peer.address) a[GO_ATTR.serverAddress] = peer.address;
    if (peer.port) a[GO_ATTR.serverPort] = peer.port;
    return { ...a, ...kind.attributes(d, this) };
  }

  soleSqlSystem(pid: number): string {
    const systems = new Set(this.slotOfPid.get(pid)?.sqlSystems.values() ?? []);
    return systems.size === 1 ? [...systems][0] : 'other_sql';
  }

  sqlSystemOf(pid: number, driver: bigint): string {
    return this.slotOfPid.get(pid)?.sqlSystems.get(driver) ?? 'other_sql';
  }

  private onSlowRecords(records: Buffer[]): void {
    for (const r of records) {
      if (r.length < SLOW_RECORD_SIZE) continue;
      if (this.pendingSlow.length >= MAX_PENDING_SLOW) {
        this.drops.add('slow_pending_full', 1);
        continue;
      }
      this.pendingSlow.push(this.decodeSlowRecord(r));
    }
  }

  /** struct slow_record → SlowRequest: the route made like the RED one's, the client sub-calls decoded by their family. */
  private decodeSlowRecord(r: Buffer): SlowRequest {
    const pid = r.readUInt32LE(0);
    const kind = r.readUInt8(4) === KIND.grpcServer ? 'grpc' : 'http';
    const nsub = r.readUInt32LE(8);
    const service = this.serviceOfPid.get(pid) ?? `pid-${pid}`;
    const rawRoute = cString(r, 40, ROUTE_MAX);
    const subcalls: Subcall[] = [];
    for (let i = 0; i < Math.min(nsub, SUBCALLS_MAX); i++) {
      const sc = decodeSubcall(r, SLOW_SUBS_AT + i * SUBCALL_SIZE);
      const sub = subcallSeries(sc.kind)?.subcall;
      if (!sub) continue;
      const peer = peerOf(sc.peer, sc.ip4, sc.port);
      subcalls.push({
        kind: sub.kind,
        peer: peer.address ? `${peer.address}${peer.port ? `:${peer.port}` : ''}` : '',
        operation: sub.operation(sc.op),
        startOffsetNs: sc.startOffsetNs,
        durationNs: sc.durationNs,
        error: sc.error,
        status: sc.status,
        ...(sub.dbSystem ? { dbSystem: sub.dbSystem(pid, this) } : {}),
      });
    }
    return {
      pid,
      service,
      kind,
      startNs: epochFromMonotonicNs(r.readBigUInt64LE(16)),
      durationNs: r.readBigUInt64LE(24),
      method: cString(r, 32, METHOD_MAX),
      route: kind === 'http' ? this.routes.route(service, rawRoute, false) : rawRoute,
      status: r.readUInt16LE(6),
      subcalls,
      droppedSubcalls: Math.max(0, nsub - SUBCALLS_MAX),
    };
  }

  /** Calls, requests and pauses whose end can never come: counted, then removed so they cannot fill the maps. */
  private sweepInflight(): void {
    // Every in-flight key starts with the tgid and every value with the start time (bpf/go_calls.h).
    const sweep: InflightSweep = { tgidOf: (k) => k.readUInt32LE(0), startNsOf: (v) => v.readBigUInt64LE(0), maxAgeNs: this.inflightMaxAgeNs };
    for (const map of ['call_inflight', 'requests', 'stw_inflight']) {
      const { exited, stale } = sweepInflight(this.obj.map(map), sweep);
      if (exited) this.drops.add('inflight_exited', exited);
      if (stale) this.drops.add('inflight_stale', stale);
    }
  }
}
