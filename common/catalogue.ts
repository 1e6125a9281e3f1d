// The metric catalogue: the one place that names what burnwatch measures. Agent,
// gateway, query engine and docs read it; names follow OpenTelemetry semantic
// conventions where one exists, and burnwatch-specific signals use the `burnwatch.` prefix.

export type InstrumentKind = 'exponential_histogram' | 'counter' | 'gauge';

export interface MetricDescriptor {
  name: string;
  unit: string;
  kind: InstrumentKind;
  description: string;
  /** Attributes a data point of this metric may carry. */
  attributes: readonly string[];
}

export const HTTP_SERVER_DURATION = 'http.server.request.duration';

export const ATTR = {
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  serviceName: 'service.name',
  hostName: 'host.name',
  processPid: 'process.pid',
  executablePath: 'process.executable.path',
  executableName: 'process.executable.name',
  buildId: 'process.executable.build_id',
  containerId: 'container.id',
} as const;

// The agent's self-metrics (burnwatch.agent.*): what the export path sent, retried, rejected and dropped.
export const AGENT_METRIC = {
  sentBatches: 'burnwatch.agent.export.sent_batches',
  rejectedBatches: 'burnwatch.agent.export.rejected_batches',
  retries: 'burnwatch.agent.export.retries',
  droppedBatches: 'burnwatch.agent.spool.dropped_batches',
  droppedBytes: 'burnwatch.agent.spool.dropped_bytes',
  spoolBatches: 'burnwatch.agent.spool.batches',
  spoolBytes: 'burnwatch.agent.spool.bytes',
  probeDrops: 'burnwatch.agent.probe.drops',
} as const;

export const AGENT_ATTR = {
  /** Why spooled data was lost: 'size' or 'age' (a spool bound), or 'corrupt' (unreadable on disk). */
  dropReason: 'burnwatch.drop.reason',
  /** Which collector (signal) a probe-side drop happened in, e.g. 'http-server'. */
  collector: 'burnwatch.collector',
} as const;

export const METRICS: Readonly<Record<string, MetricDescriptor>> = {
  [HTTP_SERVER_DURATION]: {
    name: HTTP_SERVER_DURATION,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of HTTP server requests, measured in the kernel from handler entry to response finish.',
    attributes: [ATTR.httpMethod, ATTR.httpRoute, ATTR.httpStatus],
  },

  // ---- The agent's own health (agent/export/self-metrics.ts), exported like any other data. ----
  [AGENT_METRIC.sentBatches]: {
    name: AGENT_METRIC.sentBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'OTLP batches the agent delivered (answered with a 2xx).',
    attributes: [],
  },
  [AGENT_METRIC.rejectedBatches]: {
    name: AGENT_METRIC.rejectedBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'OTLP batches the endpoint refused as bad input (4xx); set aside in the spool\'s rejected/ directory, not retried.',
    attributes: [],
  },
  [AGENT_METRIC.retries]: {
    name: AGENT_METRIC.retries,
    unit: '{request}',
    kind: 'counter',
    description: 'Export attempts that failed and were retried (network errors, timeouts, 5xx, 429).',
    attributes: [],
  },
  [AGENT_METRIC.droppedBatches]: {
    name: AGENT_METRIC.droppedBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'Spooled batches lost before delivery: pushed out by the size or age bound, or unreadable on disk.',
    attributes: [AGENT_ATTR.dropReason],
  },
  [AGENT_METRIC.droppedBytes]: {
    name: AGENT_METRIC.droppedBytes,
    unit: 'By',
    kind: 'counter',
    description: 'Compressed bytes of the spooled batches lost before delivery.',
    attributes: [AGENT_ATTR.dropReason],
  },
  [AGENT_METRIC.spoolBatches]: {
    name: AGENT_METRIC.spoolBatches,
    unit: '{batch}',
    kind: 'gauge',
    description: 'Batches waiting in the spool.',
    attributes: [],
  },
  [AGENT_METRIC.spoolBytes]: {
    name: AGENT_METRIC.spoolBytes,
    unit: 'By',
    kind: 'gauge',
    description: 'Compressed bytes waiting in the spool.',
    attributes: [],
  },
  [AGENT_METRIC.probeDrops]: {
    name: AGENT_METRIC.probeDrops,
    unit: '{event}',
    kind: 'counter',
    description:
      'Events a collector could not record in full: a bounded kernel map was full, user memory was unreadable, or a route went over the per-service cap (counted under its overflow route).',
    attributes: [AGENT_ATTR.collector, AGENT_ATTR.dropReason],
  },
};

export function describeMetric(name: string): MetricDescriptor | undefined {
  return METRICS[name];
}
