// `npm run bench -- peers`: burnwatch beside what users would pick instead, in one run on this
// machine (issue 21 items 1 and 2; method and tables in docs/benchmarks.md).
import * as requests from './peers-requests.ts';

export async function run(): Promise<string[]> {
  return [...(await requests.run())];
}
