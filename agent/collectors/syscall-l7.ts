// Requests and responses of any language's processes, from bpf/l7_syscalls.bpf.c (syscall
// tracepoints): HTTP/1 server and client requests as `http.server.request.duration` and
// `http.client.request.duration` — the Go uprobe path's names, attributes and route
// scheme — database calls as `db.client.operation.duration`, and connections whose bytes are
// not parsed (TLS, HTTP/2) as counts of connections and bytes.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { ATTR, GO_ATTR, GO_METRIC, HTTP_SERVER_DURATION, L7_ATTR, L7_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint, type NumberPoint, type PointAttributes } from '../export/otlp.ts';
import type { CollectWindow, CollectedMetrics, UprobeCoverage } from './types.ts';
import { Generations, KernelSignalCollector, PointsByProcess, addPerCpuDurationStats, sumPerCpuFields, sweepInflight, type KernelProgram } from './kernel-maps.ts';
import { OVERFLOW_ROUTE, RouteLimiter, oncePerSeries } from './route.ts';
import { socketAddress } from './tcp.ts';
import { identifyProcess } from '../process-identity.ts';
import type { KernelCollectorOptions } from './sched.ts';

export type { UprobeCoverage };

// Mirrors bpf/l7_syscalls.h.
const OP_MAX = 16;
const PATH_MAX = 64;
const SERIES_SIZE = 48 + PATH_MAX;
/** struct l7_bucket_key: pid, bucket, series id; struct l7_series_key: pid, pad, series id. */
const BUCKET_AT = 4;
const ID_AT = 8;
const PATH_LEN_OVERFLOW = 0xffff;
const KIND = { httpServer: 0, httpClient: 1, dbClient: 2 } as const;
const PROTO = { http1: 1, redis: 2, postgres: 3, tls: 4, http2: 5 } as const;
const ROLE_SERVER = 0;
const COVER = { httpServer: 0x1, httpClient: 0x2, db: 0x4 } as const;
const DROP_REASONS = [
  'conn_map_full', 'pending_map_full', 'bucket_map_full', 'stats_map_full', 'series_overflow', 'series_counter_full',
  'pipelined', 'unfinished', 'opaque_map_full', 'handoff', 'series_collision',
] as const;
/** db.system of the database protocols the kernel parses. */
const DB_SYSTEMS: Record<number, string> = { [PROTO.redis]: 'redis', [PROTO.postgres]: 'postgresql' };
/** Protocol names of connections that are counted but never parsed. */
const OPAQUE_PROTOCOLS: Record<number, string> = { [PROTO.tls]: 'tls', [PROTO.http2]: 'http2' };

/** The calls whose start and end bpf/l7_syscalls.bpf.c needs; recvfrom has an enter program of its own (its flags). */
const PAIRED_SYSCALLS = ['read', 'readv', 'recvmsg', 'write', 'writev', 'sendto', 'sendmsg', 'connect', 'accept', 'accept4'] as const;

/**
 * The perf-event tracepoints each program is attached to: only these calls' (the raw
 * sys_enter/sys_exit pair would run for every syscall on the host), close only at its start.
 */
export const SYSCALL_L7_PROGRAMS: readonly (KernelProgram & { category: string })[] = [
  ...PAIRED_SYSCALLS.map((call) => ({ name: 'l7_enter', category: 'syscalls', tracepoint: `sys_enter_${call}` })),
  { name: 'l7_enter_recvfrom', category: 'syscalls', tracepoint: 'sys_enter_recvfrom' },
  ...[...PAIRED_SYSCALLS, 'recvfrom'].map((call) => ({ name: 'l7_exit', category: 'syscalls', tracepoint: `sys_exit_${call}` })),
  { name: 'l7_enter_close', category: 'syscalls', tracepoint: 'sys_enter_close' },
];

export interface SyscallL7CollectorOptions extends KernelCollectorOptions {
  maxRoutesPerService?: number;
  /** New series a process may create in the kernel per interval before its requests go to `/{overflow}`. */
  maxSeriesPerProcess?: number;
  /** The process whose traffic is never looked at (default: this one, the agent). */
  agentPid?: number;
  /** Map sizes other than the object's own (e.g. a small l7_conns). */
  maxEntries?: Record<string, number>;
  /**
   * The key of the kernel's series-id hash (default: random per load). null: not set, for an
   * object built before series ids (bench/syscall-l7.ts runs an older build beside this one).
   */
  seriesSeed?: bigint | null;
  /** Bits of the hash a series id keeps (default: all); tests force collisions with fewer. */
  seriesIdMask?: bigint;
}

