// The SLO engine: which SLOs are in force, per-bucket rollups kept up to date, SLI / burn rate /
// budget over the standard windows, the alert state machine and notifications. The gateway's
// API reads through it, `burnwatch up` runs `cycle` every minute, and the scheduled Lambda calls
// runEvaluationCycle: one module for all three (design §3.5).

import { formatDuration } from '../../common/duration.ts';
import { ApiError } from '../errors.ts';
import { alertWindow, hintsForAlertOrReason, withHints, type AlertHints } from '../hints/alert.ts';
import type { Hint, HintStores } from '../hints/types.ts';
import type { AlertHintsMeta, AlertState, AlertTransition, BurnRates, Notifier } from '../notify/types.ts';
import { servicesSeen } from '../query/services.ts';
import type { LateWrite, MetricPoint, MetricStore } from '../storage/types.ts';
import { isSilent, stepAlert, stepNoData, DEFAULT_HYSTERESIS } from './alerts.ts';
import { BUILTIN_DEFAULTS, DEFAULT_SLI_METRICS, NO_DATA_RULE, sloSet, type BurnRateRule, type SloDefaults, type SloDefinition, type SloWindow } from './definitions.ts';
import { budget, timeToExhaustionMs, windowFigures, windowLabel, windowPeriodMs, windowStartMs, type WindowFigures } from './math.ts';
import { TimeBudget } from './budget.ts';
import { runRollups, sliKey, type RollupJob, type RollupRunResult } from './sli.ts';
import { hintWindow, hintWindowReadFromMs } from './hint-window.ts';
import { loadSpecDir, parseSpecText, SpecError } from './spec.ts';
import type { AlertRecord, ProbeRequest, RollupCoverage, SeriesPoint, SloStore, WindowSum } from './store.ts';
import { desiredProbes } from './probes.ts';
import type { DesiredProbe } from '../../common/probes.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The windows every SLO reports, as the API names them. */
export const STANDARD_WINDOWS: readonly [keyof BurnRates, number][] = [
  ['5m', 5 * MINUTE],
  ['30m', 30 * MINUTE],
  ['1h', HOUR],
  ['6h', 6 * HOUR],
  ['1d', DAY],
  ['3d', 3 * DAY],
];

/** The burn rate time-to-exhaustion is projected at. */
const EXHAUSTION_WINDOW: keyof BurnRates = '1h';

export interface SloEngineOptions {
  metricStore: MetricStore;
  sloStore: SloStore;
  notifiers?: readonly Notifier[];
  /** OpenSLO files read at every cycle (edits apply without a restart). */
  sloDir?: string;
  /** Defaults for services without their own SLOs (a SLODefaults document in sloDir overrides them). */
  defaults?: SloDefaults;
  /** Rollup bucket width (default 1 minute; tests use seconds to run the whole story quickly). */
  resolutionMs?: number;
  /** How far back each refresh recomputes, for data that arrives late (default 10 buckets). */
  lateMs?: number;
  /** Hysteresis of the alert rule (default 0.1: clear below 90% of the factor). */
  hysteresis?: number;
  /**
   * How long an SLO that had requests in its window may go without any before its `no_data`
   * alert fires (default 10 buckets: 10 minutes at the default resolution; 0 turns it off).
   */
  noDataAfterMs?: number;
  /**
   * Root-cause hints for alerts as they fire (issue 15): with stores, the top 3 are computed here
   * and stored with the firing transition before it is notified (lambda/hints/alert.ts); with
   * 'deferred', only the window is chosen (hints_meta 'pending') for the AWS hints function to
   * compute them; absent, transitions carry none.
   */
  hints?: HintStores | 'deferred';
  /** How long a firing alert waits for its hints before it goes out without them (default 30 s). */
  hintsTimeoutMs?: number;
  /**
   * Wall-clock time (on `clock`) by which refreshes stop starting rollup chunks — a Lambda's own
   * deadline less what evaluating needs; a backfill left unfinished resumes at the next refresh
   * from its saved watermark. Absent: no limit (the local stack backfills in one go).
   */
  deadlineMs?: number;
  /** The wall clock `deadlineMs` is read on (default Date.now). */
  clock?: () => number;
  /** Rollup chunks read at once during a backfill (default 4). */
  backfillConcurrency?: number;
  /**
   * false: reads (statuses, detail) never write rollups and answer as of the end of the stored
   * rollups (`evaluated_at`) — on AWS only the evaluator writes them, the gateway reads. Default
   * true: a read brings rollups up to now first (the local stack, one process).
   */
  refreshOnRead?: boolean;
  log?: (line: string) => void;
}

export interface WindowReport extends WindowFigures {
  window: string;
}

