// `npm run bench -- peers`: burnwatch beside what users would pick instead, in one run on this
// machine (issue 21 items 1 and 2; method and tables in docs/benchmarks.md).
// BENCH_PEERS=requests or BENCH_PEERS=ingest runs one half.
import * as ingest from './peers-ingest.ts';
import * as requests from './peers-requests.ts';

export async function run(): Promise<string[]> {
  const only = process.env.BENCH_PEERS;
  return [...(only !== 'ingest' ? await requests.run() : []), ...(only !== 'requests' ? await ingest.run() : [])];
}
