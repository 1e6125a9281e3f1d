// Slow-request thresholds: the default and per service, from the environment.
import { parseDuration } from '../../../common/duration.ts';

export interface SlowThresholds {
  /** Default slow threshold (ns) for services without their own. Default 200 ms. */
  slowThresholdNs?: bigint;
  /** Per-service slow thresholds (ns), by service name. */
  slowThresholdsByService?: Record<string, bigint>;
}

/**
 * Slow thresholds from the environment: BURNWATCH_SLOW_THRESHOLD (default for every service,
 * e.g. "200ms") and BURNWATCH_SLOW_THRESHOLDS ("checkout=500ms,search=1s", per service name).
 */
export function slowThresholdsFromEnv(env: NodeJS.ProcessEnv): SlowThresholds {
  const ns = (text: string, what: string): bigint => {
    try {
      return BigInt(Math.round(parseDuration(text) * 1e6));
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  };
  const out: SlowThresholds = {};
  if (env.BURNWATCH_SLOW_THRESHOLD) out.slowThresholdNs = ns(env.BURNWATCH_SLOW_THRESHOLD, 'BURNWATCH_SLOW_THRESHOLD');
  if (env.BURNWATCH_SLOW_THRESHOLDS) {
    out.slowThresholdsByService = {};
    for (const part of env.BURNWATCH_SLOW_THRESHOLDS.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.lastIndexOf('=');
      if (eq <= 0) throw new Error(`BURNWATCH_SLOW_THRESHOLDS: "${part}" is not service=duration`);
      out.slowThresholdsByService[part.slice(0, eq)] = ns(part.slice(eq + 1), `BURNWATCH_SLOW_THRESHOLDS (${part.slice(0, eq)})`);
    }
  }
  return out;
}