/** One decoded struct l7_series. */
export interface L7Series {
  pid: number;
  kind: number;
  protocol: number;
  status: number;
  error: boolean;
  op: string;
  path: string;
  pathLen: number;
  peer?: { address: string; port: number };
}

export function decodeSeries(k: Buffer): L7Series {
  const kind = k[8];
  const family = k[11];
  const s: L7Series = {
    pid: k.readUInt32LE(0),
    status: k.readUInt16LE(4),
    pathLen: k.readUInt16LE(6),
    kind,
    protocol: k[9],
    error: k[10] !== 0,
    op: cString(k, 32, OP_MAX),
    path: cString(k, 48, PATH_MAX),
  };
  if (kind !== KIND.httpServer) s.peer = { address: socketAddress(family, k.subarray(16, 32)), port: k.readUInt16LE(12) };
  return s;
}

interface Accumulator {
  pid: number;
  kind: number;
  attributes: PointAttributes;
  buckets: Map<number, number>;
  sumNs: bigint;
  minNs?: bigint;
  maxNs?: bigint;
}

export class SyscallL7Collector extends KernelSignalCollector {
  readonly name = 'syscall-l7';
  private readonly generations: Generations;
  private readonly scale: number;
  private readonly routes: RouteLimiter;

  constructor(opts: SyscallL7CollectorOptions) {
    const scale = opts.scale ?? 5;
    super(
      {
        signal: 'l7',
        objectPath: path.join(opts.objectDir, 'l7_syscalls.bpf.o'),
        programs: SYSCALL_L7_PROGRAMS,
        rodata: {
          hist_scale: scale, max_series_per_process: opts.maxSeriesPerProcess ?? 512, agent_tgid: opts.agentPid ?? process.pid,
          ...(opts.seriesSeed === null ? {} : { series_seed: opts.seriesSeed ?? randomBytes(8).readBigUInt64LE() }),
          ...(opts.seriesIdMask === undefined ? {} : { series_id_mask: opts.seriesIdMask }),
        },
        ...(opts.maxEntries ? { maxEntries: opts.maxEntries } : {}),
        log: opts.log,
      },
      DROP_REASONS,
    );
    this.scale = scale;
    this.routes = new RouteLimiter(opts.maxRoutesPerService ?? 100);
    this.generations = new Generations(this.obj, 'l7_control');
  }

  /**
   * What Go uprobes already measure for `pid`: the kernel skips those kinds of requests for
   * it, so no request is counted by both paths. All false forgets the process.
   */
  setUprobeCoverage(pid: number, covered: UprobeCoverage): void {
    const bits = (covered.httpServer ? COVER.httpServer : 0) | (covered.httpClient ? COVER.httpClient : 0) | (covered.db ? COVER.db : 0);
    const key = u32(pid);
    if (bits === 0) this.obj.map('l7_coverage').delete(key);
    else this.obj.map('l7_coverage').update(key, u32(bits));
    this.coverageChanged();
  }

  /** After l7_coverage changed: connections look their process's bits up again (they cache them). */
  private coverageChanged(): void {
    this.bump('l7_coverage_version', 0);
  }

  /** Adds one (wrapping) to a counter in an array map the programs compare cached stamps with. */
  private bump(map: string, index: number): void {
    const m = this.obj.map(map);
    const key = u32(index);
    m.update(key, u32(((m.lookup(key)?.readUInt32LE(0) ?? 0) + 1) >>> 0));
  }

  /** What the kernel currently skips for `pid` (the l7_coverage map). */
  coverageOf(pid: number): UprobeCoverage {
    const v = this.obj.map('l7_coverage').lookup(u32(pid));
    const bits = v ? v.readUInt32LE(0) : 0;
    return { httpServer: (bits & COVER.httpServer) !== 0, httpClient: (bits & COVER.httpClient) !== 0, db: (bits & COVER.db) !== 0 };
  }

  processExited(pid: number): void {
    this.obj.map('l7_coverage').delete(u32(pid));
    this.coverageChanged();
  }

