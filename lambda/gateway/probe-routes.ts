// Deep probes on demand and on alerts:
//   GET    /v1/probes            what every agent polls (≤2 s): services whose costly Go probes
//                                should be attached now (lambda/slo/probes.ts)
//   POST   /v1/probes            {"service": S, "for": "10m"}: a manual request (`burnwatch probe`, the dashboard)
//   DELETE /v1/probes/{service}  withdraws it
//   GET    /v1/probes/status     the above plus what the agents report attached (their
//                                burnwatch.agent.probes.deep self-metric, one export interval late)

import type { Hono } from 'hono';
import { ApiError, invalidParameter } from '../errors.ts';
import type { SloEngine } from '../slo/engine.ts';
import type { MetricStore } from '../storage/types.ts';
import { servicesSeen } from '../query/services.ts';
import { AGENT_ATTR, AGENT_METRIC, ATTR, GO_METRIC, HTTP_SERVER_DURATION } from '../../common/catalogue.ts';
import { formatDuration, parseDuration } from '../../common/duration.ts';
import { MAX_PROBE_REQUEST_MS, type DesiredProbe } from '../../common/probes.ts';
import type { TenantEnv } from './auth.ts';

const MAX_BODY_BYTES = 4096;
const MAX_SERVICE_CHARS = 256;
export const DEFAULT_PROBE_FOR_MS = 10 * 60_000;
/** A service must have been seen this recently to be probed: a typo is a 404, not a silent no-op. */
const SEEN_WITHIN_MS = 86_400_000;
/** How far back /v1/probes/status looks for the agents' reports (a few export intervals). */
const STATUS_LOOKBACK_MS = 2 * 60_000;
/**
 * Every agent asks every 2 s: one answer per tenant serves all who ask within this long (one
 * SLO-store read instead of one per agent; on AWS each is a DynamoDB query).
 */
const DESIRED_CACHE_MS = 1_000;

export interface ProbeRouteDeps {
  store: MetricStore;
  slo: () => Promise<SloEngine>;
  now: () => number;
}

export interface ProbeProcessReport {
  host: string;
  service: string;
  pid: number;
  deep: boolean;
  reason?: string;
  mode?: string;
  /** How its HTTP server requests are measured outside its deep probes: 'uprobes' or 'syscalls'. */
  server_red?: string;
  /** When the agent reported it (ms). */
  at_ms: number;
}

export function registerProbeRoutes(app: Hono<TenantEnv>, deps: ProbeRouteDeps): void {
  const cache = new Map<string, { atMs: number; services: DesiredProbe[] }>();
  const desired = async (tenant: string, fresh = false): Promise<DesiredProbe[]> => {
    const nowMs = deps.now();
    const hit = cache.get(tenant);
    if (!fresh && hit && nowMs - hit.atMs < DESIRED_CACHE_MS && nowMs >= hit.atMs) {
      // The remaining time of a manual request counts from this answer, not the cached one.
      return hit.services.map((d) => (d.until_ms === undefined ? d : { ...d, remaining_ms: Math.max(0, d.until_ms - nowMs) }));
    }
    const services = await (await deps.slo()).desiredProbes(tenant, nowMs);
    cache.set(tenant, { atMs: nowMs, services });
    return services;
  };

  app.get('/v1/probes', async (c) => c.json({ services: await desired(c.var.tenant) }));

  app.post('/v1/probes', async (c) => {
    const nowMs = deps.now();
    const { service, forMs } = parseProbeRequest(await c.req.raw.text());
    const seen = await servicesSeen(deps.store, c.var.tenant, { fromMs: nowMs - SEEN_WITHIN_MS, nowMs }, [HTTP_SERVER_DURATION, GO_METRIC.rpcServerDuration]);
    if (!seen.includes(service)) throw new ApiError(404, 'not_found', `service: no service "${service}" reported requests in the last 24h (see GET /v1/services)`);
    const request = { service, requested_ms: nowMs, until_ms: nowMs + forMs };
    await (await deps.slo()).requestProbes(c.var.tenant, request);
    cache.delete(c.var.tenant);
    return c.json({ request: { ...request, until: new Date(request.until_ms).toISOString(), for: formatDuration(forMs) } }, 201);
  });

  app.delete('/v1/probes/:service', async (c) => {
    const service = c.req.param('service');
    const live = (await desired(c.var.tenant, true)).some((d) => d.service === service && d.reason === 'manual');
    if (!live) throw new ApiError(404, 'not_found', `no probe request for service "${service}" is running`);
    const nowMs = deps.now();
    await (await deps.slo()).requestProbes(c.var.tenant, { service, requested_ms: nowMs, until_ms: nowMs });
    cache.delete(c.var.tenant);
    return c.body(null, 204);
  });

  app.get('/v1/probes/status', async (c) => {
    const nowMs = deps.now();
    const [services, processes] = await Promise.all([desired(c.var.tenant, true), reportedProcesses(deps.store, c.var.tenant, nowMs)]);
    return c.json({ services, processes });
  });
}

