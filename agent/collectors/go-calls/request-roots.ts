// Server requests as the roots of the slow-request breakdown (bpf/lib/go_request_roots.bpf.h):
// the maps http_server.bpf.o and go_calls.bpf.o share, so the HTTP server probe points carry
// one uprobe each, whoever needs them.
import type { BpfMap } from '../../bpf.ts';
import type { ResolvedProbeSets } from '../../goinspect/index.ts';

/** The maps of lib/go_request_roots.bpf.h both objects must see as one. */
export const REQUEST_ROOT_MAPS = ['requests', 'request_seq', 'slow_requests', 'slow_threshold', 'request_roots', 'calls_dropped'] as const;
export type RequestRootMap = (typeof REQUEST_ROOT_MAPS)[number];

/** A loaded object that holds the request-root maps (the http-server collector's). */
export interface RequestRootMapsOwner {
  requestRootMaps(): [RequestRootMap, BpfMap][];
}

/** Whether the binary makes calls the breakdown attributes (the only reason to track roots and lineage). */
export function hasSubcallProbes(s: ResolvedProbeSets): boolean {
  return Boolean(s.grpcClient || s.httpClient || s.sqlClient || s.redigo || s.redisV5);
}
