// SLO evaluation cost: one evaluation (every window of every SLO, plus the alert state machine)
// over 30 days of minute rollups (and their hourly sums), for 100, 1,000 and 5,000 SLOs, in one
// run. Rollups are generated inside DuckDB (time-ordered, as the evaluator writes them); the
// figure that matters is how the time grows with the number of SLOs (the ratios). Not included:
// turning raw points into the last minutes' rollups, which scales with traffic, not SLO count.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import { DuckDbSloStore, SLO_DUCKDB_FILE_NAME } from '../lambda/slo/duckdb-store.ts';
import { SloEngine } from '../lambda/slo/engine.ts';
import { DEFAULT_SLI_METRICS, WORKBOOK_RULES, type SloDefinition } from '../lambda/slo/definitions.ts';
import { sliKey } from '../lambda/slo/sli.ts';
import { tempDir } from '../test/lib/processes.ts';
import { fillRollups } from './lib.ts';

const MIN = 60_000;
const DAYS = 30;
const TENANT = 'bench';
const SIZES = (process.env.BENCH_SLOS ?? '100,1000,5000').split(',').map(Number);
const RUNS = 3;

function definitions(n: number): SloDefinition[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `svc-${i}:availability`,
    service: `svc-${i}`,
    kind: 'availability' as const,
    objective: 0.999,
    metrics: DEFAULT_SLI_METRICS,
    filter: {},
    window: { kind: 'rolling' as const, ms: DAYS * 86_400_000 },
    rules: WORKBOOK_RULES,
    source: 'default' as const,
  }));
}


interface Result {
  n: number;
  /** The whole evaluation: figures for every window + alert state machine + storing alert records. */
  ms: number;
  /** Figures alone (window sums and reports), as GET /v1/slos computes them. */
  figuresMs: number;
  rows: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(n: number): Promise<Result> {
  const dir = tempDir('bw-bench-slo');
  const file = path.join(dir, SLO_DUCKDB_FILE_NAME);
  const nowMs = Math.floor(Date.now() / MIN) * MIN;
  const defs = definitions(n);
  await (await DuckDbSloStore.open(file)).close(); // creates the schema
  const rows = await fillRollups(file, TENANT, defs.map((d) => sliKey(d, MIN)), nowMs - DAYS * 86_400_000, nowMs);
  const sloStore = await DuckDbSloStore.open(file);
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  try {
    const engine = new SloEngine({ metricStore, sloStore, log: () => {} });
    await engine.evaluate(TENANT, nowMs, defs); // warm-up (and the first alert records)
    const times: number[] = [];
    const figures: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const { slos } = await engine.evaluate(TENANT, nowMs + i * MIN, defs);
      const t1 = performance.now();
      await engine.statuses(TENANT, nowMs + i * MIN, { refresh: false, slos: defs });
      figures.push(performance.now() - t1);
      times.push(t1 - t0);
      if (slos.length !== n || slos.some((s) => s.total === 0)) throw new Error('evaluation lost SLOs');
    }
    return { n, ms: median(times), figuresMs: median(figures), rows };
  } finally {
    await sloStore.close();
    await metricStore.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<string[]> {
  const results: Result[] = [];
  for (const n of SIZES) {
    const r = await measure(n);
    console.log(`${n} SLOs, ${(r.rows / 1e6).toFixed(1)} M minute rollups: ${r.ms.toFixed(0)} ms per evaluation, ${r.figuresMs.toFixed(0)} ms of it figures (median of ${RUNS})`);
    results.push(r);
  }
  const lines = results.map(
    (r) => `slo-evaluation: ${r.n} SLOs × ${DAYS} d of minute rollups: ${r.ms.toFixed(0)} ms per evaluation (${(r.ms / r.n).toFixed(2)} ms per SLO; figures alone ${r.figuresMs.toFixed(0)} ms)`,
  );
  for (let i = 1; i < results.length; i++) {
    const a = results[i - 1];
    const b = results[i];
    lines.push(`slo-evaluation: ${b.n}/${a.n} SLOs (×${(b.n / a.n).toFixed(0)}) → time ×${(b.ms / a.ms).toFixed(2)}`);
  }
  return lines;
}
