// In-kernel run time of a process's BPF programs, from `kernel.bpf_stats_enabled`: while it is
// 1 the kernel times every program run and /proc/PID/fdinfo/FD of a program fd shows
// `run_time_ns` and `run_cnt`. Uprobe and tracepoint programs run in whatever thread hit them
// (the service's, the load generator's), so /proc CPU of the agent never sees this cost.
import fs from 'node:fs';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface BpfRunTime {
  programs: number;
  runTimeNs: bigint;
  runCount: bigint;
}

/** The run time of one fdinfo text, or undefined when the fd is not a BPF program. */
export function parseProgFdinfo(text: string): BpfRunTime | undefined {
  if (!/^prog_type:/m.test(text)) return undefined;
  const field = (name: string) => BigInt(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? '0');
  return { programs: 1, runTimeNs: field('run_time_ns'), runCount: field('run_cnt') };
}

/** Sums run time and runs over every BPF program the process holds an fd of. */
export function processBpfRunTime(pid: number): BpfRunTime {
  const total: BpfRunTime = { programs: 0, runTimeNs: 0n, runCount: 0n };
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return total;
  }
  for (const fd of fds) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed since the listing
    }
    const one = parseProgFdinfo(text);
    if (!one) continue;
    total.programs++;
    total.runTimeNs += one.runTimeNs;
    total.runCount += one.runCount;
  }
  return total;
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
