// The shapes the dashboard reads (as the API documents them in README.md and docs/).

export type BurnWindows = Record<string, number | null>;

export interface Slo {
  id: string;
  service: string;
  kind: 'availability' | 'latency';
  objective: number;
  sli: number | null;
  budget_remaining: number | null;
  status: 'no_data' | 'unknown' | 'silent' | 'ok' | 'burning' | 'exhausted';
  window: string;
  window_start: string;
  window_seen_seconds?: number | null;
  good: number;
  total: number;
  budget_remaining_requests: number;
  burn_rates: BurnWindows;
  time_to_exhaustion_seconds: number | null;
  threshold_seconds?: number;
  sli_unknown_reason?: string;
  display_name?: string;
  alerts: { id: string; rule: string; severity: string; state: string }[];
}

export interface SloDetail extends Slo {
  rules: { name: string; severity: string; factor: number; long_window: string; short_window: string; for: string }[];
  burn_down: { t: number; budget_remaining: number | null; good: number; total: number }[];
}

export interface Evidence {
  metric: string;
  labels: Record<string, string>;
  baseline: number | null;
  incident: number | null;
  unit: string;
  changed_at: number | null;
}

export interface Hint {
  rank: number;
  kind: string;
  service: string;
  peer: string | null;
  summary: string;
  confidence: number;
  explained_share: number;
  evidence: Evidence[];
  chain: string[];
  next_step: string;
}

export interface Alert {
  id: string;
  slo_id: string;
  service: string;
  severity: string;
  state: 'pending' | 'firing' | 'resolved';
  since: string;
  burn_rates: BurnWindows;
  budget_remaining: number | null;
  hints: Hint[];
  rule: string;
  updated: string;
  /** The rule's own windows as evaluated when the alert last changed. */
  evidence?: { long_burn_rate: number | null; short_burn_rate: number | null };
}

export interface Transition {
  id: string;
  alert_id: string;
  slo_id: string;
  from: string | null;
  to: string;
  at: string;
  since: string;
  summary: string;
}

export interface QuerySeries {
  labels: Record<string, string>;
  points: [number, number, ...unknown[]][];
}

export interface HintsReport {
  service: string;
  from: number;
  to: number;
  baseline: { from: number; to: number };
  hints: Hint[];
}

export interface SlowRequest {
  trace_id: string;
  start: number;
  route: string;
  status: number | null;
  duration: number;
  subcalls: { kind: string; peer: string; operation: string; start_offset: number; duration: number; error: boolean }[];
  dominant: { kind: string; peer: string; operation: string; duration: number; share: number } | null;
}

export interface Graph {
  nodes: { id: string; service: string; kind: 'service' | 'external'; requests: number; errors: number; p99: number | null }[];
  edges: { from: string; to: string; protocol: string; requests: number; errors: number; p99: number | null }[];
}

export interface Heatmap {
  times: number[];
  bounds: number[];
  counts: number[][];
  skipped: number;
}

export interface ProcessRow {
  service: string;
  host: string | null;
  pid: number | null;
  cpu_cores: number;
  runqueue_p99: number | null;
  faults: { major: number; minor: number };
  retransmits: { peer: string; count: number }[];
  block_io: { count: number; p99: number | null; errors: number };
  starts: number;
  exits: number;
  build_ids: string[];
}
