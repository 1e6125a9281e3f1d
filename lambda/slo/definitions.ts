// SLO definitions: the one shape the evaluator works on, whether it came from an OpenSLO file, the
// API, or the defaults every discovered service gets until its owner writes their own.

import { ATTR, HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import type { AlertSeverity } from '../notify/types.ts';

export type SloKind = 'availability' | 'latency';

/** The gRPC server-duration metrics (old and new OpenTelemetry semantic-convention names). */
export const RPC_SERVER_DURATION = 'rpc.server.duration';
export const RPC_SERVER_CALL_DURATION = 'rpc.server.call.duration';
/** Metrics whose names start with this are HTTP ones (the rest: gRPC). */
export const HTTP_DURATION_PREFIX = 'http.';
export const GRPC_STATUS_ATTR = 'rpc.grpc.status_code';
export const RPC_METHOD_ATTR = 'rpc.method';

/** What an SLI counts by default: HTTP and gRPC server requests alike. */
export const DEFAULT_SLI_METRICS: readonly string[] = [HTTP_SERVER_DURATION, RPC_SERVER_DURATION, RPC_SERVER_CALL_DURATION];

/** A rolling window of fixed length, or the calendar month (UTC) that contains "now". */
export type SloWindow = { kind: 'rolling'; ms: number } | { kind: 'calendar-month' };

/**
 * Which requests an SLI counts: key → accepted values (any of them). A key is an attribute name
 * as stored (e.g. `http.route`) or a shorthand — `route`, `method`, `status` — that means the
 * HTTP attribute on HTTP metrics and the gRPC one on rpc.* metrics (FILTER_SHORTHANDS).
 */
export type SliFilter = Record<string, string[]>;

/** One multi-window burn-rate rule: alert when both windows burn faster than `factor`. */
export interface BurnRateRule {
  /** Stable within the SLO, e.g. "page-1h-5m". */
  name: string;
  severity: AlertSeverity;
  factor: number;
  longMs: number;
  shortMs: number;
  /** How long the condition must hold before pending becomes firing (0: fires at once). */
  forMs: number;
}

export interface SloDefinition {
  /** Defaults: `<service>:<kind>`; user SLOs: the spec's metadata.name. */
  id: string;
  service: string;
  kind: SloKind;
  /** Target fraction of good requests, e.g. 0.999. */
  objective: number;
  /** The histogram metrics whose requests are counted (summed). */
  metrics: readonly string[];
  filter: SliFilter;
  window: SloWindow;
  /** Latency SLOs: a request is good when its duration is at most this many seconds. */
  thresholdSeconds?: number;
  rules: readonly BurnRateRule[];
  /** 'default' (generated), 'file' (from --slo-dir) or 'api' (PUT/POST /v1/slos). */
  source: 'default' | 'file' | 'api';
  /** The file an SLO was loaded from. */
  file?: string;
  displayName?: string;
  description?: string;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 24 * HOUR;

export const DEFAULT_WINDOW_MS = 30 * DAY;
export const DEFAULT_AVAILABILITY_OBJECTIVE = 0.999;
export const DEFAULT_LATENCY_OBJECTIVE = 0.99;
export const DEFAULT_LATENCY_THRESHOLD_SECONDS = 0.3;

/** The SRE Workbook's recommended multiwindow, multi-burn-rate alerts (Table 5-8, 30-day SLO). */
export const WORKBOOK_RULES: readonly BurnRateRule[] = [
  { name: 'page-1h-5m', severity: 'page', factor: 14.4, longMs: HOUR, shortMs: 5 * MINUTE, forMs: 0 },
  { name: 'page-6h-30m', severity: 'page', factor: 6, longMs: 6 * HOUR, shortMs: 30 * MINUTE, forMs: 0 },
  { name: 'ticket-3d-6h', severity: 'ticket', factor: 1, longMs: 3 * DAY, shortMs: 6 * HOUR, forMs: 0 },
];

/** Every SLO's own alert for a service gone silent (alerts.ts stepNoData); no condition may take the name. */
export const NO_DATA_RULE = 'no_data';

/** What every discovered service gets until its owner defines an SLO of the same kind. */
export interface SloDefaults {
  /** null disables the default availability SLO. */
  availability: { objective: number } | null;
  /** null disables the default latency SLO. */
  latency: { objective: number; thresholdSeconds: number } | null;
  window: SloWindow;
  rules: readonly BurnRateRule[];
}

export const BUILTIN_DEFAULTS: SloDefaults = {
  availability: { objective: DEFAULT_AVAILABILITY_OBJECTIVE },
  latency: { objective: DEFAULT_LATENCY_OBJECTIVE, thresholdSeconds: DEFAULT_LATENCY_THRESHOLD_SECONDS },
  window: { kind: 'rolling', ms: DEFAULT_WINDOW_MS },
  rules: WORKBOOK_RULES,
};

export function sloId(service: string, kind: SloKind): string {
  return `${service}:${kind}`;
}

export function defaultSlos(service: string, defaults: SloDefaults = BUILTIN_DEFAULTS): SloDefinition[] {
  const common = { service, metrics: DEFAULT_SLI_METRICS, filter: {}, window: defaults.window, rules: defaults.rules, source: 'default' as const };
  const out: SloDefinition[] = [];
  if (defaults.availability) {
    out.push({ ...common, id: sloId(service, 'availability'), kind: 'availability', objective: defaults.availability.objective });
  }
  if (defaults.latency) {
    out.push({
      ...common,
      id: sloId(service, 'latency'),
      kind: 'latency',
      objective: defaults.latency.objective,
      thresholdSeconds: defaults.latency.thresholdSeconds,
    });
  }
  return out;
}

/** The SLOs in force for the services seen: the user's own, plus defaults for each (service, kind) they left undefined. */
export function sloSet(servicesSeen: readonly string[], userSlos: readonly SloDefinition[], defaults: SloDefaults): SloDefinition[] {
  const defined = new Set(userSlos.map((s) => `${s.service}\0${s.kind}`));
  const generated = servicesSeen.flatMap((svc) => defaultSlos(svc, defaults)).filter((s) => !defined.has(`${s.service}\0${s.kind}`));
  return [...userSlos, ...generated].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** HTTP shorthands a spec may use in a filter, and what they mean on gRPC metrics. */
export const FILTER_SHORTHANDS: Record<string, { http: string; rpc: string }> = {
  route: { http: ATTR.httpRoute, rpc: RPC_METHOD_ATTR },
  method: { http: ATTR.httpMethod, rpc: ATTR.httpMethod },
  status: { http: ATTR.httpStatus, rpc: GRPC_STATUS_ATTR },
};
