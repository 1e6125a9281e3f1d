// Loads bpf/http_server.bpf.o, attaches it to Go net/http servers and turns the
// in-kernel histograms into `http.server.request.duration` points.
import { BpfObject, type BpfLink, type BpfMap } from '../bpf.ts';
import { histogramFromBuckets, type ExpHistogram } from '../../common/exphist.ts';
import { ATTR, METRICS, HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, type ExpHistogramPoint } from '../export/otlp.ts';
import type { DiscoveredProcess } from '../discovery.ts';
import type { GoBinaryInfo } from '../goinspect/index.ts';
import type { AttachPlan, Collector, CollectWindow, CollectedMetrics } from './types.ts';
import { OVERFLOW_ROUTE, RouteLimiter, oncePerSeries } from './route.ts';
import { DropCounters, Generations, INFLIGHT_MAX_AGE_NS, addPerCpuDurationStats, sumPerCpu, sweepInflight } from './kernel-maps.ts';
import type { EntryProbe, ResolvedProbeSets } from '../goinspect/index.ts';
import { cString } from './c-string.ts';
import { REQUEST_ROOT_MAPS, type RequestRootMap, type RequestRootMapsOwner } from './go-calls/request-roots.ts';

// Mirrors bpf/http_server.h.
const METHOD_MAX = 8;
const PATH_MAX = 64;
const SERIES_SIZE = 4 + 2 + 2 + METHOD_MAX + PATH_MAX;
const PATH_LEN_OVERFLOW = 0xffff;
const DROP_REASONS = [
  'bucket_map_full', 'stats_map_full', 'inflight_full', 'read_failed', 'no_offsets',
  'inflight_unfinished', 'series_overflow', 'series_counter_full',
] as const;
/** Default of max_series_per_process in bpf/http_server.bpf.c. */
const MAX_SERIES_PER_PROCESS = 512;
const COOKIE_AT_JBE = 1n << 16n;
/** HTTP2_COOKIE_XNET: the probe sits in golang.org/x/net/http2, not net/http's bundled copy. */
const COOKIE_H2_XNET = 1n << 17n;
/** HTTP_COOKIE_ROOTS_ONLY: record no request, only end the roots (bpf/http_server.h). */
const COOKIE_ROOTS_ONLY = 1n << 18n;
/** sizeof(struct go_http_offsets): 6 u32, two struct go_http2_offsets of 4 u32, g_goid, pad. */
const OFFSETS_SIZE = 24 + 2 * 16 + 8;

type HttpServerProbes = NonNullable<ResolvedProbeSets['httpServer']>;
type Http2Probes = NonNullable<ResolvedProbeSets['http2Server']>;
type Http2XnetProbes = NonNullable<ResolvedProbeSets['http2XnetServer']>;

export interface HttpProbeTarget {
  pid: number;
  /** Path the kernel resolves for the uprobe (e.g. /proc/PID/exe). */
  binaryPath: string;
  /** Identity of the executable file; processes of one binary share an offsets slot. */
  binaryKey: string;
  probes: HttpServerProbes;
  /** HTTP/2 servers the binary holds (each absent when it does not). */
  http2?: Http2Probes;
  http2Xnet?: Http2XnetProbes;
  /** The syscall path counts the process's requests: the probes only make them slow-breakdown roots. */
  rootsOnly?: boolean;
}

export interface HttpServerPoint {
  pid: number;
  attributes: Record<string, string | number>;
  histogram: ExpHistogram;
}

export interface HttpServerCollectorOptions {
  objectPath: string;
  scale?: number;
  maxRoutesPerService?: number;
  /** New series a process may create in the kernel per interval before its requests go to `/{overflow}`. */
  maxSeriesPerProcess?: number;
  /** In-flight requests older than this are swept (and counted as inflight_stale). */
  inflightMaxAgeNs?: bigint;
  /** Map sizes other than the object's own (e.g. a small http_inflight). */
  maxEntries?: Record<string, number>;
  /** One line per problem worth an operator's attention (an HTTP/2 server left unprobed). */
  log?: (line: string) => void;
}

