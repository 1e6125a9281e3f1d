// Disk signals from bpf/block.bpf.c: block I/O latency per device, operation and issuing
// process, and I/O errors.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { histogramFromBuckets } from '../../common/exphist.ts';
import { KERNEL_ATTR, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint, type NumberPoint, type PointAttributes } from '../export/otlp.ts';
import type { CollectWindow, CollectedMetrics } from './types.ts';
import { Generations, INFLIGHT_MAX_AGE_NS, KernelSignalCollector, PointsByProcess, groupBuckets, sumPerCpuFields, sweepInflight, type KernelProgram } from './kernel-maps.ts';
import type { KernelCollectorOptions } from './sched.ts';

// Mirrors bpf/block.h.
const SERIES_SIZE = 16;
const DROP_REASONS = ['inflight_map_full', 'hist_map_full', 'stats_map_full'] as const;
const OPERATIONS = ['read', 'write', 'flush', 'discard'];

export const BLOCK_PROGRAMS: readonly KernelProgram[] = [
  { name: 'block_io_start', tracepoint: 'block_io_start' },
  { name: 'block_rq_issue', tracepoint: 'block_rq_issue' },
  { name: 'block_rq_complete', tracepoint: 'block_rq_complete' },
];

const deviceNames = new Map<string, string>();

/** The kernel's name of a block device (e.g. 'vda'), from sysfs; 'MAJ:MIN' when it has none. */
export function blockDeviceName(major: number, minor: number): string {
  const dev = `${major}:${minor}`;
  let name = deviceNames.get(dev);
  if (name === undefined) {
    try {
      name = /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${dev}/uevent`, 'utf8'))?.[1] ?? dev;
      deviceNames.set(dev, name);
    } catch {
      name = dev; // device gone: not cached, a new one may take the number
    }
  }
  return name;
}

function seriesAttributes(k: Buffer): { tgid: number; attrs: PointAttributes } {
  const op = k.readUInt32LE(12);
  return {
    tgid: k.readUInt32LE(0),
    attrs: {
      [KERNEL_ATTR.blockDevice]: blockDeviceName(k.readUInt32LE(4), k.readUInt32LE(8)),
      [KERNEL_ATTR.blockOperation]: OPERATIONS[op] ?? 'other',
    },
  };
}

export class BlockCollector extends KernelSignalCollector {
  readonly name = 'block';
  private readonly generations: Generations;
  private readonly scale: number;

  constructor(opts: KernelCollectorOptions) {
    const scale = opts.scale ?? 5;
    super(
      { signal: 'block', objectPath: path.join(opts.objectDir, 'block.bpf.o'), programs: BLOCK_PROGRAMS, rodata: { hist_scale: scale }, log: opts.log },
      DROP_REASONS,
    );
    this.scale = scale;
    this.generations = new Generations(this.obj, 'block_control');
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const idle = await this.generations.flip();
    this.drops.poll();
    // A device request outlives the process that issued it: only age ends an entry's chance.
    const { stale } = sweepInflight(this.obj.map('block_inflight'), { startNsOf: (v) => v.readBigUInt64LE(0), maxAgeNs: INFLIGHT_MAX_AGE_NS });
    if (stale) this.drops.add('inflight_stale', stale);
    const times = { startTimeNs: window.startNs, endTimeNs: window.endNs };
    const statsMap = this.obj.map(`block_stats_${idle}`);
    const drained = statsMap.drain();
    const stats = new Map<string, bigint[]>();
    const errors = new PointsByProcess<NumberPoint>();
    for (let i = 0; i < drained.keys.length; i++) {
      const s = sumPerCpuFields(drained.values[i], statsMap.valueSize);
      stats.set(drained.keys[i].toString('hex'), s);
      if (s[2] > 0n) {
        const { tgid, attrs } = seriesAttributes(drained.keys[i]);
        errors.add(tgid, { attributes: attrs, ...times, value: Number(s[2]) });
      }
    }
    const latency = new PointsByProcess<ExpHistogramPoint>();
    const grouped = groupBuckets(this.obj.map(`block_hist_${idle}`).drain(), SERIES_SIZE, (k) => ({ id: k.toString('hex', 0, SERIES_SIZE), series: k.subarray(0, SERIES_SIZE) }));
    for (const [id, { series, buckets }] of grouped) {
      if (buckets.size === 0) continue;
      const { tgid, attrs } = seriesAttributes(series);
      latency.add(tgid, { attributes: attrs, ...times, histogram: histogramFromBuckets(this.scale, buckets, stats.get(id)?.[1] ?? 0n) });
    }
    const out: CollectedMetrics[] = [];
    for (const [pid, pts] of latency.entries()) out.push({ ...(pid === undefined ? {} : { pid }), metrics: [exponentialHistogramMetric(METRICS[KERNEL_METRIC.blockIoDuration], pts)] });
    for (const [pid, pts] of errors.entries()) out.push({ ...(pid === undefined ? {} : { pid }), metrics: [numberMetric(METRICS[KERNEL_METRIC.blockIoErrors], pts)] });
    return out;
  }

}
