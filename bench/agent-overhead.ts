// What the whole agent, at default settings, costs the services on its host (issue 20 item 4),
// measured side by side in one run. Services on CPU 0: the Go fixture (GOMAXPROCS=1) and a Node
// `http` server; load on CPU 1: wrk (closed loop: throughput) and test/fixtures/go/fixedrate
// (open loop at a fixed rate: latency, and what the agent spends per request).
//
// The agent runs on CPU 1 beside the load generators (BENCH_AGENT_CPU=any leaves it to the
// scheduler, BENCH_AGENT_CPU=0 puts it on the service's core). CPU 0 is the measured service's:
// the throughput ratio is then what the agent costs *inside* the service (its uprobe and
// tracepoint programs run in the service's threads), and the agent's own CPU is a separate
// figure, as the targets separate them. Unpinned, the scheduler puts the agent's drains on
// whichever core is idle for a moment, the service's included, and the two costs mix.
//
// The hello-world throughput ratio comes from short alternating windows (bench/alternating-windows.ts):
// blocks of a few wrk windows with the agent and without, next to each other, the agent kept
// running through its block, the first window after each block start set apart as warm-up; the
// median of the paired window ratios with a bootstrap interval, and beside it the same method
// run none against none (A/A), its own noise floor. On this VM the bare service's throughput
// swings 2× within minutes, so one 5-s run per setup per round resolved nothing. During the
// windows the service and wrk run at SCHED_FIFO 1 (lib.ts setRealtime): under ordinary
// scheduling the share of CPU 0 the service got, not the agent, decided a window's throughput.
//
// The other figures come from rounds: each round runs every setup once (none, the agent, the
// agent with deep probes), the order rotated a step per round; a fresh agent per setup. Ratios
// are taken within a round, then the median and (min–max) over the rounds.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { manage, tempDir, waitFor, type Managed } from '../test/lib/processes.ts';
import { BENCH_FIXTURE_SERVICE, BENCH_KEY, CONNECTIONS, requestDeepProbes, ROUNDS, RUN_SECONDS, cpuSeconds, raiseBenchPriority, setRealtime, startBenchGateway, startFixedRate, startPinnedFixture, wrk } from './lib.ts';
import { excessCpu, formatInterval, intervalVerdict, logSpread, withNoiseFloor, median, medianInterval, pairedRatios, roundRatios, spread, targetCheck } from './stats.ts';
import { processPrograms, programNames, runTimeByName, withBpfStats } from './bpf-run-time.ts';
import { cyclesOf, runAlternating, type Arm, type Block, type Comparison } from './alternating-windows.ts';
import { startNginx } from './nginx-server.ts';
import { busiestStep, delayToPhase, halves, nowSeconds, sampleCpu, share, shareBetweenBursts } from './cpu-samples.ts';
import { cpuShares, foreignTracingPrograms, readProcStat, type CpuShares } from './machine-state.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXED_RATE = Number(process.env.BENCH_FIXED_RATE ?? 20_000);
/** Two of the agent's default 10-s intervals: its CPU comes in a burst per interval. */
const FIXED_SECONDS = Number(process.env.BENCH_FIXED_SECONDS ?? 20);
/**
 * The fixed-rate load runs this long before its measured window. The load generator is a new Go
 * process: the agent finds it (a /proc scan every 2 s), inspects its binary and attaches to it,
 * a one-off cost that would otherwise land inside the window. One default interval, so the
 * warm-up holds one of the agent's per-interval bursts, as each steady interval does.
 */
