// The shapes the dashboard reads (as the API documents them in README.md and docs/). Where the
// server declares the contract, its type is re-exported (type-only: nothing of the server's code
// reaches the browser bundle).
import type { Hint } from '../../hints/types.ts';

export type { Evidence, Hint, HintsReport } from '../../hints/types.ts';
export type { SloReport as Slo, SloDetail } from '../../slo/engine.ts';
export type { ServiceGraph as Graph } from '../../query/graph.ts';
export type { Heatmap } from '../../query/heatmap.ts';
export type { ProcessSignals as ProcessRow } from '../../query/processes.ts';

export type BurnWindows = Record<string, number | null>;

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

export interface SlowRequest {
  trace_id: string;
  start: number;
  route: string;
  status: number | null;
  duration: number;
  subcalls: { kind: string; peer: string; operation: string; start_offset: number; duration: number; error: boolean }[];
  dominant: { kind: string; peer: string; operation: string; duration: number; share: number } | null;
}

