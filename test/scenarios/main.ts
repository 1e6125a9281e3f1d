// `npm run scenarios [-- NAME... --baseline S --fault S --json FILE --keep DIR --stop-when-right]`:
// the fault-injection suite of issue 15, one scenario at a time (each starts its own real world),
// then the table, the bar and the calibration. Needs root (BPF, nft, cgroups, loop devices).
// scenarios.test.ts runs its CI subset through this, one process per scenario.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { runScenario, type Outcome } from './runner.ts';
import { SCENARIOS } from './scenarios.ts';
import { renderTable, verdict } from './table.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { baseline: { type: 'string', default: '100' }, fault: { type: 'string', default: '90' }, json: { type: 'string' }, keep: { type: 'string' }, 'stop-when-right': { type: 'boolean', default: false } },
});
const unknown = positionals.filter((n) => !SCENARIOS.some((s) => s.name === n));
if (unknown.length) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; have: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const baselineS = Number(values.baseline);
const faultS = Number(values.fault);
const chosen = SCENARIOS.filter((s) => positionals.length === 0 || positionals.includes(s.name));
const started = new Date();
const outcomes: Outcome[] = [];
// SIGTERM (scenarios.test.ts sends it when a test times out) ends the run early but still stops
// its world: the services and servers would outlive a SIGKILL.
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
for (const s of chosen) {
  if (stop.signal.aborted) break;
  const o = await runScenario(s, { baselineS, faultS, stopWhenRight: values['stop-when-right'], signal: stop.signal, ...(values.keep ? { keepDir: values.keep } : {}), log: (l) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${l}`) });
  outcomes.push(o);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(outcomes, null, 2));
}
const v = verdict(outcomes);
const args = process.argv.slice(2).join(' ');
console.log(`\nScenario suite, ${started.toISOString().slice(0, 16)}Z, \`npm run scenarios${args ? ` -- ${args}` : ''}\` (baseline ${baselineS} s, fault ${faultS} s, ${chosen.length} scenario(s))\n`);
console.log(renderTable(outcomes));
console.log('');
for (const l of v.lines) console.log(`- ${l}`);
for (const o of outcomes.filter((x) => x.error)) console.log(`\n${o.scenario} failed to run: ${o.error}`);
