// CPU signals per process from bpf/sched.bpf.c: run-queue latency histograms and on-CPU time.
import path from 'node:path';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint, type NumberPoint } from '../export/otlp.ts';
import type { CollectWindow, CollectedMetrics } from './types.ts';
import { Generations, KernelSignalCollector, groupBuckets, sumPerCpuFields, type KernelProgram } from './kernel-maps.ts';

// Mirrors bpf/sched.h.
const HIST_BUCKET_OFFSET = 4;
const DROP_REASONS = ['runqueue_hist_map_full', 'process_map_full'] as const;

export const SCHED_PROGRAMS: readonly KernelProgram[] = [
  { name: 'sched_wakeup', tracepoint: 'sched_wakeup' },
  { name: 'sched_wakeup_new', tracepoint: 'sched_wakeup_new' },
  { name: 'sched_switch', tracepoint: 'sched_switch' },
];

export interface KernelCollectorOptions {
  /** Directory of the built BPF objects (bpf/build). */
  objectDir: string;
  log: (line: string) => void;
  /** Histogram scale (default 5). */
  scale?: number;
}

export class SchedCollector extends KernelSignalCollector {
  readonly name = 'sched';
  private readonly generations: Generations;
  private readonly scale: number;

  constructor(opts: KernelCollectorOptions) {
    const scale = opts.scale ?? 5;
    super(
      { signal: 'sched', objectPath: path.join(opts.objectDir, 'sched.bpf.o'), programs: SCHED_PROGRAMS, rodata: { hist_scale: scale }, log: opts.log },
      DROP_REASONS,
    );
    this.scale = scale;
    this.generations = new Generations(this.obj, 'sched_control');
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const idle = await this.generations.flip();
    this.drops.poll();
    const times = { startTimeNs: window.startNs, endTimeNs: window.endNs };
    const procMap = this.obj.map(`sched_procs_${idle}`);
    const procs = procMap.drain();
    const stats = new Map<number, bigint[]>();
    for (let i = 0; i < procs.keys.length; i++) stats.set(procs.keys[i].readUInt32LE(0), sumPerCpuFields(procs.values[i], procMap.valueSize));
    const hists = groupBuckets(this.obj.map(`sched_hist_${idle}`).drain(), HIST_BUCKET_OFFSET, (k) => {
      const tgid = k.readUInt32LE(0);
      return { id: String(tgid), series: tgid };
    });

    const latency = new Map<number, ExpHistogramPoint>();
    for (const { series: tgid, buckets } of hists.values()) {
      if (buckets.size === 0) continue;
      const sumNs = stats.get(tgid)?.[1] ?? 0n;
      latency.set(tgid, { attributes: {}, ...times, histogram: histogramFromBuckets(this.scale, buckets, sumNs) });
    }
    const out: CollectedMetrics[] = [];
    for (const tgid of new Set([...stats.keys(), ...latency.keys()])) {
      const metrics: CollectedMetrics['metrics'] = [];
      const lat = latency.get(tgid);
      if (lat) metrics.push(exponentialHistogramMetric(METRICS[KERNEL_METRIC.runqueueLatency], [lat]));
      const oncpu = stats.get(tgid)?.[2] ?? 0n;
      if (oncpu > 0n) {
        const p: NumberPoint = { attributes: {}, ...times, value: Number(oncpu) };
        metrics.push(numberMetric(METRICS[KERNEL_METRIC.cpuTime], [p]));
      }
      if (metrics.length) out.push({ pid: tgid, metrics });
    }
    return out;
  }

}
