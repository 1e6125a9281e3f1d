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
import { GoCallsCollector, slowThresholdsFromEnv } from './collectors/go-calls.ts';
import { GoWaitsCollector } from './collectors/go-waits.ts';
import { encodeSpans, slowRequestSpans } from './export/spans.ts';
import { KERNEL_COLLECTOR_FACTORIES } from './collectors/kernel.ts';
import { SyscallL7Collector } from './collectors/syscall-l7.ts';
import { ProcessResources } from './process-identity.ts';
import type { AttachPlan, Collector, CollectedMetrics, UprobeCoverage } from './collectors/types.ts';
import { encodeMetrics, resourceMetrics } from './export/otlp.ts';
import { Spool } from './export/spool.ts';
import { Shipper } from './export/shipper.ts';
import { AgentSelfMetrics } from './export/self-metrics.ts';
import { ATTR } from '../common/catalogue.ts';
import { DeepProbeController, fetchDesiredProbes, type DeepProbeState } from './deep-probes.ts';
import { DeepProbePolicy, chooseServerRedPath, type ProbeMode, type ServerRedPath } from './probe-mode.ts';
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
  /**
   * When the costly Go probes (client calls, SQL/Redis, lineage, slow breakdowns) are attached:
   * 'adaptive' (default) while a service's SLO alert is pending/firing, plus a cool-down, or on
   * request; 'always'; 'minimal' (never). See agent/probe-mode.ts.
   */
  probes?: ProbeMode;
  /** Adaptive: how long deep probes stay after the alert resolves (default 5 min). */
  probeCooldownMs?: number;
  /** Adaptive: how often the gateway is asked (GET /v1/probes; default 2 s). */
  probePollMs?: number;
  /** The signals to collect; default: every collector this build has. */
  collectors?: (log: (line: string) => void) => Collector[];
  /** Also handed every interval's batch (the Prometheus scrape endpoint keeps running totals of them). */
  onBatch?: (resources: readonly ResourceMetrics[]) => void;
}

/** Every collector the agent runs by default; one that cannot load is reported and left out. */
export function defaultCollectors(log: (line: string) => void): Collector[] {
  const out: Collector[] = [];
  let httpServer: HttpServerCollector | undefined;
  const factories: [string, () => Collector][] = [
    ['http-server', () => (httpServer = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log }))],
    // Its costly probes attach per process when the probe mode says so (agent/deep-probes.ts);
    // HTTP request roots come from http-server's probes, through the maps it shares.
    ['go-calls', () => new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), log, deepProbes: false, httpServer, ...slowThresholdsFromEnv(process.env) })],
    ['go-waits', () => new GoWaitsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_waits.bpf.o'), log })],
    ...KERNEL_COLLECTOR_FACTORIES.map(([name, make]): [string, () => Collector] => [name, () => make({ objectDir: BPF_OBJECT_DIR, log })]),
    ['syscall-l7', () => new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log })],
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
  /** What the always-on uprobes of the process measure (the deep probes add theirs while on). */
  coverage?: UprobeCoverage;
  /** How its own HTTP server requests are measured outside its deep probes (absent: no net/http server probed). */
  serverRed?: ServerRedPath;
}

/** A watched process's deep-probe state, and how its server requests are measured. */
export interface ProcessProbeState extends DeepProbeState {
  serverRed?: ServerRedPath;
}

