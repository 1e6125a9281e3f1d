// gRPC (bpf/lib/go_grpc.bpf.h): the server's RED, always on (its requests are roots of the slow
// breakdown), and client calls, deep.
import { GO_ATTR, GO_METRIC } from '../../../common/catalogue.ts';
import type { GoCallFamily } from './family.ts';
import { KIND, type DecodedSeries } from './layout.ts';

/** "/pkg.Service/Method" → its parts; anything else is reported whole as the method. */
export function splitGrpcMethod(full: string): { service: string; method: string } {
  const m = /^\/?([^/]+)\/([^/]+)$/.exec(full);
  return m ? { service: m[1], method: m[2] } : { service: '', method: full };
}

function rpcAttributes(d: DecodedSeries): Record<string, string | number> {
  const { service, method } = splitGrpcMethod(d.op);
  return { [GO_ATTR.rpcSystem]: 'grpc', [GO_ATTR.rpcService]: service, [GO_ATTR.rpcMethod]: method, [GO_ATTR.rpcGrpcStatus]: d.status };
}

export const GRPC_SERVER: GoCallFamily = {
  name: 'grpc-server',
  when: 'red',
  points: (s) =>
    s.grpcServer
      ? [
          { program: 'go_grpc_server_end', entry: s.grpcServer.points.writeStatus },
          { program: 'go_grpc_server_start', entry: s.grpcServer.points.handleStream },
        ]
      : [],
  series: [{ kind: KIND.grpcServer, metric: GO_METRIC.rpcServerDuration, attributes: rpcAttributes, noPeer: true }],
};

export const GRPC_CLIENT: GoCallFamily = {
  name: 'grpc-client',
  when: 'deep',
  points: (s) =>
    s.grpcClient
      ? [
          { program: 'go_grpc_client_end', entry: s.grpcClient.points.finish },
          { program: 'go_grpc_client_start', entry: s.grpcClient.points.newAttempt },
        ]
      : [],
  series: [{ kind: KIND.grpcClient, metric: GO_METRIC.rpcClientDuration, attributes: rpcAttributes, subcall: { kind: 'grpc', operation: (op) => op } }],
};
