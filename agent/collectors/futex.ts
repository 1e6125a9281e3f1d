// Futex wait time of every process from bpf/futex.bpf.c (syscalls:sys_enter_futex and
// sys_exit_futex): burnwatch.futex.wait per process and wait op. It sees any language's
// contended locks (glibc mutexes, Python's threading.Lock), but also threads idling on
// condition variables, so the hints read its change against a baseline, not its level.
import path from 'node:path';
import { BpfObject, type BpfLink } from '../bpf.ts';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { KERNEL_ATTR, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, type ExpHistogramPoint } from '../export/otlp.ts';
import type { Collector, CollectWindow, CollectedMetrics } from './types.ts';
import { DropCounters, Generations, INFLIGHT_MAX_AGE_NS, PointsByProcess, groupBuckets, sumPerCpuFields, sweepInflight } from './kernel-maps.ts';
import type { KernelCollectorOptions } from './sched.ts';

// Mirrors bpf/futex.h.
const SERIES_SIZE = 8;
const OP_NAMES: Record<number, string> = { 1: 'wait', 2: 'lock_pi' };
const DROP_REASONS = ['hist_map_full', 'stats_map_full', 'inflight_full', 'inflight_unfinished'] as const;

/** The syscall tracepoints each program attaches to (perf-event tracepoints: tracefs is mounted if missing). */
export const FUTEX_PROGRAMS = [
  { name: 'futex_enter', category: 'syscalls', tracepoint: 'sys_enter_futex' },
  { name: 'futex_exit', category: 'syscalls', tracepoint: 'sys_exit_futex' },
] as const;

export class FutexCollector implements Collector {
  readonly name = 'futex';
  private readonly obj: BpfObject;
  private readonly links: BpfLink[] = [];
  private readonly generations: Generations;
  private readonly drops: DropCounters;
  private readonly scale: number;

  constructor(opts: KernelCollectorOptions) {
    this.scale = opts.scale ?? 5;
    this.obj = BpfObject.open(path.join(opts.objectDir, 'futex.bpf.o'));
    try {
      this.obj.setRodata({ hist_scale: this.scale });
      this.obj.load();
      // Both or neither: an enter without its exit would only fill the in-flight map.
      for (const p of FUTEX_PROGRAMS) this.links.push(this.obj.program(p.name).attachTracepoint(p.category, p.tracepoint));
      this.generations = new Generations(this.obj, 'futex_control');
      this.drops = new DropCounters(this.obj.map('futex_dropped'), DROP_REASONS);
    } catch (err) {
      for (const l of this.links) l.detach();
      this.obj.close();
      throw err;
    }
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const idle = await this.generations.flip();
    this.drops.poll();
    // Keys are thread ids: /proc/<tid> exists while the thread does.
    const { exited, stale } = sweepInflight(this.obj.map('futex_inflight'), {
      tgidOf: (k) => k.readUInt32LE(0),
      startNsOf: (v) => v.readBigUInt64LE(0),
      maxAgeNs: INFLIGHT_MAX_AGE_NS,
    });
    if (exited + stale > 0) this.drops.add('inflight_unfinished', exited + stale);

    const idOf = (k: Buffer) => `${k.readUInt32LE(0)}:${k.readUInt32LE(4)}`;
    const statsMap = this.obj.map(`futex_stats_${idle}`);
    const stats = statsMap.drain();
    const sums = new Map<string, bigint>();
    for (let i = 0; i < stats.keys.length; i++) sums.set(idOf(stats.keys[i]), sumPerCpuFields(stats.values[i], statsMap.valueSize)[1]);
    const hists = groupBuckets(this.obj.map(`futex_hist_${idle}`).drain(), SERIES_SIZE, (k) => ({
      id: idOf(k),
      series: { tgid: k.readUInt32LE(0), op: OP_NAMES[k.readUInt32LE(4)] ?? 'other' },
    }));
    const byPid = new PointsByProcess<ExpHistogramPoint>();
    for (const [id, { series, buckets }] of hists) {
      if (buckets.size === 0) continue;
      byPid.add(series.tgid, {
        attributes: { [KERNEL_ATTR.futexOp]: series.op },
        startTimeNs: window.startNs,
        endTimeNs: window.endNs,
        histogram: histogramFromBuckets(this.scale, buckets, sums.get(id) ?? 0n),
      });
    }
    return byPid.entries().map(([pid, points]) => ({
      ...(pid === undefined ? {} : { pid }),
      metrics: [exponentialHistogramMetric(METRICS[KERNEL_METRIC.futexWait], points)],
    }));
  }

  takeDrops(): Map<string, number> {
    return this.drops.take();
  }

  close(): void {
    for (const l of this.links) l.detach();
    this.obj.close();
  }
}