export interface SloReport {
  // The contract of the skeleton's GET /v1/slos list:
  id: string;
  service: string;
  kind: SloDefinition['kind'];
  objective: number;
  sli: number | null;
  budget_remaining: number | null;
  // Added by the engine:
  /**
   * 'no_data' (no requests in the window), 'unknown' (requests, but none whose latency the
   * histogram buckets can tell: sli_unknown_reason), 'silent' (requests in the window but none
   * lately: its `no_data` alert fires; last_seen), 'ok', 'burning' (an alert firing) or
   * 'exhausted' (budget ≤ 0).
   */
  status: 'no_data' | 'unknown' | 'silent' | 'ok' | 'burning' | 'exhausted';
  window: string;
  window_start: string;
  /** Seconds of the window since its first bucket with requests (a young SLO has seen little of it); null without any. */
  window_seen_seconds?: number | null;
  /**
   * Read-only engines (refreshOnRead false): the time the figures stand at — the end of the rollups
   * the evaluator stored, never after the request — or null when it has not evaluated yet.
   */
  evaluated_at?: string | null;
  good: number;
  total: number;
  bad: number;
  budget_remaining_requests: number;
  budget_allowed_bad_requests: number;
  burn_rate: number | null;
  burn_rates: BurnRates;
  windows: WindowReport[];
  /** At the 1h burn rate; null when nothing burns or no data; 0 when already spent. */
  time_to_exhaustion_seconds: number | null;
  /** While the no-data alert is active: the start of the last minute with requests. */
  last_seen?: string | null;
  /**
   * Set when the stored rollups do not reach back to the window start (they are backfilled on
   * every refresh, so only a read without one can see this): the figures cover only from here.
   */
  covered_from?: string;
  /**
   * Set while a backfill is under way (the rollups end more than the late-data margin before
   * now): the figures stop here, and the SLO's alerts wait until the rollups reach now.
   */
  covered_to?: string;
  threshold_seconds?: number;
  effective_threshold_seconds?: number;
  /** Latency: requests in the window whose buckets cannot answer the threshold; in neither good nor total. */
  unknown?: number;
  /** Why (one point's reason: the bucket that straddles the threshold, and the fix at the sender). */
  sli_unknown_reason?: string;
  metrics: readonly string[];
  filter: SloDefinition['filter'];
  source: SloDefinition['source'];
  file?: string;
  display_name?: string;
  alerts: { id: string; rule: string; severity: string; state: AlertState }[];
}

export interface SloDetail extends SloReport {
  rules: { name: string; severity: string; factor: number; long_window: string; short_window: string; for: string }[];
  /** Budget remaining from the window start up to each step's end (cumulative), for a burn-down chart. */
  burn_down: { t: number; budget_remaining: number | null; good: number; total: number }[];
}

export interface AlertView {
  id: string;
  slo_id: string;
  service: string;
  severity: 'page' | 'ticket';
  state: AlertState;
  since: string;
  burn_rates: { '5m': number | null; '30m': number | null; '1h': number | null; '6h': number | null; '3d': number | null };
  budget_remaining: number | null;
  /** The top hints stored when the episode fired (what was said then); [] before, or without any. */
  hints: Hint[];
  rule: string;
  updated: string;
  evidence: AlertRecord['evidence'];
  /** Rule `no_data`: the start of the last minute with requests. */
  last_seen?: string | null;
  /** How the hints were computed (window, status, why none). */
  hints_meta?: AlertHintsMeta;
}

export interface CycleResult {
  slos: SloReport[];
  transitions: AlertTransition[];
  specErrors: SpecError[];
  /** What the cycle's rollup refresh did: chunks read, and those left for the next cycle (a backfill under a deadline). */
  rollups?: RollupRunResult;
}

export class SloEngine {
  readonly resolutionMs: number;
  private readonly lateMs: number;
  private readonly noDataAfterMs: number;
  private readonly notifiers: readonly Notifier[];
  private readonly log: (line: string) => void;
  private readonly locks = new Map<string, Promise<unknown>>();
  private lastSpecErrors = '';
  private readonly lastPruneMs = new Map<string, number>();
  private readonly budget: TimeBudget | undefined;
  /** What each tenant's last refresh did (chunks read, left for later): the evaluator reports it. */
  readonly lastRun = new Map<string, RollupRunResult>();

  constructor(private readonly opts: SloEngineOptions) {
    this.resolutionMs = opts.resolutionMs ?? MINUTE;
    if (!(this.resolutionMs >= 1 && HOUR % this.resolutionMs === 0)) {
      throw new RangeError(`SLO resolution must divide an hour (e.g. 1s, 10s, 1m, 5m), got ${this.resolutionMs} ms`);
    }
    this.lateMs = opts.lateMs ?? 10 * this.resolutionMs;
    this.noDataAfterMs = opts.noDataAfterMs ?? 10 * this.resolutionMs;
    if (!(this.noDataAfterMs >= 0)) throw new RangeError(`noDataAfterMs must be ≥ 0 (0 turns the no-data alert off), got ${this.noDataAfterMs}`);
    this.notifiers = opts.notifiers ?? [];
    this.log = opts.log ?? ((l) => console.error(l));
    this.budget = opts.deadlineMs === undefined ? undefined : new TimeBudget(opts.deadlineMs, opts.clock);
  }

