// The host agent: finds Go processes, hands each to the collectors (eBPF probes), and
// every interval drains them into one OTLP batch, spooled to disk and shipped to the
// gateway.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ProcessDiscovery, type DiscoveredProcess } from './discovery.ts';
import { inspectGoBinary } from './goinspect/index.ts';
import { HttpServerCollector } from './collectors/http-server.ts';
import type { Collector, CollectedMetrics } from './collectors/types.ts';
import { encodeMetrics, resourceMetrics } from './export/otlp.ts';
import { Spool } from './export/spool.ts';
import { Shipper } from './export/shipper.ts';
import { AgentSelfMetrics } from './export/self-metrics.ts';
import { ATTR } from '../common/catalogue.ts';
import { epochNowNs } from './clock.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BPF_OBJECT_DIR = path.join(ROOT, 'bpf/build');

export interface AgentOptions {
  endpoint: string;
  apiKey: string;
  spoolDir: string;
  intervalMs?: number;
  discoveryIntervalMs?: number;
  spoolMaxBytes?: number;
  spoolMaxAgeMs?: number;
  hostName?: string;
  log?: (line: string) => void;
  /** The signals to collect; default: every collector this build has. */
  collectors?: (log: (line: string) => void) => Collector[];
}

/** Every collector the agent runs by default; one that cannot load is reported and left out. */
export function defaultCollectors(log: (line: string) => void): Collector[] {
  const out: Collector[] = [];
  const factories: [string, () => Collector][] = [
    ['http-server', () => new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') })],
  ];
  for (const [name, make] of factories) {
    try {
      out.push(make());
    } catch (err) {
      log(`signal ${name} unavailable on this kernel: ${(err as Error).message}`);
    }
  }
  return out;
}

interface Watched {
  proc: DiscoveredProcess;
  resource: Record<string, string | number>;
}

export class Agent {
  private readonly log: (line: string) => void;
  private readonly intervalMs: number;
  private readonly collectors: Collector[];
  private readonly discovery: ProcessDiscovery;
  private readonly spool: Spool;
  private readonly shipper: Shipper;
  private readonly selfMetrics: AgentSelfMetrics;
  private readonly watched = new Map<number, Watched>();
  /** Processes that exited since the last collect: their last data still needs a resource. */
  private readonly exited = new Map<number, Watched>();
  private readonly reported = new Set<string>();
  private timer?: NodeJS.Timeout;
  private lastCollectNs: bigint;
  private collecting: Promise<void> = Promise.resolve();
  private readonly hostName: string;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log ?? ((l) => console.error(`[agent] ${l}`));
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.hostName = opts.hostName ?? os.hostname();
    this.collectors = (opts.collectors ?? defaultCollectors)(this.log);
    this.spool = new Spool(opts.spoolDir, {
      maxBytes: opts.spoolMaxBytes ?? 256 * 1024 * 1024,
      maxAgeMs: opts.spoolMaxAgeMs ?? 24 * 3600_000,
      log: this.log,
    });
    this.shipper = new Shipper({ endpoint: opts.endpoint, apiKey: opts.apiKey, spool: this.spool, log: this.log });
    this.selfMetrics = new AgentSelfMetrics({ spool: this.spool, shipper: this.shipper });
    this.discovery = new ProcessDiscovery({ intervalMs: opts.discoveryIntervalMs ?? 2_000 });
    this.lastCollectNs = epochNowNs();
  }

  /** Pids currently watched, with their service names. */
  services(): Map<number, string> {
    return new Map([...this.watched].map(([pid, w]) => [pid, w.proc.serviceName]));
  }

  async start(): Promise<void> {
    this.discovery.on('started', (p) => void this.onStarted(p));
    this.discovery.on('exited', (p) => this.onExited(p));
    await this.discovery.start();
    this.timer = setInterval(() => void this.collectNow(), this.intervalMs);
  }

  /** Drains, encodes and spools everything recorded since the last call. */
  collectNow(): Promise<void> {
    this.collecting = this.collecting.then(() => this.collectOnce()).catch((err) => this.log(`collect failed: ${(err as Error).message}`));
    return this.collecting;
  }

  /** Stops probing, collects what is left and tries to deliver it within `flushMs`. */
  async stop(flushMs = 5_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.discovery.stop();
    await this.collectNow();
    for (const c of this.collectors) c.close();
    const delivered = await this.shipper.flush(flushMs);
    if (!delivered) this.log(`gateway unreachable: ${this.spool.stats().batches} batch(es) stay spooled in ${this.opts.spoolDir}`);
    await this.shipper.close();
  }

  private async onStarted(proc: DiscoveredProcess): Promise<void> {
    const info = await inspectGoBinary(proc.exePath);
    if ('reason' in info) {
      this.logOnce(`${proc.exePath}: ${info.reason}`, `not instrumenting pid ${proc.pid} (${proc.serviceName}): ${info.reason}`);
      return;
    }
    const attached: string[] = [];
    for (const c of this.collectors) {
      if (!c.attachGo) continue;
      try {
        c.attachGo(proc, info);
        attached.push(c.name);
      } catch (err) {
        this.logOnce(`${c.name} ${proc.exePath}: ${(err as Error).message}`, `${c.name}: not attaching to pid ${proc.pid} (${proc.serviceName}): ${(err as Error).message}`);
      }
    }
    if (attached.length === 0) return;
    const resource: Record<string, string | number> = {
      [ATTR.serviceName]: proc.serviceName,
      [ATTR.hostName]: this.hostName,
      [ATTR.processPid]: proc.pid,
      [ATTR.executablePath]: proc.exeTarget ?? proc.exePath,
      [ATTR.executableName]: path.basename(proc.exeTarget ?? proc.exePath),
    };
    if (info.buildId) resource[ATTR.buildId] = info.buildId;
    if (proc.containerId) resource[ATTR.containerId] = proc.containerId;
    this.watched.set(proc.pid, { proc, resource });
    this.log(`instrumenting pid ${proc.pid} (${proc.serviceName}, ${info.goVersion}): ${attached.join(', ')}`);
  }

  /** One line per distinct reason: a crash-looping service must not flood the log. */
  private logOnce(key: string, line: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.log(line);
  }

  private onExited(proc: DiscoveredProcess): void {
    for (const c of this.collectors) c.processExited?.(proc.pid);
    const w = this.watched.get(proc.pid);
    if (!w) return;
    this.watched.delete(proc.pid);
    this.exited.set(proc.pid, w);
  }

  private resourceOf(pid: number | undefined): Record<string, string | number> {
    if (pid === undefined) return { [ATTR.hostName]: this.hostName };
    const w = this.watched.get(pid) ?? this.exited.get(pid);
    return w?.resource ?? { [ATTR.serviceName]: `pid-${pid}`, [ATTR.hostName]: this.hostName, [ATTR.processPid]: pid };
  }

  private async collectOnce(): Promise<void> {
    const startNs = this.lastCollectNs;
    const endNs = epochNowNs();
    this.lastCollectNs = endNs;
    const serviceOf = (pid: number) => (this.watched.get(pid) ?? this.exited.get(pid))?.proc.serviceName;
    const collected: CollectedMetrics[] = [];
    for (const c of this.collectors) {
      try {
        collected.push(...(await c.collect({ startNs, endNs, serviceOf })));
      } catch (err) {
        this.log(`${c.name}: collect failed: ${(err as Error).message}`);
      }
      for (const [reason, n] of c.takeDrops?.() ?? []) this.selfMetrics.countProbeDrop(c.name, reason, n);
    }
    // One resource per process, whatever collectors its metrics came from.
    const byPid = new Map<number | undefined, CollectedMetrics['metrics']>();
    for (const { pid, metrics } of collected) byPid.set(pid, [...(byPid.get(pid) ?? []), ...metrics]);
    const resources: ResourceMetrics[] = [];
    for (const [pid, metrics] of byPid) if (metrics.length) resources.push(resourceMetrics(this.resourceOf(pid), metrics));
    this.exited.clear();
    resources.push(this.selfMetrics.collect(endNs));
    await this.spool.put(encodeMetrics(resources));
  }
}