  /** Connections tracked now (walks the map: for checks, not per interval). */
  connectionCount(): number {
    return this.obj.map('l7_conns').count();
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const idle = await this.generations.flip();
    // No program writes the retired generation until it is current again: connections' cached
    // series ids of it are void from now on (its names are drained below).
    this.bump('l7_epochs', idle);
    this.drops.poll();
    this.sweepExited();
    this.obj.map(`l7_new_series_${idle}`).drain(); // the per-process caps start over
    const times = { startTimeNs: window.startNs, endTimeNs: window.endNs };

    // Each (pid, bucket, series id) entry holds its count, sum, min and max; the ids' names are
    // in the same generation's name maps (the kernel stores a name before its id's first bucket).
    const names = drainSeriesNames([this.obj.map(`l7_series_seen_${idle}`).drain(), this.obj.map(`l7_overflow_seen_${idle}`).drain()]);
    const series = new Map<string, Accumulator>();
    const bucketsMap = this.obj.map(`l7_buckets_${idle}`);
    const buckets = bucketsMap.drain();
    const services = await this.serviceNames(names.values(), window);
    const named = oncePerSeries(SERIES_SIZE, (key) => this.attributesOf(decodeSeries(key), services));
    let unnamed = 0;
    for (let i = 0; i < buckets.keys.length; i++) {
      const name = names.get(seriesNameKey(buckets.keys[i]));
      const n = Number(sumPerCpuFields(buckets.values[i], bucketsMap.valueSize)[0]);
      if (!name) {
        unnamed += n; // cannot happen while the kernel names before it counts; never silent if it does
        continue;
      }
      const acc = this.accumulator(series, name, named);
      const b = buckets.keys[i].readInt32LE(BUCKET_AT);
      if (n > 0) acc.buckets.set(b, (acc.buckets.get(b) ?? 0) + n);
      addPerCpuDurationStats(acc, buckets.values[i], bucketsMap.valueSize);
    }
    if (unnamed) this.drops.add('series_unnamed', unnamed);
    const byKind = new Map<number, PointsByProcess<ExpHistogramPoint>>();
    for (const s of series.values()) {
      if (s.buckets.size === 0) continue;
      let pts = byKind.get(s.kind);
      if (!pts) byKind.set(s.kind, (pts = new PointsByProcess()));
      pts.add(s.pid, {
        attributes: s.attributes, ...times,
        histogram: histogramFromBuckets(this.scale, s.buckets, s.sumNs, { minNs: s.minNs, maxNs: s.maxNs }),
      });
    }

    const byPid = new Map<number | undefined, CollectedMetrics['metrics']>();
    const push = (pid: number | undefined, m: CollectedMetrics['metrics'][number]) => byPid.set(pid, [...(byPid.get(pid) ?? []), m]);
    const metricOf: Record<number, string> = {
      [KIND.httpServer]: HTTP_SERVER_DURATION, [KIND.httpClient]: GO_METRIC.httpClientDuration, [KIND.dbClient]: GO_METRIC.dbClientDuration,
    };
    for (const [kind, pts] of byKind) for (const [pid, points] of pts.entries()) push(pid, exponentialHistogramMetric(METRICS[metricOf[kind]], points));
    for (const [metric, pts] of this.drainOpaque(idle, times)) for (const [pid, points] of pts.entries()) push(pid, numberMetric(METRICS[metric], points));
    return [...byPid].map(([pid, metrics]) => (pid === undefined ? { metrics } : { pid, metrics }));
  }

  takeDrops(): Map<string, number> {
    const overflowed = this.routes.takeOverflowed();
    if (overflowed) this.drops.add('route_overflow', overflowed);
    return super.takeDrops();
  }

  /** Connections and bytes of TLS and HTTP/2 connections, per process, role and protocol. */
  private drainOpaque(idle: 0 | 1, times: { startTimeNs: bigint; endTimeNs: bigint }): Map<string, PointsByProcess<NumberPoint>> {
    const connections = new PointsByProcess<NumberPoint>();
    const bytes = new PointsByProcess<NumberPoint>();
    const map = this.obj.map(`l7_opaque_${idle}`);
    const drained = map.drain();
    for (let i = 0; i < drained.keys.length; i++) {
      const k = drained.keys[i];
      const [conns, received, sent] = sumPerCpuFields(drained.values[i], map.valueSize);
      const pid = k.readUInt32LE(0);
      const attrs = { [L7_ATTR.protocol]: OPAQUE_PROTOCOLS[k[4]] ?? 'unknown', [L7_ATTR.role]: k[5] === ROLE_SERVER ? 'server' : 'client' };
      if (conns > 0n) connections.add(pid, { attributes: attrs, ...times, value: Number(conns) });
      if (received > 0n) bytes.add(pid, { attributes: { ...attrs, [L7_ATTR.ioDirection]: 'receive' }, ...times, value: Number(received) });
      if (sent > 0n) bytes.add(pid, { attributes: { ...attrs, [L7_ATTR.ioDirection]: 'transmit' }, ...times, value: Number(sent) });
    }
    return new Map([[L7_METRIC.unparsedConnections, connections], [L7_METRIC.unparsedBytes, bytes]]);
  }