  /**
   * The SLOs in force for a tenant: files, API specs, and defaults for every service seen — with
   * `nowMs`, seen within the default window (a Timestream series read is billed by what it
   * scans: never from the epoch every minute).
   */
  async definitions(tenant: string, nowMs?: number): Promise<{ slos: SloDefinition[]; errors: SpecError[] }> {
    let defaults = this.opts.defaults ?? BUILTIN_DEFAULTS;
    const errors: SpecError[] = [];
    const fromDir = this.opts.sloDir ? loadSpecDir(this.opts.sloDir, defaults) : { slos: [], errors: [] as SpecError[], defaults: undefined };
    if (fromDir.defaults) defaults = fromDir.defaults;
    errors.push(...fromDir.errors);
    const user = [...fromDir.slos];
    const taken = new Set(user.map((s) => s.id));
    for (const stored of await this.opts.sloStore.listSpecs(tenant)) {
      const parsed = parseSpecText(stored.text, `api:${stored.id}`, 'api', defaults);
      errors.push(...parsed.errors);
      // A stored text may hold several documents (a JSON list); each id takes only its own.
      for (const slo of parsed.slos) {
        if (slo.id === stored.id && !taken.has(slo.id)) {
          taken.add(slo.id);
          user.push(slo);
        }
      }
    }
    const report = errors.map((e) => e.message).join('\n');
    if (report !== this.lastSpecErrors) {
      this.lastSpecErrors = report;
      for (const e of errors) this.log(`slo spec rejected: ${e.message}`);
    }
    // A service without a request in its default window would only show no_data.
    const range = nowMs === undefined ? undefined : { fromMs: nowMs - Math.max(windowPeriodMs(defaults.window, nowMs), 3 * DAY) - DAY, nowMs };
    const seen = await servicesSeen(this.opts.metricStore, tenant, range, DEFAULT_SLI_METRICS);
    return { slos: sloSet(seen, user, defaults), errors };
  }

  /** Validates and stores specs sent to the API; returns the ids defined. Throws a 400 naming file, path and reason. */
  async putSpecs(tenant: string, text: string, nowMs: number, expectId?: string): Promise<string[]> {
    const parsed = parseSpecText(text, 'request body', 'api', this.opts.defaults ?? BUILTIN_DEFAULTS);
    if (parsed.errors.length > 0) throw new ApiError(400, 'invalid_parameter', parsed.errors.map((e) => e.message).join('; '));
    if (parsed.defaults) throw new ApiError(400, 'invalid_parameter', 'request body: SLODefaults documents belong in --slo-dir, not the API');
    if (parsed.slos.length === 0) throw new ApiError(400, 'invalid_parameter', 'request body: no SLO document found');
    if (expectId !== undefined && (parsed.slos.length !== 1 || parsed.slos[0].id !== expectId)) {
      throw new ApiError(400, 'invalid_parameter', `request body: metadata.name must be "${expectId}" (the id in the URL), got ${parsed.slos.map((s) => `"${s.id}"`).join(', ')}`);
    }
    const fileIds = new Set(this.opts.sloDir ? loadSpecDir(this.opts.sloDir).slos.map((s) => s.id) : []);
    for (const slo of parsed.slos) {
      if (fileIds.has(slo.id)) throw new ApiError(400, 'invalid_parameter', `metadata.name: "${slo.id}" is defined in --slo-dir; files win, so change it there`);
    }
    // One document per stored spec, so each id can be replaced or deleted on its own.
    const docs = splitDocuments(text);
    for (const slo of parsed.slos) {
      const doc = docs.find((d) => parseSpecText(d, 'request body', 'api').slos.some((s) => s.id === slo.id)) ?? text;
      await this.opts.sloStore.putSpec(tenant, { id: slo.id, text: doc, updated_ms: nowMs });
    }
    return parsed.slos.map((s) => s.id);
  }

  async deleteSpec(tenant: string, id: string): Promise<boolean> {
    return this.opts.sloStore.deleteSpec(tenant, id);
  }

  /**
   * Brings rollups up to `nowMs`. Per SLI key: backfilled over its longest window when its rollups
   * do not reach back that far (a new SLI, or a window lengthened since); otherwise the last
   * `lateMs` recomputed, and further back from the earliest bucket late points marked dirty.
   */
  refresh(tenant: string, nowMs: number, slos?: readonly SloDefinition[]): Promise<readonly SloDefinition[]> {
    return this.exclusive(`refresh:${tenant}`, async () => {
      const defs = slos ?? (await this.definitions(tenant, nowMs)).slos;
      const [coverage, allMarks] = await Promise.all([this.opts.sloStore.rollupCoverage(tenant), this.opts.sloStore.dirtyMarks(tenant)]);
      // A mark of points not readable yet waits for its due time: recomputed now, it would miss them.
      const marks = allMarks.filter((m) => m.dueMs <= nowMs);
      const r = this.resolutionMs;
      const dirtyFromMs = marks.length === 0 ? undefined : Math.min(...marks.map((m) => m.bucketMs));
      const jobs = new Map<string, RollupJob>();
      for (const slo of defs) {
        const key = sliKey(slo, r);
        const fromMs = recomputeFrom(coverage.get(key), { needFromMs: nowMs - longestWindowMs(slo, nowMs), dirtyFromMs, nowMs, lateMs: this.lateMs, resolutionMs: r });
        const job = jobs.get(key);
        if (!job || fromMs < job.fromMs) jobs.set(key, { key, slo, fromMs });
      }
      const run = await runRollups(this.opts.metricStore, tenant, [...jobs.values()], nowMs, r, {
        save: (batches, toMs) => this.opts.sloStore.putRollups(tenant, batches, toMs),
        concurrency: this.opts.backfillConcurrency,
        ...(this.budget ? { mayStart: () => this.budget!.fits(), time: (task) => this.budget!.time(task) } : {}),
      });
      this.lastRun.set(tenant, run);
      // Only the marks read before the recompute: one made while it ran stays for the next refresh.
      // A job that saved its first chunk has recomputed the marked bucket (its watermark brings the
      // rest); until every job has, the marks stay.
      if (marks.length > 0 && run.unstarted === 0) await this.opts.sloStore.clearDirty(tenant, marks);
      if (jobs.size > 0 && nowMs - (this.lastPruneMs.get(tenant) ?? 0) > HOUR) {
        this.lastPruneMs.set(tenant, nowMs);
        const keep = Math.max(...defs.map((s) => longestWindowMs(s, nowMs)), 3 * DAY);
        await this.opts.sloStore.pruneRollups(tenant, nowMs - keep - DAY);
      }
      return defs;
    });
  }

