// --probes and --probe-cooldown, shared by `burnwatch agent` and `burnwatch up`.
import { durationOption, UsageError } from './args.ts';
import { DEFAULT_PROBE_COOLDOWN_MS, parseProbeMode, type ProbeMode } from '../agent/probe-mode.ts';

export const PROBE_OPTIONS = {
  probes: { type: 'string' },
  'probe-cooldown': { type: 'string' },
} as const;

export const PROBE_HELP = `  --probes MODE      when the costly Go probes (client calls, SQL/Redis, lineage,
                     slow breakdowns) are attached: adaptive (default: while one of
                     the service's SLOs is pending or firing, plus the cool-down, or
                     on burnwatch probe), always, or minimal (never)
  --probe-cooldown D how long they stay after the alert resolves (default 5m)`;

export function probeSettings(values: { probes?: string; 'probe-cooldown'?: string }): { probes: ProbeMode; probeCooldownMs: number } {
  let probes: ProbeMode = 'adaptive';
  if (values.probes !== undefined) {
    try {
      probes = parseProbeMode(values.probes);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  return { probes, probeCooldownMs: durationOption(values['probe-cooldown'], 'probe-cooldown', DEFAULT_PROBE_COOLDOWN_MS) };
}