interface SeriesAccumulator {
  pid: number;
  method: string;
  route: string;
  status: number;
  buckets: Map<number, number>;
  sumNs: bigint;
  minNs?: bigint;
  maxNs?: bigint;
}

export class HttpServerCollector implements Collector, RequestRootMapsOwner {
  readonly name = 'http-server';
  readonly uprobeCoverage = { httpServer: true };
  private readonly obj: BpfObject;
  private readonly links = new Map<number, BpfLink[]>();
  /** Processes whose server RED comes from the syscall path: probed only while their deep probes are on. */
  private readonly withDeepOnly = new Map<number, HttpProbeTarget>();
  /** Offsets slot per binary, with the attached processes using it: freed with the last one. */
  private readonly slots = new Map<string, { slot: number; pids: Set<number> }>();
  private readonly slotOfPid = new Map<number, string>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly routes: RouteLimiter;
  private readonly scale: number;
  private readonly generations: Generations;
  private readonly drops: DropCounters;

  private readonly maxSeriesPerProcess: number;
  private readonly inflightMaxAgeNs: bigint;
  /** http_known keys written per process (hex), bounded by maxSeriesPerProcess. */
  private readonly known = new Map<number, Set<string>>();
  private readonly log: (line: string) => void;
  /** Binaries whose unresolved HTTP/2 server was already reported. */
  private readonly reportedHttp2 = new Set<string>();

  constructor(opts: HttpServerCollectorOptions) {
    this.scale = opts.scale ?? 5;
    this.routes = new RouteLimiter(opts.maxRoutesPerService ?? 100);
    this.maxSeriesPerProcess = opts.maxSeriesPerProcess ?? MAX_SERIES_PER_PROCESS;
    this.inflightMaxAgeNs = opts.inflightMaxAgeNs ?? INFLIGHT_MAX_AGE_NS;
    this.log = opts.log ?? ((l) => console.error(`[agent] ${l}`));
    this.obj = BpfObject.open(opts.objectPath);
    try {
      this.obj.setRodata({ hist_scale: this.scale, max_series_per_process: this.maxSeriesPerProcess });
      for (const [map, n] of Object.entries(opts.maxEntries ?? {})) this.obj.setMapMaxEntries(map, n);
      this.obj.load();
      this.generations = new Generations(this.obj, 'http_control');
      this.drops = new DropCounters(this.obj.map('http_dropped'), DROP_REASONS);
    } catch (err) {
      this.obj.close();
      throw err;
    }
  }

  isAttached(pid: number): boolean {
    return this.links.has(pid);
  }

  /**
   * The request-root maps of this object, which the go-calls collector's object reuses: the
   * server probes here also make a process's HTTP requests roots of its slow breakdown while
   * its deep probes are on (go-calls sets request_roots), so go-calls probes none of these points.
   */
  requestRootMaps(): [RequestRootMap, BpfMap][] {
    return REQUEST_ROOT_MAPS.map((name) => [name, this.obj.map(name)]);
  }

  attachGo(proc: DiscoveredProcess, info: GoBinaryInfo, plan?: AttachPlan): void {
    const probes = info.probeSets.httpServer;
    if (!probes) {
      const why = info.skipped.find((s) => s.probeSet === 'httpServer')?.reason ?? 'no net/http server in the binary';
      throw new Error(why);
    }
    const target: HttpProbeTarget = {
      pid: proc.pid, binaryPath: proc.exePath, binaryKey: info.fileKey, probes,
      http2: info.probeSets.http2Server, http2Xnet: info.probeSets.http2XnetServer,
    };
    if (plan?.serverRed === 'syscalls') {
      this.withDeepOnly.set(proc.pid, { ...target, rootsOnly: true });
      return;
    }
    this.reportUnprobedHttp2(proc, info);
    this.attach(target);
  }