const FIXED_WARMUP_SECONDS = Number(process.env.BENCH_FIXED_WARMUP_SECONDS ?? 10);
const AGENT_CPU = process.env.BENCH_AGENT_CPU ?? '1';
/** One default interval (10 s) with no load, for the agent's CPU that does not grow with requests. */
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
/** The agent's default export interval: one drain burst each. */
const AGENT_INTERVAL_SECONDS = 10;
/** The alternating hello-world windows: wrk seconds per window, windows per block (the first a warm-up), cycles. */
const WINDOW_SECONDS = Number(process.env.BENCH_WINDOW_SECONDS ?? 2);
const BLOCK_WINDOWS = Number(process.env.BENCH_BLOCK_WINDOWS ?? 4);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 8);
/** Cycles of the same windows on the non-Go services (nginx, Node): reported, no target. */
const OTHER_CYCLES = Number(process.env.BENCH_OTHER_CYCLES ?? CYCLES);
const HELLO_TARGET = 0.8;
/** wrk's share of CPU 1 from which the load generator, not the service, may set the pace. */
const WRK_LIMIT_SHARE = 0.9;
/** The service and wrk at SCHED_FIFO 1 during the windows (BENCH_REALTIME=0: ordinary scheduling at BENCH_NICE). */
const REALTIME = process.env.BENCH_REALTIME !== '0';

interface Setup {
  name: string;
  /** undefined: no agent. */
  agentArgs?: string[];
  /** Ask for deep probes on the Go fixture's service (`burnwatch probe`), withdrawn afterwards. */
  probeService?: boolean;
}

interface Measured {
  goHello: number;
  goWork: number;
  p50Us: number;
  p99Us: number;
  fixedRequests: number;
  serviceCpuUsPerRequest: number;
  /** The agent's CPU over the steady fixed-rate window (the load generator already instrumented). */
  agentCpuShare: number;
  /** The same over the window's first and second half: a one-off cost left inside would show in the first. */
  agentCpuHalves: [number, number];
  /**
   * What a new Go process (the load generator) cost the agent once, ms: its CPU from the spawn
   * until it had logged its verdict on it, beyond its steady rate between bursts.
   */
  newProcessAgentCpuMs: number;
  newProcessSpanSeconds: number;
  /** The agent's log line about the load generator's pid, if it logged one before the steady window. */
  loadGeneratorLine?: string;
  /** The agent's CPU over one interval with no load: what does not grow with requests. */
  agentIdleCpuShare: number;
  bpfShare: number;
  bpfNsPerRequest: number;
  bpfRunsPerRequest: number;
  /** Run time and runs per program over the fixed-rate window, largest first. */
  byProgram: { name: string; runTimeNs: number; runCount: number }[];
  /** How the agent measured the fixture's own requests, as it logged it (syscall path or Go uprobes, and why). */
  serverRed?: string;
}


