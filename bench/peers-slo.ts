// SLO evaluation against Prometheus (issue 21 item 3, the cost half; the time to a page is
// peers-burst.ts). N SLOs (burnwatch's default availability SLO: 99.9% over a rolling 30 d,
// the Workbook's burn-rate rules) over 30 days of minute data, 1,000 requests a minute each:
// - burnwatch: the minute rollups written straight into its SLO store (lib.ts fillRollups, as
//   bench/slo-evaluation.ts), then SloEngine.evaluate — every window, the alert state machine and
//   its records — timed, with the process's CPU (DuckDB's threads included).
// - Prometheus: the same minutes as promhttp counters (`http_requests_total{service,code}`, one
//   sample a minute, cumulative) plus the history of Sloth's 5-minute SLI recording rule (its
//   30-day rule averages that series, so a month of it must exist), backfilled with promtool; the
//   same SLOs as Sloth-style rules (sloth-rules.ts) evaluated by Debian's Prometheus at the
//   evaluation interval of Debian's shipped prometheus.yml (15 s). Rule evaluation time per cycle
//   is what Prometheus reports itself (prometheus_rule_group_duration_seconds), beside its CPU.
// The data is written to end BENCH_PEERS_SLO_LEAD_MINUTES after the start, so that Prometheus —
// which evaluates at the wall clock, after the backfill — still sees full windows; burnwatch
// evaluates at that same end.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, type TimeSeries } from '../lambda/storage/prometheus-remote-write.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import { DuckDbSloStore, SLO_DUCKDB_FILE_NAME } from '../lambda/slo/duckdb-store.ts';
import { SloEngine } from '../lambda/slo/engine.ts';
import { BUILTIN_DEFAULTS, defaultSlos, type SloDefinition } from '../lambda/slo/definitions.ts';
import { sliKey } from '../lambda/slo/sli.ts';
import { startPrometheus, type PrometheusServer } from '../test/lib/prometheus-server.ts';
import { tempDir } from '../test/lib/processes.ts';
import { cpuSeconds, fillRollups } from './lib.ts';
import { backfill, compactionSettled } from './prometheus-backfill.ts';
import { REQUESTS_METRIC, SERVICE_LABEL, slothLabels, slothRulesYaml } from './sloth-rules.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const DAYS = Number(process.env.BENCH_PEERS_SLO_DAYS ?? 30);
const TENANT = 'bench';
const SLOS = Number(process.env.BENCH_PEERS_SLOS ?? 1000);
const LEAD_MS = Number(process.env.BENCH_PEERS_SLO_LEAD_MINUTES ?? 120) * MIN;
/** Debian's /etc/prometheus/prometheus.yml: `evaluation_interval: 15s`. */
export const EVALUATION_INTERVAL_S = 15;
const RUNS = 3;
const CYCLES = 4;

