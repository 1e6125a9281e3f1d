// The whole agent's own CPU, idle, at default settings (issue 20 item 4): every default
// collector, pinned to CPU 1, over BENCH_IDLE_SECONDS (default 60) after its first interval,
// beside the same agent with V8's background threads kept (BURNWATCH_V8_THREADS=on, see
// agent/v8-threads.ts), the two alternating within each round,
// from /proc: user and system time apart (system time is the agent's /proc reads, bpf()
// calls, timers and fsyncs), and per thread (Node names every thread "node": the main
// thread is the one whose id is the pid; the others are listed in creation order — V8's
// platform workers (GC, optimising compiler) first, libuv's pool later).
//   BENCH_ROUNDS (default 3)          rounds, each a fresh agent
//   BENCH_AGENT_NODE_FLAGS="--flag …" node flags for the agent (to measure V8 options)
//   BENCH_PROFILE_DIR=DIR             also a main-thread CPU profile per round (summarised)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { BENCH_KEY, ROUNDS, cpuTimes, raiseBenchPriority, startBenchGateway, threadCpuTimes } from './lib.ts';
import { spread } from './stats.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WINDOW_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
/** The first interval (10 s) and the first discovery's attaches are start-up, not the steady state. */
const SETTLE_MS = 12_000;

interface Round {
  user: number;
  system: number;
  main: number;
  /** Other threads' shares (user + system), in creation order. */
  others: number[];
  /** The agent's own lines about signals it could not load: what the figure leaves out. */
  unavailable: string[];
}

const SETUPS = { default: {}, 'V8 threads on': { BURNWATCH_V8_THREADS: 'on' } } as const;
type Setup = keyof typeof SETUPS;

async function measure(endpoint: string, setup: Setup, profileFile: string | undefined): Promise<Round> {
  const flags = (process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const agent = manage(
    spawn('taskset', ['-c', '1', process.execPath, ...flags, '--import', 'tsx', path.join(ROOT, 'bench/collector-agent.ts'), 'all', endpoint, BENCH_KEY, tempDir('bw-bench-spool')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SETUPS[setup], ...(profileFile ? { BURNWATCH_CPU_PROFILE: profileFile, BURNWATCH_CPU_PROFILE_DELAY_MS: String(SETTLE_MS - 500) } : {}) },
    }),
  );
  try {
    const pid = agent.child.pid!;
    await waitFor('agent', () => (agent.output().includes('ready') ? true : undefined), 60_000, 50);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const p0 = cpuTimes(`/proc/${pid}/stat`);
    const t0 = threadCpuTimes(pid);
    await new Promise((resolve) => setTimeout(resolve, WINDOW_SECONDS * 1000));
    const p1 = cpuTimes(`/proc/${pid}/stat`);
    const t1 = threadCpuTimes(pid);
    const share = (a: { user: number; system: number }, b?: { user: number; system: number }) =>
      (100 * (a.user + a.system - (b?.user ?? 0) - (b?.system ?? 0))) / WINDOW_SECONDS;
    const others = [...t1].filter(([tid]) => tid !== pid).sort(([a], [b]) => a - b).map(([tid, t]) => share(t, t0.get(tid)));
    return {
      user: (100 * (p1.user - p0.user)) / WINDOW_SECONDS,
      system: (100 * (p1.system - p0.system)) / WINDOW_SECONDS,
      main: share(t1.get(pid)!, t0.get(pid)),
      others,
      unavailable: agent.output().split('\n').filter((l) => l.includes('unavailable on this kernel')).map((l) => l.slice(0, 160)),
    };
  } finally {
    await agent.stop('SIGINT');
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function (and file) from a .cpuprofile, largest first, as % of the profile. */
export function summariseProfile(file: string, top = 15): string[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const f = byNode.get(id)!.callFrame;
    if (f.functionName === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\/\/.*?\/(agent|node_modules|bench|common)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const lines = [`main-thread profile: ${(total / 1e3).toFixed(0)} ms busy of ${((total + idle) / 1e6).toFixed(1)} s`];
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
  return lines;
}

export async function run(): Promise<string[]> {
  const nice = raiseBenchPriority();
  const profileDir = process.env.BENCH_PROFILE_DIR;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const { endpoint, gateway } = await startBenchGateway();
  const setups = Object.keys(SETUPS) as Setup[];
  const rounds = new Map<Setup, Round[]>(setups.map((s) => [s, []]));
  const profiles: string[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < setups.length; i++) {
        const setup = setups[(i + r) % setups.length];
        const profileFile = profileDir ? path.join(profileDir, `agent-idle-${r + 1}-${setup.replace(/\W+/g, '-')}.cpuprofile`) : undefined;
        const m = await measure(endpoint, setup, profileFile);
        rounds.get(setup)!.push(m);
        if (profileFile) profiles.push(`${setup}, round ${r + 1}:`, ...summariseProfile(profileFile));
        console.log(
          `  round ${r + 1} ${setup}: ${(m.user + m.system).toFixed(2)}% of a core (user ${m.user.toFixed(2)}, system ${m.system.toFixed(2)}); main thread ${m.main.toFixed(2)}, others ${m.others.map((o) => o.toFixed(2)).join(' ')}`,
        );
      }
    }
  } finally {
    await gateway.stop();
  }
  const processes = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  const lines = [
    `the whole agent (every default collector) idle on CPU 1 (nice ${nice}${process.env.BENCH_AGENT_NODE_FLAGS ? `, node ${process.env.BENCH_AGENT_NODE_FLAGS}` : ''}), ${WINDOW_SECONDS}s after its first interval, ${ROUNDS} round(s), ${processes} processes on the host at the end; median (min–max) % of a core`,
  ];
  for (const setup of setups) {
    const col = (f: (r: Round) => number) => spread(rounds.get(setup)!.map(f), 2);
    lines.push(
      `${setup}: total ${col((r) => r.user + r.system)} = user ${col((r) => r.user)} + system ${col((r) => r.system)}; main thread ${col((r) => r.main)}, other threads ${col((r) => r.others.reduce((a, b) => a + b, 0))}`,
    );
  }
  const unavailable = new Set([...rounds.values()].flat().flatMap((r) => r.unavailable));
  if (unavailable.size) lines.push('not measured (the agent could not load them):', ...[...unavailable].map((l) => `  ${l}`));
  return [...lines, ...profiles];
}
