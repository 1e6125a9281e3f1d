// The host agent: finds Go processes, attaches the HTTP server probe to each, and
// every interval drains the kernel's histograms into one OTLP batch per interval,
// spooled to disk and shipped to the gateway.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessDiscovery, type DiscoveredProcess } from './discovery.ts';
import { inspectGoBinary } from './goinspect/index.ts';
import { HttpServerCollector, type HttpProbeTarget } from './collectors/http-server.ts';
import { encodeMetrics, exponentialHistogramMetric, resourceMetrics, type ExpHistogramPoint } from './export/otlp.ts';
import { Spool } from './export/spool.ts';
import { Shipper } from './export/shipper.ts';
import { AgentSelfMetrics } from './export/self-metrics.ts';
import { ATTR, METRICS, HTTP_SERVER_DURATION } from '../common/catalogue.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const HTTP_SERVER_OBJECT = path.join(ROOT, 'bpf/build/http_server.bpf.o');

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
}

interface Watched {
  proc: DiscoveredProcess;
  resource: Record<string, string | number>;
}

export class Agent {
  private readonly log: (line: string) => void;
  private readonly intervalMs: number;
  private readonly http: HttpServerCollector;
  private readonly discovery: ProcessDiscovery;
  private readonly spool: Spool;
  private readonly shipper: Shipper;
  private readonly selfMetrics: AgentSelfMetrics;
  private readonly watched = new Map<number, Watched>();
  /** Processes that exited since the last collect: their last data still needs a resource. */
  private readonly exited = new Map<number, Watched>();
  private readonly skipped = new Set<string>();
  private timer?: NodeJS.Timeout;
  private lastCollectNs: bigint;
  private collecting: Promise<void> = Promise.resolve();
  private readonly hostName: string;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log ?? ((l) => console.error(`[agent] ${l}`));
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.hostName = opts.hostName ?? os.hostname();
    this.http = new HttpServerCollector({ objectPath: HTTP_SERVER_OBJECT });
    this.spool = new Spool(opts.spoolDir, {
      maxBytes: opts.spoolMaxBytes ?? 256 * 1024 * 1024,
      maxAgeMs: opts.spoolMaxAgeMs ?? 24 * 3600_000,
      log: this.log,
    });
    this.shipper = new Shipper({ endpoint: opts.endpoint, apiKey: opts.apiKey, spool: this.spool, log: this.log });
    this.selfMetrics = new AgentSelfMetrics({ spool: this.spool, shipper: this.shipper });
    this.discovery = new ProcessDiscovery({ intervalMs: opts.discoveryIntervalMs ?? 2_000 });
    this.lastCollectNs = nowNs();
  }

  /** Pids currently instrumented, with their service names. */
  services(): Map<number, string> {
    return new Map([...this.watched].map(([pid, w]) => [pid, w.proc.serviceName]));
  }

  async start(): Promise<void> {
    this.discovery.on('started', (p: DiscoveredProcess) => void this.onStarted(p));
    this.discovery.on('exited', (p: DiscoveredProcess) => this.onExited(p));
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
    this.http.close();
    const delivered = await this.shipper.flush(flushMs);
    if (!delivered) this.log(`gateway unreachable: ${this.spool.stats().batches} batch(es) stay spooled in ${this.opts.spoolDir}`);
    await this.shipper.close();
  }

  stats() {
    return { watched: this.watched.size, spool: this.spool.stats(), shipper: this.shipper.stats(), drops: this.http.takeDrops() };
  }

  private async onStarted(proc: DiscoveredProcess): Promise<void> {
    const info = await inspectGoBinary(proc.exePath);
    if ('reason' in info) {
      this.logOnce(`${proc.exePath}: ${info.reason}`, `not instrumenting pid ${proc.pid} (${proc.serviceName}): ${info.reason}`);
      return;
    }
    const probes = info.probeSets.httpServer;
    if (!probes) {
      const why = info.skipped.find((s) => s.probeSet === 'httpServer')?.reason ?? 'no net/http server in the binary';
      this.logOnce(`${proc.exePath}: ${why}`, `not instrumenting pid ${proc.pid} (${proc.serviceName}): ${why}`);
      return;
    }
    const target: HttpProbeTarget = { pid: proc.pid, binaryPath: proc.exePath, binaryKey: info.fileKey, probes };
    try {
      this.http.attach(target);
    } catch (err) {
      this.log(`attaching to pid ${proc.pid} (${proc.serviceName}) failed: ${(err as Error).message}`);
      return;
    }
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
    this.log(`instrumenting pid ${proc.pid} (${proc.serviceName}, ${info.goVersion})`);
  }

  /** One line per distinct reason: a crash-looping service must not flood the log. */
  private logOnce(key: string, line: string): void {
    if (this.skipped.has(key)) return;
    this.skipped.add(key);
    this.log(line);
  }

  private onExited(proc: DiscoveredProcess): void {
    const w = this.watched.get(proc.pid);
    if (!w) return;
    this.http.detach(proc.pid);
    this.watched.delete(proc.pid);
    this.exited.set(proc.pid, w);
  }

  private async collectOnce(): Promise<void> {
    const start = this.lastCollectNs;
    const resourceOf = (pid: number) => this.watched.get(pid) ?? this.exited.get(pid);
    const points = await this.http.collect((pid) => resourceOf(pid)?.proc.serviceName);
    const end = nowNs();
    this.lastCollectNs = end;
    const byPid = new Map<number, ExpHistogramPoint[]>();
    for (const p of points) {
      let list = byPid.get(p.pid);
      if (!list) byPid.set(p.pid, (list = []));
      list.push({ attributes: p.attributes, startTimeNs: start, endTimeNs: end, histogram: p.histogram });
    }
    const resources = [];
    for (const [pid, pts] of byPid) {
      const w = resourceOf(pid);
      const resource = w?.resource ?? { [ATTR.serviceName]: `pid-${pid}`, [ATTR.hostName]: this.hostName, [ATTR.processPid]: pid };
      resources.push(resourceMetrics(resource, [exponentialHistogramMetric(METRICS[HTTP_SERVER_DURATION], pts)]));
    }
    this.exited.clear();
    resources.push(this.selfMetrics.collect(end));
    await this.spool.put(encodeMetrics(resources));
  }
}

/** Wall-clock time in ns; start of interval i+1 is exactly the end of interval i. */
function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
