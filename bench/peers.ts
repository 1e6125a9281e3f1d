// `npm run bench -- peers`: burnwatch beside what users would pick instead, in one run on this
// machine (issue 21; method and tables in docs/benchmarks.md). BENCH_PEERS names the parts to run
// (comma-separated: requests, ingest, slo, burst, query); all of them by default.
import * as burst from './peers-burst.ts';
import * as ingest from './peers-ingest.ts';
import * as query from './peers-query.ts';
import * as requests from './peers-requests.ts';
import * as slo from './peers-slo.ts';

const PARTS: Record<string, { run(): Promise<string[]> }> = { requests, ingest, slo, burst, query };

export async function run(): Promise<string[]> {
  const wanted = process.env.BENCH_PEERS ? process.env.BENCH_PEERS.split(',') : Object.keys(PARTS);
  const unknown = wanted.filter((p) => !(p in PARTS));
  if (unknown.length) throw new Error(`BENCH_PEERS: unknown part(s) ${unknown.join(', ')}; have ${Object.keys(PARTS).join(', ')}`);
  const lines: string[] = [];
  for (const part of wanted) lines.push(...(await PARTS[part].run()));
  return lines;
}
