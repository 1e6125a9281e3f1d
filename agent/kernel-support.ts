// What this kernel lets the agent do, found before any program is loaded: the bpf() syscall,
// BTF (every object is CO-RE; most kernel signals are tp_btf programs), uprobes (every Go
// signal), tracefs (perf-event tracepoints) and each tracepoint the collectors attach to. `burnwatch doctor`
// prints it; `burnwatch agent` refuses to start when nothing could work and says what
// will not otherwise. The paths probed are injectable so the verdicts can be tested.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TCP_PROGRAMS } from './collectors/tcp.ts';
import { SCHED_PROGRAMS } from './collectors/sched.ts';
import { MEMORY_PROGRAMS } from './collectors/memory.ts';
import { BLOCK_PROGRAMS } from './collectors/block.ts';
import { LIFECYCLE_PROGRAMS } from './collectors/lifecycle.ts';
import { FUTEX_PROGRAMS } from './collectors/futex.ts';
import { SYSCALL_L7_PROGRAMS } from './collectors/syscall-l7.ts';
import type { KernelProgram } from './collectors/kernel-maps.ts';
import { btfHasTracepoint, btfStrings, KERNEL_BTF_PATH } from './kernel-btf.ts';
import { ensureTracefs, pathVisible } from './bpf.ts';

export interface KernelPaths {
  /** The kernel's own BTF. */
  btf: string;
  /** Exists exactly when the kernel has the bpf() syscall (CONFIG_BPF_SYSCALL). */
  bpfSysctl: string;
  /** The uprobe perf PMU libbpf attaches through (CONFIG_UPROBE_EVENTS). */
  uprobePmu: string;
  /**
   * Where tracefs may be mounted: perf-event tracepoints look their ids up in it, and its
   * uprobe_events is libbpf's fallback on kernels without the uprobe PMU.
   */
  tracefs: readonly string[];
  osRelease: string;
}

export const HOST_KERNEL_PATHS: KernelPaths = {
  btf: KERNEL_BTF_PATH,
  bpfSysctl: '/proc/sys/kernel/unprivileged_bpf_disabled',
  uprobePmu: '/sys/bus/event_source/devices/uprobe/type',
  tracefs: ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'],
  osRelease: '/proc/sys/kernel/osrelease',
};

export type Facility = 'bpf' | 'btf' | 'uprobes' | 'tracefs';

export interface SignalRequirement {
  /** The collector's name, as the agent logs it. */
  signal: string;
  /** What the user loses without it. */
  measures: string;
  needs: readonly Facility[];
  /** tp_btf programs: found by their btf_trace_<name> type. */
  tracepoints?: readonly KernelProgram[];
  /** Perf-event tracepoints: found as tracefs events/<category>/<tracepoint>. */
  perfTracepoints?: readonly { category: string; tracepoint: string }[];
}

/** Every signal the agent collects and what it needs from the kernel; the tracepoints are the collectors' own lists. */
export const SIGNAL_REQUIREMENTS: readonly SignalRequirement[] = [
  { signal: 'http-server', measures: 'Go net/http server requests (RED metrics, the SLIs)', needs: ['bpf', 'btf', 'uprobes'] },
  { signal: 'go-calls', measures: 'Go gRPC, outbound HTTP, SQL and Redis calls, GC, goroutines, slow-request breakdowns', needs: ['bpf', 'btf', 'uprobes'] },
  { signal: 'go-waits', measures: 'Go lock waits and GC assists', needs: ['bpf', 'btf', 'uprobes'] },
  { signal: 'tcp', measures: 'TCP retransmits, resets, connect latency and RTT per peer', needs: ['bpf', 'btf'], tracepoints: TCP_PROGRAMS },
  { signal: 'sched', measures: 'run-queue latency and CPU time per process', needs: ['bpf', 'btf'], tracepoints: SCHED_PROGRAMS },
  { signal: 'memory', measures: 'page faults and OOM kills', needs: ['bpf', 'btf'], tracepoints: MEMORY_PROGRAMS },
  { signal: 'block', measures: 'block I/O latency and errors', needs: ['bpf', 'btf'], tracepoints: BLOCK_PROGRAMS },
  { signal: 'lifecycle', measures: 'process starts and exits (deploys, crash loops)', needs: ['bpf', 'btf'], tracepoints: LIFECYCLE_PROGRAMS },
  { signal: 'futex', measures: 'futex wait time per process (contended locks in any language)', needs: ['bpf', 'btf', 'tracefs'], perfTracepoints: FUTEX_PROGRAMS },
  { signal: 'syscall-l7', measures: 'HTTP/1, Redis and PostgreSQL from syscalls, for any language', needs: ['bpf', 'btf', 'tracefs'], perfTracepoints: SYSCALL_L7_PROGRAMS },
];

export interface FacilityCheck {
  ok: boolean;
  /** What was found, or what is missing and what that means. */
  detail: string;
}

export interface SignalVerdict {
  signal: string;
  measures: string;
  works: 'yes' | 'partly' | 'no';
  /** Why not, or what part is missing. */
  missing: string[];
}

