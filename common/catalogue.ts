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

export const METRICS: Readonly<Record<string, MetricDescriptor>> = {
  [HTTP_SERVER_DURATION]: {
    name: HTTP_SERVER_DURATION,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of HTTP server requests, measured in the kernel from handler entry to response finish.',
    attributes: [ATTR.httpMethod, ATTR.httpRoute, ATTR.httpStatus],
  },
};

export function describeMetric(name: string): MetricDescriptor | undefined {
  return METRICS[name];
}
