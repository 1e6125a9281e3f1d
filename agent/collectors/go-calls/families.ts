// Every probe family of go_calls.bpf.o, in attach order, and lookups by series kind.
import type { GoCallFamily, SeriesKind } from './family.ts';
import { GC_PAUSE } from './gc-pause.ts';
import { GRPC_CLIENT, GRPC_SERVER } from './grpc.ts';
import { HTTP_CLIENT } from './http-client.ts';
import { LINEAGE } from './lineage.ts';
import { REDIS } from './redis.ts';
import { SQL } from './sql.ts';

export const GO_CALL_FAMILIES: readonly GoCallFamily[] = [GRPC_SERVER, GC_PAUSE, GRPC_CLIENT, HTTP_CLIENT, SQL, REDIS, LINEAGE];

const BY_KIND = new Map<number, SeriesKind>(GO_CALL_FAMILIES.flatMap((f) => f.series.map((s) => [s.kind, s] as const)));

export function seriesKind(kind: number): SeriesKind {
  const s = BY_KIND.get(kind);
  if (!s) throw new Error(`go_calls: unknown series kind ${kind}`);
  return s;
}

/** The series kind of a slow request's sub-call, when it is a client call. */
export function subcallSeries(kind: number): SeriesKind | undefined {
  const s = BY_KIND.get(kind);
  return s?.subcall ? s : undefined;
}
