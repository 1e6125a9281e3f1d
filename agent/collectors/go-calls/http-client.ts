// Outbound HTTP (bpf/lib/go_http_client.bpf.h), deep: (*Transport).roundTrip → its RETs.
import { ATTR, GO_ATTR, GO_METRIC } from '../../../common/catalogue.ts';
import type { GoCallFamily } from './family.ts';
import { KIND } from './layout.ts';

export const HTTP_CLIENT: GoCallFamily = {
  name: 'http-client',
  when: 'deep',
  points: (s) =>
    s.httpClient
      ? [
          { program: 'go_http_client_ret', returns: s.httpClient.points.roundTripReturns.fileOffsets },
          { program: 'go_http_client_start', entry: s.httpClient.points.roundTrip },
        ]
      : [],
  series: [
    {
      kind: KIND.httpClient,
      metric: GO_METRIC.httpClientDuration,
      attributes: (d) => ({
        [ATTR.httpMethod]: d.op || 'UNKNOWN',
        ...(d.status ? { [ATTR.httpStatus]: d.status } : {}),
        ...(d.error ? { [GO_ATTR.errorType]: 'error' } : {}),
      }),
      subcall: { kind: 'http', operation: (op) => op },
    },
  ],
};
