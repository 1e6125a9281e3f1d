// What the SLO engine persists, behind an interface of its own (not MetricStore's): per-bucket
// good/total rollups, alert state, alert transitions and user-defined SLO specs. DuckDB
// implements it locally (duckdb-store.ts); the AWS backend implements the same methods.

import type { Hint } from '../hints/types.ts';
import type { AlertEvidence, AlertHintsMeta, AlertSeverity, AlertState, AlertTransition, BurnRates } from '../notify/types.ts';

export interface RollupRow {
  /** Start of the bucket, ms since the epoch (a multiple of the resolution). */
  bucketMs: number;
  good: number;
  total: number;
  /** Latency SLIs: the lowest histogram boundary ≤ threshold counted up to in this bucket. */
  effectiveThreshold: number | null;
  /**
   * Latency SLIs: requests whose histogram buckets cannot answer the threshold (sli.ts countPoint),
   * in neither good nor total; absent means 0.
   */
  unknown?: number;
  /** Why they are unknown (one point's reason, with the bucket that straddles the threshold). */
  unknownReason?: string | null;
}

export interface RollupBatch {
  key: string;
  /** Every stored bucket of `key` in [fromMs, toMs) is replaced by `rows` (late data recomputed). */
  fromMs: number;
  rows: readonly RollupRow[];
}

export interface WindowSum {
  good: number;
  total: number;
  effectiveThreshold: number | null;
  /** Requests of unknown latency (RollupRow.unknown) in the window; absent means 0. */
  unknown?: number;
  unknownReason?: string | null;
}

/** How far each SLI key's rollups reach: every bucket in [fromMs, toMs) has been computed. */
export interface RollupCoverage {
  fromMs: number;
  toMs: number;
}

/**
 * What a key covers once `computed` is stored beside what it covered before: their union when
 * they overlap or touch (so a run at an older time finishing last leaves the later end in
 * place), else just `computed` — a backfill from further back resumes from its own end, and
 * coverage never claims a bucket nobody computed.
 */
export function mergeCoverage(before: RollupCoverage | undefined, computed: RollupCoverage): RollupCoverage {
  if (!before || before.fromMs >= before.toMs || computed.fromMs > before.toMs || computed.toMs < before.fromMs) return computed;
  return { fromMs: Math.min(before.fromMs, computed.fromMs), toMs: Math.max(before.toMs, computed.toMs) };
}

/**
 * A rollup bucket that late points touched after it was computed (older than the engine's
 * late-data margin). `token` is new at every mark, so clearing the marks a refresh read never
 * clears one made again while it ran.
 */
export interface DirtyMark {
  bucketMs: number;
  token: string;
  /**
   * Not before this time (ms): the points are stored but not yet readable (Timestream's magnetic
   * store), so a recompute earlier would miss them. 0: due now.
   */
  dueMs: number;
}

export interface SeriesPoint {
  /** Start of the step. */
  atMs: number;
  good: number;
  total: number;
}

/** An alert's current state: one record per (SLO, rule), replaced at every change. */
export interface AlertRecord {
  alert_id: string;
  slo_id: string;
  service: string;
  rule: string;
  severity: AlertSeverity;
  state: AlertState;
  /** When the episode began (first pending or firing). */
  since_ms: number;
  /** When the current state was entered. */
  state_since_ms: number;
  /** When the episode's condition began to hold; null once resolved. */
  condition_since_ms: number | null;
  episode: number;
  updated_ms: number;
  burn_rates: BurnRates;
  budget_remaining: number | null;
  evidence: AlertEvidence;
  /** The hints of the episode's firing transition, as stored then (engine or attachHints). */
  hints?: Hint[];
  hints_meta?: AlertHintsMeta;
  /**
   * Which stored revision of this alert's record it was derived from: set by loadAlerts, carried
   * by the engine onto the record that replaces it; absent when none was stored. saveAlerts writes
   * a record only while that revision is still the stored one (optimistic concurrency).
   */
  version?: number;
}

export type EvaluationClaim = { claimed: true } | { claimed: false; lastEvaluatedMs: number };

/**
 * How long stored alert transitions are kept: a quarter, the longest SLO window the API reads
 * (90 d) with the incidents in it reviewable. DynamoDB deletes them by TTL (`expires_at`).
 */
export const TRANSITION_RETENTION_MS = 90 * 86_400_000;

export interface StoredSpec {
  id: string;
  /** The document as the user sent it (YAML or JSON). */
  text: string;
  updated_ms: number;
}

