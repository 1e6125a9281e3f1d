// Synthetic request traffic as the agent would export it: one delta exponential-histogram point
// per (service, route, status) per interval, so SLO tests drive the real store and engine.
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import type { MetricPoint } from '../../lambda/storage/types.ts';

const NS_PER_MS = 1_000_000n;
const SCALE = 5;

export interface TrafficSlice {
  service: string;
  /** The interval the requests happened in: the points end at endMs. */
  startMs: number;
  endMs: number;
  status?: number;
  route?: string;
  metric?: string;
  /** Attributes instead of the HTTP ones (e.g. rpc.grpc.status_code). */
  attributes?: Record<string, string | number>;
  /** Request count, each at `seconds` (default 10 ms). */
  count: number;
  seconds?: number;
}

export function requestsPoint(t: TrafficSlice): MetricPoint {
  const idx = bucketIndexForSeconds(t.seconds ?? 0.01, SCALE);
  return {
    series: {
      metric: t.metric ?? HTTP_SERVER_DURATION,
      unit: 's',
      resource: { 'service.name': t.service },
      attributes: t.attributes ?? { 'http.request.method': 'GET', 'http.route': t.route ?? '/api/checkout', 'http.response.status_code': t.status ?? 200 },
    },
    startNs: BigInt(t.startMs) * NS_PER_MS,
    endNs: BigInt(t.endMs) * NS_PER_MS,
    kind: 'exponential_histogram',
    temporality: 'delta',
    count: t.count,
    sum: t.count * (t.seconds ?? 0.01),
    scale: SCALE,
    zeroCount: 0,
    offset: idx,
    counts: [t.count],
  };
}

/** One minute of traffic: `total` requests of which `bad` answered 503; ends 1 s before the minute's end. */
export function minuteOfTraffic(service: string, minuteStartMs: number, total: number, bad: number, route = '/api/checkout'): MetricPoint[] {
  const slice = { service, startMs: minuteStartMs, endMs: minuteStartMs + 59_000, route };
  const out: MetricPoint[] = [];
  if (total - bad > 0) out.push(requestsPoint({ ...slice, count: total - bad, status: 200 }));
  if (bad > 0) out.push(requestsPoint({ ...slice, count: bad, status: 503 }));
  return out;
}
