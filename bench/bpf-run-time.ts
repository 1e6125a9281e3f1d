// In-kernel run time of a process's BPF programs, from `kernel.bpf_stats_enabled`: while it is
// 1 the kernel times every program run and /proc/PID/fdinfo/FD of a program fd shows
// `run_time_ns` and `run_cnt`. Uprobe and tracepoint programs run in whatever thread hit them
// (the service's, the load generator's), so /proc CPU of the agent never sees this cost.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface BpfRunTime {
  programs: number;
  runTimeNs: bigint;
  runCount: bigint;
}

export interface ProgramRunTime {
  progId: number;
  runTimeNs: bigint;
  runCount: bigint;
}

/** The run time of one fdinfo text, or undefined when the fd is not a BPF program. */
export function parseProgFdinfo(text: string): ProgramRunTime | undefined {
  if (!/^prog_type:/m.test(text)) return undefined;
  const field = (name: string) => BigInt(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? '0');
  return { progId: Number(field('prog_id')), runTimeNs: field('run_time_ns'), runCount: field('run_cnt') };
}

/** Every BPF program the process holds an fd of, by program id (a program held twice counts once). */
export function processPrograms(pid: number): Map<number, ProgramRunTime> {
  const out = new Map<number, ProgramRunTime>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed since the listing
    }
    const one = parseProgFdinfo(text);
    if (one) out.set(one.progId, one);
  }
  return out;
}

/** Sums run time and runs over every BPF program the process holds. */
export function processBpfRunTime(pid: number): BpfRunTime {
  const total: BpfRunTime = { programs: 0, runTimeNs: 0n, runCount: 0n };
  for (const p of processPrograms(pid).values()) {
    total.programs++;
    total.runTimeNs += p.runTimeNs;
    total.runCount += p.runCount;
  }
  return total;
}

/** Run time and runs per program between two readings, by program name, largest first. */
export function runTimeByName(before: Map<number, ProgramRunTime>, after: Map<number, ProgramRunTime>, names: Map<number, string>): { name: string; runTimeNs: number; runCount: number }[] {
  const byName = new Map<string, { name: string; runTimeNs: number; runCount: number }>();
  for (const [id, a] of after) {
    const b = before.get(id);
    const name = names.get(id) ?? `prog ${id}`;
    const e = byName.get(name) ?? { name, runTimeNs: 0, runCount: 0 };
    e.runTimeNs += Number(a.runTimeNs - (b?.runTimeNs ?? 0n));
    e.runCount += Number(a.runCount - (b?.runCount ?? 0n));
    byName.set(name, e);
  }
  return [...byName.values()].sort((x, y) => y.runTimeNs - x.runTimeNs);
}

/** Names of the loaded BPF programs by id (bpftool; the kernel keeps the first 15 characters). */
export function programNames(): Map<number, string> {
  const list = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as { id: number; name?: string }[];
  return new Map(list.map((p) => [p.id, p.name ?? `prog ${p.id}`]));
}

/**
 * Turns the kernel's BPF run-time accounting on for the duration of `body` and puts the previous
 * setting back. It costs two clock reads per program run, so only measurement windows pay it.
 */
export async function withBpfStats<T>(body: () => Promise<T> | T): Promise<T> {
  const before = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  fs.writeFileSync(STATS_SYSCTL, '1');
  try {
    return await body();
  } finally {
    fs.writeFileSync(STATS_SYSCTL, before);
  }
}