  /** Every SLO's figures at `nowMs` from the stored rollups (refreshing them first unless told not to). */
  async statuses(tenant: string, nowMs: number, opts: { refresh?: boolean; slos?: readonly SloDefinition[]; window?: SloWindow } = {}): Promise<SloReport[]> {
    let defs: readonly SloDefinition[] = opts.slos ?? (await this.definitions(tenant, nowMs)).slos;
    // A different window for this answer only (the gate's --window): rollups do not depend on the
    // window, but must reach back over it, so the refresh sees it (and backfills what is missing).
    if (opts.window) defs = defs.map((d) => ({ ...d, window: opts.window! }));
    if (opts.refresh === false) return (await this.compute(tenant, defs, nowMs)).reports.map((r) => r.report);
    const at = await this.readAt(tenant, nowMs, defs);
    const { reports } = await this.compute(tenant, defs, at.atMs);
    return reports.map((r) => withEvaluatedAt(r.report, at));
  }

  /**
   * The time a read answers at: now, after bringing rollups up to it — or, read-only, the end of
   * the rollups the evaluator stored for these SLOs (the latest: its last run; an SLO whose
   * backfill is not done yet says so with covered_to), never after now.
   */
  private async readAt(tenant: string, nowMs: number, defs: readonly SloDefinition[]): Promise<ReadTime> {
    if (this.opts.refreshOnRead !== false) {
      await this.refresh(tenant, nowMs, defs);
      return { atMs: nowMs };
    }
    const coverage = await this.opts.sloStore.rollupCoverage(tenant);
    const ends = defs.flatMap((slo) => coverage.get(sliKey(slo, this.resolutionMs))?.toMs ?? []);
    if (ends.length === 0) return { atMs: nowMs, evaluatedAtMs: null };
    // The evaluator's last run: the latest end. An SLO whose rollups end well before it is still
    // backfilling (over several runs) and says so with covered_to, rather than holding every
    // other SLO's answer back by days.
    const atMs = Math.min(nowMs, Math.max(...ends));
    return { atMs, evaluatedAtMs: atMs };
  }

  /**
   * Called once points are durably written: the earliest bucket they touch that the next refresh
   * would not recompute anyway (older than the late-data margin) is marked dirty in the SloStore,
   * so late data — a spool replayed after an outage — reaches budgets and alerts too. Points the
   * store says are not readable yet (`late`: Timestream's magnetic store) are marked whatever
   * their age, due when they should be readable, so the evaluator recomputes them then.
   */
  async noteWrites(tenant: string, points: readonly Pick<MetricPoint, 'endNs'>[], nowMs: number, late?: Pick<LateWrite, 'indices' | 'queryableByMs'>): Promise<void> {
    const r = this.resolutionMs;
    // The next refresh recomputes at least from lateMs before the last one (which ran before
    // now); marking one bucket more allows for a writer whose clock runs behind the evaluator's.
    const recomputedFrom = Math.floor((nowMs - this.lateMs) / r) * r + r;
    const notReadable = new Set(late?.indices ?? []);
    let earliest: number | undefined;
    let earliestLate: number | undefined;
    points.forEach((p, i) => {
      const bucket = Math.floor(Number(p.endNs / 1_000_000n) / r) * r;
      if (notReadable.has(i)) {
        if (earliestLate === undefined || bucket < earliestLate) earliestLate = bucket;
      } else if (bucket < recomputedFrom && (earliest === undefined || bucket < earliest)) {
        earliest = bucket;
      }
    });
    if (earliest !== undefined) await this.opts.sloStore.markDirty(tenant, earliest);
    if (earliestLate !== undefined) await this.opts.sloStore.markDirty(tenant, earliestLate, late!.queryableByMs);
  }

