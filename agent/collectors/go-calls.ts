// Loads bpf/go_calls.bpf.o and attaches it to Go processes: gRPC server and client calls,
// outbound HTTP, database/sql, Redis (redigo, go-redis v5), GC pauses, goroutine lineage, and the
// slow-request records with their sub-calls. Turns the in-kernel histograms into the
// GO_METRICS of the catalogue and the ring-buffer records into SlowRequest values.
import { closeSync, openSync, readSync } from 'node:fs';
import { BpfObject, RingBufferReader, type BpfLink } from '../bpf.ts';
import { histogramFromBuckets, type ExpHistogram } from '../../common/exphist.ts';
import { ATTR, GO_ATTR, GO_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint } from '../export/otlp.ts';
import { epochFromMonotonicNs } from '../clock.ts';
import { withElfFile, type ElfFile } from '../goinspect/elf.ts';
import { processLoadBias } from '../goinspect/load-bias.ts';
import type { DiscoveredProcess } from '../discovery.ts';
import { GO_PROBE_SETS, type EntryProbe, type GoBinaryInfo, type ProbeSetName, type ResolvedProbeSets } from '../goinspect/index.ts';
import type { Collector, CollectWindow, CollectedMetrics } from './types.ts';
import type { SlowRequest, Subcall, SubcallKind } from './slow-request.ts';
import { RouteLimiter } from './route.ts';
import { Generations, INFLIGHT_MAX_AGE_NS, sweepInflight, type InflightSweep } from './kernel-maps.ts';
import { parseDuration } from '../../common/duration.ts';
import { hasSubcallProbes, type RequestRootMapsOwner } from './go-calls/request-roots.ts';

// ---- Mirrors bpf/go_calls.h ----
const OP_MAX = 48;
const PEER_MAX = 40;
const ROUTE_MAX = 64;
const METHOD_MAX = 8;
const SUBCALLS_MAX = 16;
const SERIES_SIZE = 112;
const SUBCALL_SIZE = 120;
const SLOW_RECORD_SIZE = 104 + SUBCALLS_MAX * SUBCALL_SIZE;
const OFFSETS_SIZE = 152;
/** Where struct go_calls_offsets' u64 addresses start (after its 27 u32 offsets and a pad). */
const U64_AT = 112;
const KIND = { httpClient: 1, grpcClient: 2, sql: 3, redis: 4, grpcServer: 5, httpServer: 6, gcPause: 7 } as const;
const DROP_REASONS = ['bucket_map_full', 'stats_map_full', 'inflight_full', 'no_offsets', 'ringbuf_full', 'subcalls_over', 'inflight_unfinished'] as const;
const COOKIE_AT_JBE = 1n << 16n;
/** Where struct request_state's kind (CALL_HTTP_SERVER / CALL_GRPC_SERVER) is. */
const REQUEST_KIND_AT = 20;
const MAX_PENDING_SLOW = 10_000;

/** The probe sets this collector uses; a binary without a library simply lacks its set. */
const OWN_SETS: ProbeSetName[] = ['grpcServer', 'grpcClient', 'httpClient', 'sqlClient', 'sqlPq', 'redigo', 'redisV5', 'netPeer', 'goRuntime'];

