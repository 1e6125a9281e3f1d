// The agent's own health as OTLP data: what the export path sent, retried, rejected, was warned
// about and dropped.
// It travels in the same batches as the collectors' data, so a gateway that sees a service also
// sees whether the agent watching it is losing anything.
//
// Counters are deltas between collect() calls (the project's temporality everywhere): each call
// reports what changed since the previous one, over [previous end, this end].

import { epochNowNs } from '../clock.ts';
import os from 'node:os';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { AGENT_ATTR, AGENT_METRIC, ATTR, METRICS } from '../../common/catalogue.ts';
import { numberMetric, resourceMetrics } from './otlp.ts';
import type { PointAttributes } from './otlp.ts';
import type { ShipperStats } from './shipper.ts';
import type { SpoolStats } from './spool.ts';

export interface SelfMetricsSources {
  spool: { stats(): SpoolStats };
  shipper: { stats(): ShipperStats };
  /** The deep-probe state of every watched Go process (agent/deep-probes.ts). */
  deepProbes?: { mode: string; state(): { pid: number; service: string; deep: boolean; reason?: string; serverRed?: string }[] };
}

export interface SelfMetricsOptions {
  /** Resource of the agent itself; default service.name=burnwatch-agent, host.name, process.pid. */
  resource?: PointAttributes;
}

type DropReason = 'size' | 'age' | 'disk_full' | 'corrupt';

interface Totals {
  sent: number;
  rejected: number;
  warned: number;
  retries: number;
  droppedBatches: Record<DropReason, number>;
  droppedBytes: Record<DropReason, number>;
}

const ZERO: Totals = {
  sent: 0,
  rejected: 0,
  warned: 0,
  retries: 0,
  droppedBatches: { size: 0, age: 0, disk_full: 0, corrupt: 0 },
  droppedBytes: { size: 0, age: 0, disk_full: 0, corrupt: 0 },
};
const REASONS: readonly DropReason[] = ['size', 'age', 'disk_full', 'corrupt'];

export class AgentSelfMetrics {
  private readonly sources: SelfMetricsSources;
  private readonly resource: PointAttributes;
  private readonly clock = epochNowNs;
  private previous: Totals = ZERO;
  private lastEndNs: bigint;
  /** Probe-side drops reported by collectors since the previous collect, by collector and reason. */
  private probeDrops = new Map<string, { collector: string; reason: string; n: number }>();
  /** Export steps that failed since the previous collect, by step (and collector, for 'collect'). */
  private exportFailures = new Map<string, { step: string; collector: string; n: number }>();

  /** Counts from here on: the first collect() reports everything the sources counted so far. */
  constructor(sources: SelfMetricsSources, options: SelfMetricsOptions = {}) {
    this.sources = sources;
    this.resource = options.resource ?? {
      [ATTR.serviceName]: 'burnwatch-agent',
      [ATTR.hostName]: os.hostname(),
      [ATTR.processPid]: process.pid,
    };
    this.lastEndNs = this.clock();
  }