  async detail(tenant: string, id: string, requestMs: number): Promise<SloDetail> {
    const defs = (await this.definitions(tenant, requestMs)).slos;
    const slo = defs.find((s) => s.id === id);
    if (!slo) throw new ApiError(404, 'not_found', `no SLO with id "${id}"`);
    // Every SLO's rollups (a refresh clears dirty marks for all of them), and the list's time.
    const at = await this.readAt(tenant, requestMs, defs);
    const nowMs = at.atMs;
    const [{ report }] = (await this.compute(tenant, [slo], nowMs)).reports;
    const start = windowStartMs(slo.window, nowMs);
    const r = this.resolutionMs;
    const span = nowMs - start;
    // About 120 points, on whole buckets.
    const step = Math.max(r, Math.ceil(span / 120 / r) * r);
    const from = Math.ceil(start / r) * r;
    const series = await this.opts.sloStore.rollupSeries(tenant, sliKey(slo, r), from, nowMs, step);
    const burnDown: SloDetail['burn_down'] = [];
    let good = 0;
    let total = 0;
    let i = 0;
    for (let t = from; t < nowMs; t += step) {
      while (i < series.length && series[i].atMs <= t) {
        good += series[i].good;
        total += series[i].total;
        i++;
      }
      burnDown.push({ t: Math.min(t + step, nowMs) / 1000, budget_remaining: budget({ good, total }, slo.objective).remaining, good, total });
    }
    return {
      ...withEvaluatedAt(report, at),
      rules: slo.rules.map((x) => ({ name: x.name, severity: x.severity, factor: x.factor, long_window: formatDuration(x.longMs), short_window: formatDuration(x.shortMs), for: formatDuration(x.forMs) || '0s' })),
      burn_down: burnDown,
    };
  }

  /** One SLO's per-step good/total over [fromMs, toMs) (steps without requests absent): the dashboard's burn-rate graphs. */
  async series(tenant: string, id: string, fromMs: number, toMs: number, stepMs: number): Promise<{ objective: number; points: SeriesPoint[] }> {
    const slo = (await this.definitions(tenant, toMs)).slos.find((s) => s.id === id);
    if (!slo) throw new ApiError(404, 'not_found', `no SLO with id "${id}"`);
    const r = this.resolutionMs;
    const step = Math.max(r, Math.round(stepMs / r) * r);
    return { objective: slo.objective, points: await this.opts.sloStore.rollupSeries(tenant, sliKey(slo, r), Math.floor(fromMs / r) * r, toMs, step) };
  }

  /** One evaluation: rollups, figures, alert transitions (stored, then notified). */
  cycle(tenant: string, nowMs: number): Promise<CycleResult> {
    return this.exclusive(`cycle:${tenant}`, async () => {
      const { slos: defs, errors } = await this.definitions(tenant, nowMs);
      await this.refresh(tenant, nowMs, defs);
      const rollups = this.lastRun.get(tenant);
      return { ...(await this.evaluate(tenant, nowMs, defs)), specErrors: errors, ...(rollups ? { rollups } : {}) };
    });
  }

  /** Figures and alert transitions from the stored rollups as they are (no refresh): the cycle's second half. */
  async evaluate(tenant: string, nowMs: number, defs: readonly SloDefinition[]): Promise<Omit<CycleResult, 'specErrors'>> {
    const { reports, sums } = await this.compute(tenant, defs, nowMs);
    const stored = await this.opts.sloStore.loadAlerts(tenant);
    // An evaluation that overlapped a later one (a slow run, a late retry) must not step alert
    // states back with its older clock: the later run's states stand.
    const newest = Math.max(-Infinity, ...stored.map((a) => a.updated_ms));
    if (newest > nowMs) {
      this.log(`slo ${tenant}: alerts not stepped at ${new Date(nowMs).toISOString()}: an evaluation at ${new Date(newest).toISOString()} already stepped them`);
      return { slos: reports.map(({ report }) => withAlerts(report, stored)), transitions: [] };
    }
    const previous = new Map(stored.map((a) => [`${a.slo_id}\0${a.rule}`, a]));
    const changed: AlertRecord[] = [];
    const transitions: AlertTransition[] = [];
    const firing: FiringAlert[] = [];
    const lastSeen = await this.lastSeen(tenant, reports, sums, nowMs);
    for (const { slo, report } of reports) {
      // Half-backfilled rollups would read as silence (no_data) or as no burn: no step on them.
      if (report.covered_to !== undefined) continue;
      if (this.noDataAfterMs > 0) {
        const prev = previous.get(`${slo.id}\0${NO_DATA_RULE}`);
        const step = stepNoData(prev, {
          tenant,
          slo,
          silenceMs: this.noDataAfterMs,
          recentTotal: sums(slo, this.noDataAfterMs).total,
          window: { good: report.good, total: report.total, bad: report.bad, sli: report.sli, burn_rate: report.burn_rate },
          lastSeenMs: lastSeen.get(slo.id) ?? null,
          burnRates: report.burn_rates,
          budgetRemaining: report.budget_remaining,
          nowMs,
        });
        if (step.record && step.record !== prev) changed.push(revisionOf(step.record, prev));
        if (step.transition) transitions.push(step.transition);
        if (step.transition?.to === 'firing') firing.push({ transition: step.transition, record: step.record!, slo });
      }
      for (const rule of slo.rules) {
        const prev = previous.get(`${slo.id}\0${rule.name}`);
        const step = stepAlert(prev, {
          tenant,
          slo,
          rule,
          long: windowFigures(sums(slo, rule.longMs), slo.objective),
          short: windowFigures(sums(slo, rule.shortMs), slo.objective),
          burnRates: report.burn_rates,
          budgetRemaining: report.budget_remaining,
          nowMs,
          hysteresis: this.opts.hysteresis ?? DEFAULT_HYSTERESIS,
        });
        if (step.record && step.record !== prev) changed.push(revisionOf(step.record, prev));
        if (step.transition) transitions.push(step.transition);
        if (step.transition?.to === 'firing') firing.push({ transition: step.transition, record: step.record!, slo, rule });
      }
    }
    // Hints before the transition is stored: a later read shows what was said when it fired.
    await this.addHints(tenant, firing, nowMs);
    // Only what this save stored is notified: a change another evaluation stored first went out with it.
    const saved = await this.opts.sloStore.saveAlerts(tenant, changed, transitions);
    if (saved.length < transitions.length) {
      const ids = transitions.filter((t) => !saved.includes(t)).map((t) => t.id);
      this.log(`slo ${tenant}: ${ids.length} transition(s) not notified, already stored or their alert changed by another evaluation: ${ids.join(', ')}`);
    }
    for (const t of saved) await this.deliver(t);
    const alerts = await this.opts.sloStore.loadAlerts(tenant);
    return { slos: reports.map(({ report }) => withAlerts(report, alerts)), transitions: saved };
  }