  /** Connections of processes that exited without closing them (a half-done syscall's slot,
   * l7_pending, is task-local storage: the kernel frees it with the thread). */
  private sweepExited(): void {
    const never = { startNsOf: () => process.hrtime.bigint(), maxAgeNs: 1n << 62n };
    const conns = sweepInflight(this.obj.map('l7_conns'), { ...never, tgidOf: (k) => k.readUInt32LE(0) });
    if (conns.exited) this.drops.add('connections_exited', conns.exited);
  }

  /**
   * The service of each process that served requests: the agent's name for a process it
   * watches, else the process's own (OTEL_SERVICE_NAME, else its executable): routes are
   * capped per service, as on the Go path, so the workers of one nginx share one budget.
   */
  private async serviceNames(keys: Iterable<Buffer>, window: CollectWindow): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const k of keys) {
      const pid = k.readUInt32LE(0);
      if (k[8] !== KIND.httpServer || out.has(pid)) continue;
      out.set(pid, window.serviceOf(pid) ?? (await identifyProcess(pid))?.serviceName ?? `pid-${pid}`);
    }
    return out;
  }

  private accumulator(series: Map<string, Accumulator>, key: Buffer, named: (key: Buffer) => PointAttributes): Accumulator {
    const s = decodeSeries(key);
    const attributes = named(key);
    const id = `${s.pid}\0${s.kind}\0${JSON.stringify(attributes)}`;
    let acc = series.get(id);
    if (!acc) series.set(id, (acc = { pid: s.pid, kind: s.kind, attributes, buckets: new Map(), sumNs: 0n }));
    return acc;
  }

  /** The attributes the Go uprobe path gives the same kind of request (http-server.ts, go-calls.ts). */
  private attributesOf(s: L7Series, services: Map<number, string>): PointAttributes {
    const a: PointAttributes = {};
    if (s.kind === KIND.httpServer) {
      a[ATTR.httpMethod] = s.op || 'UNKNOWN';
      const service = services.get(s.pid) ?? `pid-${s.pid}`;
      a[ATTR.httpRoute] = s.pathLen === PATH_LEN_OVERFLOW ? OVERFLOW_ROUTE : this.routes.route(service, decodePathLikeGo(s.path), s.pathLen > PATH_MAX);
      a[ATTR.httpStatus] = s.status;
      return a;
    }
    if (s.kind === KIND.httpClient) {
      a[ATTR.httpMethod] = s.op || 'UNKNOWN';
      if (s.status) a[ATTR.httpStatus] = s.status;
    } else {
      a[GO_ATTR.dbSystem] = DB_SYSTEMS[s.protocol] ?? 'other';
      // The kernel leaves op empty for a statement that does not start with a keyword (as operationWord says UNKNOWN).
      a[GO_ATTR.dbOperation] = s.op ? s.op.toUpperCase() : 'UNKNOWN';
      if (s.error) a[GO_ATTR.errorType] = 'error';
    }
    if (s.peer) {
      a[GO_ATTR.serverAddress] = s.peer.address;
      a[GO_ATTR.serverPort] = s.peer.port;
    }
    return a;
  }
}

/**
 * The request target's path as Go's `URL.Path` holds it — percent escapes decoded, to bytes read
 * as latin1 like every path the uprobes read — so a request gets the same route from the syscall
 * path as from the Go uprobes. A malformed escape is kept as sent (Go answers 400 to it before
 * any handler, so no uprobe series has it to match).
 */
export function decodePathLikeGo(raw: string): string {
  return raw.includes('%') ? raw.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : raw;
}

/** (pid, series id) of a struct l7_bucket_key or struct l7_series_key: both hold them at the same offsets. */
function seriesNameKey(k: Buffer): string {
  return k.toString('hex', 0, 4) + k.toString('hex', ID_AT, ID_AT + 8);
}

/** Series names by (pid, id) from drained l7_series_seen / l7_overflow_seen maps. */
export function drainSeriesNames(drained: readonly { keys: Buffer[]; values: Buffer[] }[]): Map<string, Buffer> {
  const names = new Map<string, Buffer>();
  for (const d of drained) for (let i = 0; i < d.keys.length; i++) names.set(seriesNameKey(d.keys[i]), d.values[i]);
  return names;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function cString(b: Buffer, start: number, max: number): string {
  const end = b.indexOf(0, start);
  return b.toString('latin1', start, end < 0 || end > start + max ? start + max : end);
}
