// History into a Prometheus TSDB the way its storage docs say to backfill: OpenMetrics text through
// `promtool tsdb create-blocks-from openmetrics`. Debian's promtool (2.42) has no
// --max-block-duration: it cuts 2-hour blocks and parses the whole input once per block, so a
// month in one file would be read 360 times. Each 2-hour block therefore gets its own file, made
// by the caller, converted and deleted before the next.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** promtool's block length (tsdb.DefaultBlockDuration), aligned to multiples of it since the epoch. */
export const BLOCK_MS = 2 * 3_600_000;

/**
 * Writes blocks for [fromMs, toMs) into `dataDir`. `writeBlock(file, a, b)` writes the OpenMetrics
 * text of samples with timestamps in [a, b) (ms), `# EOF` included.
 */
export async function backfill(dataDir: string, fromMs: number, toMs: number, writeBlock: (file: string, fromMs: number, toMs: number) => Promise<void>): Promise<{ blocks: number; bytes: number; promtoolSeconds: number }> {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, '..', `backfill-${process.pid}.om`);
  let blocks = 0;
  let bytes = 0;
  let promtoolSeconds = 0;
  try {
    for (let a = Math.floor(fromMs / BLOCK_MS) * BLOCK_MS; a < toMs; a += BLOCK_MS) {
      await writeBlock(file, Math.max(a, fromMs), Math.min(a + BLOCK_MS, toMs));
      bytes += fs.statSync(file).size;
      const t0 = performance.now();
      await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', file, dataDir], { maxBuffer: 1 << 24 });
      promtoolSeconds += (performance.now() - t0) / 1000;
      blocks++;
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
  return { blocks, bytes, promtoolSeconds };
}

/**
 * Resolves once the server has stopped compacting the backfilled 2-hour blocks into larger ones
 * (which it does in its first minutes, as a long-running server would have done long ago): its
 * first compaction check runs a minute after start, so no change for 75 s after that.
 */
export async function compactionSettled(metricsUrl: string, timeoutMs = 30 * 60_000): Promise<number> {
  const t0 = performance.now();
  let last = -1;
  let stableSince = t0;
  for (;;) {
    const text = await (await fetch(metricsUrl)).text();
    const done = Number(/^prometheus_tsdb_compactions_total (\S+)$/m.exec(text)?.[1] ?? NaN);
    if (done !== last) {
      last = done;
      stableSince = performance.now();
    }
    const now = performance.now();
    if (now - t0 > 65_000 && now - stableSince > 75_000) return (now - t0) / 1000;
    if (now - t0 > timeoutMs) throw new Error(`Prometheus was still compacting after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 5_000));
  }
}