  /**
   * Sets hints and hints_meta on each firing transition and its record (the same objects that are
   * then stored and notified). One computation per service and window, however many of its
   * alerts fire together; a failure or timeout is logged and the alert goes out without hints.
   */
  private async addHints(tenant: string, firing: readonly FiringAlert[], nowMs: number): Promise<void> {
    const mode = this.opts.hints;
    if (mode === undefined || firing.length === 0) return;
    const computed = new Map<string, Promise<AlertHints>>();
    for (const { transition, record, slo, rule } of firing) {
      const window = (rule && (await this.hintWindow(tenant, slo, rule, nowMs))) ?? alertWindow(transition);
      const pending: AlertHintsMeta = { status: 'pending', from: window.fromMs / 1000, to: window.toMs / 1000 };
      let found: Pick<AlertTransition, 'hints' | 'hints_meta'> = { hints_meta: pending };
      if (mode !== 'deferred') {
        const key = JSON.stringify([transition.service, pending.from, pending.to]);
        let p = computed.get(key);
        if (!p) computed.set(key, (p = hintsForAlertOrReason(mode, { ...transition, hints_meta: pending }, nowMs, this.opts.hintsTimeoutMs)));
        const result = await p;
        if (result.status === 'failed') this.log(`hints for ${transition.id}: ${result.message}`);
        found = withHints(transition, result);
      }
      Object.assign(transition, { hints: found.hints, hints_meta: found.hints_meta });
      Object.assign(record, { hints: found.hints, hints_meta: found.hints_meta });
      if (found.hints === undefined) {
        delete transition.hints;
        delete record.hints;
      }
    }
  }

  /** The window a burn-rate alert's hints explain, from the SLO's rollups (hint-window.ts); undefined when no stretch burns. */
  private async hintWindow(tenant: string, slo: SloDefinition, rule: BurnRateRule, nowMs: number): Promise<{ fromMs: number; toMs: number } | undefined> {
    const r = this.resolutionMs;
    const o = { atMs: nowMs, objective: slo.objective, factor: rule.factor, longMs: rule.longMs };
    const from = Math.floor(hintWindowReadFromMs(o) / r) * r;
    return hintWindow(await this.opts.sloStore.rollupSeries(tenant, sliKey(slo, r), from, nowMs, r), o);
  }

  /** For the SLOs that went silent, the start of their last bucket with requests within their window. */
  private async lastSeen(tenant: string, reports: readonly { slo: SloDefinition; report: SloReport }[], sums: (slo: SloDefinition, lengthMs: number) => WindowSum, nowMs: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (this.noDataAfterMs <= 0) return out;
    const silent = reports.filter(({ slo, report }) => isSilent({ recentTotal: sums(slo, this.noDataAfterMs).total, window: report }));
    if (silent.length === 0) return out;
    const r = this.resolutionMs;
    const keyOf = (slo: SloDefinition) => sliKey(slo, r);
    const from = Math.min(...silent.map(({ slo }) => Math.ceil(windowStartMs(slo.window, nowMs) / r) * r));
    const last = await this.opts.sloStore.lastBucketWithData(tenant, [...new Set(silent.map(({ slo }) => keyOf(slo)))], from, nowMs);
    for (const { slo } of silent) {
      const t = last.get(keyOf(slo));
      if (t !== undefined) out.set(slo.id, t);
    }
    return out;
  }

  async alerts(tenant: string, filter: { service?: string; state?: AlertState } = {}): Promise<AlertView[]> {
    const records = await this.opts.sloStore.loadAlerts(tenant);
    return records
      .filter((a) => (filter.service === undefined || a.service === filter.service) && (filter.state === undefined || a.state === filter.state))
      .sort((a, b) => b.since_ms - a.since_ms)
      .map((a) => ({
        id: a.alert_id,
        slo_id: a.slo_id,
        service: a.service,
        severity: a.severity,
        state: a.state,
        since: new Date(a.since_ms).toISOString(),
        burn_rates: { '5m': a.burn_rates['5m'], '30m': a.burn_rates['30m'], '1h': a.burn_rates['1h'], '6h': a.burn_rates['6h'], '3d': a.burn_rates['3d'] },
        budget_remaining: a.budget_remaining,
        hints: a.hints ?? [],
        rule: a.rule,
        updated: new Date(a.updated_ms).toISOString(),
        evidence: a.evidence,
        ...(a.rule === NO_DATA_RULE ? { last_seen: a.evidence.last_seen ?? null } : {}),
        ...(a.hints_meta ? { hints_meta: a.hints_meta } : {}),
      }));
  }