/** The body of POST /v1/probes, checked field by field. */
export function parseProbeRequest(text: string): { service: string; forMs: number } {
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new ApiError(413, 'payload_too_large', `a probe request is limited to ${MAX_BODY_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw invalidParameter('body', `not JSON (${(err as Error).message}); send {"service": "checkout-api", "for": "10m"}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidParameter('body', 'must be a JSON object such as {"service": "checkout-api", "for": "10m"}');
  for (const k of Object.keys(body)) if (k !== 'service' && k !== 'for') throw invalidParameter(k, 'unknown field (known: service, for)');
  const { service, for: forText } = body as { service?: unknown; for?: unknown };
  if (typeof service !== 'string' || service.trim() === '') throw invalidParameter('service', 'required: the service.name whose processes to probe');
  if (service.length > MAX_SERVICE_CHARS || /[\u0000-\u001f\u007f]/.test(service)) throw invalidParameter('service', `at most ${MAX_SERVICE_CHARS} characters, no control characters`);
  let forMs = DEFAULT_PROBE_FOR_MS;
  if (forText !== undefined) {
    if (typeof forText !== 'string') throw invalidParameter('for', 'must be a duration string such as "10m"');
    try {
      forMs = parseDuration(forText);
    } catch (err) {
      throw invalidParameter('for', (err as Error).message);
    }
    if (!(forMs > 0 && forMs <= MAX_PROBE_REQUEST_MS)) throw invalidParameter('for', `must be more than 0 and at most ${formatDuration(MAX_PROBE_REQUEST_MS)}, got "${forText}"`);
  }
  return { service: service.trim(), forMs };
}

/** The latest deep-probe report of every process the agents watch, from their self-metric. */
async function reportedProcesses(store: MetricStore, tenant: string, nowMs: number): Promise<ProbeProcessReport[]> {
  const points = await store.fetchPoints({
    tenant,
    metric: AGENT_METRIC.probesDeep,
    fromNs: BigInt(nowMs - STATUS_LOOKBACK_MS) * 1_000_000n,
    toNs: BigInt(nowMs + 60_000) * 1_000_000n,
    limit: 100_000,
  });
  const latest = new Map<string, ProbeProcessReport>();
  for (const p of points) {
    if (p.kind !== 'gauge') continue;
    const host = String(p.series.resource[ATTR.hostName] ?? '');
    const pid = Number(p.series.attributes[ATTR.processPid]);
    const key = `${host}\0${pid}`;
    const atMs = Number(p.endNs / 1_000_000n);
    if ((latest.get(key)?.at_ms ?? -1) > atMs) continue;
    const reason = p.series.attributes[AGENT_ATTR.probeReason];
    const mode = p.series.attributes[AGENT_ATTR.probeMode];
    const serverRed = p.series.attributes[AGENT_ATTR.probeServerRed];
    latest.set(key, {
      host,
      service: String(p.series.attributes[AGENT_ATTR.probeService] ?? ''),
      pid,
      deep: p.value === 1,
      ...(reason !== undefined ? { reason: String(reason) } : {}),
      ...(mode !== undefined ? { mode: String(mode) } : {}),
      ...(serverRed !== undefined ? { server_red: String(serverRed) } : {}),
      at_ms: atMs,
    });
  }
  // A process that exited stops reporting: only those heard from in the last report of their host.
  const lastOfHost = new Map<string, number>();
  for (const r of latest.values()) lastOfHost.set(r.host, Math.max(lastOfHost.get(r.host) ?? 0, r.at_ms));
  return [...latest.values()].filter((r) => r.at_ms === lastOfHost.get(r.host)).sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.pid - b.pid));
}