function burnwatchHelp(...command: string[]): string {
  try {
    return execFileSync(process.execPath, [path.join(ROOT, 'bin/burnwatch.js'), ...command, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return '';
  }
}

/**
 * Deep probes as this build turns them on. Best: `burnwatch probe SERVICE` for the fixture
 * alone, as an operator would; `--probes always` would also probe the Go load generator's
 * client calls (on CPU 1), which then falls behind its schedule and the latency it reports
 * is its own. Without either, the agent's default attaches every probe already.
 */
function deepSetup(): Setup | undefined {
  if (/Usage: burnwatch probe/.test(burnwatchHelp('probe'))) return { name: 'agent, deep probes', agentArgs: [], probeService: true };
  if (/--probes\b/.test(burnwatchHelp('agent'))) return { name: 'agent, deep probes', agentArgs: ['--probes', 'always'] };
  return undefined;
}

/** `burnwatch probe` against the bench gateway; retried until the gateway knows the service (after the agent's first export). */
function startAgent(endpoint: string, extraArgs: string[]): Managed {
  const args = [path.join(ROOT, 'bin/burnwatch.js'), 'agent', '--endpoint', endpoint, '--spool-dir', tempDir('bw-bench-spool'), ...extraArgs];
  const command = AGENT_CPU === 'any' ? [process.execPath, ...args] : ['taskset', '-c', AGENT_CPU, process.execPath, ...args];
  return manage(spawn(command[0], command.slice(1), { cwd: ROOT, env: { ...process.env, BURNWATCH_API_KEY: BENCH_KEY }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

async function startNodeServer(): Promise<Managed & { pid: number; url: string }> {
  const portFile = path.join(tempDir('bw-bench-node'), 'port');
  const m = manage(
    spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/node-http-server.ts'), portFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const port = await waitFor('node server', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8')) || undefined, 20_000, 50);
  return { ...m, pid: m.child.pid!, url: `http://127.0.0.1:${port}` };
}

async function measure(setup: Setup, endpoint: string, go: { pid: number; url: string }): Promise<Measured> {
  const agent = setup.agentArgs && startAgent(endpoint, setup.agentArgs);
  try {
    if (agent) await waitFor(`agent attach (${setup.name})`, () => (agent.output().includes(`instrumenting pid ${go.pid} `) ? true : undefined), 60_000, 50);
    // Logged right after the attach line, possibly in the next chunk of the agent's stderr.
    const redLine = () => agent?.output().split('\n').find((l) => l.includes(`server RED of pid ${go.pid} `));
    if (agent) await waitFor('the server RED line', () => (redLine() ? true : undefined), 5_000, 50).catch(() => undefined);
    const serverRed = redLine()?.replace(/^.*?server RED of pid \d+ \([^)]*\): /, '');
    if (agent && setup.probeService) {
      await requestDeepProbes(endpoint, BENCH_FIXTURE_SERVICE, false);
      await waitFor('deep probes attached', () => (agent.output().includes(`deep probes attached to pid ${go.pid} `) ? true : undefined), 30_000, 50);
    }
    const goHello = wrk(`${go.url}/hello`).requestsPerSecond;
    const goWork = wrk(`${go.url}/work`).requestsPerSecond;
    const agentPid = agent?.child.pid;
    // The idle interval read at 100-ms steps: its share, and when the agent's drain burst came
    // (the largest rise over 0.3 s: a drain takes 0.1–0.3 s, a /proc scan less).
    const idle = agentPid ? await sampleCpu(agentPid, 100, IDLE_SECONDS * 1000) : [];
    const agentIdleCpuShare = agentPid ? share(idle) : 0;
    // The load generator starts a second after a burst, so the next burst is an interval away
    // and the span that holds its one-off cost (found, inspected, attached) holds no burst.
    if (agentPid) await sleep(delayToPhase(nowSeconds(), busiestStep(idle, 3), AGENT_INTERVAL_SECONDS, 1) * 1000);
    return await withBpfStats(async () => {
      const agentCpu = () => (agentPid ? cpuSeconds(agentPid) : 0);
      const spawnCpu = agentCpu();
      const tSpawn = nowSeconds();
      const load = startFixedRate(`${go.url}/hello`, FIXED_RATE, FIXED_WARMUP_SECONDS, FIXED_SECONDS);
      const loadLine = () => agent?.output().split('\n').find((l) => l.includes(`instrumenting pid ${load.pid} (`));
      // The one-off span: until the agent has logged what it did with the new process, and half a
      // second more for what follows the line (deep-probe bookkeeping).
      if (agent) {
        await waitFor('the agent on the load generator', () => (loadLine() ? true : undefined), FIXED_WARMUP_SECONDS * 1000, 20).catch(() => undefined);
        await sleep(500);
      }
      const oneOff = { cpu: agentCpu() - spawnCpu, wall: nowSeconds() - tSpawn };
      await load.measuring;
      // The steady window: from the end of the load's warm-up to its end, the span its report covers.
      const loadGeneratorLine = loadLine();
      const progs0 = agentPid ? processPrograms(agentPid) : new Map();
      const service0 = cpuSeconds(go.pid);
      const steady = agentPid ? sampleCpu(agentPid, 1000, load.result) : Promise.resolve([]);
      const t0 = nowSeconds();
      const fixed = await load.result;
      const wall = nowSeconds() - t0;
      const steadySamples = await steady;
      const byProgram = agentPid ? runTimeByName(progs0, processPrograms(agentPid), programNames()) : [];
      const bpfNs = byProgram.reduce((a, p) => a + p.runTimeNs, 0);
      const bpfRuns = byProgram.reduce((a, p) => a + p.runCount, 0);
      return {
        goHello,
        goWork,
        p50Us: fixed.p50_us,
        p99Us: fixed.p99_us,
        fixedRequests: fixed.requests,
        serviceCpuUsPerRequest: ((cpuSeconds(go.pid) - service0) / fixed.requests) * 1e6,
        agentCpuShare: agentPid ? share(steadySamples) : 0,
        agentCpuHalves: agentPid && steadySamples.length >= 3 ? halves(steadySamples) : [0, 0],
        newProcessAgentCpuMs: agentPid ? excessCpu(oneOff.cpu, oneOff.wall, shareBetweenBursts(steadySamples)) * 1000 : 0,
        newProcessSpanSeconds: oneOff.wall,
        ...(loadGeneratorLine ? { loadGeneratorLine: loadGeneratorLine.replace(/^\[agent\] /, '') } : {}),
        agentIdleCpuShare,
        bpfShare: bpfNs / 1e9 / wall,
        bpfNsPerRequest: bpfNs / fixed.requests,
        bpfRunsPerRequest: bpfRuns / fixed.requests,
        byProgram,
        ...(serverRed ? { serverRed } : {}),
      };
    });
  } finally {
    if (agent && setup.probeService) await requestDeepProbes(endpoint, BENCH_FIXTURE_SERVICE, true);
    await agent?.stop('SIGINT');
  }
}

/** A service the hello windows load: its process (CPU accounting, real-time priority) and its base URL. */
interface Target {
  /** As printed: "Go", "nginx", "Node". */
  name: string;
  pid: number;
  url: string;
}

/** One wrk window on a service's /hello, with what the machine did meanwhile. */
interface HelloWindow {
  rps: number;
  /** The service's CPU over the window's wall time: below 1, it waited (for the load, or for its core). */
  serviceShare: number;
  serviceUsPerRequest: number;
  cpu0: CpuShares;
  cpu1: CpuShares;
  /** wrk's own CPU over the window's wall time: near 1, the load generator was the limit. */
  wrkShare: number;
  /** Tracing BPF programs other processes had loaded (their tracepoints run in the service's syscalls too). */
  foreignBpf: number;
}

type BenchArm = Arm & { programIds(): ReadonlySet<number> };

function helloWindow(target: Target, arm: BenchArm): HelloWindow {
  const stat0 = readProcStat();
  const service0 = cpuSeconds(target.pid);
  const t0 = process.hrtime.bigint();
  const { requestsPerSecond: rps, cpuSeconds: wrkCpu } = wrk(`${target.url}/hello`, WINDOW_SECONDS, REALTIME);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const service = cpuSeconds(target.pid) - service0;
  const stat1 = readProcStat();
  return {
    rps,
    serviceShare: service / wall,
    serviceUsPerRequest: (service / (rps * WINDOW_SECONDS)) * 1e6,
    cpu0: cpuShares(stat0, stat1, 'cpu0'),
    cpu1: cpuShares(stat0, stat1, 'cpu1'),
    wrkShare: wrkCpu / wall,
    foreignBpf: foreignTracingPrograms(arm.programIds()),
  };
}

const noAgent = (name: string): BenchArm => ({ name, start: async () => {}, stop: async () => {}, programIds: () => new Set() });

/**
 * The agent at default settings, started for a block and kept running through its windows. Ready
 * once it has instrumented the Go fixture: its first /proc scan is done and its syscall
 * tracepoints (which count any language's requests) are attached, whichever service is loaded.
 */
function agentArm(endpoint: string, go: { pid: number }): BenchArm {
  let agent: Managed | undefined;
  return {
    name: 'agent',
    async start() {
      const a = startAgent(endpoint, []);
      agent = a;
      await waitFor('agent attach (alternating windows)', () => (a.output().includes(`instrumenting pid ${go.pid} `) ? true : undefined), 60_000, 50);
    },
    async stop() {
      await agent?.stop('SIGINT');
      agent = undefined;
    },
    programIds: () => (agent ? new Set(processPrograms(agent.child.pid!).keys()) : new Set()),
  };
}

const AB = 'agent / none';
const AA = 'none / none (A/A)';

/** The alternating windows on one service's /hello: the agent against none, and none against none. */
async function helloWindows(endpoint: string, go: { pid: number }, target: Target, cycles: number): Promise<Block<HelloWindow>[]> {
  const comparisons: Comparison<BenchArm>[] = [
    { name: AB, measured: agentArm(endpoint, go), baseline: noAgent('none') },
    { name: AA, measured: noAgent('none A'), baseline: noAgent('none B') },
  ];
  if (REALTIME) setRealtime(target.pid, true);
  try {
    return await runAlternating(comparisons, {
      cycles,
      windowsPerBlock: BLOCK_WINDOWS,
      measure: (arm) => helloWindow(target, arm),
      onBlock: (b) =>
        console.log(
          `  cycle ${b.cycle + 1} ${b.comparison} ${b.arm}: ${target.name} /hello ${b.kept.map((w) => w.rps.toFixed(0)).join(', ')} req/s (warm-up ${b.warmUp.rps.toFixed(0)}); ` +
            `service ${b.kept.map((w) => (w.serviceShare * 100).toFixed(0)).join('/')}% of CPU 0 at ${b.kept.map((w) => w.serviceUsPerRequest.toFixed(1)).join('/')} µs/req; ` +
            `wrk ${b.kept.map((w) => (w.wrkShare * 100).toFixed(0)).join('/')}% of CPU 1; steal ${b.kept.map((w) => (w.cpu0.steal * 100).toFixed(1)).join('/')}%; foreign BPF ${b.kept.map((w) => w.foreignBpf).join('/')}`,
        ),
    });
  } finally {
    if (REALTIME) setRealtime(target.pid, false);
  }
}

/** `helloTarget`: the ratio the issue sets for this service, judged on the interval; none: reported only. */
function windowReport(target: Target, blocks: Block<HelloWindow>[], cycles: number, cyclesKnob: string, helloTarget?: number): string[] {
  if (blocks.length === 0) return [`${target.name} /hello alternating windows: not run (${cyclesKnob}=0)`];
  const interval = (comparison: string, pick: (w: HelloWindow) => number) => medianInterval(cyclesOf(blocks, comparison, pick).map(pairedRatios));
  const hello = interval(AB, (w) => w.rps);
  const helloAA = interval(AA, (w) => w.rps);
  const judged = withNoiseFloor(hello, helloAA);
  // Throughput the service would have had with all of CPU 0: the inverse of its CPU per request.
  const normalised = interval(AB, (w) => 1 / w.serviceUsPerRequest);
  const normalisedAA = interval(AA, (w) => 1 / w.serviceUsPerRequest);
  const pct = (xs: number[], digits = 1) => spread(xs.map((x) => x * 100), digits);
  const lines = [
    `${target.name} /hello, alternating windows: ${cycles} cycles; per cycle and comparison a block with each arm (order flipped every cycle), ${BLOCK_WINDOWS} windows of wrk -d${WINDOW_SECONDS}s each, ` +
      `the first after each block start discarded as warm-up (the agent starts once per block and runs through it); ` +
      `${REALTIME ? 'the service and wrk at SCHED_FIFO 1 (the agent, the gateway and everything else ordinary)' : `ordinary scheduling at nice ${process.env.BENCH_NICE ?? -10}`}; window i paired with window i of the neighbouring block; ` +
      `median of the paired ratios, 95% bootstrap interval resampling whole cycles`,
    `agent / none: ${target.name} /hello ratio ${formatInterval(hello, 3)}; with the A/A noise floor ${judged.low.toFixed(3)}–${judged.high.toFixed(3)} ` +
      (helloTarget === undefined ? '(no target applies: reported)' : `[${intervalVerdict(judged, helloTarget, 'atLeast', 2)}]`),
    `none / none (A/A, the method's noise floor this run): ${formatInterval(helloAA, 3)}`,
    `service CPU per request, none ÷ agent (the ratio if the service had all of CPU 0 in both arms): ${formatInterval(normalised, 3)}; A/A ${formatInterval(normalisedAA, 3)}`,
  ];
  for (const comparison of [AB, AA]) {
    for (const arm of ['measured', 'baseline'] as const) {
      const ws = blocks.filter((b) => b.comparison === comparison && b.arm === arm).flatMap((b) => b.kept);
      if (ws.length === 0) continue;
      lines.push(
        `  ${comparison} ${arm}: ${target.name} /hello ${spread(ws.map((w) => w.rps), 0)} req/s; service ${pct(ws.map((w) => w.serviceShare), 0)}% of CPU 0 at ${spread(ws.map((w) => w.serviceUsPerRequest), 1)} µs/req; ` +
          `CPU 0 idle ${pct(ws.map((w) => w.cpu0.idle), 0)}% steal ${pct(ws.map((w) => w.cpu0.steal))}% softirq ${pct(ws.map((w) => w.cpu0.softirq), 0)}%; ` +
          `CPU 1: wrk ${pct(ws.map((w) => w.wrkShare), 0)}%, idle ${pct(ws.map((w) => w.cpu1.idle), 0)}%, steal ${pct(ws.map((w) => w.cpu1.steal))}%; foreign tracing BPF programs ${spread(ws.map((w) => w.foreignBpf), 0)}`,
      );
    }
  }
  if (REALTIME && AGENT_CPU === '0')
    lines.push("NOTE: BENCH_AGENT_CPU=0 with the real-time windows: the agent got only what the kernel leaves ordinary work on the service's core (5%); set BENCH_REALTIME=0 or move the agent");
  const foreign = blocks.flatMap((b) => b.kept.map((w) => w.foreignBpf)).filter(Number.isFinite);
  if (foreign.length > 0 && Math.max(...foreign) > 0)
    lines.push(
      `NOTE: other processes had tracing BPF programs loaded during the windows (${spread(foreign, 0)}): theirs run in the service's syscalls in both arms, ` +
        `raise its CPU per request and shift the ratio; on a quiet machine this is 0`,
    );
  // The agent's syscall tracepoints run in wrk's syscalls too: a wrk at its limit turns part of
  // the agent's cost in the load generator into a lower service throughput.
  const wrkShares = blocks.filter((b) => b.comparison === AB).map((b) => median(b.kept.map((w) => w.wrkShare)));
  if (wrkShares.length > 0 && Math.max(...wrkShares) >= WRK_LIMIT_SHARE)
    lines.push(
      `NOTE: wrk used ${spread(wrkShares.map((x) => x * 100), 0)}% of CPU 1 (median per block, agent / none) — at its limit, so part of this ratio can be the agent's cost ` +
        `in wrk's own syscalls rather than in ${target.name}'s; compare the service CPU per request line`,
    );
  // ln(throughput) = ln(share of CPU 0) − ln(CPU per request) + const: which of the two moved it.
  const none = blocks.filter((b) => b.comparison === AA || b.arm === 'baseline').flatMap((b) => b.kept);
  lines.push(
    `swings without the agent (${none.length} windows), sd of the logarithm: throughput ${logSpread(none.map((w) => w.rps)).toFixed(3)}, ` +
      `the service's share of CPU 0 ${logSpread(none.map((w) => w.serviceShare)).toFixed(3)}, its CPU per request ${logSpread(none.map((w) => w.serviceUsPerRequest)).toFixed(3)}`,
  );
  return lines;
}

export async function run(): Promise<string[]> {
  const nice = raiseBenchPriority();
  const loadBefore = loadAverage();
  const deep = deepSetup();
  const setups: Setup[] = [{ name: 'none' }, { name: 'agent', agentArgs: [] }, ...(deep ? [deep] : [])];
  const { endpoint, gateway } = await startBenchGateway();
  const go = await startPinnedFixture();
  const node = await startNodeServer();
  const nginx = await startNginx();
  const targets: Target[] = [
    { name: 'Go', pid: go.pid, url: go.url },
    { name: 'nginx', pid: nginx.pid, url: nginx.url },
    { name: 'Node', pid: node.pid, url: node.url },
  ];
  const rounds = new Map<string, Measured[]>(setups.map((s) => [s.name, []]));
  const windowLines: string[] = [];
  try {
    for (const url of [`${go.url}/hello`, `${go.url}/work`, `${node.url}/hello`, `${nginx.url}/hello`]) wrk(url, 1); // warm-up
    for (const target of targets) {
      const [cycles, knob] = target.name === 'Go' ? [CYCLES, 'BENCH_CYCLES'] : [OTHER_CYCLES, 'BENCH_OTHER_CYCLES'];
      const blocks = await helloWindows(endpoint, go, target, cycles);
      windowLines.push(...windowReport(target, blocks, cycles, knob, target.name === 'Go' ? HELLO_TARGET : undefined));
      if (target.name === 'Node') windowLines.push(`(Node ${process.version} http, bench/node-http-server.ts)`);
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < setups.length; i++) {
        const setup = setups[(i + r) % setups.length];
        const m = await measure(setup, endpoint, go);
        rounds.get(setup.name)!.push(m);
        console.log(
          `  round ${r + 1} ${setup.name}: Go /hello ${m.goHello.toFixed(0)}, /work ${m.goWork.toFixed(0)} req/s; ` +
            `at ${FIXED_RATE}/s (steady window) p50 ${m.p50Us.toFixed(0)} µs p99 ${m.p99Us.toFixed(0)} µs, service ${m.serviceCpuUsPerRequest.toFixed(1)} µs CPU/req, ` +
            (setup.agentArgs
              ? `agent ${(m.agentCpuShare * 100).toFixed(2)}% of a core (halves ${m.agentCpuHalves.map((h) => (h * 100).toFixed(2)).join('/')}%; idle ${(m.agentIdleCpuShare * 100).toFixed(2)}%; the new load generator cost it ${m.newProcessAgentCpuMs.toFixed(0)} ms once, over ${m.newProcessSpanSeconds.toFixed(1)} s; ${m.loadGeneratorLine ?? 'nothing logged about it by the window'}), `
              : '') +
            `BPF ${(m.bpfShare * 100).toFixed(2)}% (${m.bpfNsPerRequest.toFixed(0)} ns/req, ${m.bpfRunsPerRequest.toFixed(1)} runs/req)`,
        );
      }
    }
  } finally {
    await nginx.stop();
    await node.stop();
    await go.stop();
    await gateway.stop();
  }
  const roundLines = ROUNDS > 0 ? report(setups, rounds, deep, nice) : ['rounds: not run (BENCH_ROUNDS=0)'];
  return [...windowLines, ...roundLines, `machine load average (1 min) before/after the run: ${loadBefore} / ${loadAverage()} (2 CPUs; the bench itself keeps ≈2 busy)`];
}

/** The 1-minute load average: how busy the neighbours kept the machine while it was measured. */
function loadAverage(): string {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
}

function report(setups: Setup[], rounds: Map<string, Measured[]>, deep: Setup | undefined, nice: number): string[] {
  const none = rounds.get('none')!;
  const lines = [
    `Rounds: the Go 1.19 net/http fixture on CPU 0 (GOMAXPROCS=1), load on CPU 1 (wrk -t1 -c${CONNECTIONS} -d${RUN_SECONDS}s; ` +
      `fixedrate ${FIXED_RATE}/s: ${FIXED_WARMUP_SECONDS}s warm-up, then the steady window of ${FIXED_SECONDS}s its latency, the agent's and the service's CPU and the BPF run time cover), agent at default settings on CPU ${AGENT_CPU}; all at nice ${nice}; ${ROUNDS} rounds, setups rotated; median (min–max) of per-round ratios`,
    `none: Go /hello ${spread(none.map((m) => m.goHello), 0)} req/s, Go /work ${spread(none.map((m) => m.goWork), 0)}; ` +
      `at ${FIXED_RATE}/s p50 ${spread(none.map((m) => m.p50Us), 0)} µs, p99 ${spread(none.map((m) => m.p99Us), 0)} µs, service ${spread(none.map((m) => m.serviceCpuUsPerRequest), 1)} µs CPU/req`,
  ];
  for (const setup of setups) {
    if (!setup.agentArgs) continue;
    const ms = rounds.get(setup.name)!;
    const ratio = (pick: (m: Measured) => number) => roundRatios(ms.map(pick), none.map(pick));
    const hello = ratio((m) => m.goHello);
    const work = ratio((m) => m.goWork);
    const agentCpu = ms.map((m) => m.agentCpuShare * 100);
    const checks = setup.name === 'agent';
    lines.push(
      `${setup.name}: Go /hello ratio over rounds ${spread(hello, 3)} (no verdict: see the alternating windows); ` +
        `Go /work ratio ${spread(work, 3)}${checks ? ` [${targetCheck(median(work), 0.99, 'atLeast', 2)}]` : ''}`,
      `${setup.name}: at ${FIXED_RATE}/s on Go /hello, steady window (the load generator instrumented before it began): agent process CPU ${spread(agentCpu, 2)}% of a core${checks ? ` [${targetCheck(median(agentCpu), 2, 'atMost', 1)}]` : ''} ` +
        `(first half ${spread(ms.map((m) => m.agentCpuHalves[0] * 100), 2)}%, second ${spread(ms.map((m) => m.agentCpuHalves[1] * 100), 2)}%) ` +
        `(over ${IDLE_SECONDS}s with no load: ${spread(ms.map((m) => m.agentIdleCpuShare * 100), 2)}%); ` +
        `a new Go process (the load generator) cost the agent once: ${spread(ms.map((m) => m.newProcessAgentCpuMs), 0)} ms of CPU ` +
        `(from its spawn, a second after a drain burst, until the agent logged it + 0.5 s: ${spread(ms.map((m) => m.newProcessSpanSeconds), 1)} s, beyond the steady rate between bursts); ` +
        `in-kernel BPF run time ${spread(ms.map((m) => m.bpfShare * 100), 2)}% of a core = ${spread(ms.map((m) => m.bpfNsPerRequest), 0)} ns/req over ${spread(ms.map((m) => m.bpfRunsPerRequest), 1)} program runs/req; ` +
        `service ${spread(ms.map((m) => m.serviceCpuUsPerRequest), 1)} µs CPU/req; p50 ${spread(ms.map((m) => m.p50Us), 0)} µs, p99 ${spread(ms.map((m) => m.p99Us), 0)} µs`,
    );
  }
  for (const setup of setups) {
    if (!setup.agentArgs) continue;
    const ms = rounds.get(setup.name)!;
    const requests = ms.reduce((a, m) => a + m.fixedRequests, 0);
    const total = new Map<string, { ns: number; runs: number }>();
    for (const m of ms) for (const p of m.byProgram) {
      const t = total.get(p.name) ?? { ns: 0, runs: 0 };
      t.ns += p.runTimeNs;
      t.runs += p.runCount;
      total.set(p.name, t);
    }
    const top = [...total].sort((a, b) => b[1].ns - a[1].ns).slice(0, 8);
    lines.push(`${setup.name}: BPF run time by program, ns (runs) per request over all rounds: ${top.map(([n, t]) => `${n} ${(t.ns / requests).toFixed(0)} (${(t.runs / requests).toFixed(1)})`).join(', ')}`);
    const red = [...new Set(ms.map((m) => m.serverRed ?? 'not logged'))];
    lines.push(`${setup.name}: the fixture's server RED path: ${red.join(' | ')}`);
    const late = ms.filter((m) => !m.loadGeneratorLine).length;
    const loadLines = [...new Set(ms.flatMap((m) => (m.loadGeneratorLine ? [m.loadGeneratorLine.replace(/pid \d+/, 'pid N')] : [])))];
    lines.push(
      `${setup.name}: the agent on the load generator before the steady window: ${loadLines.join(' | ') || 'nothing logged'}` +
        (late ? `; NOTE: in ${late} of ${ms.length} rounds it had logged nothing about it when the window began (raise BENCH_FIXED_WARMUP_SECONDS): the window may hold the one-off cost` : ''),
    );
  }
  if (!deep) lines.push('agent, deep probes: not measured apart (this build has neither `burnwatch probe` nor `--probes`; its default attaches every probe)');
  else lines.push(`deep probes: ${deep.probeService ? `\`burnwatch probe ${BENCH_FIXTURE_SERVICE}\` (the fixture's processes only)` : '`--probes always` (every Go process, the load generator included)'}`);
  return lines;
}