  /** Services whose deep probes should be on now (GET /v1/probes): see probes.ts. */
  async desiredProbes(tenant: string, nowMs: number): Promise<DesiredProbe[]> {
    const [alerts, requests] = await Promise.all([this.opts.sloStore.loadAlerts(tenant), this.opts.sloStore.listProbeRequests(tenant, nowMs)]);
    return desiredProbes(alerts, requests, nowMs);
  }

  /** Stores a deep-probe request (until_ms ≤ now withdraws the service's request). */
  requestProbes(tenant: string, req: ProbeRequest): Promise<void> {
    return this.opts.sloStore.putProbeRequest(tenant, req);
  }

  transitions(tenant: string, sloId?: string): Promise<AlertTransition[]> {
    return this.opts.sloStore.listTransitions(tenant, { sloId });
  }

  private async deliver(t: AlertTransition): Promise<void> {
    await Promise.all(
      this.notifiers.map((n) => n.notify(t).catch((err) => this.log(`notifier ${n.name} failed for ${t.id}: ${(err as Error).message}`))),
    );
  }

  private async compute(tenant: string, defs: readonly SloDefinition[], nowMs: number) {
    const r = this.resolutionMs;
    const lengths = new Set<number>(STANDARD_WINDOWS.map(([, ms]) => ms));
    for (const slo of defs) for (const rule of slo.rules) lengths.add(rule.longMs).add(rule.shortMs);
    if (this.noDataAfterMs > 0) lengths.add(this.noDataAfterMs);
    const starts = new Map<number, number>(); // start ms → column
    const column = (startMs: number) => {
      const aligned = Math.ceil(startMs / r) * r;
      if (!starts.has(aligned)) starts.set(aligned, starts.size);
      return starts.get(aligned)!;
    };
    for (const ms of lengths) column(nowMs - ms);
    for (const slo of defs) column(windowStartMs(slo.window, nowMs));
    const keyOf = new Map(defs.map((s) => [s, sliKey(s, r)]));
    const stored = await this.opts.sloStore.windowSums(tenant, [...new Set(keyOf.values())], [...starts.keys()], nowMs);
    const empty: WindowSum = { good: 0, total: 0, effectiveThreshold: null };
    const sumFor = (slo: SloDefinition, startMs: number): WindowSum => stored.get(keyOf.get(slo) ?? sliKey(slo, r))?.[column(startMs)] ?? empty;
    const sums = (slo: SloDefinition, lengthMs: number): WindowSum => sumFor(slo, nowMs - lengthMs);
    const earliest = Math.min(nowMs, ...defs.map((slo) => windowStartMs(slo.window, nowMs)));
    const [alerts, coverage, firsts] = await Promise.all([
      this.opts.sloStore.loadAlerts(tenant),
      this.opts.sloStore.rollupCoverage(tenant),
      this.opts.sloStore.firstBucketWithData(tenant, [...new Set(keyOf.values())], Math.floor(earliest / r) * r, nowMs),
    ]);
    const reports = defs.map((slo) => {
      const start = windowStartMs(slo.window, nowMs);
      const whole = sumFor(slo, start);
      const figures = windowFigures(whole, slo.objective);
      const b = budget(whole, slo.objective);
      const windows: WindowReport[] = STANDARD_WINDOWS.map(([name, ms]) => ({ window: name, ...windowFigures(sums(slo, ms), slo.objective) }));
      const burnRates = Object.fromEntries(windows.map((w) => [w.window, w.burn_rate])) as unknown as BurnRates;
      const ttl = timeToExhaustionMs(b.remaining, burnRates[EXHAUSTION_WINDOW], windowPeriodMs(slo.window, nowMs));
      const report: SloReport = {
        id: slo.id,
        service: slo.service,
        kind: slo.kind,
        objective: slo.objective,
        sli: figures.sli,
        budget_remaining: b.remaining,
        status: 'ok',
        window: windowLabel(slo.window),
        window_start: new Date(start).toISOString(),
        good: whole.good,
        total: whole.total,
        bad: figures.bad,
        budget_remaining_requests: b.remaining_requests,
        budget_allowed_bad_requests: b.allowed_bad_requests,
        burn_rate: figures.burn_rate,
        burn_rates: burnRates,
        windows: [...windows, { window: windowLabel(slo.window), ...figures }],
        time_to_exhaustion_seconds: ttl === null ? null : ttl / 1000,
        metrics: slo.metrics,
        filter: slo.filter,
        source: slo.source,
        alerts: [],
      };
      if (slo.thresholdSeconds !== undefined) report.threshold_seconds = slo.thresholdSeconds;
      if (whole.effectiveThreshold !== null) report.effective_threshold_seconds = whole.effectiveThreshold;
      if (whole.unknown) Object.assign(report, { unknown: whole.unknown, sli_unknown_reason: whole.unknownReason ?? 'histogram buckets cannot answer the threshold' });
      // Never a silent answer from part of the window: say how far the rollups reach.
      const covered = coverage.get(keyOf.get(slo)!);
      if (!covered || covered.fromMs > Math.ceil(start / r) * r) report.covered_from = new Date(covered ? covered.fromMs : nowMs).toISOString();
      if (covered && covered.toMs < nowMs - this.lateMs) report.covered_to = new Date(covered.toMs).toISOString();
      // Minutes of data are not a 30-day figure: say how much of the window the SLO has seen.
      const first = firsts.get(keyOf.get(slo)!);
      report.window_seen_seconds = first === undefined ? null : Math.max(0, nowMs - Math.max(first, start)) / 1000;
      if (slo.file) report.file = slo.file;
      if (slo.displayName) report.display_name = slo.displayName;
      return { slo, report: withAlerts(report, alerts) };
    });
    return { reports, sums };
  }

