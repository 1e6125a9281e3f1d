/**
 * What each Go probe needs from a binary, declared as data. A new probe (gRPC, SQL, Redis)
 * is a new entry here — its functions and where to probe them, and the struct members its
 * BPF program reads — and `inspectGoBinary` resolves it like the others; the offsets table
 * generator measures its fields too.
 */
import type { EntryProbe } from './instructions.ts';
import type { OffsetSource } from './offsets.ts';

/** Probe the function's entry: the stack-check `jbe` when it has one, else +0. */
export interface EntryPointSpec {
  symbol: string;
  at: 'entry';
}

/** Probe every RET of the function (for calls with no cheaper exact end). Never uretprobes. */
export interface ReturnsPointSpec {
  symbol: string;
  at: 'returns';
}

export type PointSpec = EntryPointSpec | ReturnsPointSpec;

/** A struct member whose byte offset a BPF program needs. */
export interface FieldSpec {
  /** The DWARF name, e.g. "net/http.Request". */
  struct: string;
  member: string;
  /** The Go module that defines the struct (its version keys the offsets table); default "std". */
  module?: string;
}

export interface ProbeSetSpec {
  points: Record<string, PointSpec>;
  fields: Record<string, FieldSpec>;
}

export const GO_PROBE_SETS = {
  /**
   * HTTP/1 server requests: start at `serverHandler.ServeHTTP(sh, rw, req)` (req in RDI,
   * the fourth ABIInternal integer register), end at `(*response).finishRequest(w)` whose
   * receiver (RAX) carries `req` and `status` (0 = nothing written yet, i.e. 200).
   */
  httpServer: {
    points: {
      serveHttp: { symbol: 'net/http.serverHandler.ServeHTTP', at: 'entry' },
      finishRequest: { symbol: 'net/http.(*response).finishRequest', at: 'entry' },
    },
    fields: {
      requestMethod: { struct: 'net/http.Request', member: 'Method' },
      requestUrl: { struct: 'net/http.Request', member: 'URL' },
      urlPath: { struct: 'net/url.URL', member: 'Path' },
      responseReq: { struct: 'net/http.response', member: 'req' },
      responseStatus: { struct: 'net/http.response', member: 'status' },
    },
  },
} as const satisfies Record<string, ProbeSetSpec>;

export type ProbeSetName = keyof typeof GO_PROBE_SETS;

export interface ReturnProbes {
  symbol: string;
  /** File offsets of every RET. */
  fileOffsets: number[];
}

export type ResolvedPoint<P extends PointSpec> = P extends { at: 'entry' } ? EntryProbe : ReturnProbes;

export interface ResolvedProbeSet<S extends ProbeSetSpec> {
  points: { [K in keyof S['points']]: ResolvedPoint<S['points'][K]> };
  offsets: { [K in keyof S['fields']]: number };
  /** Where each offset came from: the binary's DWARF or the versioned table. */
  offsetSources: { [K in keyof S['fields']]: OffsetSource };
}

/** The probe sets that resolved for a binary (a set is absent when it did not). */
export type ResolvedProbeSets = { [K in ProbeSetName]?: ResolvedProbeSet<(typeof GO_PROBE_SETS)[K]> };

/** Every field any probe set reads, once each. */
export function allProbeFields(sets: Record<string, ProbeSetSpec> = GO_PROBE_SETS): FieldSpec[] {
  const seen = new Map<string, FieldSpec>();
  for (const set of Object.values(sets)) {
    for (const f of Object.values(set.fields)) seen.set(fieldKey(f), f);
  }
  return [...seen.values()];
}

export function fieldKey(f: FieldSpec): string {
  return `${f.module ?? 'std'}|${f.struct}.${f.member}`;
}
