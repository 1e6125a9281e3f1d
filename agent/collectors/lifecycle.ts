// Process lifecycle from bpf/lifecycle.bpf.c: execs (with the executable's build id, read
// from /proc/PID/exe as soon as the exec is seen) and exits (with exit code or signal), per
// process, so deploys (a new build id) and crash loops (exits by signal, again and again)
// are visible.
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { KERNEL_ATTR, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { numberMetric, type PointAttributes } from '../export/otlp.ts';
import { identifyProcess, type ProcessIdentity } from '../process-identity.ts';
import type { CollectWindow, CollectedMetrics } from './types.ts';
import { KernelSignalCollector, type KernelProgram } from './kernel-maps.ts';
import type { KernelCollectorOptions } from './sched.ts';

// Mirrors bpf/lifecycle.h.
const EXEC = 1;
const DROP_REASONS = ['ring_full'] as const;
/** Identities of running processes we saw exec; bounded so a fork-bomb cannot grow it without end. */
const MAX_KNOWN = 16384;

export const LIFECYCLE_PROGRAMS: readonly KernelProgram[] = [
  { name: 'lifecycle_exec', tracepoint: 'sched_process_exec' },
  { name: 'lifecycle_exit', tracepoint: 'sched_process_exit' },
];

export interface LifecycleEvent {
  type: 'exec' | 'exit';
  /** CLOCK_MONOTONIC ns. */
  tsNs: bigint;
  pid: number;
  ppid: number;
  /** Wait status of an exit: (code << 8) | signal. */
  status: number;
  comm: string;
}

export function decodeLifecycleEvent(b: Buffer): LifecycleEvent {
  const end = b.indexOf(0, 24);
  return {
    tsNs: b.readBigUInt64LE(0),
    type: b.readUInt32LE(8) === EXEC ? 'exec' : 'exit',
    pid: b.readUInt32LE(12),
    ppid: b.readUInt32LE(16),
    status: b.readInt32LE(20),
    comm: b.toString('utf8', 24, end < 0 || end > 40 ? 40 : end),
  };
}

const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

/** Exit attributes of a wait status: the code of a normal exit, or the signal that killed it. */
export function exitAttributes(status: number): PointAttributes {
  const signal = status & 0x7f;
  if (signal === 0) return { [KERNEL_ATTR.exitCode]: (status >> 8) & 0xff };
  return { [KERNEL_ATTR.exitSignal]: SIGNAL_NAMES.get(signal) ?? `SIG${signal}`, [KERNEL_ATTR.exitCode]: 128 + signal };
}

interface Pending {
  event: LifecycleEvent;
  identity: Promise<ProcessIdentity>;
}

export class LifecycleCollector extends KernelSignalCollector {
  readonly name = 'lifecycle';
  private pending: Pending[] = [];
  /** What each process we saw exec was, for its exit (by then /proc no longer shows it). */
  private readonly known = new Map<number, Promise<ProcessIdentity>>();

  constructor(opts: KernelCollectorOptions) {
    super({ signal: 'lifecycle', objectPath: path.join(opts.objectDir, 'lifecycle.bpf.o'), programs: LIFECYCLE_PROGRAMS, log: opts.log }, DROP_REASONS);
    // No short poll period: lifecycle.bpf.c submits with the kernel's default wake-up, so an
    // exec wakes the reader at once; the period only bounds a missed wake-up, and a 20-ms one
    // was 50 wake-ups a second of an idle agent for nothing.
    this.readRing('lifecycle_events', (records) => {
      for (const r of records) this.onEvent(decodeLifecycleEvent(r));
    }, { pollMs: 1000 });
  }

  private onEvent(event: LifecycleEvent): void {
    const fallback: ProcessIdentity = { pid: event.pid, startTime: 0, comm: event.comm, serviceName: event.comm };
    let identity: Promise<ProcessIdentity>;
    if (event.type === 'exec') {
      // Read now: a short-lived program may be gone in a millisecond; report what could be read.
      identity = identifyProcess(event.pid).then((id) => id ?? fallback);
      this.known.set(event.pid, identity);
      if (this.known.size > MAX_KNOWN) this.known.delete(this.known.keys().next().value!);
    } else {
      identity = this.known.get(event.pid) ?? Promise.resolve(fallback);
      this.known.delete(event.pid);
    }
    this.pending.push({ event, identity });
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    this.drops.poll();
    const times = { startTimeNs: window.startNs, endTimeNs: window.endNs };
    const pending = this.pending;
    this.pending = [];
    // Per process: its identity and counts per attribute set.
    const byPid = new Map<number, { identity: ProcessIdentity; starts: Map<string, number>; exits: Map<string, number> }>();
    for (const p of pending) {
      const identity = await p.identity;
      let e = byPid.get(p.event.pid);
      if (!e) byPid.set(p.event.pid, (e = { identity, starts: new Map(), exits: new Map() }));
      const attrs: PointAttributes = { [KERNEL_ATTR.executableName]: identity.exeTarget ? path.basename(identity.exeTarget) : identity.comm };
      if (identity.buildId) attrs[KERNEL_ATTR.buildId] = identity.buildId;
      const [to, all] = p.event.type === 'exec' ? [e.starts, attrs] : [e.exits, { ...attrs, ...exitAttributes(p.event.status) }];
      const key = JSON.stringify(all);
      to.set(key, (to.get(key) ?? 0) + 1);
    }
    const out: CollectedMetrics[] = [];
    for (const [pid, { identity, starts, exits }] of byPid) {
      const metrics: CollectedMetrics['metrics'] = [];
      const points = (m: Map<string, number>) => [...m].map(([k, n]) => ({ attributes: JSON.parse(k) as PointAttributes, ...times, value: n }));
      if (starts.size) metrics.push(numberMetric(METRICS[KERNEL_METRIC.processStarts], points(starts)));
      if (exits.size) metrics.push(numberMetric(METRICS[KERNEL_METRIC.processExits], points(exits)));
      out.push({ pid, metrics, identity });
    }
    return out;
  }

}