/**
 * A request for a service's deep probes (`burnwatch probe SERVICE --for 10m`, the dashboard's
 * "probe now"): one per service, a newer one replaces it; it ends at `until_ms` by itself.
 */
export interface ProbeRequest {
  service: string;
  requested_ms: number;
  until_ms: number;
}

export interface SloStore {
  /**
   * Replaces buckets per batch and records that each batch's key is complete over [fromMs, toMs)
   * merged with what it covered before (mergeCoverage): an evaluation at an older time that
   * finishes last never moves the watermark back. Safe beside a concurrent writer of the same
   * keys (DuckDB: serialised, one transaction; DynamoDB: version-conditioned items, a lost race
   * re-read).
   */
  putRollups(tenant: string, batches: readonly RollupBatch[], toMs: number): Promise<void>;
  /** How far each key's rollups reach (absent: never computed). */
  rollupCoverage(tenant: string): Promise<Map<string, RollupCoverage>>;
  /**
   * Records that late points touched `bucketMs`, to be recomputed from `dueMs` on (default 0:
   * now). Replaces an earlier mark of the same bucket with a new token, keeping the later due
   * time of the two (so points not yet readable are never recomputed too early).
   */
  markDirty(tenant: string, bucketMs: number, dueMs?: number): Promise<void>;
  dirtyMarks(tenant: string): Promise<DirtyMark[]>;
  /** Removes these marks, except those marked again since they were read (another token). */
  clearDirty(tenant: string, marks: readonly DirtyMark[]): Promise<void>;
  /** For each key, the start of its last bucket in [fromMs, toMs) with requests (absent: none). */
  lastBucketWithData(tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>>;
  /** For each key, the start of its first bucket in [fromMs, toMs) with requests (absent: none): how much of a window an SLO has seen. */
  firstBucketWithData(tenant: string, keys: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>>;
  /** For each key, the sums over buckets in [start, toMs) for every start; one scan for all SLOs. */
  windowSums(tenant: string, keys: readonly string[], startsMs: readonly number[], toMs: number): Promise<Map<string, WindowSum[]>>;
  /** Per-step sums of one key over [fromMs, toMs), steps aligned to fromMs; steps without data are absent. */
  rollupSeries(tenant: string, key: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]>;
  /** Deletes buckets older than `beforeMs` (past every window still needed); coverage starts there at the earliest. */
  pruneRollups(tenant: string, beforeMs: number): Promise<void>;

  /**
   * Claims the evaluation of `tenant` at `atMs`: granted only when no evaluation at the same or a
   * later time was claimed before (atomic), so a retried or delayed run carrying an old time does
   * nothing; refused, it says which time was already evaluated.
   */
  claimEvaluation(tenant: string, atMs: number): Promise<EvaluationClaim>;

  loadAlerts(tenant: string): Promise<AlertRecord[]>;
  /**
   * Stores changed alert records and the transitions that changed them; returns the transitions
   * this call stored, the only ones to notify. Per alert, record and transitions are stored
   * together or not at all: not when the stored record is no longer the revision the new one was
   * derived from (`version`: another evaluation changed it first). A transition whose id is
   * already stored (a retried run) is not stored again nor returned; its record still is.
   */
  saveAlerts(tenant: string, records: readonly AlertRecord[], transitions: readonly AlertTransition[]): Promise<AlertTransition[]>;
  listTransitions(tenant: string, opts?: { sloId?: string; limit?: number }): Promise<AlertTransition[]>;
  /**
   * Records hints computed after a firing transition was stored (the AWS hints function): the
   * stored transition `t.id` gets t's hints and hints_meta, and so does its alert while
   * `t.alert_id` is still its episode — and a concurrent saveAlerts of that alert's record (the
   * evaluator's next cycle) does not drop them. Returns false when no such transition is stored.
   */
  attachHints(tenant: string, t: AlertTransition): Promise<boolean>;

  /** Stores a probe request, replacing the service's previous one (until_ms ≤ now withdraws it). */
  putProbeRequest(tenant: string, req: ProbeRequest): Promise<void>;
  /** The probe requests still running at `nowMs`. */
  listProbeRequests(tenant: string, nowMs: number): Promise<ProbeRequest[]>;

  putSpec(tenant: string, spec: StoredSpec): Promise<void>;
  deleteSpec(tenant: string, id: string): Promise<boolean>;
  listSpecs(tenant: string): Promise<StoredSpec[]>;

  close(): Promise<void>;
}
