// Helpers every side-by-side benchmark shares: the pinned Go fixture, wrk on the other
// core, a gateway to ship to, CPU accounting from /proc, and the arithmetic of the ratios.
import { spawn, execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { HOUR_MS } from '../lambda/slo/duckdb-store.ts';
import { freePort, manage, startGatewayProcess, tempDir, waitFor, FIXTURE_BIN, type Managed } from '../test/lib/processes.ts';

export const RUN_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const CONNECTIONS = 32;
export const BENCH_KEY = 'bench-key-0123456789';
/** service.name of the pinned Go fixture (startPinnedFixture). */
export const BENCH_FIXTURE_SERVICE = 'bench-fixture';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const execFileAsync = promisify(execFile);

interface WrkResult {
  requestsPerSecond: number;
  /** CPU seconds wrk itself used: near the window's length, the load generator was the limit. */
  cpuSeconds: number;
}

/**
 * Closed-loop throughput on CPU 1; a run with errors is no measurement and throws. `realtime`:
 * wrk at SCHED_FIFO 1 (see setRealtime), so no ordinary process can delay the load generator.
 */
export function wrk(url: string, seconds = RUN_SECONDS, realtime = false): WrkResult {
  // bash's `times` prints the shell's, then its children's, user and system time: wrk's own CPU.
  const command = `${realtime ? 'chrt -f 1 ' : ''}taskset -c 1 wrk "$@" && times`;
  const out = execFileSync('bash', ['-c', command, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`unexpected wrk output:\n${out}`);
  if (/Non-2xx|Socket errors/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
  return { requestsPerSecond: Number(m[1]), cpuSeconds: childrenCpuSeconds(out) };
}

/** The children's line of bash's `times` ("0m1.234s 0m0.567s", the last line), as seconds. */
export function childrenCpuSeconds(timesOutput: string): number {
  const lines = timesOutput.trim().split('\n');
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '');
  if (!m) return NaN;
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

export interface FixedRateResult {
  requests: number;
  errors: number;
  achieved_rps: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

/**
 * Open-loop load on CPU 1 (test/fixtures/go/fixedrate): latency counted from when each request
 * was due, so a stalled server is charged for every request it delayed.
 */
export function fixedRate(url: string, rate: number, seconds: number, connections = 16): FixedRateResult {
  return fixedRateReport(execFileSync('taskset', fixedRateArgs(url, rate, 0, seconds, connections), { encoding: 'utf8', env: fixedRateEnv() }));
}

const fixedRateEnv = () => ({ ...process.env, GOMAXPROCS: '1' });

/** taskset's arguments for fixedrate on CPU 1. */
function fixedRateArgs(url: string, rate: number, warmupSeconds: number, seconds: number, connections: number): string[] {
  return [
    '-c', '1', path.join(FIXTURE_BIN, 'fixedrate'), '-url', url, '-rate', String(rate),
    ...(warmupSeconds > 0 ? ['-warmup', `${warmupSeconds}s`] : []), '-duration', `${seconds}s`, '-conns', String(connections),
  ];
}

/** fixedrate's JSON report; a run that saw errors throws. */
function fixedRateReport(out: string): FixedRateResult {
  const r = JSON.parse(out) as FixedRateResult;
  if (r.errors) throw new Error(`fixed-rate load saw ${r.errors} errors of ${r.requests}`);
  return r;
}

/** A fixed-rate run in the background (fixedRate's load, with a warm-up left out of its report). */
export interface FixedRateRun {
  pid: number;
  /** Resolves when the warm-up is over and the reported part begins. */
  measuring: Promise<void>;
  /** The report over the part after the warm-up; rejects on errors, as fixedRate throws. */
  result: Promise<FixedRateResult>;
}

/**
 * fixedRate started without waiting for it: `warmupSeconds` at the rate first, so what a new
 * process costs others (an agent discovering and instrumenting it) is over before the reported
 * part, and the caller can read other counters over exactly that part (after `measuring`).
 */
export function startFixedRate(url: string, rate: number, warmupSeconds: number, seconds: number, connections = 16): FixedRateRun {
  const child = spawn('taskset', fixedRateArgs(url, rate, warmupSeconds, seconds, connections), { env: fixedRateEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  const measuring = new Promise<void>((resolve, reject) => {
    // fixedrate says "measuring" only after a warm-up; without one, the report covers the whole run.
    if (!(warmupSeconds > 0)) resolve();
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/^measuring$/m.test(stderr)) resolve();
    });
    void exited.then(() => reject(new Error(`fixedrate ended before its warm-up did:\n${stderr}`)), reject);
  });
  measuring.catch(() => undefined); // its rejection is reported through `result` too
  const result = exited.then((code) => {
    if (code !== 0) throw new Error(`fixedrate exited with ${code}:\n${stderr}`);
    return fixedRateReport(stdout);
  });
  return { pid: child.pid!, measuring, result };
}

/**
 * Asks for deep probes on `service` (`burnwatch probe`, as an operator would), or withdraws them,
 * retrying while the gateway or the service is not there yet.
 */
export async function requestDeepProbes(endpoint: string, service: string, stop: boolean): Promise<void> {
  const args = [path.join(ROOT, 'bin/burnwatch.js'), 'probe', service, '--endpoint', endpoint, ...(stop ? ['--stop'] : ['--for', '1h'])];
  await waitFor(`burnwatch probe ${service}${stop ? ' --stop' : ''}`, async () => {
    try {
      await execFileAsync(process.execPath, args, { cwd: ROOT, env: { ...process.env, BURNWATCH_API_KEY: BENCH_KEY } });
      return true;
    } catch {
      return undefined;
    }
  }, 60_000, 1_000);
}

/**
 * Every thread of `pid` to SCHED_FIFO priority 1, or back to SCHED_OTHER (its nice value
 * survives the round trip). A closed loop is as fast as its slower side: on a shared machine an
 * ordinary process on either core, whatever its nice, takes turns from the service or from wrk
 * and halves the throughput for a while. Real-time, both keep their cores; the kernel still
 * leaves 5% of each core to everything else (kernel.sched_rt_runtime_us).
 */
export function setRealtime(pid: number, on: boolean): void {
  execFileSync('chrt', on ? ['-a', '-f', '-p', '1', String(pid)] : ['-a', '-o', '-p', '0', String(pid)]);
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(`/proc/${pid}/stat`);
  return user + system;
}

let clockTicks: number | undefined;

/** utime and stime, in seconds, of a /proc/PID/stat or /proc/PID/task/TID/stat file. */
export function cpuTimes(statFile: string): { user: number; system: number } {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const stat = fs.readFileSync(statFile, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / clockTicks, system: Number(fields[12]) / clockTicks };
}

/** utime and stime of each thread of a process, by thread id (threads that exit take theirs with them). */
export function threadCpuTimes(pid: number): Map<number, { user: number; system: number }> {
  const out = new Map<number, { user: number; system: number }>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), cpuTimes(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

export async function startPinnedFixture(name = 'httpserver'): Promise<Managed & { pid: number; url: string }> {
  const portFile = path.join(tempDir('bw-bench'), 'port');
  const m = manage(
    spawn('taskset', ['-c', '0', path.join(FIXTURE_BIN, name), '-addr', '127.0.0.1:0', '-port-file', portFile], {
      env: { ...process.env, OTEL_SERVICE_NAME: BENCH_FIXTURE_SERVICE, GOMAXPROCS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const port = await waitFor('fixture', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8')) || undefined, 10_000, 20);
  return { ...m, pid: m.child.pid!, url: `http://127.0.0.1:${port}` };
}

/**
 * Puts this process and every process it starts from now on (children inherit it) ahead of
 * the machine's other work: nice −10 by default (BENCH_NICE). On a machine shared with other
 * jobs, a pinned service otherwise gets whatever share of its core the neighbours leave, and
 * that share, not the agent, decides the figures. On an idle machine it changes nothing.
 */
export function raiseBenchPriority(): number {
  const nice = Number(process.env.BENCH_NICE ?? -10);
  os.setPriority(0, nice);
  return nice;
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A gateway process with a throw-away data dir, for the agent under test to ship to. */
export async function startBenchGateway(): Promise<{ endpoint: string; gateway: Managed }> {
  const port = await freePort();
  const gateway = await startGatewayProcess(port, tempDir('bw-bench-data'), BENCH_KEY);
  return { endpoint: `http://127.0.0.1:${port}`, gateway };
}

/** A difference with its sign: noise can make the measured side faster. */
export function signed(x: number, digits: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
}

/**
 * Writes minute rollups (1,000 requests a minute per SLI key, 0–2 of them bad) straight into an SLO
 * store file, with the hourly sums and watermarks the engine keeps: 30 days through the engine's
 * own refresh would take the bench longer than what it measures.
 */
export async function fillRollups(file: string, tenant: string, keys: string[], fromMs: number, toMs: number): Promise<number> {
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  await conn.run('CREATE TEMP TABLE keys (k VARCHAR)');
  const app = await conn.createAppender('keys', 'main', 'temp');
  for (const k of keys) {
    app.appendVarchar(k);
    app.endRow();
  }
  app.flushSync();
  app.closeSync();
  // 1,000 requests a minute per SLO, 0–2 of them bad; a day at a time, in time order.
  for (let day = fromMs; day < toMs; day += 86_400_000) {
    await conn.run(`INSERT INTO slo_rollups (tenant, sli_key, bucket_ms, good, total, effective_threshold)
      SELECT '${tenant}', k, b, 1000 - (hash(k, b) % 3), 1000, NULL
        FROM range(${day}, ${Math.min(toMs, day + 86_400_000)}, ${60_000}) r(b), keys ORDER BY b`);
  }
  await conn.run(`INSERT INTO slo_rollups_hourly (tenant, sli_key, hour_ms, good, total, effective_threshold)
    SELECT tenant, sli_key, bucket_ms // ${HOUR_MS} * ${HOUR_MS} AS h, sum(good), sum(total), NULL FROM slo_rollups GROUP BY ALL ORDER BY h`);
  await conn.run(`INSERT INTO slo_rollup_watermarks (tenant, sli_key, done_to_ms, covered_from_ms) SELECT '${tenant}', k, ${toMs}, ${fromMs} FROM keys`);
  const rows = Number((await conn.runAndReadAll('SELECT count(*) FROM slo_rollups')).getRows()[0][0]);
  await conn.run('CHECKPOINT');
  conn.closeSync();
  instance.closeSync();
  return rows;
}
