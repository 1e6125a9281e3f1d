// The agent's overhead on a Go service, measured side by side in one run. The fixture is pinned to CPU 0 and wrk (closed loop: a fixed number of
// connections, each sending its next request when the last one is answered) to CPU 1;
// runs alternate without / with the agent, and the figure is the ratio of the means.
// Absolute numbers on a shared VM are noise; only the ratio is reported as a result.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { burnwatch, freePort, getJson, manage, tempDir, waitFor, FIXTURE_BIN, type Managed } from '../test/lib/processes.ts';

export const RUN_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const CONNECTIONS = 32;
const KEY = 'bench-key';

interface WrkResult {
  requestsPerSecond: number;
}

export function wrk(url: string): WrkResult {
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${RUN_SECONDS}s`, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`unexpected wrk output:\n${out}`);
  return { requestsPerSecond: Number(m[1]) };
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
}

export async function startPinnedFixture(): Promise<Managed & { pid: number; url: string }> {
  const portFile = path.join(tempDir('bw-bench'), 'port');
  const m = manage(
    spawn('taskset', ['-c', '0', path.join(FIXTURE_BIN, 'httpserver'), '-addr', '127.0.0.1:0', '-port-file', portFile], {
      env: { ...process.env, OTEL_SERVICE_NAME: 'bench-fixture', GOMAXPROCS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const port = await waitFor('fixture', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8')) || undefined, 10_000, 20);
  return { ...m, pid: m.child.pid!, url: `http://127.0.0.1:${port}` };
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Runs the benchmark and returns its result lines (also printed as they come). */
export async function run(): Promise<string[]> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const gateway = burnwatch(['gateway', '--port', String(port), '--data-dir', tempDir('bw-bench-data')], { BURNWATCH_API_KEY: KEY });
  await waitFor('gateway', async () => ((await getJson(`${endpoint}/healthz`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined), 30_000);
  const fixture = await startPinnedFixture();
  const routes = [
    { name: 'hello-world route', path: '/hello' },
    { name: 'route with 1 ms of work', path: '/work' },
  ];
  const results: string[] = [];
  try {
    for (const route of routes) {
      const url = fixture.url + route.path;
      wrk(url); // warm-up: connections, Go's scheduler, page cache
      const off: number[] = [];
      const on: number[] = [];
      const agentShare: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        off.push(wrk(url).requestsPerSecond);
        const agent = burnwatch(['agent', '--endpoint', endpoint, '--interval', '1s', '--spool-dir', tempDir('bw-bench-spool')], { BURNWATCH_API_KEY: KEY });
        await waitFor('agent attach', () => (agent.output().includes(`instrumenting pid ${fixture.pid} `) ? true : undefined), 20_000, 50);
        const cpu0 = cpuSeconds(agent.child.pid!);
        const t0 = process.hrtime.bigint();
        on.push(wrk(url).requestsPerSecond);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        agentShare.push((cpuSeconds(agent.child.pid!) - cpu0) / wall);
        await agent.stop('SIGINT');
      }
      off.push(wrk(url).requestsPerSecond);
      const ratio = mean(on) / mean(off);
      const perRequestUs = (1 / mean(on) - 1 / mean(off)) * 1e6;
      results.push(
        `${route.name.padEnd(24)} with/without agent = ${ratio.toFixed(3)}  ` +
          `(${mean(on).toFixed(0)} vs ${mean(off).toFixed(0)} req/s, ${signed(perRequestUs, 1)} µs a request on one core); ` +
          `agent CPU = ${(mean(agentShare) * 100).toFixed(1)}% of one core`,
      );
      console.log(results[results.length - 1]);
    }
  } finally {
    await fixture.stop();
    await gateway.stop();
  }
  return [`Go 1.19 net/http fixture on CPU 0 (GOMAXPROCS=1), wrk -t1 -c${CONNECTIONS} -d${RUN_SECONDS}s on CPU 1, ${ROUNDS} alternating rounds:`, ...results];
}

/** A difference with its sign: noise can make the measured side faster. */
export function signed(x: number, digits: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
}