  /**
   * A process whose server RED comes from the syscall path gets the server probes with its deep
   * probes: they are the request roots of the slow breakdowns, and count nothing — the syscall
   * path keeps the count throughout, so a request in flight when they attach or detach is
   * counted once, by it. Entry probe first on detach
   * (attach() orders the links so), so requests in flight still end; then their starts are
   * removed, so a later attach cannot end one with a wrong duration.
   */
  async setDeepProbes(pid: number, on: boolean): Promise<void> {
    const target = this.withDeepOnly.get(pid);
    if (!target) return; // probed all the time (or not at all)
    if (on) this.attach(target);
    else if (this.links.has(pid)) {
      this.detach(pid);
      this.removeInflightOf(pid);
    }
  }

  /** Whether the process's server requests are measured here only while its deep probes are on. */
  probedWithDeepOnly(pid: number): boolean {
    return this.withDeepOnly.has(pid);
  }

  private removeInflightOf(pid: number): void {
    const inflight = this.obj.map('http_inflight');
    for (const key of inflight.keys()) if (key.readUInt32LE(0) === pid) inflight.delete(key); // struct go_goroutine_key
  }

  /**
   * Every net/http server links the bundled HTTP/2 server; when its set did not resolve (e.g. a
   * stripped binary of a Go version the offsets table lacks) its h2 requests would go uncounted
   * without a word: one log line per binary and a `skipped_http2Server` drop each time.
   */
  private reportUnprobedHttp2(proc: DiscoveredProcess, info: GoBinaryInfo): void {
    const skip = info.skipped.find((s) => s.probeSet === 'http2Server');
    // Not linked: the binary cannot serve HTTP/2 with net/http, nothing goes unmeasured.
    if (!skip || / not found \(in \.symtab or \.gopclntab\)/.test(skip.reason)) return;
    this.drops.add('skipped_http2Server', 1);
    if (this.reportedHttp2.has(info.fileKey)) return;
    this.reportedHttp2.add(info.fileKey);
    this.log(`http-server: pid ${proc.pid} (${proc.serviceName}): HTTP/2 requests not measured: ${skip.reason}`);
  }

  processExited(pid: number): void {
    this.withDeepOnly.delete(pid);
    this.detach(pid);
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const byPid = new Map<number, ExpHistogramPoint[]>();
    for (const p of await this.drainPoints(window.serviceOf)) {
      let list = byPid.get(p.pid);
      if (!list) byPid.set(p.pid, (list = []));
      list.push({ attributes: p.attributes, startTimeNs: window.startNs, endTimeNs: window.endNs, histogram: p.histogram });
    }
    return [...byPid].map(([pid, points]) => ({ pid, metrics: [exponentialHistogramMetric(METRICS[HTTP_SERVER_DURATION], points)] }));
  }

  attach(t: HttpProbeTarget): void {
    if (this.links.has(t.pid)) return;
    const slot = this.slotFor(t);
    // The cookie selects the binary's offsets and says whether restarts must be skipped.
    const cookie = (probe: EntryProbe) => BigInt(slot) | (probe.kind === 'stack-check-jbe' ? COOKIE_AT_JBE : 0n) | (t.rootsOnly ? COOKIE_ROOTS_ONLY : 0n);
    const links: BpfLink[] = [];
    const entry = (program: string, probe: EntryProbe, extra = 0n) =>
      links.push(
        this.obj.program(program).attachUprobe({
          binaryPath: t.binaryPath, fileOffset: probe.fileOffset, pid: t.pid, cookie: cookie(probe) | extra,
        }),
      );
    try {
      entry('go_http_serve_start', t.probes.points.serveHttp);
      entry('go_http_finish_request', t.probes.points.finishRequest);
      if (t.http2) entry('go_http2_handler_done', t.http2.points.handlerDone);
      if (t.http2Xnet) {
        entry('go_http2_stream_start', t.http2Xnet.points.runHandler, COOKIE_H2_XNET);
        entry('go_http2_handler_done', t.http2Xnet.points.handlerDone, COOKIE_H2_XNET);
      }
    } catch (err) {
      for (const l of links) l.detach();
      this.releaseSlot(t.pid);
      throw err;
    }
    this.links.set(t.pid, links);
  }

