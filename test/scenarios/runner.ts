// Runs one scenario: world up, steady load, a clean baseline, the fault, and the frontend's
// hints asked every 10 s from the fault on (window from 20 s before the fault to now), each
// judged against the expected cause. The last answer is the scenario's result.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Hint, HintsReport } from '../../lambda/hints/types.ts';
import { OpenLoopLoad } from './load.ts';
import { BASE_RATE, type Cast, type Expected, type Scenario } from './scenarios.ts';
import { startWorld, type World } from './world.ts';

/** A hint this sure is one to act on: the control may have none, and calibration counts these. */
export const CONFIDENT = 0.5;
const POLL_MS = 10_000;
/** The window asked about starts a little before the fault (nobody knows the exact moment). */
const WINDOW_LEAD_MS = 20_000;

export interface RunOptions {
  baselineS: number;
  faultS: number;
  /** Stop the fault once two answers in a row have the right top-1 (the CI subset). */
  stopWhenRight?: boolean;
  /** Keep each scenario's gateway data and a manifest under DIR/<scenario>/ (see replay.ts). */
  keepDir?: string;
  log?: (line: string) => void;
  /** Ends the run early (its waits throw), still stopping the world: main.ts aborts on SIGTERM. */
  signal?: AbortSignal;
}

export interface ShownHint {
  text: string;
  confidence: number;
  right: boolean;
}

export interface Outcome {
  scenario: string;
  fault: string;
  expected: string;
  top1: ShownHint | undefined;
  top3: ShownHint[];
  top1Right: boolean;
  top3Right: boolean;
  /** Seconds from the fault's start to the first answer whose top-1 was right; undefined when none was. */
  firstRightS: number | undefined;
  /** Every hint of the last answer at or above CONFIDENT, right or not. */
  confident: ShownHint[];
  report: HintsReport | undefined;
  load: { sent: number; ok: number; failed: number; skipped: number };
  backendRestarts: number;
  error?: string;
}

/** Manifest of a kept run: what replay.ts needs to ask the engine the same questions again. */
export interface Manifest {
  scenario: string;
  cast: Cast;
  faultAtMs: number;
  /** The `to` (and `now`) of every question asked; `from` is faultAtMs − WINDOW_LEAD_MS. */
  askedAtMs: number[];
}

export function isRight(h: Hint, expected: Expected | null, c: Cast): boolean {
  if (!expected || h.kind !== expected.kind) return false;
  const services = expected.tiers.map((t) => (t === 'frontend' ? c.frontend : c.backend));
  return services.includes(h.service) && (!expected.peer || h.peer === expected.peer(c));
}

/** A hint as the table shows it: roles instead of the random names, known ports named. */
function show(h: Hint, c: Cast, expected: Expected | null): ShownHint {
  const role = (s: string) => (s === c.frontend ? 'frontend' : s === c.backend ? 'backend' : s === c.redisProxy ? 'redis-proxy' : s);
  const ports = new Map<string, string>([
    [`127.0.0.1:${c.redisProxyPort}`, 'redis'],
    [`127.0.0.1:${c.redisPort}`, 'redis(direct)'],
    [`127.0.0.1:${c.pgPort}`, 'postgres'],
    [`127.0.0.1:${c.etcdPort}`, 'etcd'],
    [`127.0.0.1:${c.backendGrpcPort}`, 'backend'],
    [`127.0.0.1:${c.backendHttpPort}`, 'backend-http'],
  ]);
  const peer = h.peer === null ? '' : ` → ${ports.get(h.peer) ?? h.peer}`;
  return { text: `${h.kind} @ ${role(h.service)}${peer}`, confidence: h.confidence, right: isRight(h, expected, c) };
}

