// `npm run bench [NAME...]`: every benchmark (or the named ones), each printing ratios
// measured side by side in one run, then a summary with the command that produced it.
import * as agentOverhead from './agent-overhead.ts';
import * as redPath from './red-path.ts';
import * as agentCollectors from './agent-collectors.ts';
import * as agentIdle from './agent-idle.ts';
import * as sloEvaluation from './slo-evaluation.ts';
import * as kernelSignals from './kernel-signals.ts';
import * as goProbes from './go-probes.ts';
import * as http2Probes from './http2-probes.ts';
import * as hints from './hints.ts';
import * as dashboard from './dashboard.ts';
import * as prometheus from './prometheus.ts';
import * as amp from './amp.ts';
import * as peers from './peers.ts';
import * as syscallL7 from './syscall-l7.ts';
import * as syscallL7Db from './syscall-l7-db.ts';
import * as remoteWrite from './remote-write.ts';

const BENCHMARKS: Record<string, { run(): Promise<string[]> }> = {
  'agent-overhead': agentOverhead,
  'red-path': redPath,
  'agent-collectors': agentCollectors,
  'agent-idle': agentIdle,
  'slo-evaluation': sloEvaluation,
  'kernel-signals': kernelSignals,
  'go-probes': goProbes,
  'http2-probes': http2Probes,
  hints,
  dashboard,
  prometheus,
  amp,
  peers,
  'syscall-l7': syscallL7,
  'syscall-l7-db': syscallL7Db,
  'remote-write': remoteWrite,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !(n in BENCHMARKS));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; have: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}
const summary: string[] = [];
for (const [name, bench] of Object.entries(BENCHMARKS)) {
  if (wanted.length && !wanted.includes(name)) continue;
  console.log(`\n== ${name}`);
  summary.push(`== ${name}`, ...(await bench.run()));
}
console.log(`\nnpm run bench${wanted.length ? ` -- ${wanted.join(' ')}` : ''}`);
for (const line of summary) console.log(line);