  detach(pid: number): void {
    for (const l of this.links.get(pid) ?? []) l.detach();
    this.links.delete(pid);
    this.releaseSlot(pid);
    const known = this.obj.map('http_known');
    for (const hex of this.known.get(pid) ?? []) known.delete(Buffer.from(hex, 'hex'));
    this.known.delete(pid);
  }

  /** Drops seen since the last call, by reason (maps full, unreadable memory, routes over the cap). */
  takeDrops(): Map<string, number> {
    const overflowed = this.routes.takeOverflowed();
    if (overflowed) this.drops.add('route_overflow', overflowed);
    return this.drops.take();
  }

  /**
   * Everything recorded since the previous collect, exactly once: the probes are
   * switched to the other generation of maps, and the idle one is drained.
   */
  async drainPoints(pidToService: (pid: number) => string | undefined): Promise<HttpServerPoint[]> {
    const idle = await this.generations.flip();
    this.drops.poll();
    this.sweepInflight();
    this.obj.map(`http_new_series_${idle}`).drain(); // the per-process caps start over
    const series = new Map<string, SeriesAccumulator>();
    const routeOf = oncePerSeries(SERIES_SIZE, (key) => this.routeOf(key, pidToService));
    const buckets = this.obj.map(`http_buckets_${idle}`).drain();
    for (let i = 0; i < buckets.keys.length; i++) {
      const acc = this.accumulator(series, buckets.keys[i], routeOf);
      if (!acc) continue;
      const bucket = buckets.keys[i].readInt32LE(SERIES_SIZE);
      const n = Number(sumPerCpu(buckets.values[i], 0, 8));
      acc.buckets.set(bucket, (acc.buckets.get(bucket) ?? 0) + n);
    }
    const statsMap = this.obj.map(`http_stats_${idle}`);
    const stats = statsMap.drain();
    for (let i = 0; i < stats.keys.length; i++) {
      const acc = this.accumulator(series, stats.keys[i], routeOf);
      if (!acc) continue;
      addPerCpuDurationStats(acc, stats.values[i], statsMap.valueSize);
    }

    const points: HttpServerPoint[] = [];
    for (const s of series.values()) {
      if (s.buckets.size === 0) continue;
      points.push({
        pid: s.pid,
        attributes: {
          [ATTR.httpMethod]: s.method,
          [ATTR.httpRoute]: s.route,
          [ATTR.httpStatus]: s.status,
        },
        histogram: histogramFromBuckets(this.scale, s.buckets, s.sumNs, { minNs: s.minNs, maxNs: s.maxNs }),
      });
    }
    return points;
  }

  close(): void {
    for (const pid of [...this.links.keys()]) this.detach(pid);
    this.obj.close();
  }

  /**
   * Processes of one binary share a slot of offsets, written once. A slot is freed when its last
   * process detaches (its probes are gone then, so nothing reads it any more): the agent can
   * instrument any number of distinct binaries over its life, as long as no more than the
   * map's size run at once.
   */
  private slotFor(t: HttpProbeTarget): number {
    const used = this.slots.get(t.binaryKey);
    if (used) {
      used.pids.add(t.pid);
      this.slotOfPid.set(t.pid, t.binaryKey);
      return used.slot;
    }
    const offsetsMap = this.obj.map('go_http_offsets');
    const slot = this.freeSlots.pop() ?? this.nextSlot;
    if (slot >= offsetsMap.maxEntries) {
      throw new Error(`more than ${offsetsMap.maxEntries} distinct Go binaries attached at once; ${t.binaryPath} not attached`);
    }
    if (slot === this.nextSlot) this.nextSlot++;
    const v = Buffer.alloc(OFFSETS_SIZE);
    const o = t.probes.offsets;
    const h2 = (p: Http2Probes | Http2XnetProbes | undefined) => (p ? [p.offsets.rwRws, p.offsets.rwsReq, p.offsets.rwsStatus, 1] : [0, 0, 0, 0]);
    // struct go_http2_offsets h2[]: indexed by HTTP2_IMPL_BUNDLED (0), HTTP2_IMPL_XNET (1).
    const goid = t.http2Xnet?.offsets.gGoid ?? 0;
    [o.requestMethod, o.requestUrl, o.urlPath, o.responseReq, o.responseStatus, 1, ...h2(t.http2), ...h2(t.http2Xnet), goid, 0].forEach((x, i) =>
      v.writeUInt32LE(x, i * 4),
    );
    const k = Buffer.alloc(4);
    k.writeUInt32LE(slot);
    offsetsMap.update(k, v);
    this.slots.set(t.binaryKey, { slot, pids: new Set([t.pid]) });
    this.slotOfPid.set(t.pid, t.binaryKey);
    return slot;
  }

