// What the machine did to a benchmark window besides the code under test: how much of each CPU
// the hypervisor stole, how much lay idle, and how many BPF programs other processes had loaded
// (another agent's syscall tracepoints run inside the measured service's syscalls too).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Jiffies per state (user nice system idle iowait irq softirq steal …) of each cpuN line of /proc/stat. */
export function parseProcStat(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (m) out.set(m[1], m[2].trim().split(/\s+/).map(Number));
  }
  return out;
}

export function readProcStat(): Map<string, number[]> {
  return parseProcStat(fs.readFileSync('/proc/stat', 'utf8'));
}

export interface CpuShares {
  /** Fractions of the CPU's time between the readings. */
  idle: number;
  steal: number;
  softirq: number;
}

/** Idle (idle + iowait), steal and softirq shares of one CPU between two /proc/stat readings. */
export function cpuShares(before: Map<string, number[]>, after: Map<string, number[]>, cpu: string): CpuShares {
  const a = before.get(cpu);
  const b = after.get(cpu);
  if (!a || !b) throw new RangeError(`no ${cpu} in /proc/stat`);
  // The first 8 fields; guest time (fields 9–10) is already counted in user and nice.
  const d = a.slice(0, 8).map((v, i) => (b[i] ?? v) - v);
  const total = d.reduce((s, x) => s + x, 0);
  if (total <= 0) return { idle: 0, steal: 0, softirq: 0 };
  return { idle: (d[3] + d[4]) / total, steal: d[7] / total, softirq: d[6] / total };
}

/** Program types that run in other processes' context (uprobes and kprobes are 'kprobe'). */
const TRACING_TYPES = new Set(['kprobe', 'tracepoint', 'raw_tracepoint', 'tracing', 'perf_event']);

/** Tracing BPF programs loaded on the host that are not among `own` (ids): other agents, other tests. */
export function foreignTracingPrograms(own: ReadonlySet<number>): number {
  try {
    const list = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as { id: number; type: string }[];
    return countForeign(list, own);
  } catch {
    return NaN;
  }
}

export function countForeign(list: readonly { id: number; type: string }[], own: ReadonlySet<number>): number {
  return list.filter((p) => TRACING_TYPES.has(p.type) && !own.has(p.id)).length;
}
