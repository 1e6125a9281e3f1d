// The agent's overhead on a Go service, measured side by side in one run. The fixture is
// pinned to CPU 0 and wrk (closed loop: a fixed number of connections, each sending its
// next request when the last one is answered) to CPU 1;
// runs alternate without / with the agent, and the figure is the ratio of the means.
// Absolute numbers on a shared VM are noise; only the ratio is reported as a result.
import { burnwatch, tempDir, waitFor } from '../test/lib/processes.ts';
import { BENCH_KEY, CONNECTIONS, ROUNDS, RUN_SECONDS, cpuSeconds, mean, signed, startBenchGateway, startPinnedFixture, wrk } from './lib.ts';

/** Runs the benchmark and returns its result lines (also printed as they come). */
export async function run(): Promise<string[]> {
  const { endpoint, gateway } = await startBenchGateway();
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
        const agent = burnwatch(['agent', '--endpoint', endpoint, '--interval', '1s', '--spool-dir', tempDir('bw-bench-spool')], { BURNWATCH_API_KEY: BENCH_KEY });
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

