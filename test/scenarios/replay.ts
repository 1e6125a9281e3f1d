// `node --import tsx test/scenarios/replay.ts DIR [NAME...]`: asks the current engine the
// same questions again over the data kept by `npm run scenarios -- --keep DIR`, and prints the
// table. For tuning detectors without injecting every fault again; the numbers that count come
// from live runs (a replay sees up to one agent interval more data than the live question did).
import fs from 'node:fs';
import path from 'node:path';
import { computeHints } from '../../lambda/hints/engine.ts';
import { LOCAL_TENANT } from '../../lambda/local/server.ts';
import { DUCKDB_FILE_NAME, DuckDbStore } from '../../lambda/storage/duckdb.ts';
import { DuckDbSpanStore, SPANS_DUCKDB_FILE_NAME } from '../../lambda/storage/duckdb-spans.ts';
import { emptyOutcome, judge, windowFromMs, type Manifest, type Outcome } from './runner.ts';
import { SCENARIOS } from './scenarios.ts';
import { renderTable, verdict } from './table.ts';

const [dir, ...names] = process.argv.slice(2);
if (!dir) {
  console.error('usage: replay.ts DIR [SCENARIO...]');
  process.exit(2);
}
const outcomes: Outcome[] = [];
for (const s of SCENARIOS) {
  const manifestFile = path.join(dir, s.name, 'manifest.json');
  if ((names.length && !names.includes(s.name)) || !fs.existsSync(manifestFile)) continue;
  const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  const gw = path.join(dir, s.name, 'gateway');
  const metricStore = await DuckDbStore.open({ path: path.join(gw, DUCKDB_FILE_NAME) });
  const spanStore = await DuckDbSpanStore.open(path.join(gw, SPANS_DUCKDB_FILE_NAME));
  const o = emptyOutcome(s);
  try {
    for (const at of m.askedAtMs) {
      const report = await computeHints({ metricStore, spanStore }, LOCAL_TENANT, m.cast.frontend, windowFromMs(m.faultAtMs), at, at);
      judge(s, m.cast, report, o, Math.round((at - m.faultAtMs) / 1000), (l) => console.error(l));
    }
  } finally {
    await metricStore.close();
    await spanStore.close();
  }
  outcomes.push(o);
}
console.log(renderTable(outcomes));
for (const l of verdict(outcomes).lines) console.log(`- ${l}`);