/** burnwatch's default availability SLO for each of n services. */
export function availabilitySlos(n: number): SloDefinition[] {
  return Array.from({ length: n }, (_, i) => defaultSlos(`svc-${i}`, { ...BUILTIN_DEFAULTS, latency: null })[0]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface BurnwatchResult {
  ms: number;
  cpuMs: number;
  meanBudgetRemaining: number;
}

async function burnwatchEvaluation(file: string, defs: SloDefinition[], nowMs: number): Promise<BurnwatchResult> {
  const sloStore = await DuckDbSloStore.open(file);
  const metricStore = await DuckDbStore.open({ path: ':memory:' });
  try {
    const engine = new SloEngine({ metricStore, sloStore, log: () => {} });
    await engine.evaluate(TENANT, nowMs, defs); // warm-up (and the first alert records)
    const wall: number[] = [];
    const cpu: number[] = [];
    let budgets: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const { slos } = await engine.evaluate(TENANT, nowMs + i, defs);
      wall.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      if (slos.length !== defs.length || slos.some((s) => s.total === 0)) throw new Error('burnwatch evaluation lost SLOs');
      budgets = slos.map((s) => s.budget_remaining ?? NaN);
    }
    return { ms: median(wall), cpuMs: median(cpu), meanBudgetRemaining: budgets.reduce((a, b) => a + b, 0) / budgets.length };
  } finally {
    await sloStore.close();
    await metricStore.close();
  }
}

/**
 * The store's minute rollups as Prometheus samples, held in a DuckDB table: a sample at each
 * minute's end, the counters as promhttp would have them (cumulative good and bad), and what
 * Sloth's ratio_rate5m rule records there — rate()s over 5 minutes of one-minute samples see the
 * last 4 minutes' increase, and their extrapolation cancels in the ratio.
 */
export class RollupSamples {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(file: string, defs: SloDefinition[]): Promise<RollupSamples> {
    const instance = await DuckDBInstance.create(file);
    const conn = await instance.connect();
    await conn.run('CREATE TEMP TABLE svc (k VARCHAR, service VARCHAR, sloth_id VARCHAR, sloth_slo VARCHAR)');
    const app = await conn.createAppender('svc', 'main', 'temp');
    for (const d of defs) {
      const ids = slothLabels(d);
      for (const v of [sliKey(d, MIN), d.service, ids.sloth_id, ids.sloth_slo]) app.appendVarchar(v);
      app.endRow();
    }
    app.flushSync();
    app.closeSync();
    await conn.run(`CREATE TEMP TABLE om AS
      SELECT s.service, s.sloth_id, s.sloth_slo, r.bucket_ms + ${MIN} AS t,
             sum(r.good) OVER w AS good, sum(r.total - r.good) OVER w AS bad,
             sum(r.total - r.good) OVER w4 / sum(r.total) OVER w4 AS ratio
        FROM slo_rollups r JOIN svc s ON r.sli_key = s.k
       WHERE r.tenant = '${TENANT}'
      WINDOW w AS (PARTITION BY r.sli_key ORDER BY r.bucket_ms),
             w4 AS (PARTITION BY r.sli_key ORDER BY r.bucket_ms ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
      ORDER BY t`);
    return new RollupSamples(instance, conn);
  }

  /**
   * Samples with timestamps in [fromMs, toMs) as TSDB blocks in `dataDir`, through promtool.
   * `targetLabels` (e.g. `job="x",instance="y"`) go on the counters, as a scrape would put them.
   */
  toBlocks(dataDir: string, fromMs: number, toMs: number, targetLabels = '') {
    return backfill(dataDir, fromMs, toMs, async (out, a, b) => {
      const where = `FROM om WHERE t >= ${a} AND t < ${b}`;
      const counter = (code: string, col: string) =>
        `SELECT 1 AS o, service AS s, '${code}' AS c, t, '${REQUESTS_METRIC}{${targetLabels ? `${targetLabels},` : ''}${SERVICE_LABEL}="' || service || '",code="${code}"} ' || ${col} || ' ' || (t // 1000) AS line ${where}`;
      // The CSV writer is asked for no quoting (and a delimiter no line has): the lines go out as they are.
      await this.conn.run(`COPY (SELECT line FROM (
          SELECT 0 AS o, '' AS s, '' AS c, 0 AS t, '# TYPE ${REQUESTS_METRIC.replace(/_total$/, '')} counter' AS line
          UNION ALL ${counter('200', 'good')}
          UNION ALL ${counter('500', 'bad')}
          UNION ALL SELECT 2, '', '', 0, '# TYPE slo:sli_error:ratio_rate5m gauge'
          UNION ALL SELECT 3, service, '', t, 'slo:sli_error:ratio_rate5m{sloth_id="' || sloth_id || '",sloth_service="' || service || '",sloth_slo="' || sloth_slo || '",sloth_window="5m"} ' || ratio || ' ' || (t // 1000) ${where}
          UNION ALL SELECT 4, '', '', 0, '# EOF'
        ) ORDER BY o, s, c, t) TO '${out}' (FORMAT csv, HEADER false, DELIMITER '\u0001', QUOTE '')`);
    });
  }

  /** Each service's counters at the last sample before `ms`. */
  async countersBefore(ms: number): Promise<Map<string, { good: number; bad: number }>> {
    const rows = (await this.conn.runAndReadAll(`SELECT service, arg_max(good, t), arg_max(bad, t) FROM om WHERE t < ${ms} GROUP BY service`)).getRows();
    return new Map(rows.map(([service, good, bad]) => [String(service), { good: Number(good), bad: Number(bad) }]));
  }

  /** The counters' samples in [fromMs, toMs), for remote write (the recorded ratio is the live rule's job from here on). */
  async counters(fromMs: number, toMs: number): Promise<TimeSeries[]> {
    const rows = (await this.conn.runAndReadAll(`SELECT service, t, good, bad FROM om WHERE t >= ${fromMs} AND t < ${toMs} ORDER BY service, t`)).getRows();
    const series = new Map<string, TimeSeries>();
    for (const [service, t, good, bad] of rows) {
      for (const [code, value] of [['200', good], ['500', bad]] as const) {
        const key = `${service}\0${code}`;
        let s = series.get(key);
        if (!s) series.set(key, (s = { labels: { __name__: REQUESTS_METRIC, [SERVICE_LABEL]: String(service), code }, samples: [] }));
        s.samples.push({ value: Number(value), timestampMs: Number(t) });
      }
    }
    return [...series.values()];
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/**
 * Sends each minute's counter samples once the wall clock has passed it (as a scrape would take
 * them), starting at `fromMs`: the history after the backfilled blocks, then live.
 */
function feed(server: PrometheusServer, samples: RollupSamples, fromMs: number): { stop(): Promise<void> } {
  let next = fromMs;
  let stopped = false;
  const send = async () => {
    const to = Math.floor(Date.now() / MIN) * MIN + 1;
    if (to <= next) return;
    const series = await samples.counters(next, to);
    const res = await fetch(server.remoteWriteUrl, { method: 'POST', body: Buffer.from(encodeWriteRequest(series)), headers: REMOTE_WRITE_HEADERS });
    if (res.status >= 300) throw new Error(`Prometheus refused the live samples: ${res.status} ${await res.text()}`);
    next = to;
  };
  let failure: unknown;
  const loop = (async () => {
    while (!stopped) {
      await send().catch((err) => {
        failure ??= err;
      });
      await new Promise((r) => setTimeout(r, 5_000));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      if (failure) throw failure;
    },
  };
}

/** `name{labels} value` lines of a /metrics text whose name is `name`, summed. */
function sumOf(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function selfMetrics(server: PrometheusServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

async function instant(server: PrometheusServer, query: string): Promise<number> {
  const res = await fetch(`${server.url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; error?: string; data: { result: { value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`Prometheus: ${query}: ${body.error}`);
  return Number(body.data.result[0]?.value[1] ?? NaN);
}

async function ruleErrors(server: PrometheusServer): Promise<string> {
  const body = (await (await fetch(`${server.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
  const bad = body.data.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok');
  return bad.length ? bad.slice(0, 3).map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`).join('; ') : 'none';
}

interface PrometheusResult {
  version: string;
  groups: number;
  rules: number;
  /** Σ over groups of their evaluation time, per cycle (Prometheus's own figure). */
  evalSecondsPerCycle: number;
  /** The slowest group's last evaluation. */
  slowestGroupSeconds: number;
  cpuSecondsPerCycle: number;
  /** Group iterations missed while measuring, and since the server started (its compaction included). */
  missed: number;
  missedSinceStart: number;
  rssMiB: number;
  meanBudgetRemaining: number;
  compactionSeconds: number;
}

async function prometheusEvaluation(dataDir: string, rulesFile: string, n: number, rules: number, samples: RollupSamples, liveFromMs: number): Promise<PrometheusResult> {
  const t0 = performance.now();
  // Out-of-order samples refused (Prometheus's default); the receiver on for the live minutes.
  const server = await startPrometheus({ dataDir, outOfOrderWindow: null, nativeHistograms: false, rules: { files: [rulesFile], evaluationInterval: `${EVALUATION_INTERVAL_S}s` } });
  const feeder = feed(server, samples, liveFromMs);
  try {
    await compactionSettled(`${server.url}/metrics`);
    const compactionSeconds = (performance.now() - t0) / 1000;
    const before = await selfMetrics(server);
    const cpu0 = cpuSeconds(server.pid);
    await new Promise((r) => setTimeout(r, CYCLES * EVALUATION_INTERVAL_S * 1000));
    const after = await selfMetrics(server);
    const cpu1 = cpuSeconds(server.pid);
    const groups = (await fetch(`${server.url}/api/v1/rules`).then((r) => r.json()) as { data: { groups: unknown[] } }).data.groups.length;
    const delta = (name: string) => sumOf(after, name) - sumOf(before, name);
    const cycles = delta('prometheus_rule_group_iterations_total') / groups;
    const slowest = Math.max(...after.split('\n').filter((l) => l.startsWith('prometheus_rule_group_last_duration_seconds{')).map((l) => Number(l.slice(l.lastIndexOf(' ') + 1))));
    // Every SLO's 3-day and 30-day SLI must exist: rules that matched nothing would be cheap.
    for (const w of ['3d', '30d']) {
      const count = await instant(server, `count(slo:sli_error:ratio_rate${w})`);
      if (count !== n) throw new Error(`Prometheus has ${count} slo:sli_error:ratio_rate${w} series, expected ${n}; rule errors: ${await ruleErrors(server)}`);
    }
    const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'));
    return {
      version: server.version,
      groups,
      rules,
      evalSecondsPerCycle: delta('prometheus_rule_group_duration_seconds_sum') / cycles,
      slowestGroupSeconds: slowest,
      cpuSecondsPerCycle: (cpu1 - cpu0) / cycles,
      missed: delta('prometheus_rule_group_iterations_missed_total'),
      missedSinceStart: sumOf(after, 'prometheus_rule_group_iterations_missed_total'),
      rssMiB: Number(rss?.[1] ?? 0) / 1024,
      meanBudgetRemaining: await instant(server, 'avg(slo:period_error_budget_remaining:ratio)'),
      compactionSeconds,
    };
  } finally {
    await feeder.stop();
    await server.stop();
  }
}

export async function run(): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(`peers: ${line}`);
    console.log(`peers: ${line}`);
  };
  const dir = tempDir('bw-peers-slo');
  try {
    const defs = availabilitySlos(SLOS);
    const endMs = Math.floor((Date.now() + LEAD_MS) / MIN) * MIN;
    const fromMs = endMs - DAYS * DAY;
    const file = path.join(dir, SLO_DUCKDB_FILE_NAME);
    await (await DuckDbSloStore.open(file)).close(); // creates the schema
    const rows = await fillRollups(file, TENANT, defs.map((d) => sliKey(d, MIN)), fromMs, endMs);
    const bw = await burnwatchEvaluation(file, defs, endMs);
    say(`slo: burnwatch evaluation of ${SLOS} SLOs × ${DAYS} d (${(rows / 1e6).toFixed(1)} M minute rollups): ${bw.ms.toFixed(0)} ms wall, ${bw.cpuMs.toFixed(0)} ms CPU (median of ${RUNS}); mean budget remaining ${bw.meanBudgetRemaining.toFixed(3)}`);
    const samples = await RollupSamples.open(file, defs);
    try {
      // Blocks up to this minute; the minutes after it go in by remote write, in order, as they pass.
      const cutMs = Math.floor(Date.now() / MIN) * MIN;
      const t0 = performance.now();
      const dataDir = path.join(dir, 'prometheus-data');
      const blocks = await samples.toBlocks(dataDir, fromMs + MIN, cutMs);
      say(`slo: to Prometheus: ≈${(rows * 3 / 1e6).toFixed(0)} M samples in ${blocks.blocks} 2-h OpenMetrics files (${(blocks.bytes / 2 ** 30).toFixed(1)} GiB), promtool ${blocks.promtoolSeconds.toFixed(0)} s, ${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
      const rulesFile = path.join(dir, 'sloth-rules.yml');
      fs.writeFileSync(rulesFile, slothRulesYaml(defs));
      const ruleCount = (fs.readFileSync(rulesFile, 'utf8').match(/^ {6}- (record|alert):/gm) ?? []).length;
      const prom = await prometheusEvaluation(dataDir, rulesFile, SLOS, ruleCount, samples, cutMs);
      if (Date.now() > endMs) throw new Error(`the measurement ran past the end of the data (${LEAD_MS / MIN} min after the start): raise BENCH_PEERS_SLO_LEAD_MINUTES`);
      say(`slo: Prometheus ${prom.version}, ${prom.groups} Sloth-style groups (${prom.rules} rules) every ${EVALUATION_INTERVAL_S} s: ${(prom.evalSecondsPerCycle * 1000).toFixed(0)} ms of rule evaluation per cycle (Σ prometheus_rule_group_duration_seconds), slowest group ${(prom.slowestGroupSeconds * 1000).toFixed(0)} ms, ${(prom.cpuSecondsPerCycle * 1000).toFixed(0)} ms CPU per cycle, ${prom.missed} iterations missed while measuring (${prom.missedSinceStart} since start), RSS ${prom.rssMiB.toFixed(0)} MiB; mean budget remaining ${prom.meanBudgetRemaining.toFixed(3)} (compaction settled after ${prom.compactionSeconds.toFixed(0)} s)`);
      say(`slo: Prometheus/burnwatch evaluation time per cycle ×${(prom.evalSecondsPerCycle * 1000 / bw.ms).toFixed(1)}, CPU ×${(prom.cpuSecondsPerCycle * 1000 / bw.cpuMs).toFixed(1)}`);
    } finally {
      samples.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}
