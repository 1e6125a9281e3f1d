// Which services should have their deep probes attached now (GET /v1/probes, which every agent
// polls): those with an SLO alert pending or firing — pending on purpose, so the hints and the
// slow-request breakdowns have deep data for the incident window before the page fires — and
// those someone asked for (`burnwatch probe`, the dashboard), until their request ends. The
// cool-down after an alert resolves is the agent's (it knows when it last saw the alert).

import { NO_DATA_RULE } from './definitions.ts';
import type { AlertRecord, ProbeRequest } from './store.ts';
import type { DesiredProbe } from '../../common/probes.ts';

export function desiredProbes(alerts: readonly Pick<AlertRecord, 'service' | 'slo_id' | 'rule' | 'state' | 'since_ms'>[], requests: readonly ProbeRequest[], nowMs: number): DesiredProbe[] {
  const byService = new Map<string, { since: number; slos: Set<string> }>();
  for (const a of alerts) {
    // A silent service (no data) has nothing for deeper probes to see.
    if ((a.state !== 'pending' && a.state !== 'firing') || a.rule === NO_DATA_RULE) continue;
    const e = byService.get(a.service) ?? { since: a.since_ms, slos: new Set<string>() };
    e.since = Math.min(e.since, a.since_ms);
    e.slos.add(a.slo_id);
    byService.set(a.service, e);
  }
  const out: DesiredProbe[] = [...byService].map(([service, e]) => ({ service, reason: 'alert', since_ms: e.since, slos: [...e.slos].sort() }));
  for (const r of requests) {
    if (r.until_ms > nowMs) out.push({ service: r.service, reason: 'manual', until_ms: r.until_ms, remaining_ms: r.until_ms - nowMs });
  }
  return out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.reason < b.reason ? -1 : 1));
}
