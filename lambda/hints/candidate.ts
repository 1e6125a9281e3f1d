// A candidate cause as detectors report it, before the engine scores, nests and ranks it.

import { intervalStartS, type Frame } from './frame.ts';
import { assess, cooccurrence, strength, type Change, type ChangeRule, type Track } from './robust.ts';
import type { Sli } from './sli.ts';
import type { Evidence, HintKind } from './types.ts';

export interface Candidate {
  kind: Exclude<HintKind, 'none'>;
  service: string;
  peer: string | null;
  summary: string;
  next_step: string;
  /** How strongly the candidate changed against its baseline, in [0, 1). */
  strength: number;
  /** Share of the SLI damage it can account for, in [0, 1]. */
  share: number;
  /** Unix seconds of its change; undefined when it has no time (then it cannot align). */
  changedAtS: number | undefined;
  evidence: Evidence[];
  /** A dependency: its address and port, to find the watched service behind it. */
  dependency?: { address: string; port: number };
}

/** One signal judged against its baseline, with its evidence line; undefined when it did not change. */
export interface SignalChange {
  change: Change;
  strength: number;
  /** Share of the damaged intervals where it was anomalous too. */
  cooccurrence: number;
  changedAtS: number | undefined;
  evidence: Evidence;
}

export interface SignalSpec {
  metric: string;
  labels?: Record<string, string>;
  unit: string;
  rule: ChangeRule;
}

export function judgeSignal(f: Frame, sli: Sli, spec: SignalSpec, t: Track): SignalChange | undefined {
  const change = assess(t, spec.rule, sli.damaged);
  if (!change || change.z <= 3 || change.changedAt === undefined) return undefined;
  const changedAtS = intervalStartS(f, change.changedAt);
  return {
    change,
    strength: strength(change.z),
    cooccurrence: cooccurrence(change.anomalous, sli.damaged),
    changedAtS,
    evidence: { metric: spec.metric, labels: spec.labels ?? {}, baseline: change.baseline, incident: change.incident ?? null, unit: spec.unit, changed_at: changedAtS },
  };
}

/** The strongest of several signals of one cause; the others that changed join its evidence. */
export function strongest(changes: readonly (SignalChange | undefined)[]): { best: SignalChange; all: SignalChange[] } | undefined {
  const all = changes.filter((c): c is SignalChange => c !== undefined).sort((a, b) => b.strength * b.cooccurrence - a.strength * a.cooccurrence);
  return all.length === 0 ? undefined : { best: all[0], all };
}
