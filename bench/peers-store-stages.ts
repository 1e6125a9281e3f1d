// Where a gateway write's time goes (issue 21 item 2 asks why the gateway stores 20× fewer points/s
// than the DuckDB store alone): the same gzip OTLP requests timed stage by stage in this process —
// gunzip, OTLP decode and normalisation (the gateway's own functions), then DuckDbStore.write,
// with every SQL statement the store runs timed by wrapping DuckDBConnection.run for the
// duration of the measurement — and the same points again in 500-point batches.
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { decodeMetricsRequest } from '../lambda/otlp/metrics.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import type { MetricPoint } from '../lambda/storage/types.ts';
import { tempDir } from '../test/lib/processes.ts';

export interface StageTimes {
  requests: number;
  points: number;
  decodeMsPerRequest: number;
  writeMsPerRequest: number;
  /** SQL statement (first words) → ms per request. */
  statements: [string, number][];
  bigBatchPointsPerS: number;
  /** One request's rows moved from staging into `points`, ms: without and with the conflict check. */
  insertMs: number;
  insertOrIgnoreMs: number;
}

async function timedStatements<T>(fn: () => Promise<T>): Promise<{ result: T; times: Map<string, number> }> {
  const times = new Map<string, number>();
  const original = DuckDBConnection.prototype.run;
  DuckDBConnection.prototype.run = async function (this: DuckDBConnection, sql: string, ...rest: unknown[]) {
    const t0 = performance.now();
    try {
      return await (original as (...a: unknown[]) => ReturnType<typeof original>).call(this, sql, ...rest);
    } finally {
      const key = sql.replace(/\s+/g, ' ').split(' ').slice(0, 5).join(' ');
      times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
    }
  } as typeof original;
  try {
    return { result: await fn(), times };
  } finally {
    DuckDBConnection.prototype.run = original;
  }
}

export async function storeStages(bodies: readonly Uint8Array[]): Promise<StageTimes> {
  const t0 = performance.now();
  const batches: MetricPoint[][] = bodies.map((b) => decodeMetricsRequest(gunzipSync(b), 'protobuf').points);
  const decodeMs = performance.now() - t0;
  const points = batches.reduce((n, b) => n + b.length, 0);

  const file = path.join(tempDir('bw-peers-stages'), 'stages.duckdb');
  const store = await DuckDbStore.open({ path: file });
  let writeMs = 0;
  const { times } = await timedStatements(async () => {
    const w0 = performance.now();
    for (const batch of batches) await store.write('stages', batch);
    writeMs = performance.now() - w0;
  });
  await store.close();
  const conflictCheck = await insertCosts(file, Math.round(points / bodies.length));

  const big = await DuckDbStore.open({ path: path.join(tempDir('bw-peers-stages'), 'big.duckdb') });
  const all = batches.flat();
  const b0 = performance.now();
  for (let i = 0; i < all.length; i += 500) await big.write('stages', all.slice(i, i + 500));
  const bigMs = performance.now() - b0;
  await big.close();

  const per = (ms: number) => ms / bodies.length;
  return {
    requests: bodies.length,
    points,
    decodeMsPerRequest: per(decodeMs),
    writeMsPerRequest: per(writeMs),
    statements: [...times].map(([k, v]): [string, number] => [k, per(v)]).sort((a, b) => b[1] - a[1]),
    bigBatchPointsPerS: all.length / (bigMs / 1000),
    ...conflictCheck,
  };
}

/**
 * The statement that dominates, isolated: a request's worth of new rows (stored rows moved a year
 * on, so no key conflicts) into the filled `points` table, by plain INSERT and by the store's
 * INSERT OR IGNORE, alternating, 50 of each; medians.
 */
async function insertCosts(file: string, rows: number): Promise<{ insertMs: number; insertOrIgnoreMs: number }> {
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  try {
    await conn.run('CREATE TEMP TABLE stage AS SELECT * FROM points LIMIT 0');
    const times: Record<'plain' | 'ignore', number[]> = { plain: [], ignore: [] };
    for (let i = 0; i < 100; i++) {
      const kind = i % 2 ? 'ignore' : 'plain';
      const shift = 365n * 86_400n * 1_000_000_000n * BigInt(i + 1);
      await conn.run(`INSERT INTO stage SELECT * REPLACE (start_ns + ${shift} AS start_ns, end_ns + ${shift} AS end_ns) FROM points LIMIT ${rows}`);
      const t0 = performance.now();
      await conn.run(`INSERT ${kind === 'ignore' ? 'OR IGNORE ' : ''}INTO points SELECT * FROM stage`);
      times[kind].push(performance.now() - t0);
      await conn.run('DELETE FROM stage');
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    return { insertMs: median(times.plain), insertOrIgnoreMs: median(times.ignore) };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
