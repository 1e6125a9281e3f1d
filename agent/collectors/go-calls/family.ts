// What one probe family of go_calls.bpf.o (one bpf/lib/go_*.bpf.h each) tells the collector:
// where its programs attach, whether always or only with deep probes, and how its series
// become metrics and slow-request sub-calls.
import type { EntryProbe, ResolvedProbeSets } from '../../goinspect/index.ts';
import type { SubcallKind } from '../slow-request.ts';
import type { DecodedSeries } from './layout.ts';

/** One program at one probe point: a function's entry (its prologue jbe when it has one) or its RETs. */
export type ProbePoint = { program: string; entry: EntryProbe } | { program: string; returns: number[] };

/** What series attributes need from the collector: the SQL systems of a process's binary. */
export interface SeriesContext {
  sqlSystemOf(pid: number, driver: bigint): string;
  /** A sub-call does not carry the driver: the system when the binary links only one. */
  soleSqlSystem(pid: number): string;
}

export interface SeriesKind {
  /** enum call_kind (layout.ts KIND) */
  kind: number;
  metric: string;
  /** Attributes besides the peer. */
  attributes(d: DecodedSeries, ctx: SeriesContext): Record<string, string | number>;
  /** A server's series carries no peer. */
  noPeer?: boolean;
  /** How such a call appears among a slow request's sub-calls (client calls only). */
  subcall?: { kind: SubcallKind; operation(op: string): string; dbSystem?(pid: number, ctx: SeriesContext): string };
}

export interface GoCallFamily {
  name: string;
  /** 'red': attached with the process (cheap, always on); 'deep': only while its deep probes are on. */
  when: 'red' | 'deep';
  /** Its probe points in a binary, ends before starts (none when its probe set did not resolve there). */
  points(s: ResolvedProbeSets): ProbePoint[];
  series: SeriesKind[];
}