  /** Runs `fn` after any earlier call with the same name finished: one refresh or cycle per tenant at a time. */
  private exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(name, next.catch(() => undefined));
    return next;
  }
}

/** A transition to firing in this cycle, with what its hints window needs (no rule: the no-data alert). */
interface FiringAlert {
  transition: AlertTransition;
  record: AlertRecord;
  slo: SloDefinition;
  rule?: BurnRateRule;
}

/** `record`, replacing `prev`, marked with the stored revision it derives from (saveAlerts' optimistic check). */
function revisionOf(record: AlertRecord, prev: AlertRecord | undefined): AlertRecord {
  // The same object the hints are then attached to: set in place.
  record.version = prev?.version;
  if (record.version === undefined) delete record.version;
  return record;
}

/** Where a read stands (SloEngine.readAt); `evaluatedAtMs` only for read-only engines (null: never evaluated). */
interface ReadTime {
  atMs: number;
  evaluatedAtMs?: number | null;
}

function withEvaluatedAt<T extends SloReport>(report: T, at: ReadTime): T {
  if (at.evaluatedAtMs === undefined) return report;
  return { ...report, evaluated_at: at.evaluatedAtMs === null ? null : new Date(at.evaluatedAtMs).toISOString() };
}

function withAlerts(report: SloReport, alerts: readonly AlertRecord[]): SloReport {
  const mine = alerts.filter((a) => a.slo_id === report.id);
  const silent = mine.find((a) => a.rule === NO_DATA_RULE && a.state === 'firing');
  const status: SloReport['status'] =
    report.total === 0
      ? report.unknown
        ? 'unknown'
        : 'no_data'
      : silent
        ? 'silent'
        : report.budget_remaining !== null && report.budget_remaining <= 0
          ? 'exhausted'
          : mine.some((a) => a.state === 'firing')
            ? 'burning'
            : 'ok';
  const out: SloReport = { ...report, status, alerts: mine.map((a) => ({ id: a.alert_id, rule: a.rule, severity: a.severity, state: a.state })) };
  if (silent) out.last_seen = silent.evidence.last_seen ?? null;
  else delete out.last_seen;
  return out;
}

/**
 * Where a key's recompute starts. Rollups that do not reach back to `needFromMs` (none yet, or a
 * window lengthened since) are backfilled from there; otherwise from the late-data margin, or
 * from the earliest dirty bucket when that is inside what the key keeps (older ones touch none
 * of its buckets). Recomputing through to now, not just the dirty bucket, also redoes the next
 * snapshot of a cumulative series, whose difference a late snapshot changes.
 */
function recomputeFrom(coverage: RollupCoverage | undefined, o: { needFromMs: number; dirtyFromMs: number | undefined; nowMs: number; lateMs: number; resolutionMs: number }): number {
  const floor = (ms: number) => Math.floor(ms / o.resolutionMs) * o.resolutionMs;
  const need = floor(o.needFromMs);
  if (!coverage || coverage.fromMs > need) return need;
  let from = floor(Math.min(coverage.toMs, o.nowMs) - o.lateMs);
  if (o.dirtyFromMs !== undefined && o.dirtyFromMs >= coverage.fromMs) from = Math.min(from, floor(o.dirtyFromMs));
  return from;
}

/** The longest stretch of data an SLO reads: its own window, the 3d standard one, and its rules' long windows. */
function longestWindowMs(slo: SloDefinition, nowMs: number): number {
  return Math.max(windowPeriodMs(slo.window, nowMs), nowMs - windowStartMs(slo.window, nowMs), 3 * DAY, ...slo.rules.map((r) => r.longMs));
}

function splitDocuments(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return [text];
  return text.split(/^---\s*$/m).filter((d) => d.trim() !== '');
}

export interface EvaluationCycleOptions extends SloEngineOptions {
  tenants: readonly string[];
  nowMs: number;
}

/** One evaluation of every tenant: what the scheduled Lambda calls each minute (the local stack keeps one SloEngine and calls `cycle`). */
export async function runEvaluationCycle(opts: EvaluationCycleOptions): Promise<Map<string, CycleResult>> {
  const engine = new SloEngine(opts);
  const out = new Map<string, CycleResult>();
  for (const tenant of opts.tenants) out.set(tenant, await engine.cycle(tenant, opts.nowMs));
  return out;
}
