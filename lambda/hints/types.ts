// The hints contract (design §7, issue 15): what GET /v1/hints, the CLI, alert transitions and
// the AWS hints function all carry. Times are unix seconds, as /v1/query gives them.

import type { SpanStore } from '../storage/spans.ts';
import type { MetricStore } from '../storage/types.ts';

export const HINT_KINDS = [
  'slow_dependency',
  'dependency_errors',
  'network',
  'cpu',
  'gc',
  'memory',
  'disk',
  'lock',
  'crash',
  'deploy',
  'traffic',
  'none',
] as const;
export type HintKind = (typeof HINT_KINDS)[number];

export interface Evidence {
  metric: string;
  labels: Record<string, string>;
  /** Typical value per interval before the window (median); null when the baseline had none. */
  baseline: number | null;
  /** Value during the damage (median over the damaged intervals). */
  incident: number | null;
  unit: string;
  /** Unix seconds of the interval where the signal changed; null when it did not (or is not a series). */
  changed_at: number | null;
}

export interface Hint {
  rank: number;
  kind: HintKind;
  /** The watched service where the cause sits (for dependency kinds: the caller that observed it). */
  service: string;
  /** `host:port` of the dependency or link; null for the service's own causes. */
  peer: string | null;
  summary: string;
  /** In [0, 1]: change strength × explained share × alignment with the SLI's change. */
  confidence: number;
  /** Share of the SLI damage this cause can account for, in [0, 1]. */
  explained_share: number;
  evidence: Evidence[];
  /** Services from the one asked about down to the one where the cause sits. */
  chain: string[];
  next_step: string;
}

export interface HintsReport {
  service: string;
  from: number;
  to: number;
  baseline: { from: number; to: number };
  hints: Hint[];
}

export interface HintStores {
  metricStore: MetricStore;
  /** Slow-request breakdowns (the seed rule of slow_dependency); optional, and may refuse (AWS). */
  spanStore?: SpanStore;
}