  private releaseSlot(pid: number): void {
    const key = this.slotOfPid.get(pid);
    if (key === undefined) return;
    this.slotOfPid.delete(pid);
    const used = this.slots.get(key);
    if (!used) return;
    used.pids.delete(pid);
    if (used.pids.size > 0) return;
    this.slots.delete(key);
    this.freeSlots.push(used.slot);
  }

  /** Requests in flight now (walks the map: for checks, not per interval). */
  inflightCount(): number {
    return this.obj.map('http_inflight').count();
  }

  /** In-flight requests whose end can never come: counted, then removed so they cannot fill the map. */
  private sweepInflight(): void {
    const { exited, stale } = sweepInflight(this.obj.map('http_inflight'), {
      tgidOf: (key) => key.readUInt32LE(0), // struct go_goroutine_key
      startNsOf: (value) => value.readBigUInt64LE(0),
      maxAgeNs: this.inflightMaxAgeNs,
    });
    if (exited) this.drops.add('inflight_exited', exited);
    if (stale) this.drops.add('inflight_stale', stale);
  }

  /**
   * Exempts a series that got a route of its own from the kernel's per-process cap, so a
   * scanner's random paths cannot push a service's real routes into the overflow series.
   */
  private markKnown(key: Buffer, pid: number): void {
    let set = this.known.get(pid);
    if (!set) this.known.set(pid, (set = new Set()));
    if (set.size >= this.maxSeriesPerProcess) return;
    const known = Buffer.alloc(8 + METHOD_MAX + PATH_MAX); // struct http_known_key
    known.writeUInt32LE(pid, 0);
    key.copy(known, 8, 8, 8 + METHOD_MAX + PATH_MAX);
    const hex = known.toString('hex');
    if (set.has(hex)) return;
    try {
      this.obj.map('http_known').update(known, Buffer.from([1]));
      set.add(hex);
    } catch {
      // full: the series stays under the cap like any new one
    }
  }

  /** The route of a kernel series; call once per series per drain (oncePerSeries). */
  private routeOf(key: Buffer, pidToService: (pid: number) => string | undefined): string {
    const pid = key.readUInt32LE(0);
    const pathLen = key.readUInt16LE(6);
    if (pathLen === PATH_LEN_OVERFLOW) return OVERFLOW_ROUTE;
    const route = this.routes.route(pidToService(pid) ?? `pid-${pid}`, cString(key, 16, PATH_MAX), pathLen > PATH_MAX);
    if (route !== OVERFLOW_ROUTE && this.links.has(pid)) this.markKnown(key, pid);
    return route;
  }

  private accumulator(series: Map<string, SeriesAccumulator>, key: Buffer, routeOf: (key: Buffer) => string): SeriesAccumulator | undefined {
    const pid = key.readUInt32LE(0);
    const status = key.readUInt16LE(4);
    const method = cString(key, 8, METHOD_MAX) || 'UNKNOWN';
    const route = routeOf(key);
    const id = `${pid}\0${method}\0${route}\0${status}`;
    let acc = series.get(id);
    if (!acc) {
      acc = { pid, method, route, status, buckets: new Map(), sumNs: 0n };
      series.set(id, acc);
    }
    return acc;
  }
}