/** db.system from the package of the driver's connection type (the itab's concrete type). */
const SQL_DRIVER_SYSTEMS: [RegExp, string][] = [
  [/^github\.com\/lib\/pq\./, 'postgresql'],
  [/^github\.com\/jackc\/pgx/, 'postgresql'],
  [/^github\.com\/go-sql-driver\/mysql\./, 'mysql'],
  [/sqlite/i, 'sqlite'],
  [/mssqldb/i, 'mssql'],
  [/^github\.com\/ClickHouse\//, 'clickhouse'],
];

export interface GoCallsCollectorOptions {
  objectPath: string;
  scale?: number;
  /** Default slow threshold (ns) for services without their own. Default 200 ms. */
  slowThresholdNs?: bigint;
  /** Per-service slow thresholds (ns), by service name. */
  slowThresholdsByService?: Record<string, bigint>;
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

/** runtime._Gidle and _Gdead: a g in allgs that is not a live goroutine. */
const G_IDLE = 0;
const G_DEAD = 6;
const MAX_GOROUTINES_READ = 200_000;

/**
 * Live goroutines of a process, read from its memory (no probe): `runtime.allgs` lists every
 * g ever made; those not idle or dead are live. The status word is read under the running
 * program, so a goroutine changing state at that instant may be miscounted by one.
 */
export function countGoroutines(pid: number, allgs: bigint, statusOffset: number): number | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = Buffer.alloc(16);
    readSync(fd, header, 0, 16, Number(allgs));
    const ptr = header.readBigUInt64LE(0);
    const len = Number(header.readBigUInt64LE(8));
    if (!ptr || len <= 0 || len > MAX_GOROUTINES_READ) return undefined;
    const gs = Buffer.alloc(len * 8);
    readSync(fd, gs, 0, gs.length, Number(ptr));
    // One pread of 4 bytes per g (a few µs each, synchronous: 10k goroutines ≈ 20 ms).
    const status = Buffer.alloc(4);
    let live = 0;
    for (let i = 0; i < len; i++) {
      const g = gs.readBigUInt64LE(i * 8);
      if (!g || readSync(fd, status, 0, 4, Number(g) + statusOffset) !== 4) continue;
      const st = status.readUInt32LE(0) & ~0x1000; // without the _Gscan bit
      if (st !== G_IDLE && st !== G_DEAD) live++;
    }
    return live;
  } catch {
    return undefined; // the process exited meanwhile
  } finally {
    closeSync(fd);
  }
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

export class GoCallsCollector implements Collector {
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
  private readonly dropped = new Map<string, number>();
  private readonly lastDropTotals: number[] = [];
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
    if (hasSubcallProbes(this.targets.get(pid)!.info)) this.setRequestRoots(pid, true);
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
   * The programs of one family for a process. Within a family the end probes attach before the
   * entry probes, so no call that starts while they attach is left without its end.
   */
  private attachFamilies(pid: number, family: 'red' | 'deep', into: BpfLink[] | DeepLinks): void {
    const { binaryPath, info } = this.targets.get(pid)!;
    const slot = this.slotOfPid.get(pid)!;
    const s = info.probeSets;
    const listOf = (program: string) => (Array.isArray(into) ? into : /_(end|ret)$/.test(program) ? into.ends : into.starts);
    const entry = (program: string, probe: EntryProbe) =>
      listOf(program).push(
        this.obj.program(program).attachUprobe({
          binaryPath, fileOffset: probe.fileOffset, pid,
          cookie: BigInt(slot.slot) | (probe.kind === 'stack-check-jbe' ? COOKIE_AT_JBE : 0n),
        }),
      );
    const returns = (program: string, offsets: number[]) => {
      for (const fileOffset of offsets) listOf(program).push(this.obj.program(program).attachUprobe({ binaryPath, fileOffset, pid, cookie: BigInt(slot.slot) }));
    };
    if (family === 'red') {
      // The cheapest exact RED of a gRPC server (two jbe probes a call) and GC pauses (a few a cycle).
      if (s.grpcServer) {
        entry('go_grpc_server_end', s.grpcServer.points.writeStatus);
        entry('go_grpc_server_start', s.grpcServer.points.handleStream);
      }
      if (s.goRuntime) {
        entry('go_gc_stw_end', s.goRuntime.points.startTheWorld);
        entry('go_gc_stw_start', s.goRuntime.points.stopTheWorld);
      }
      return;
    }
    // Goroutine lineage only serves the sub-call breakdown: a binary that makes none of the
    // calls we see does not pay for it. (HTTP request roots: setRequestRoots.)
    const hasSubcalls = hasSubcallProbes(info);
    if (s.grpcClient) {
      entry('go_grpc_client_end', s.grpcClient.points.finish);
      entry('go_grpc_client_start', s.grpcClient.points.newAttempt);
    }
    if (s.httpClient) {
      returns('go_http_client_ret', s.httpClient.points.roundTripReturns.fileOffsets);
      entry('go_http_client_start', s.httpClient.points.roundTrip);
    }
    if (s.sqlClient) {
      entry('go_sql_end', s.sqlClient.points.putConn);
      entry('go_sql_query_start', s.sqlClient.points.queryDC);
      entry('go_sql_exec_start', s.sqlClient.points.execDC);
    }
    if (s.redigo) {
      returns('go_redis_ret', s.redigo.points.doWithTimeoutReturns.fileOffsets);
      entry('go_redis_start', s.redigo.points.doWithTimeout);
    }
    if (s.redisV5) {
      returns('go_redis5_ret', s.redisV5.points.processReturns.fileOffsets);
      entry('go_redis5_start', s.redisV5.points.process);
    }
    if (s.goRuntime && hasSubcalls) entry('go_lineage', s.goRuntime.points.gostartcallfn);
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
    this.drainDrops();
    const out = new Map(this.dropped);
    this.dropped.clear();
    return out;
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const forget = [...this.exitedPids].filter((pid) => !this.links.has(pid));
    const series = await this.drain();
    const byPid = new Map<number, Map<string, ExpHistogramPoint[]>>();
    const gcCycles = new Map<number, number>();
    for (const s of series) {
      if (s.buckets.size === 0) continue;
      const metric = metricOfKind(s.kind);
      let m = byPid.get(s.pid);
      if (!m) byPid.set(s.pid, (m = new Map()));
      let list = m.get(metric);
      if (!list) m.set(metric, (list = []));
      const histogram: ExpHistogram = histogramFromBuckets(this.scale, s.buckets, s.sumNs, { minNs: s.minNs, maxNs: s.maxNs });
      list.push({ attributes: s.attributes, startTimeNs: window.startNs, endTimeNs: window.endNs, histogram });
      if (s.kind === KIND.gcPause && s.gcPhase === 1) gcCycles.set(s.pid, (gcCycles.get(s.pid) ?? 0) + s.count);
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
      this.dropped.set(`skipped_${probeSet}`, (this.dropped.get(`skipped_${probeSet}`) ?? 0) + 1);
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
    const sqlSystems = new Map<bigint, string>();
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
      for (const [name, sym] of syms) {
        const m = /^go\.itab\.\*?(.+),database\/sql\/driver\.Conn$/.exec(name);
        if (!m) continue;
        const system = SQL_DRIVER_SYSTEMS.find(([re]) => re.test(m[1]))?.[1] ?? 'other_sql';
        sqlSystems.set(BigInt(sym.value) + bias, system);
      }
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
    const stride = (statsMap.valueSize + 7) & ~7;
    for (let i = 0; i < stats.keys.length; i++) {
      const acc = this.accumulator(series, stats.keys[i]);
      const v = stats.values[i];
      for (let off = 0; off < v.length; off += stride) {
        if (v.readBigUInt64LE(off) === 0n) continue;
        acc.sumNs += v.readBigUInt64LE(off + 8);
        const min = v.readBigUInt64LE(off + 16);
        const max = v.readBigUInt64LE(off + 24);
        if (acc.minNs === undefined || min < acc.minNs) acc.minNs = min;
        if (acc.maxNs === undefined || max > acc.maxNs) acc.maxNs = max;
      }
    }
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
    const a: Record<string, string | number> = {};
    const peer = peerOf(d.peer, d.ip4, d.port);
    if (peer.address) a[GO_ATTR.serverAddress] = peer.address;
    if (peer.port) a[GO_ATTR.serverPort] = peer.port;
    switch (d.kind) {
      case KIND.grpcServer:
      case KIND.grpcClient: {
        const { service, method } = splitGrpcMethod(d.op);
        a[GO_ATTR.rpcSystem] = 'grpc';
        a[GO_ATTR.rpcService] = service;
        a[GO_ATTR.rpcMethod] = method;
        a[GO_ATTR.rpcGrpcStatus] = d.status;
        if (d.kind === KIND.grpcServer) {
          delete a[GO_ATTR.serverAddress];
          delete a[GO_ATTR.serverPort];
        }
        break;
      }
      case KIND.httpClient:
        a[ATTR.httpMethod] = d.op || 'UNKNOWN';
        if (d.status) a[ATTR.httpStatus] = d.status;
        if (d.error) a[GO_ATTR.errorType] = 'error';
        break;
      case KIND.sql:
        a[GO_ATTR.dbSystem] = this.sqlSystemOf(d.pid, d.driver);
        a[GO_ATTR.dbOperation] = operationWord(d.op);
        if (d.error) a[GO_ATTR.errorType] = 'error';
        break;
      case KIND.redis:
        a[GO_ATTR.dbSystem] = 'redis';
        a[GO_ATTR.dbOperation] = d.op.toUpperCase();
        if (d.error) a[GO_ATTR.errorType] = 'error';
        break;
      case KIND.gcPause:
        a[GO_ATTR.gcPhase] = d.status === 1 ? 'sweep_termination' : 'mark_termination';
        break;
    }
    return a;
  }

  /** A slow-request sub-call does not carry the driver: name the system when the binary links only one. */
  private soleSqlSystem(pid: number): string {
    const systems = new Set(this.slotOfPid.get(pid)?.sqlSystems.values() ?? []);
    return systems.size === 1 ? [...systems][0] : 'other_sql';
  }

  private sqlSystemOf(pid: number, driver: bigint): string {
    return this.slotOfPid.get(pid)?.sqlSystems.get(driver) ?? 'other_sql';
  }

  private onSlowRecords(records: Buffer[]): void {
    for (const r of records) {
      if (r.length < SLOW_RECORD_SIZE) continue;
      const pid = r.readUInt32LE(0);
      const kind = r.readUInt8(4) === KIND.grpcServer ? 'grpc' : 'http';
      const nsub = r.readUInt32LE(8);
      const service = this.serviceOfPid.get(pid) ?? `pid-${pid}`;
      const rawRoute = cString(r, 40, ROUTE_MAX);
      const subcalls: Subcall[] = [];
      for (let i = 0; i < Math.min(nsub, SUBCALLS_MAX); i++) {
        const sc = decodeSubcall(r, 104 + i * SUBCALL_SIZE);
        const k = subcallKind(sc.kind);
        if (!k) continue;
        const peer = peerOf(sc.peer, sc.ip4, sc.port);
        subcalls.push({
          kind: k,
          peer: peer.address ? `${peer.address}${peer.port ? `:${peer.port}` : ''}` : '',
          operation: k === 'sql' ? operationWord(sc.op) : k === 'redis' ? sc.op.toUpperCase() : sc.op,
          startOffsetNs: sc.startOffsetNs,
          durationNs: sc.durationNs,
          error: sc.error,
          status: sc.status,
          ...(k === 'sql' ? { dbSystem: this.soleSqlSystem(pid) } : {}),
        });
      }
      if (this.pendingSlow.length >= MAX_PENDING_SLOW) {
        this.dropped.set('slow_pending_full', (this.dropped.get('slow_pending_full') ?? 0) + 1);
        continue;
      }
      this.pendingSlow.push({
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
      });
    }
  }

  /** Calls, requests and pauses whose end can never come: counted, then removed so they cannot fill the maps. */
  private sweepInflight(): void {
    // Every in-flight key starts with the tgid and every value with the start time (bpf/go_calls.bpf.c).
    const sweep: InflightSweep = { tgidOf: (k) => k.readUInt32LE(0), startNsOf: (v) => v.readBigUInt64LE(0), maxAgeNs: this.inflightMaxAgeNs };
    for (const map of ['call_inflight', 'requests', 'stw_inflight']) {
      const { exited, stale } = sweepInflight(this.obj.map(map), sweep);
      if (exited) this.dropped.set('inflight_exited', (this.dropped.get('inflight_exited') ?? 0) + exited);
      if (stale) this.dropped.set('inflight_stale', (this.dropped.get('inflight_stale') ?? 0) + stale);
    }
  }

  private drainDrops(): void {
    const m = this.obj.map('calls_dropped');
    const key = Buffer.alloc(4);
    DROP_REASONS.forEach((reason, i) => {
      key.writeUInt32LE(i);
      const v = m.lookup(key);
      if (!v) return;
      const total = Number(sumPerCpu(v, 0, 8));
      const prev = this.lastDropTotals[i] ?? 0;
      if (total > prev) this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + total - prev);
      this.lastDropTotals[i] = total;
    });
  }
}

interface DecodedSeries {
  pid: number;
  kind: number;
  error: boolean;
  status: number;
  driver: bigint;
  ip4: Buffer;
  port: number;
  op: string;
  peer: string;
}

function decodeSeries(b: Buffer): DecodedSeries {
  return {
    pid: b.readUInt32LE(0),
    kind: b.readUInt8(4),
    error: b.readUInt8(5) !== 0,
    status: b.readUInt16LE(6),
    driver: b.readBigUInt64LE(8),
    ip4: b.subarray(16, 20),
    port: b.readUInt16LE(20),
    op: cString(b, 24, OP_MAX),
    peer: cString(b, 72, PEER_MAX),
  };
}

function decodeSubcall(b: Buffer, at: number) {
  return {
    kind: b.readUInt8(at),
    error: b.readUInt8(at + 1) !== 0,
    status: b.readUInt16LE(at + 2),
    ip4: b.subarray(at + 4, at + 8),
    startOffsetNs: b.readBigUInt64LE(at + 8),
    durationNs: b.readBigUInt64LE(at + 16),
    port: b.readUInt16LE(at + 24),
    op: cString(b, at + 32, OP_MAX),
    peer: cString(b, at + 80, PEER_MAX),
  };
}

function subcallKind(kind: number): SubcallKind | undefined {
  switch (kind) {
    case KIND.httpClient:
      return 'http';
    case KIND.grpcClient:
      return 'grpc';
    case KIND.sql:
      return 'sql';
    case KIND.redis:
      return 'redis';
    default:
      return undefined;
  }
}

function metricOfKind(kind: number): string {
  switch (kind) {
    case KIND.grpcServer:
      return GO_METRIC.rpcServerDuration;
    case KIND.grpcClient:
      return GO_METRIC.rpcClientDuration;
    case KIND.httpClient:
      return GO_METRIC.httpClientDuration;
    case KIND.sql:
    case KIND.redis:
      return GO_METRIC.dbClientDuration;
    case KIND.gcPause:
      return GO_METRIC.gcPause;
    default:
      throw new Error(`go_calls: unknown series kind ${kind}`);
  }
}

/** "/pkg.Service/Method" → its parts; anything else is reported whole as the method. */
export function splitGrpcMethod(full: string): { service: string; method: string } {
  const m = /^\/?([^/]+)\/([^/]+)$/.exec(full);
  return m ? { service: m[1], method: m[2] } : { service: '', method: full };
}

/** The SQL statement's first word, upper-cased; only letters survive (never a literal). */
export function operationWord(op: string): string {
  const m = /^\s*([A-Za-z]+)/.exec(op);
  return m ? m[1].toUpperCase() : 'UNKNOWN';
}

/**
 * The peer as host and port: from a client's "host:port" string (an HTTP URL host, a gRPC
 * target such as "dns:///h:p" or etcd's "endpoint://client-…/h:p") or else from the socket.
 */
export function peerOf(peer: string, ip4: Buffer, port: number): { address?: string; port?: number } {
  if (peer) {
    const last = peer.slice(peer.lastIndexOf('/') + 1);
    const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(last);
    if (m && m[1]) return { address: m[1].replace(/^\[|\]$/g, ''), ...(m[2] ? { port: Number(m[2]) } : {}) };
  }
  if (port || ip4.readUInt32LE(0)) return { address: `${ip4[0]}.${ip4[1]}.${ip4[2]}.${ip4[3]}`, port };
  return {};
}

function sumPerCpu(v: Buffer, offset: number, stride: number): bigint {
  let total = 0n;
  for (let off = offset; off < v.length; off += stride) total += v.readBigUInt64LE(off);
  return total;
}

function cString(b: Buffer, start: number, max: number): string {
  const end = b.indexOf(0, start);
  return b.toString('latin1', start, end < 0 || end > start + max ? start + max : end);
}

/**
 * Slow thresholds from the environment: BURNWATCH_SLOW_THRESHOLD (default for every service,
 * e.g. "200ms") and BURNWATCH_SLOW_THRESHOLDS ("checkout=500ms,search=1s", per service name).
 */
export function slowThresholdsFromEnv(env: NodeJS.ProcessEnv): Pick<GoCallsCollectorOptions, 'slowThresholdNs' | 'slowThresholdsByService'> {
  const ns = (text: string, what: string): bigint => {
    try {
      return BigInt(Math.round(parseDuration(text) * 1e6));
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  };
  const out: Pick<GoCallsCollectorOptions, 'slowThresholdNs' | 'slowThresholdsByService'> = {};
  if (env.BURNWATCH_SLOW_THRESHOLD) out.slowThresholdNs = ns(env.BURNWATCH_SLOW_THRESHOLD, 'BURNWATCH_SLOW_THRESHOLD');
  if (env.BURNWATCH_SLOW_THRESHOLDS) {
    out.slowThresholdsByService = {};
    for (const part of env.BURNWATCH_SLOW_THRESHOLDS.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.lastIndexOf('=');
      if (eq <= 0) throw new Error(`BURNWATCH_SLOW_THRESHOLDS: "${part}" is not service=duration`);
      out.slowThresholdsByService[part.slice(0, eq)] = ns(part.slice(eq + 1), `BURNWATCH_SLOW_THRESHOLDS (${part.slice(0, eq)})`);
    }
  }
  return out;
}
