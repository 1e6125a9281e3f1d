// Hints cost: root-cause hints for one service over a one-hour window (plus its hour of
// baseline: two hours of 10 s points from a frontend and a backend calling PostgreSQL and Redis,
// a fault in the window, the backend analysed too through the dependency), next to the query the
// dashboard runs most — that service's p99 per minute over the same two hours — on the same
// DuckDB file in the same run. The ratio says what a hint costs in units of a chart.
import path from 'node:path';
import { computeHints } from '../lambda/hints/engine.ts';
import { writeSlowRedisWorld } from '../lambda/hints/testkit.ts';
import { runQuery } from '../lambda/query/engine.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import { tempDir } from '../test/lib/processes.ts';
import { mean, ROUNDS } from './lib.ts';

const TENANT = 'bench';
const HOUR = 3_600_000;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function run(): Promise<string[]> {
  const end = Math.floor(Date.now() / 60_000) * 60_000;
  const file = path.join(tempDir('burnwatch-bench-hints-'), 'burnwatch.duckdb');
  const writer = await DuckDbStore.open({ path: file });
  try {
    await writeSlowRedisWorld(writer, TENANT, { endMs: end, faultAtMs: end - 20 * 60_000, minutes: 120 });
  } finally {
    await writer.close();
  }
  // Read as a running gateway does: from the file, not from what this process just wrote.
  const store = await DuckDbStore.open({ path: file });
  try {
    const hints = () => computeHints({ metricStore: store }, TENANT, 'frontend', end - HOUR, end, end);
    const query = () => runQuery(store, { tenant: TENANT, service: 'frontend', metric: 'http.server.request.duration', agg: 'p99', fromNs: BigInt(end - 2 * HOUR) * 1_000_000n, toNs: BigInt(end) * 1_000_000n, by: [], stepNs: 60_000_000_000n });
    const top = (await hints()).hints[0]; // warm-up, and a check that the fault is found
    const h: number[] = [];
    const q: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      h.push(await timed(hints));
      q.push(await timed(query));
    }
    const lines = [
      `hints, 1 h window + 1 h baseline, 2 services: ${mean(h).toFixed(0)} ms (rounds: ${h.map((x) => x.toFixed(0)).join(', ')}); top hint ${top.kind} ${top.service} ${top.peer ?? ''}`,
      `p99 per minute over the same 2 h (one /v1/query): ${mean(q).toFixed(0)} ms`,
      `hints cost ${(mean(h) / mean(q)).toFixed(1)}× that query`,
    ];
    for (const l of lines) console.log(l);
    return lines;
  } finally {
    await store.close();
  }
}