/** Judges one answer; `outcome` keeps the latest. Returns whether its top-1 is right. */
export function judge(s: Scenario, c: Cast, report: HintsReport, outcome: Outcome, secondsIn: number, log: (l: string) => void): boolean {
  const shown = report.hints.map((h) => show(h, c, s.expected));
  const top1Right = s.expected ? shown[0]?.right === true : !report.hints.some((h) => h.confidence >= CONFIDENT);
  log(`${s.name} +${secondsIn} s: ${shown.slice(0, 3).map((h) => `${h.text} ${h.confidence.toFixed(2)}${h.right ? ' ✓' : ''}`).join(' | ')}`);
  Object.assign(outcome, {
    report,
    top1: shown[0],
    top3: shown.slice(0, 3),
    top1Right,
    top3Right: s.expected ? shown.slice(0, 3).some((h) => h.right) : top1Right,
    confident: shown.filter((h) => h.confidence >= CONFIDENT),
  });
  if (top1Right && s.expected && outcome.firstRightS === undefined) outcome.firstRightS = secondsIn;
  return top1Right;
}

export function emptyOutcome(s: Scenario): Outcome {
  return {
    scenario: s.name, fault: s.fault, expected: s.expected?.label ?? `none (no hint ≥ ${CONFIDENT})`, top1: undefined, top3: [], top1Right: false, top3Right: false,
    firstRightS: undefined, confident: [], report: undefined, load: { sent: 0, ok: 0, failed: 0, skipped: 0 }, backendRestarts: 0,
  };
}

export const windowFromMs = (faultAtMs: number) => faultAtMs - WINDOW_LEAD_MS;

export async function runScenario(s: Scenario, opts: RunOptions): Promise<Outcome> {
  const log = opts.log ?? (() => undefined);
  const prepared = await s.prepare();
  let world: World | undefined;
  let load: OpenLoopLoad | undefined;
  const outcome = emptyOutcome(s);
  const keep = opts.keepDir ? path.join(opts.keepDir, s.name) : undefined;
  if (keep) fs.rmSync(keep, { recursive: true, force: true });
  try {
    world = await startWorld({ ...prepared.world, log, ...(keep ? { dataDir: path.join(keep, 'gateway') } : {}) });
    const w = world;
    const cast = w.cast();
    log(`${s.name}: frontend ${w.frontend}, backend ${w.backend}; baseline ${opts.baselineS} s`);
    load = new OpenLoopLoad(w.topo.frontendPort, '/order', { rate: BASE_RATE });
    await sleep(opts.baselineS * 1000, undefined, { signal: opts.signal });
    const t0 = Date.now();
    await prepared.inject(w, load);
    log(`${s.name}: fault injected (${s.fault})`);
    const manifest: Manifest = { scenario: s.name, cast, faultAtMs: t0, askedAtMs: [] };
    let rightInARow = 0;
    const end = t0 + opts.faultS * 1000;
    // On the 10 s ticks; a tick missed while an answer took long is skipped, not made up.
    const nextTick = (prev: number) => t0 + POLL_MS * Math.max(Math.round((prev - t0) / POLL_MS) + 1, Math.ceil((Date.now() - t0) / POLL_MS));
    for (let at = t0 + POLL_MS; at <= end; at = nextTick(at)) {
      await sleep(Math.max(0, at - Date.now()), undefined, { signal: opts.signal });
      const now = Date.now();
      manifest.askedAtMs.push(now);
      if (keep) fs.writeFileSync(path.join(keep, 'manifest.json'), JSON.stringify(manifest));
      const report = await w.hints(w.frontend, windowFromMs(t0), now);
      const right = judge(s, cast, report, outcome, Math.round((now - t0) / 1000), log);
      rightInARow = right ? rightInARow + 1 : 0;
      if (opts.stopWhenRight && s.expected && rightInARow >= 2) break;
    }
    outcome.backendRestarts = w.restarts;
  } catch (err) {
    outcome.error = (err as Error).stack ?? String(err);
    log(`${s.name}: failed: ${outcome.error}`);
  } finally {
    if (load) outcome.load = await load.stop();
    await world?.stop().catch((err) => log(`stopping the world: ${(err as Error).message}`));
    await prepared.remove?.();
  }
  return outcome;
}
