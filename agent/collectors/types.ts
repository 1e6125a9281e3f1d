// What a collector is to the agent. Each signal (HTTP server, gRPC, SQL, TCP, scheduler,
// …) is one collector; the agent owns discovery, resources, the interval and export, and
// knows no collector by name beyond the list it is given.
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { DiscoveredProcess } from '../discovery.ts';
import type { GoBinaryInfo } from '../goinspect/index.ts';
import type { SlowRequest } from './slow-request.ts';
import type { ProcessIdentity } from '../process-identity.ts';
import type { ServerRedPath } from '../probe-mode.ts';

export interface CollectWindow {
  /** Unix ns; the start of this interval is exactly the end of the previous one. */
  startNs: bigint;
  endNs: bigint;
  /** Service name of a watched (or just exited) process. */
  serviceOf(pid: number): string | undefined;
}

/** Metrics of one process (`pid`), or of the host when `pid` is undefined. */
export interface CollectedMetrics {
  pid?: number;
  metrics: MetricData[];
  /** What the collector read of the process when it saw it: it may be gone by collect time. */
  identity?: ProcessIdentity;
}

/**
 * What the agent decided for a process before attaching. serverRed 'syscalls': the syscall path
 * counts the process's server requests all the time; the HTTP server uprobes attach only with
 * its deep probes (setDeepProbes), as slow-breakdown roots that count nothing.
 */
export interface AttachPlan {
  serverRed: ServerRedPath;
}

/** What Go uprobes measure for a process, so the syscall path (any language) must not count it again. */
export type UprobeCoverage = { httpServer: boolean; httpClient: boolean; db: boolean };

export interface Collector {
  readonly name: string;
  /** A Go process appeared and was inspected; attach what applies. Throwing skips only this collector for it. */
  attachGo?(proc: DiscoveredProcess, info: GoBinaryInfo, plan?: AttachPlan): void;
  /** What this collector's uprobes measure once attachGo succeeded for a process. */
  readonly uprobeCoverage?: Partial<UprobeCoverage>;
  /** Told what the uprobes measure for `pid` (all false: nothing any more), to leave it uncounted. */
  setUprobeCoverage?(pid: number, covered: UprobeCoverage): void;
  /**
   * Attach (`on`) or detach the collector's costly probes for one process it attached (the
   * probe mode, agent/deep-probes.ts, decides when); resolves once done.
   */
  setDeepProbes?(pid: number, on: boolean): Promise<void>;
  /** What those costly probes measure for a process while they are on (the syscall path must not count it then). */
  deepCoverage?(pid: number): Partial<UprobeCoverage>;
  /** The process is gone: detach and forget its per-process state (its last data is still collected). */
  processExited?(pid: number): void;
  /** Everything recorded since the previous call, exactly once. */
  collect(window: CollectWindow): Promise<CollectedMetrics[]>;
  /** Counts of data the collector had to drop since the previous call, by reason. */
  takeDrops?(): Map<string, number>;
  /** Server requests over their slow threshold since the previous call (exported as spans). */
  takeSlowRequests?(): SlowRequest[];
  close(): void;
}