  /**
   * The changes since the previous call, ending at `endNs` (default: now, from a clock that never
   * steps back). An end not after the previous one is refused: the interval would be empty or
   * reversed, and its identity (start, end) would collide with the previous point's.
   */
  collect(endNs: bigint = this.clock()): ResourceMetrics {
    if (endNs <= this.lastEndNs) {
      throw new RangeError(`self-metrics endNs (${endNs}) must be after the previous collect's end (${this.lastEndNs})`);
    }
    const now = this.totals();
    const was = this.previous;
    const span = { startTimeNs: this.lastEndNs, endTimeNs: endNs };
    const single = (name: string, value: number) => numberMetric(METRICS[name], [{ ...span, attributes: {}, value }]);
    const byReason = (name: string, field: 'droppedBatches' | 'droppedBytes') =>
      numberMetric(
        METRICS[name],
        REASONS.map((reason) => ({ ...span, attributes: { [AGENT_ATTR.dropReason]: reason }, value: now[field][reason] - was[field][reason] })),
      );
    const spool = this.sources.spool.stats();
    const rm = resourceMetrics(this.resource, [
      single(AGENT_METRIC.sentBatches, now.sent - was.sent),
      single(AGENT_METRIC.rejectedBatches, now.rejected - was.rejected),
      single(AGENT_METRIC.warnedBatches, now.warned - was.warned),
      single(AGENT_METRIC.retries, now.retries - was.retries),
      byReason(AGENT_METRIC.droppedBatches, 'droppedBatches'),
      byReason(AGENT_METRIC.droppedBytes, 'droppedBytes'),
      single(AGENT_METRIC.spoolBatches, spool.batches),
      single(AGENT_METRIC.spoolBytes, spool.bytes),
      numberMetric(
        METRICS[AGENT_METRIC.probeDrops],
        [...this.probeDrops.values()].map((d) => ({
          ...span,
          attributes: { [AGENT_ATTR.collector]: d.collector, [AGENT_ATTR.dropReason]: d.reason },
          value: d.n,
        })),
      ),
      numberMetric(
        METRICS[AGENT_METRIC.exportFailures],
        [...this.exportFailures.values()].map((f) => ({
          ...span,
          attributes: { [AGENT_ATTR.exportStep]: f.step, ...(f.collector ? { [AGENT_ATTR.collector]: f.collector } : {}) },
          value: f.n,
        })),
      ),
      this.deepProbesMetric(span),
    ]);
    this.probeDrops.clear();
    this.exportFailures.clear();
    this.previous = now;
    this.lastEndNs = endNs;
    return rm;
  }

  /** Per watched Go process, whether its deep probes are on (no points without a probe controller). */
  private deepProbesMetric(span: { startTimeNs: bigint; endTimeNs: bigint }) {
    const source = this.sources.deepProbes;
    return numberMetric(
      METRICS[AGENT_METRIC.probesDeep],
      (source?.state() ?? []).map((p) => ({
        ...span,
        attributes: {
          [AGENT_ATTR.probeService]: p.service,
          [ATTR.processPid]: p.pid,
          [AGENT_ATTR.probeMode]: source!.mode,
          ...(p.deep && p.reason ? { [AGENT_ATTR.probeReason]: p.reason } : {}),
          ...(p.serverRed ? { [AGENT_ATTR.probeServerRed]: p.serverRed } : {}),
        },
        value: p.deep ? 1 : 0,
      })),
    );
  }

  /** A collector lost `n` events for `reason` (kernel map full, unreadable memory, …). */
  countProbeDrop(collector: string, reason: string, n: number): void {
    const key = `${collector}\0${reason}`;
    const e = this.probeDrops.get(key) ?? { collector, reason, n: 0 };
    e.n += n;
    this.probeDrops.set(key, e);
  }

  /** One step of an export interval failed (`collector` names which, for a collect step). */
  countExportFailure(step: string, collector = ''): void {
    const key = `${step}\0${collector}`;
    const e = this.exportFailures.get(key) ?? { step, collector, n: 0 };
    e.n++;
    this.exportFailures.set(key, e);
  }

  private totals(): Totals {
    const spool = this.sources.spool.stats();
    const shipper = this.sources.shipper.stats();
    return {
      sent: shipper.sentBatches,
      rejected: shipper.rejectedBatches,
      warned: shipper.warnedBatches,
      retries: shipper.retries,
      droppedBatches: {
        size: spool.droppedBatches - spool.droppedForAge - spool.droppedForDiskFull,
        age: spool.droppedForAge,
        disk_full: spool.droppedForDiskFull,
        corrupt: spool.corrupt,
      },
      droppedBytes: {
        size: spool.droppedBytes - spool.droppedBytesForAge - spool.droppedBytesForDiskFull,
        age: spool.droppedBytesForAge,
        disk_full: spool.droppedBytesForDiskFull,
        corrupt: spool.corruptBytes,
      },
    };
  }
}


