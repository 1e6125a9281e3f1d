// The deep-probe wire contract between the gateway (GET /v1/probes, lambda/slo/probes.ts) and
// the agents that poll it (agent/probe-mode.ts).

/** One service whose costly Go probes should be attached now, and why. */
export interface DesiredProbe {
  service: string;
  /** 'alert': an SLO of the service is pending or firing; 'manual': `burnwatch probe` / the dashboard. */
  reason: 'alert' | 'manual';
  /** alert: when the earliest of the service's active alerts turned pending/firing (gateway clock, ms). */
  since_ms?: number;
  /** alert: the burning SLOs. */
  slos?: string[];
  /** manual: when the request ends (gateway clock, ms)… */
  until_ms?: number;
  /** …and how long that is from the answer: agents do not share the gateway's clock. */
  remaining_ms?: number;
}

/** GET /v1/probes. */
export interface DesiredProbes {
  services: DesiredProbe[];
}

/** The longest `burnwatch probe --for`: a forgotten request must not keep costly probes on for good. */
export const MAX_PROBE_REQUEST_MS = 24 * 3_600_000;
