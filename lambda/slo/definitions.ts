// SLO definitions. For now every service gets the defaults of design §6; per-service overrides
// (OpenSLO YAML) will produce the same shape.

import { HTTP_SERVER_DURATION } from '../../common/catalogue.ts';

export type SloKind = 'availability' | 'latency';

export interface SloDefinition {
  /** `<service>:<kind>`, stable across restarts (the alert state will be keyed by it). */
  id: string;
  service: string;
  kind: SloKind;
  /** Target fraction of good requests, e.g. 0.999. */
  objective: number;
  /** The histogram metric whose requests are counted. */
  metric: string;
  /** Rolling window the SLI covers. */
  windowMs: number;
  /** Latency SLOs: a request is good when its duration is at most this many seconds. */
  thresholdSeconds?: number;
}

export const DEFAULT_WINDOW_MS = 30 * 86_400_000;
export const DEFAULT_AVAILABILITY_OBJECTIVE = 0.999;
export const DEFAULT_LATENCY_OBJECTIVE = 0.99;
export const DEFAULT_LATENCY_THRESHOLD_SECONDS = 0.3;

export function sloId(service: string, kind: SloKind): string {
  return `${service}:${kind}`;
}

export function defaultSlos(service: string): SloDefinition[] {
  const common = { service, metric: HTTP_SERVER_DURATION, windowMs: DEFAULT_WINDOW_MS };
  return [
    { ...common, id: sloId(service, 'availability'), kind: 'availability', objective: DEFAULT_AVAILABILITY_OBJECTIVE },
    {
      ...common,
      id: sloId(service, 'latency'),
      kind: 'latency',
      objective: DEFAULT_LATENCY_OBJECTIVE,
      thresholdSeconds: DEFAULT_LATENCY_THRESHOLD_SECONDS,
    },
  ];
}
