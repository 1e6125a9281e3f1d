// CPU signals per process from bpf/sched.bpf.c: run-queue latency histograms and on-CPU time.
import path from 'node:path';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint, type NumberPoint } from '../export/otlp.ts';
import type { CollectWindow, CollectedMetrics } from './types.ts';
import { Generations, KernelSignalCollector, sumPerCpuFields, type KernelProgram } from './kernel-maps.ts';

// Mirrors bpf/sched.h.
const HIST_BUCKET_OFFSET = 4;
/** The bucket of an entry that carries on-CPU time only. */
const NO_WAIT = -0x80000000;
const DROP_REASONS = ['runqueue_hist_map_full'] as const;

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
    // Per (process, bucket): the waits in the bucket, their sum, and on-CPU time (bpf/sched.h).
    const histMap = this.obj.map(`sched_hist_${idle}`);
    const drained = histMap.drain();
    const procs = new Map<number, { buckets: Map<number, number>; sumNs: bigint; oncpuNs: bigint }>();
    for (let i = 0; i < drained.keys.length; i++) {
      const tgid = drained.keys[i].readUInt32LE(0);
      const bucket = drained.keys[i].readInt32LE(HIST_BUCKET_OFFSET);
      const [count, sumNs, oncpuNs] = sumPerCpuFields(drained.values[i], histMap.valueSize);
      let p = procs.get(tgid);
      if (!p) procs.set(tgid, (p = { buckets: new Map(), sumNs: 0n, oncpuNs: 0n }));
      if (bucket !== NO_WAIT && count > 0n) p.buckets.set(bucket, (p.buckets.get(bucket) ?? 0) + Number(count));
      p.sumNs += sumNs;
      p.oncpuNs += oncpuNs;
    }

    const out: CollectedMetrics[] = [];
    for (const [tgid, p] of procs) {
      const metrics: CollectedMetrics['metrics'] = [];
      if (p.buckets.size > 0) {
        const lat: ExpHistogramPoint = { attributes: {}, ...times, histogram: histogramFromBuckets(this.scale, p.buckets, p.sumNs) };
        metrics.push(exponentialHistogramMetric(METRICS[KERNEL_METRIC.runqueueLatency], [lat]));
      }
      if (p.oncpuNs > 0n) {
        const cpu: NumberPoint = { attributes: {}, ...times, value: Number(p.oncpuNs) };
        metrics.push(numberMetric(METRICS[KERNEL_METRIC.cpuTime], [cpu]));
      }
      if (metrics.length) out.push({ pid: tgid, metrics });
    }
    return out;
  }

}