export interface KernelSupport {
  release: string;
  facilities: Record<Facility, FacilityCheck>;
  signals: SignalVerdict[];
  /** Whether at least one signal works: the agent has something to do. */
  usable: boolean;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The check as the agent will find the kernel: tracefs mounted first when missing (and root may
 * mount it), as the collectors that need it would do anyway; what cannot be mounted is reported.
 */
export function checkKernelSupportForAgent(): KernelSupport {
  try {
    ensureTracefs();
  } catch {
    // not root, or no tracefs in this kernel: the check says so
  }
  return checkKernelSupport();
}

export function checkKernelSupport(paths: KernelPaths = HOST_KERNEL_PATHS): KernelSupport {
  const release = readText(paths.osRelease) ?? 'unknown';
  const bpf: FacilityCheck = existsSync(paths.bpfSysctl)
    ? { ok: true, detail: 'bpf() syscall present' }
    : { ok: false, detail: `no bpf() syscall (${paths.bpfSysctl} missing: kernel built without CONFIG_BPF_SYSCALL)` };

  let strings: Buffer | undefined;
  let btf: FacilityCheck;
  try {
    strings = btfStrings(readFileSync(paths.btf));
    btf = { ok: true, detail: `${paths.btf} present` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'missing: kernel built without CONFIG_DEBUG_INFO_BTF' : e.code ? `unreadable (${e.code})` : e.message;
    btf = { ok: false, detail: `no kernel BTF: ${paths.btf} ${why}; CO-RE programs cannot be relocated` };
  }

  const tracefsDir = paths.tracefs.find((d) => pathVisible(path.join(d, 'events')));
  const tracefs: FacilityCheck = tracefsDir
    ? { ok: true, detail: `tracefs at ${tracefsDir}` }
    : {
        ok: false,
        detail: `tracefs not mounted (${paths.tracefs.join(', ')}): the agent mounts it at ${paths.tracefs[0]} when it starts as root; mount -t tracefs nodev ${paths.tracefs[0]} to check now`,
      };

  const uprobeEvents = paths.tracefs.map((d) => path.join(d, 'uprobe_events'));
  const uprobeVia = existsSync(paths.uprobePmu) ? paths.uprobePmu : uprobeEvents.find((f) => existsSync(f));
  const uprobes: FacilityCheck = uprobeVia
    ? { ok: true, detail: `uprobes through ${uprobeVia}` }
    : {
        ok: false,
        detail: `no uprobes (neither ${[paths.uprobePmu, ...uprobeEvents].join(' nor ')}: kernel built without CONFIG_UPROBE_EVENTS)`,
      };

  const facilities: Record<Facility, FacilityCheck> = { bpf, btf, uprobes, tracefs };
  const signals = SIGNAL_REQUIREMENTS.map((req): SignalVerdict => {
    const lacking = req.needs.filter((f) => !facilities[f].ok);
    if (lacking.length) return { signal: req.signal, measures: req.measures, works: 'no', missing: lacking.map((f) => `no ${f}`) };
    const absent = [
      ...(req.tracepoints ?? []).filter((p) => !btfHasTracepoint(strings!, p.tracepoint)).map((p) => `tracepoint ${p.tracepoint}`),
      ...(req.perfTracepoints ?? [])
        .filter((p) => !pathVisible(path.join(tracefsDir!, 'events', p.category, p.tracepoint)))
        .map((p) => `tracepoint ${p.category}:${p.tracepoint}`),
    ];
    const all = (req.tracepoints?.length ?? 0) + (req.perfTracepoints?.length ?? 0);
    const works = absent.length === 0 ? 'yes' : absent.length === all ? 'no' : 'partly';
    return { signal: req.signal, measures: req.measures, works, missing: absent };
  });
  return { release, facilities, signals, usable: signals.some((s) => s.works !== 'no') };
}

/** The report, one line per facility and per signal, for people. */
export function formatKernelSupport(s: KernelSupport): string {
  const lines = [`kernel ${s.release}`];
  for (const [name, f] of Object.entries(s.facilities)) lines.push(`  ${f.ok ? 'ok     ' : 'MISSING'} ${name.padEnd(8)} ${f.detail}`);
  const width = Math.max(...s.signals.map((v) => v.signal.length));
  lines.push('signals:');
  for (const v of s.signals) {
    const verdict = v.works === 'yes' ? 'works' : v.works === 'partly' ? 'partly' : 'will not work';
    const missing = v.missing.length ? ` — missing: ${v.missing.join(', ')}` : '';
    lines.push(`  ${v.signal.padEnd(width)}  ${verdict.padEnd(13)} ${v.measures}${missing}`);
  }
  if (!s.usable) lines.push('nothing the agent measures can work on this kernel');
  return lines.join('\n');
}

export class UnsupportedKernelError extends Error {
  constructor(readonly support: KernelSupport) {
    super(`this kernel cannot run the agent:\n${formatKernelSupport(support)}`);
  }
}

/**
 * Before the agent starts: throws when nothing could be measured (the report says why), returns
 * the lines about what will not work otherwise, for the log.
 */
export function requireUsableKernel(s: KernelSupport): string[] {
  if (!s.usable) throw new UnsupportedKernelError(s);
  const off = s.signals.filter((v) => v.works !== 'yes');
  return off.map((v) => `signal ${v.signal} ${v.works === 'no' ? 'will not work' : 'works only partly'} on kernel ${s.release} (${v.missing.join(', ')}): ${v.measures}`);
}
