/**
 * Finds Go processes on this host by scanning /proc, names them, and reports when they start
 * and exit. The agent attaches its uprobes on `started` and detaches on `exited`.
 *
 * A process is identified by (pid, start time, comm): the start time (clock ticks since boot,
 * /proc/PID/stat field 22) tells a reused pid apart, and comm changes at exec — which keeps
 * the start time — so a shell that forks and then execs a Go server is looked at again.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isGoBinary } from './goinspect/buildinfo.ts';
import { fileKeyOf } from './goinspect/elf.ts';
import { K8S_ATTR, kubernetesAttributes } from './kubernetes.ts';

export interface DiscoveredProcess {
  pid: number;
  /**
   * `/proc/PID/exe`: the path to attach uprobes through. The kernel resolves it to the
   * executable's inode, so it works for deleted executables and for processes in other
   * mount namespaces (containers); a uprobe lives on the inode and outlasts the path.
   */
  exePath: string;
  /** Where /proc/PID/exe points, in the process's own mount namespace (" (deleted)" removed). */
  exeTarget?: string;
  exeDeleted: boolean;
  /** "dev:inode:mtimeNs" of the executable: processes of one binary share it (uprobes are per inode). */
  fileKey: string;
  /**
   * `service.name`: OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the name of
   * its Kubernetes container (stable across replicas and restarts, unlike a pod's), else the executable's name.
   */
  serviceName: string;
  serviceNameSource: 'OTEL_SERVICE_NAME' | 'OTEL_RESOURCE_ATTRIBUTES' | 'k8s.container.name' | 'executable';
  /** The 64-hex container id in the process's cgroup path, when there is one. */
  containerId?: string;
  /** k8s.* attributes of the pod it runs in (agent/kubernetes.ts). */
  k8s?: Record<string, string>;
  /** Clock ticks since boot (/proc/PID/stat field 22). */
  startTime: number;
  /** Start time as Unix milliseconds (boot time + start ticks). */
  startTimeUnixMs: number;
}

export interface ProcessDiscoveryOptions {
  /** How often to scan /proc; default 2 s, so a new process is attached within 10 s. */
  intervalMs?: number;
}

interface DiscoveryEvents {
  started: [DiscoveredProcess];
  exited: [DiscoveredProcess];
  /** A whole scan failed (e.g. /proc unreadable); per-process failures are not errors. */
  scanError: [Error];
}

interface Known {
  startTime: number;
  comm: string;
  /** undefined: looked at and not a Go process (or not readable) — not reported. */
  proc?: DiscoveredProcess;
}

/** USER_HZ: the unit of /proc/PID/stat times, 100 on x86-64 and arm64 (a fixed kernel ABI). */
const CLOCK_TICKS_PER_SECOND = 100;
const GO_CACHE_MAX = 4096;

export class ProcessDiscovery extends EventEmitter<DiscoveryEvents> {
  readonly intervalMs: number;
  readonly #known = new Map<number, Known>();
  /** isGoBinary per executable file version: one ELF read per binary, not per process. */
  readonly #isGo = new Map<string, boolean>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #scanning: Promise<void> | undefined;
  #bootTimeMs: number | undefined;

