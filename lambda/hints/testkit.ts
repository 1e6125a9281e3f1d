// Test support for the hints engine: services reporting what the agent reports, interval by
// interval, through the agent's own OTLP encoders and the gateway's decoder into a real store.
// A test states each service's condition per interval (request rate, latency, what it calls,
// kernel and runtime figures); the kit turns it into the exact metric shapes and attributes of
// agent/collectors/* (one resource per process, 10 s delta points, exponential histograms at
// the kernel's scale 5, counters only when non-zero).

import type { MetricData } from '@opentelemetry/sdk-metrics';
import { ATTR, GO_ATTR, GO_METRIC, HTTP_SERVER_DURATION, KERNEL_ATTR, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { bucketIndexForSeconds, histogramFromBuckets, KERNEL_MAX_SCALE } from '../../common/exphist.ts';
import { encodeMetrics, exponentialHistogramMetric, numberMetric, resourceMetrics, type PointAttributes } from '../../agent/export/otlp.ts';
import { slowRequestSpans } from '../../agent/export/spans.ts';
import { decodeMetricsRequest } from '../otlp/metrics.ts';
import type { MetricPoint, MetricStore } from '../storage/types.ts';
import { rng } from '../../common/seeded-random.ts';

export const INTERVAL_MS = 10_000;
const SCALE = KERNEL_MAX_SCALE;


export interface Call {
  /** Which client metric: an HTTP call, a gRPC call, or a database/Redis command. */
  kind: 'http' | 'grpc' | 'sql' | 'redis';
  address: string;
  port: number;
  operation: string;
  /** Seconds per call (mean; samples spread ±30%). */
  latency: number;
  /** Share of calls failing. */
  errorRate?: number;
  /** Calls per request. */
  perRequest?: number;
}

/** One process's condition during one interval. Absent figures are the healthy defaults. */
export interface Condition {
  service: string;
  host?: string;
  pid: number;
  buildId: string;
  requestsPerSecond: number;
  /** Seconds spent in the handler itself, besides calls. */
  ownLatency: number;
  errorRate?: number;
  calls?: Call[];
  /** Port the process accepts connections on (reported as the kernel does: client.address + server.port). */
  listenPort?: number;
  runqueueWait?: number;
  /** Thread wakeups (each waits runqueueWait) per request; default 4. */
  wakeupsPerRequest?: number;
  cpuSeconds?: number;
  gcCycles?: number;
  gcPause?: number;
  /** Seconds each request waits on a contended lock (part of its duration), in `lockFunction`. */
  lockWait?: number;
  lockFunction?: string;
  /** Seconds each request stalls in GC assist (part of its duration). */
  gcAssist?: number;
  /** Seconds per interval the process's threads slept in futex waits (what a non-Go process reports). */
  futexWait?: number;
  /** Not a Go process: no Go runtime signals (GC, goroutines, lock waits). */
  notGo?: boolean;
  minorFaults?: number;
  majorFaults?: number;
  blockLatency?: number;
  blockErrors?: number;
  /** Per peer `address:port`: TCP retransmits in the interval. */
  retransmits?: Record<string, number>;
  started?: boolean;
  exited?: { signal?: string; code: number };
  oomKilled?: boolean;
}

const jitter = (r: () => number, x: number, spread = 0.3) => x * (1 + spread * (2 * r() - 1));

function histogram(metric: string, attributes: PointAttributes, values: readonly number[], times: { startTimeNs: bigint; endTimeNs: bigint }) {
  const buckets = new Map<number, number>();
  let sum = 0;
  for (const v of values) {
    const i = bucketIndexForSeconds(Math.max(v, 1e-7), SCALE);
    buckets.set(i, (buckets.get(i) ?? 0) + 1);
    sum += v;
  }
  return exponentialHistogramMetric(METRICS[metric], [{ attributes, ...times, histogram: histogramFromBuckets(SCALE, buckets, Math.round(sum * 1e9)) }]);
}

function counter(metric: string, points: { attributes: PointAttributes; value: number }[], times: { startTimeNs: bigint; endTimeNs: bigint }) {
  const nonZero = points.filter((p) => p.value > 0).map((p) => ({ ...p, value: Math.round(p.value), ...times }));
  return nonZero.length ? [numberMetric(METRICS[metric], nonZero)] : [];
}

/** The metrics one process exports for one interval ending at endMs. */
export function processMetrics(c: Condition, endMs: number, r: () => number): MetricData[] {
  const times = { startTimeNs: BigInt(endMs - INTERVAL_MS) * 1_000_000n, endTimeNs: BigInt(endMs) * 1_000_000n };
  const seconds = INTERVAL_MS / 1000;
  const out: MetricData[] = [];
  const n = Math.round(jitter(r, c.requestsPerSecond * seconds, 0.05));
  const callDurations = new Map<Call, number[]>();
  const callErrors = new Map<Call, number[]>();
  const ok: number[] = [];
  const failed: number[] = [];
  const lockWaits: number[] = [];
  const assists: number[] = [];
  for (let k = 0; k < n; k++) {
    let d = jitter(r, c.ownLatency);
    if (c.lockWait) {
      const w = jitter(r, c.lockWait);
      lockWaits.push(w);
      d += w;
    }
    if (c.gcAssist) {
      const a = jitter(r, c.gcAssist);
      assists.push(a);
      d += a;
    }
    let callFailed = false;
    for (const call of c.calls ?? []) {
      for (let j = 0; j < (call.perRequest ?? 1); j++) {
        const cd = jitter(r, call.latency);
        const bad = r() < (call.errorRate ?? 0);
        callFailed ||= bad;
        const into = bad ? callErrors : callDurations;
        if (!into.has(call)) into.set(call, []);
        into.get(call)!.push(cd);
        d += cd;
      }
    }
    (callFailed || r() < (c.errorRate ?? 0) ? failed : ok).push(d);
  }
  const route = { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: '/api/items' };
  if (ok.length) out.push(histogram(HTTP_SERVER_DURATION, { ...route, [ATTR.httpStatus]: 200 }, ok, times));
  if (failed.length) out.push(histogram(HTTP_SERVER_DURATION, { ...route, [ATTR.httpStatus]: 500 }, failed, times));
  for (const [into, bad] of [[callDurations, false], [callErrors, true]] as const) {
    for (const [call, values] of into) {
      const peer = { [GO_ATTR.serverAddress]: call.address, [GO_ATTR.serverPort]: call.port };
      if (call.kind === 'http') out.push(histogram(GO_METRIC.httpClientDuration, { ...peer, [ATTR.httpMethod]: call.operation, [ATTR.httpStatus]: bad ? 503 : 200 }, values, times));
      else if (call.kind === 'grpc') out.push(histogram(GO_METRIC.rpcClientDuration, { ...peer, [GO_ATTR.rpcSystem]: 'grpc', [GO_ATTR.rpcMethod]: call.operation, [GO_ATTR.rpcGrpcStatus]: bad ? 14 : 0 }, values, times));
      else out.push(histogram(GO_METRIC.dbClientDuration, { ...peer, [GO_ATTR.dbSystem]: call.kind === 'redis' ? 'redis' : 'postgresql', [GO_ATTR.dbOperation]: call.operation, ...(bad ? { [GO_ATTR.errorType]: 'timeout' } : {}) }, values, times));
    }
  }
  const wakeups = Math.max(1, n * (c.wakeupsPerRequest ?? 4));
  out.push(histogram(KERNEL_METRIC.runqueueLatency, {}, Array.from({ length: wakeups }, () => jitter(r, c.runqueueWait ?? 20e-6, 0.5)), times));
  out.push(...counter(KERNEL_METRIC.cpuTime, [{ attributes: {}, value: jitter(r, c.cpuSeconds ?? 0.5, 0.1) * 1e9 }], times));
  if (!c.notGo) {
    out.push(...counter(GO_METRIC.gcCycles, [{ attributes: {}, value: c.gcCycles ?? (r() < 0.5 ? 1 : 2) }], times));
    const cycles = c.gcCycles ?? 1;
    out.push(histogram(GO_METRIC.gcPause, { [GO_ATTR.gcPhase]: 'mark_termination' }, Array.from({ length: Math.max(1, Math.round(cycles)) }, () => jitter(r, c.gcPause ?? 50e-6)), times));
    out.push(numberMetric(METRICS[GO_METRIC.goroutines], [{ attributes: {}, ...times, value: 20 }]));
  }
  if (lockWaits.length) out.push(histogram(GO_METRIC.lockWait, { [GO_ATTR.codeFunction]: c.lockFunction ?? 'main.handler' }, lockWaits, times));
  if (assists.length) out.push(histogram(GO_METRIC.gcAssist, {}, assists, times));
  // Idle threads sleep in futex whatever the load: a level that the baseline carries.
  if (c.notGo) out.push(histogram(KERNEL_METRIC.futexWait, { [KERNEL_ATTR.futexOp]: 'wait' }, Array.from({ length: 20 }, () => jitter(r, (c.futexWait ?? 5) / 20)), times));
  out.push(...counter(KERNEL_METRIC.pageFaults, [
    { attributes: { [KERNEL_ATTR.faultType]: 'minor' }, value: jitter(r, c.minorFaults ?? 200) },
    { attributes: { [KERNEL_ATTR.faultType]: 'major' }, value: c.majorFaults ?? (r() < 0.1 ? 1 : 0) },
  ], times));
  const io = { [KERNEL_ATTR.blockDevice]: 'vda', [KERNEL_ATTR.blockOperation]: 'write' };
  out.push(histogram(KERNEL_METRIC.blockIoDuration, io, Array.from({ length: 5 }, () => jitter(r, c.blockLatency ?? 0.0008)), times));
  out.push(...counter(KERNEL_METRIC.blockIoErrors, [{ attributes: io, value: c.blockErrors ?? 0 }], times));
  // The link to each peer: RTT samples as connections close, retransmits when the test says so.
  for (const call of c.calls ?? []) {
    const peer = `${call.address}:${call.port}`;
    const attrs = { [KERNEL_ATTR.serverAddress]: call.address, [KERNEL_ATTR.serverPort]: call.port };
    out.push(histogram(KERNEL_METRIC.tcpSmoothedRtt, attrs, [jitter(r, 50e-6)], times));
    out.push(...counter(KERNEL_METRIC.tcpRetransmits, [{ attributes: attrs, value: c.retransmits?.[peer] ?? 0 }], times));
  }
  if (c.listenPort !== undefined) {
    out.push(histogram(KERNEL_METRIC.tcpSmoothedRtt, { [KERNEL_ATTR.clientAddress]: '127.0.0.1', [KERNEL_ATTR.serverPort]: c.listenPort }, [jitter(r, 50e-6)], times));
  }
  const exe = { [KERNEL_ATTR.executableName]: c.service, [KERNEL_ATTR.buildId]: c.buildId };
  out.push(...counter(KERNEL_METRIC.processStarts, [{ attributes: exe, value: c.started ? 1 : 0 }], times));
  if (c.exited) {
    out.push(...counter(KERNEL_METRIC.processExits, [{ attributes: { ...exe, [KERNEL_ATTR.exitCode]: c.exited.code, ...(c.exited.signal ? { [KERNEL_ATTR.exitSignal]: c.exited.signal } : {}) }, value: 1 }], times));
  }
  if (c.oomKilled) {
    out.push(...counter(KERNEL_METRIC.oomKills, [{ attributes: { [KERNEL_ATTR.processPid]: c.pid, [KERNEL_ATTR.processCommand]: c.service, [KERNEL_ATTR.cgroupPath]: `/system.slice/${c.service}.service` }, value: 1 }], times));
  }
  return out;
}

export function resourceOf(c: Condition): Record<string, string | number> {
  return { [ATTR.serviceName]: c.service, [ATTR.hostName]: c.host ?? 'host-a', [ATTR.processPid]: c.pid, [ATTR.executableName]: c.service, [ATTR.buildId]: c.buildId };
}

/**
 * Writes `intervals` 10 s intervals ending at endMs: each interval's conditions (one per process)
 * encoded as the agent encodes them and decoded as the gateway decodes them.
 */
export async function writeWorld(store: MetricStore, tenant: string, opts: { endMs: number; intervals: number; seed?: number; at: (i: number, endMs: number) => Condition[] }): Promise<void> {
  const r = rng(opts.seed ?? 1);
  // Many intervals per write: the store's cost is per batch, and identity makes order irrelevant.
  let batch: MetricPoint[] = [];
  for (let i = 0; i < opts.intervals; i++) {
    const endMs = opts.endMs - (opts.intervals - 1 - i) * INTERVAL_MS;
    const resources = opts.at(i, endMs).map((c) => resourceMetrics(resourceOf(c), processMetrics(c, endMs, r)));
    if (resources.length === 0) continue;
    const { points, rejections } = decodeMetricsRequest(encodeMetrics(resources), 'protobuf');
    if (rejections.length) throw new Error(`the gateway decoder rejected test points: ${JSON.stringify(rejections)}`);
    batch.push(...points);
    if (batch.length >= 20_000) {
      await store.write(tenant, batch);
      batch = [];
    }
  }
  if (batch.length) await store.write(tenant, batch);
}

// ---- The fixture topology of the tests: frontend → backend → PostgreSQL and Redis. ----

/** The topology's history with Redis slow (`redisLatencyS` a call) behind the backend from `faultAtMs`: the world most hints tests explain. */
export function writeSlowRedisWorld(store: MetricStore, tenant: string, opts: { endMs: number; faultAtMs: number; minutes: number; redisLatencyS?: number }): Promise<void> {
  return writeWorld(store, tenant, {
    endMs: opts.endMs,
    intervals: (opts.minutes * 60_000) / INTERVAL_MS,
    at: (_i, endMs) => {
      const t = healthy();
      if (endMs > opts.faultAtMs) t.redisLatency = opts.redisLatencyS ?? 0.3;
      return conditions(t);
    },
  });
}

export const BACKEND = { address: '127.0.0.1', port: 9090 };
export const POSTGRES = { address: '127.0.0.1', port: 5432 };
export const REDIS = { address: '127.0.0.1', port: 6379 };

export interface Topology {
  front: Condition;
  back: Condition | undefined;
  redisLatency: number;
  postgresLatency: number;
  postgresErrors: number;
  /** Added to the frontend's calls to the backend besides the backend's own time (the link). */
  linkDelay: number;
  linkRetransmits: number;
  /** The backend answered nothing (down): the frontend's calls fail fast. */
  backendDown: boolean;
}

/** The healthy topology in one interval; a fault edits it from FAULT_AT on. */
export function healthy(): Topology {
  return {
    front: { service: 'frontend', pid: 100, buildId: 'f0f0f0f0f0f0f0f0', requestsPerSecond: 20, ownLatency: 0.002, listenPort: 8080 },
    back: { service: 'backend', pid: 200, buildId: 'b1b1b1b1b1b1b1b1', requestsPerSecond: 20, ownLatency: 0.001, listenPort: BACKEND.port },
    redisLatency: 0.0005,
    postgresLatency: 0.003,
    postgresErrors: 0,
    linkDelay: 0.0002,
    linkRetransmits: 0,
    backendDown: false,
  };
}

export function conditions(t: Topology): Condition[] {
  const out: Condition[] = [];
  let backLatency = 0;
  if (t.back) {
    const back: Condition = {
      ...t.back,
      calls: [
        { kind: 'sql', ...POSTGRES, operation: 'SELECT', latency: t.postgresLatency, errorRate: t.postgresErrors },
        { kind: 'redis', ...REDIS, operation: 'GET', latency: t.redisLatency },
      ],
    };
    backLatency = back.ownLatency + (back.lockWait ?? 0) + (back.gcAssist ?? 0) + t.postgresLatency + t.redisLatency;
    out.push(back);
  }
  const peer = `${BACKEND.address}:${BACKEND.port}`;
  out.push({
    ...t.front,
    calls: [{ kind: 'http', ...BACKEND, operation: 'GET', latency: t.backendDown ? 0.0003 : backLatency + t.linkDelay, errorRate: t.backendDown ? 1 : t.postgresErrors }],
    retransmits: { [peer]: t.linkRetransmits },
  });
  return out;
}

/**
 * The backend's slow requests as the agent exports them, one starting at each of `startsMs`: a
 * 3 ms SQL call, then a Redis GET of `redisMs` that dominates the request (`totalMs`).
 */
export function redisDominatedSlowRequests(startsMs: readonly number[], redisMs: number, totalMs: number): ReturnType<typeof slowRequestSpans> {
  const MS = 1_000_000n;
  return startsMs.flatMap((startMs) =>
    slowRequestSpans(
      {
        pid: 200, service: 'backend', kind: 'http', startNs: BigInt(startMs) * MS, durationNs: BigInt(totalMs) * MS, method: 'GET', route: '/api/items', status: 200,
        subcalls: [
          { kind: 'sql', peer: `${POSTGRES.address}:${POSTGRES.port}`, operation: 'SELECT', startOffsetNs: 1n * MS, durationNs: 3n * MS, error: false, status: 0, dbSystem: 'postgresql' },
          { kind: 'redis', peer: `${REDIS.address}:${REDIS.port}`, operation: 'GET', startOffsetNs: 5n * MS, durationNs: BigInt(redisMs) * MS, error: false, status: 0 },
        ],
        droppedSubcalls: 0,
      },
      { 'service.name': 'backend' },
    ),
  );
}
