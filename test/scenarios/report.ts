// `node --import tsx test/scenarios/report.ts RUN.json [RERUN.json...]`: the table and the bar
// from the outcomes `npm run scenarios -- --json FILE` saved; a later file's row replaces an
// earlier one of the same scenario (a scenario run again after a change), in the suite's order.
import fs from 'node:fs';
import type { Outcome } from './runner.ts';
import { SCENARIOS } from './scenarios.ts';
import { renderTable, verdict } from './table.ts';

const byName = new Map<string, Outcome>();
for (const file of process.argv.slice(2)) for (const o of JSON.parse(fs.readFileSync(file, 'utf8')) as Outcome[]) byName.set(o.scenario, o);
const outcomes = SCENARIOS.map((s) => byName.get(s.name)).filter((o): o is Outcome => o !== undefined);
console.log(renderTable(outcomes));
console.log('');
for (const l of verdict(outcomes).lines) console.log(`- ${l}`);