export class Agent {
  private readonly log: (line: string) => void;
  private readonly intervalMs: number;
  private readonly collectors: Collector[];
  private readonly discovery: ProcessDiscovery;
  private readonly spool: Spool;
  private readonly shipper: Shipper;
  /** Slow-request spans go through their own spool to /v1/traces. */
  private readonly traceSpool: Spool;
  private readonly traceShipper: Shipper;
  private readonly selfMetrics: AgentSelfMetrics;
  private readonly deepProbes: DeepProbeController;
  private readonly watched = new Map<number, Watched>();
  /** Processes that exited since the last collect: their last data still needs a resource. */
  private readonly exited = new Map<number, Watched>();
  private readonly reported = new Set<string>();
  private timer?: NodeJS.Timeout;
  private lastCollectNs: bigint;
  private collecting: Promise<void> = Promise.resolve();
  private readonly hostName: string;
  private readonly processResources: ProcessResources;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log ?? ((l) => console.error(`[agent] ${l}`));
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.hostName = opts.hostName ?? os.hostname();
    this.processResources = new ProcessResources(this.hostName);
    // The spools first: a spool directory another agent holds fails here, before any probe loads.
    this.spool = new Spool(opts.spoolDir, {
      maxBytes: opts.spoolMaxBytes ?? 256 * 1024 * 1024,
      maxAgeMs: opts.spoolMaxAgeMs ?? 24 * 3600_000,
      log: this.log,
    });
    try {
      this.traceSpool = new Spool(path.join(opts.spoolDir, 'traces'), { maxBytes: 64 * 1024 * 1024, maxAgeMs: 24 * 3600_000, log: this.log });
    } catch (err) {
      this.spool.close();
      throw err;
    }
    this.collectors = (opts.collectors ?? defaultCollectors)(this.log);
    this.shipper = new Shipper({ endpoint: opts.endpoint, apiKey: opts.apiKey, spool: this.spool, log: this.log });
    this.traceShipper = new Shipper({ endpoint: opts.endpoint, apiKey: opts.apiKey, spool: this.traceSpool, log: this.log, path: '/v1/traces' });
    this.deepProbes = new DeepProbeController({
      policy: new DeepProbePolicy(opts.probes ?? 'adaptive', opts.probeCooldownMs),
      fetchDesired: () => fetchDesiredProbes(opts.endpoint, opts.apiKey),
      pollMs: opts.probePollMs,
      log: this.log,
      onCoverage: (pid, deep) => this.applyCoverage(pid, deep),
    });
    const deepProbes = this.deepProbes;
    this.selfMetrics = new AgentSelfMetrics({ spool: this.spool, shipper: this.shipper, deepProbes: { mode: deepProbes.mode, state: () => this.probeState() } });
    this.discovery = new ProcessDiscovery({ intervalMs: opts.discoveryIntervalMs ?? 2_000 });
    this.lastCollectNs = epochNowNs();
  }

  /** Which watched processes have their costly probes attached now and why, and their server RED path. */
  probeState(): ProcessProbeState[] {
    return this.deepProbes.state().map((s) => {
      const serverRed = this.watched.get(s.pid)?.serverRed;
      return serverRed ? { ...s, serverRed } : s;
    });
  }

  /** Pids currently watched, with their service names. */
  services(): Map<number, string> {
    return new Map([...this.watched].map(([pid, w]) => [pid, w.proc.serviceName]));
  }

  async start(): Promise<void> {
    this.discovery.on('started', (p) => void this.onStarted(p));
    this.discovery.on('exited', (p) => this.onExited(p));
    await this.discovery.start();
    this.deepProbes.start();
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
    await this.deepProbes.stop();
    await this.collectNow();
    for (const c of this.collectors) c.close();
    const [delivered] = await Promise.all([this.shipper.flush(flushMs), this.traceShipper.flush(flushMs)]);
    if (!delivered) this.log(`gateway unreachable: ${this.spool.stats().batches} batch(es) stay spooled in ${this.opts.spoolDir}`);
    await this.shipper.close();
    await this.traceShipper.close();
    this.spool.close();
    this.traceSpool.close();
  }

  private async onStarted(proc: DiscoveredProcess): Promise<void> {
    const info = await inspectGoBinary(proc.exePath);
    if ('reason' in info) {
      this.logOnce(`${proc.exePath}: ${info.reason}`, `not instrumenting pid ${proc.pid} (${proc.serviceName}): ${info.reason}`);
      return;
    }
    const attached: string[] = [];
    // Plaintext HTTP/1 servers are counted by the syscall path (no uprobe trap per request)
    // when it is loaded, unless the probe mode is `always`.
    const syscallPathLoaded = this.collectors.some((c) => c.setUprobeCoverage);
    const serverRed = chooseServerRedPath(this.deepProbes.mode, info.serverProtocols, syscallPathLoaded);
    const plan: AttachPlan = { serverRed: serverRed.path };
    let covered: UprobeCoverage = { httpServer: false, httpClient: false, db: false };
    for (const c of this.collectors) {
      if (!c.attachGo) continue;
      // The syscall path stops counting what these uprobes measure before they attach: a
      // request in between is missed once rather than counted twice.
      const always = plan.serverRed === 'syscalls' ? { ...c.uprobeCoverage, httpServer: covered.httpServer } : c.uprobeCoverage;
      const withThis = { ...covered, ...always };
      if (c.uprobeCoverage) this.setUprobeCoverage(proc.pid, withThis);
      try {
        c.attachGo(proc, info, plan);
        attached.push(c.name);
        covered = withThis;
      } catch (err) {
        if (c.uprobeCoverage) this.setUprobeCoverage(proc.pid, covered);
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
    if (proc.k8s) Object.assign(resource, proc.k8s);
    const servesHttp = attached.some((name) => this.collectors.find((c) => c.name === name)?.uprobeCoverage?.httpServer);
    this.watched.set(proc.pid, { proc, resource, coverage: covered, ...(servesHttp ? { serverRed: serverRed.path } : {}) });
    this.log(`instrumenting pid ${proc.pid} (${proc.serviceName}, ${info.goVersion}): ${attached.join(', ')}`);
    if (servesHttp) this.log(`server RED of pid ${proc.pid} (${proc.serviceName}): ${serverRed.path === 'syscalls' ? 'syscall path' : 'Go uprobes'}, ${serverRed.why}`);
    const withDeep = this.collectors.filter((c) => attached.includes(c.name));
    await this.deepProbes.track(proc.pid, proc.serviceName, withDeep).catch((err) => this.log(`deep probes of pid ${proc.pid}: ${(err as Error).message}`));
  }

  /**
   * Slow requests the collectors recorded, as OTLP spans. Built before `exited` is cleared (a
   * request of a process that just exited still needs its resource), spooled after the metrics.
   */
  private async slowRequestSpans(): Promise<ReturnType<typeof slowRequestSpans>> {
    const spans: ReturnType<typeof slowRequestSpans> = [];
    for (const c of this.collectors) {
      try {
        for (const req of c.takeSlowRequests?.() ?? []) spans.push(...slowRequestSpans(req, await this.resourceOf(req.pid)));
      } catch (err) {
        this.exportFailed('slow_requests', err, c.name);
      }
    }
    return spans;
  }

  /** A step of one interval failed: logged and counted, and the interval's other steps still run. */
  private exportFailed(step: string, err: unknown, collector = ''): void {
    this.selfMetrics.countExportFailure(step, collector);
    this.log(`export step ${step}${collector ? ` (${collector})` : ''} failed; the interval's other steps go on: ${(err as Error).message}`);
  }

  /** The coverage of a process with its deep probes on or off. */
  private applyCoverage(pid: number, deep: boolean): void {
    const w = this.watched.get(pid);
    if (!w) return;
    const covered: UprobeCoverage = { ...(w.coverage ?? { httpServer: false, httpClient: false, db: false }) };
    if (deep) {
      for (const c of this.collectors) {
        const d = c.deepCoverage?.(pid) ?? {};
        covered.httpServer ||= d.httpServer ?? false;
        covered.httpClient ||= d.httpClient ?? false;
        covered.db ||= d.db ?? false;
      }
    }
    this.setUprobeCoverage(pid, covered);
  }

  /** Tells the collectors that measure any language (syscalls) what uprobes measure for `pid`. */
  private setUprobeCoverage(pid: number, covered: UprobeCoverage): void {
    for (const c of this.collectors) c.setUprobeCoverage?.(pid, covered);
  }

  /** One line per distinct reason: a crash-looping service must not flood the log. */
  private logOnce(key: string, line: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.log(line);
  }

  private onExited(proc: DiscoveredProcess): void {
    this.deepProbes.forget(proc.pid);
    for (const c of this.collectors) c.processExited?.(proc.pid);
    const w = this.watched.get(proc.pid);
    if (!w) return;
    this.watched.delete(proc.pid);
    this.exited.set(proc.pid, w);
  }

  /** Watched Go processes have their resource; any other process (kernel signals) is identified from /proc. */
  private async resourceOf(pid: number | undefined): Promise<Record<string, string | number>> {
    if (pid === undefined) return { [ATTR.hostName]: this.hostName };
    const w = this.watched.get(pid) ?? this.exited.get(pid);
    return w?.resource ?? this.processResources.resourceOf(pid);
  }

  /**
   * One interval. The kernel maps are drained at the start, so whatever fails later must not take
   * the metrics with it: each step is guarded and counted, and the metrics are spooled before the
   * slow-request spans (a trace spool that is full or unwritable costs spans, not metrics).
   */
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
        this.exportFailed('collect', err, c.name);
      }
      for (const [reason, n] of c.takeDrops?.() ?? []) this.selfMetrics.countProbeDrop(c.name, reason, n);
    }
    const spans = await this.slowRequestSpans();
    // One resource per process, whatever collectors its metrics came from.
    const byPid = new Map<number | undefined, CollectedMetrics['metrics']>();
    for (const { pid, metrics, identity } of collected) {
      byPid.set(pid, [...(byPid.get(pid) ?? []), ...metrics]);
      if (identity) this.processResources.remember(identity);
    }
    const resources: ResourceMetrics[] = [];
    for (const [pid, metrics] of byPid) if (metrics.length) resources.push(resourceMetrics(await this.resourceOf(pid), metrics));
    this.processResources.endRound();
    this.exited.clear();
    resources.push(this.selfMetrics.collect(endNs));
    try {
      this.opts.onBatch?.(resources);
    } catch (err) {
      this.exportFailed('prometheus_exposition', err);
    }
    try {
      await this.spool.put(encodeMetrics(resources));
    } catch (err) {
      this.exportFailed('spool_metrics', err);
    }
    if (spans.length === 0) return;
    try {
      await this.traceSpool.put(encodeSpans(spans));
    } catch (err) {
      this.exportFailed('spool_traces', err);
    }
  }
}
