// The real Agent (export path, spool, shipper, Prometheus exposition hook) fed by a collector that
// reports requests a test scripts instead of eBPF, so counts are known exactly and no probe,
// root or fixture service is needed. Each scripted service is one made-up process: a pid no
// kernel hands out, with its identity remembered the way collectors report exited processes.

import { ATTR, HTTP_SERVER_DURATION, KERNEL_METRIC, METRICS } from '../../common/catalogue.ts';
import { bucketIndexForSeconds, histogramFromBuckets } from '../../common/exphist.ts';
import { Agent, type AgentOptions } from '../../agent/agent.ts';
import { exponentialHistogramMetric, numberMetric, type ExpHistogramPoint } from '../../agent/export/otlp.ts';
import type { CollectedMetrics, CollectWindow, Collector } from '../../agent/collectors/types.ts';

export interface ScriptedRequest {
  service: string;
  route: string;
  status: number;
  seconds: number;
}

/** Beyond Linux's largest pid_max (2^22): never a live process, so the remembered identity is used. */
const FIRST_PID = 2 ** 30;

export class ScriptedCollector implements Collector {
  readonly name = 'scripted';
  private pending: ScriptedRequest[] = [];
  private readonly pids = new Map<string, number>();

  record(requests: readonly ScriptedRequest[]): void {
    this.pending.push(...requests);
  }

  async collect(window: CollectWindow): Promise<CollectedMetrics[]> {
    const byService = new Map<string, ScriptedRequest[]>();
    for (const r of this.pending) byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
    this.pending = [];
    return [...byService].map(([service, requests]) => {
      let pid = this.pids.get(service);
      if (pid === undefined) this.pids.set(service, (pid = FIRST_PID + this.pids.size));
      const groups = new Map<string, ScriptedRequest[]>();
      for (const r of requests) groups.set(`${r.route}\0${r.status}`, [...(groups.get(`${r.route}\0${r.status}`) ?? []), r]);
      const points: ExpHistogramPoint[] = [...groups.values()].map((rs) => {
        const buckets = new Map<number, number>();
        for (const r of rs) buckets.set(bucketIndexForSeconds(r.seconds, 5), (buckets.get(bucketIndexForSeconds(r.seconds, 5)) ?? 0) + 1);
        return {
          attributes: { [ATTR.httpMethod]: 'GET', [ATTR.httpRoute]: rs[0].route, [ATTR.httpStatus]: rs[0].status },
          startTimeNs: window.startNs,
          endTimeNs: window.endNs,
          histogram: histogramFromBuckets(5, buckets, Math.round(rs.reduce((a, r) => a + r.seconds, 0) * 1e9)),
        };
      });
      const retransmits = numberMetric(METRICS[KERNEL_METRIC.tcpRetransmits], [
        { attributes: { 'server.address': '10.9.8.7', 'server.port': 6379 }, startTimeNs: window.startNs, endTimeNs: window.endNs, value: requests.length },
      ]);
      return {
        pid,
        metrics: [exponentialHistogramMetric(METRICS[HTTP_SERVER_DURATION], points), retransmits],
        identity: { pid, startTime: 1, comm: service.slice(0, 15), serviceName: service },
      };
    });
  }

  close(): void {}
}

/** Interval k's requests: a fixed mix of routes, statuses and durations (none in (0.25 s, 0.5 s], so a 0.3 s threshold sits in an empty bucket). */
export function scriptedRequests(services: readonly string[], k: number): ScriptedRequest[] {
  const durations = [0.003, 0.02, 0.1, 0.2, 0.6, 1.5];
  const out: ScriptedRequest[] = [];
  services.forEach((service, s) => {
    const n = 5 + ((k * 7 + s * 3) % 9);
    for (let i = 0; i < n; i++) {
      out.push({
        service,
        route: i % 2 === 0 ? '/orders/{id}' : '/pay',
        status: (k + i + s) % 6 === 0 ? 503 : (k + i) % 11 === 0 ? 404 : 200,
        seconds: durations[(k * 5 + i * 3 + s) % durations.length],
      });
    }
  });
  return out;
}

/** An Agent whose only collector is a ScriptedCollector; discovery is not started (collectNow drives it). */
export function scriptedAgent(opts: Omit<AgentOptions, 'collectors'>): { agent: Agent; collector: ScriptedCollector } {
  const collector = new ScriptedCollector();
  const agent = new Agent({ log: () => undefined, ...opts, collectors: () => [collector] });
  return { agent, collector };
}
