// Memory signals from bpf/memory.bpf.c: minor/major page faults per process, and OOM kills
// (victim pid, comm and memory cgroup) from ring-buffer events.
import path from 'node:path';
import { KERNEL_ATTR, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { numberMetric, type NumberPoint } from '../export/otlp.ts';
import { identifyProcess, type ProcessIdentity } from '../process-identity.ts';
import type { CollectWindow, CollectedMetrics } from './types.ts';
import { Generations, KernelSignalCollector, sumPerCpuFields, type KernelProgram } from './kernel-maps.ts';
import type { KernelCollectorOptions } from './sched.ts';

// Mirrors bpf/memory.h.
const OOM_DEPTH = 8;
const OOM_NAME = 64;
const DROP_REASONS = ['fault_map_full', 'oom_ring_full'] as const;

export const MEMORY_PROGRAMS: readonly KernelProgram[] = [
  { name: 'page_fault_user', tracepoint: 'page_fault_user' },
  { name: 'memory_task_exit', tracepoint: 'sched_process_exit' },
  { name: 'oom_mark_victim', tracepoint: 'mark_victim' },
];

export interface OomKill {
  pid: number;
  comm: string;
  /** The victim's memory cgroup, e.g. '/system.slice/x.service' ('/' for the root). */
  cgroupPath: string;
  identity?: ProcessIdentity;
}

export function decodeOomEvent(b: Buffer): OomKill {
  const pid = b.readUInt32LE(8);
  const comm = cstr(b, 16, 16);
  const depth = Math.min(b.readUInt32LE(32), OOM_DEPTH);
  const names: string[] = [];
  for (let i = 0; i < depth; i++) names.unshift(cstr(b, 40 + i * OOM_NAME, OOM_NAME));
  return { pid, comm, cgroupPath: `/${names.join('/')}` };
}

function cstr(b: Buffer, at: number, max: number): string {
  const end = b.indexOf(0, at);
  return b.toString('utf8', at, end < 0 || end > at + max ? at + max : end);
}

export class MemoryCollector extends KernelSignalCollector {
  readonly name = 'memory';
  private readonly generations: Generations;
  private oomKills: OomKill[] = [];
  private pendingIdentities: Promise<void>[] = [];

  constructor(opts: KernelCollectorOptions) {
    super({ signal: 'memory', objectPath: path.join(opts.objectDir, 'memory.bpf.o'), programs: MEMORY_PROGRAMS, log: opts.log }, DROP_REASONS);
    this.generations = new Generations(this.obj, 'memory_control');
    this.readRing('oom_events', (records) => {
      for (const r of records) {
        const kill = decodeOomEvent(r);
        this.oomKills.push(kill);
        // The victim is being killed: read who it was while /proc may still show it.
        this.pendingIdentities.push(
          identifyProcess(kill.pid).then((id) => {
            kill.identity = id ?? { pid: kill.pid, startTime: 0, comm: kill.comm, serviceName: kill.comm };
          }),
        );
      }
    });
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const idle = await this.generations.flip();
    this.drops.poll();
    const times = { startTimeNs: window.startNs, endTimeNs: window.endNs };
    const m = this.obj.map(`memory_faults_${idle}`);
    const drained = m.drain();
    const out: CollectedMetrics[] = [];
    for (let i = 0; i < drained.keys.length; i++) {
      const [minor, major] = sumPerCpuFields(drained.values[i], m.valueSize);
      const points: NumberPoint[] = [];
      if (minor > 0n) points.push({ attributes: { [KERNEL_ATTR.faultType]: 'minor' }, ...times, value: Number(minor) });
      if (major > 0n) points.push({ attributes: { [KERNEL_ATTR.faultType]: 'major' }, ...times, value: Number(major) });
      if (points.length) out.push({ pid: drained.keys[i].readUInt32LE(0), metrics: [numberMetric(METRICS[KERNEL_METRIC.pageFaults], points)] });
    }

    await Promise.all(this.pendingIdentities);
    this.pendingIdentities = [];
    const kills = this.oomKills;
    this.oomKills = [];
    const byVictim = new Map<string, { kill: OomKill; n: number }>();
    for (const k of kills) {
      const id = `${k.pid}\0${k.comm}\0${k.cgroupPath}`;
      const e = byVictim.get(id);
      if (e) e.n++;
      else byVictim.set(id, { kill: k, n: 1 });
    }
    for (const { kill, n } of byVictim.values()) {
      const attributes = { [KERNEL_ATTR.processPid]: kill.pid, [KERNEL_ATTR.processCommand]: kill.comm, [KERNEL_ATTR.cgroupPath]: kill.cgroupPath };
      out.push({
        pid: kill.pid,
        metrics: [numberMetric(METRICS[KERNEL_METRIC.oomKills], [{ attributes, ...times, value: n }])],
        ...(kill.identity ? { identity: kill.identity } : {}),
      });
    }
    return out;
  }

}