  constructor(opts: ProcessDiscoveryOptions = {}) {
    super();
    this.intervalMs = opts.intervalMs ?? 2_000;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 10) {
      throw new RangeError(`ProcessDiscovery: intervalMs must be a number ≥ 10, got ${opts.intervalMs}`);
    }
  }

  /** Scans once now (listeners see the processes already running), then every intervalMs. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#scanReporting();
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The Go processes currently known. */
  processes(): DiscoveredProcess[] {
    return [...this.#known.values()].flatMap((k) => (k.proc ? [k.proc] : []));
  }

  /** One scan of /proc, emitting `started`/`exited` for what changed. Concurrent calls share a scan. */
  scan(): Promise<void> {
    this.#scanning ??= this.#scanOnce().finally(() => (this.#scanning = undefined));
    return this.#scanning;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      void this.#scanReporting().then(() => this.#schedule());
    }, this.intervalMs);
  }

  async #scanReporting(): Promise<void> {
    try {
      await this.scan();
    } catch (err) {
      if (this.listenerCount('scanError') > 0) this.emit('scanError', err as Error);
    }
  }

  async #scanOnce(): Promise<void> {
    this.#bootTimeMs ??= await readBootTimeMs();
    const seen = new Set<number>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
      const st = readStat(pid);
      if (!st) continue; // gone already
      seen.add(pid);
      const known = this.#known.get(pid);
      if (known && known.startTime === st.startTime && known.comm === st.comm) continue;
      if (known) {
        this.#known.delete(pid);
        if (known.proc) this.emit('exited', known.proc);
      }
      const proc = await this.#examine(pid, st.startTime);
      if (proc === 'vanished') {
        seen.delete(pid);
        continue;
      }
      this.#known.set(pid, { startTime: st.startTime, comm: st.comm, ...(proc ? { proc } : {}) });
      if (proc) this.emit('started', proc);
    }
    for (const [pid, known] of this.#known) {
      if (seen.has(pid)) continue;
      this.#known.delete(pid);
      if (known.proc) this.emit('exited', known.proc);
    }
  }

  /** The process if it runs a Go binary; undefined if not (or unreadable); 'vanished' if it exited meanwhile. */
  async #examine(pid: number, startTime: number): Promise<DiscoveredProcess | undefined | 'vanished'> {
    // procfs is read synchronously (see readStat); only the executable's ELF is awaited.
    const exePath = `/proc/${pid}/exe`;
    let fileKey: string;
    let target: string;
    try {
      fileKey = fileKeyOf(statSync(exePath, { bigint: true }));
      target = readlinkSync(exePath);
    } catch {
      // Kernel threads have no executable; a process that exited has no /proc entry.
      return stillRunning(pid, startTime) ? undefined : 'vanished';
    }
    if (!(await this.#isGoFile(fileKey, exePath))) return undefined;
    let environ: Buffer | undefined;
    let cgroup: string | undefined;
    try {
      environ = readUnlessDenied(() => readFileSync(`/proc/${pid}/environ`));
      cgroup = readUnlessDenied(() => readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    } catch {
      return 'vanished';
    }
    // The start time read above must still be this process's: the pid may have been reused.
    if (!stillRunning(pid, startTime)) return 'vanished';
    const exeDeleted = target.endsWith(' (deleted)');
    const exeTarget = exeDeleted ? target.slice(0, -' (deleted)'.length) : target;
    const named = serviceNameFromEnviron(environ);
    const containerId = cgroup === undefined ? undefined : containerIdFromCgroup(cgroup);
    const k8s = cgroup === undefined ? undefined : kubernetesAttributes(cgroup);
    const k8sName = k8s?.[K8S_ATTR.containerName];
    return {
      pid,
      exePath,
      exeTarget,
      exeDeleted,
      fileKey,
      serviceName: named?.name ?? k8sName ?? path.basename(exeTarget),
      serviceNameSource: named?.source ?? (k8sName ? 'k8s.container.name' : 'executable'),
      ...(containerId ? { containerId } : {}),
      ...(k8s ? { k8s } : {}),
      startTime,
      startTimeUnixMs: this.#bootTimeMs! + (startTime * 1000) / CLOCK_TICKS_PER_SECOND,
    };
  }

  async #isGoFile(fileKey: string, exePath: string): Promise<boolean> {
    const cached = this.#isGo.get(fileKey);
    if (cached !== undefined) return cached;
    let isGo: boolean;
    try {
      isGo = await isGoBinary(exePath);
    } catch {
      return false; // unreadable now (exited, EACCES): decide next time, do not cache
    }
    this.#isGo.set(fileKey, isGo);
    if (this.#isGo.size > GO_CACHE_MAX) this.#isGo.delete(this.#isGo.keys().next().value!);
    return isGo;
  }
}

/**
 * comm and start time from /proc/PID/stat; undefined when the process is gone. Read
 * synchronously: procfs is generated in memory, and every scan reads it for every process —
 * a thread-pool round trip per file costs ~20× the read itself (measured: 70 processes,
 * 1 ms sync vs 25 ms awaited one by one).
 */
function readStat(pid: number): { comm: string; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/**
 * Parses /proc/PID/stat: "pid (comm) state ppid …", where comm may itself contain spaces and
 * parentheses — so fields are counted from the last ')'. starttime is field 22.
 */
export function parseProcStat(text: string): { comm: string; startTime: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const startTime = Number(rest[19]);
  if (!Number.isSafeInteger(startTime)) return undefined;
  return { comm: text.slice(open + 1, close), startTime };
}

function stillRunning(pid: number, startTime: number): boolean {
  return readStat(pid)?.startTime === startTime;
}

/** What `read` returns; undefined when access is denied; throws otherwise (e.g. the process exited). */
function readUnlessDenied<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM') return undefined;
    throw err;
  }
}

async function readBootTimeMs(): Promise<number> {
  const m = /^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'));
  if (!m) throw new Error('/proc/stat has no btime line');
  return Number(m[1]) * 1000;
}

/**
 * service.name as OpenTelemetry SDKs derive it from the environment: OTEL_SERVICE_NAME wins
 * over service.name in OTEL_RESOURCE_ATTRIBUTES (comma-separated key=value, values
 * percent-encoded). Empty values count as unset.
 */
export function serviceNameFromEnviron(
  environ: Buffer | undefined,
): { name: string; source: 'OTEL_SERVICE_NAME' | 'OTEL_RESOURCE_ATTRIBUTES' } | undefined {
  if (!environ) return undefined;
  let attrs: string | undefined;
  for (const entry of environ.toString('utf8').split('\0')) {
    if (entry.startsWith('OTEL_SERVICE_NAME=')) {
      const name = entry.slice('OTEL_SERVICE_NAME='.length).trim();
      if (name) return { name, source: 'OTEL_SERVICE_NAME' };
    } else if (entry.startsWith('OTEL_RESOURCE_ATTRIBUTES=')) {
      attrs = entry.slice('OTEL_RESOURCE_ATTRIBUTES='.length);
    }
  }
  for (const pair of attrs?.split(',') ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== 'service.name') continue;
    let value = pair.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // not percent-encoded after all: keep it as written
    }
    if (value) return { name: value, source: 'OTEL_RESOURCE_ATTRIBUTES' };
  }
  return undefined;
}

/**
 * The container id from /proc/PID/cgroup: the last 64-hex-digit run in a cgroup path, which
 * is how Docker, containerd, CRI-O and Podman name a container's cgroup
 * (`/docker/<id>`, `/system.slice/docker-<id>.scope`, `…/cri-containerd-<id>.scope`, …).
 */
export function containerIdFromCgroup(text: string): string | undefined {
  let id: string | undefined;
  for (const line of text.split('\n')) {
    const p = line.split(':').slice(2).join(':');
    for (const m of p.matchAll(/(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g)) id = m[0];
  }
  return id;
}
