// The SLO and alert API: GET/POST/PUT/DELETE /v1/slos, GET /v1/alerts, GET /v1/alerts/events.
// Everything is computed by the SLO engine (lambda/slo/engine.ts); this only maps HTTP to it.

import type { Hono } from 'hono';
import { ApiError, invalidParameter } from '../errors.ts';
import type { AlertState } from '../notify/types.ts';
import type { SloWindow } from '../slo/definitions.ts';
import type { SloEngine } from '../slo/engine.ts';
import { parseDuration } from '../../common/duration.ts';
import type { TenantEnv } from './auth.ts';

const MAX_SPEC_BYTES = 256 * 1024;
const STATES: readonly AlertState[] = ['pending', 'firing', 'resolved'];

export function registerSloRoutes(app: Hono<TenantEnv>, engine: () => Promise<SloEngine>, now: () => number): void {
  app.get('/v1/slos', async (c) => {
    const service = c.req.query('service');
    const windowText = c.req.query('window');
    let window: SloWindow | undefined;
    if (windowText !== undefined) {
      try {
        window = { kind: 'rolling', ms: parseDuration(windowText) };
      } catch (err) {
        throw invalidParameter('window', (err as Error).message);
      }
      if (!(window.ms > 0 && window.ms <= 90 * 86_400_000)) throw invalidParameter('window', `must be a rolling duration up to 90d, got "${windowText}"`);
    }
    const slos = await (await engine()).statuses(c.var.tenant, now(), { window });
    return c.json({ slos: service === undefined ? slos : slos.filter((s) => s.service === service) });
  });
  app.get('/v1/slos/:id', async (c) => c.json({ slo: await (await engine()).detail(c.var.tenant, c.req.param('id'), now()) }));
  app.post('/v1/slos', async (c) => {
    const ids = await (await engine()).putSpecs(c.var.tenant, await specBody(c.req.raw), now());
    return c.json({ ids }, 201);
  });
  app.put('/v1/slos/:id', async (c) => {
    const id = c.req.param('id');
    await (await engine()).putSpecs(c.var.tenant, await specBody(c.req.raw), now(), id);
    return c.json({ ids: [id] });
  });
  app.delete('/v1/slos/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await (await engine()).deleteSpec(c.var.tenant, id))) throw new ApiError(404, 'not_found', `no API-defined SLO with id "${id}" (defaults and --slo-dir files cannot be deleted here)`);
    return c.body(null, 204);
  });
  app.get('/v1/alerts', async (c) => {
    const state = c.req.query('state');
    if (state !== undefined && !STATES.includes(state as AlertState)) throw invalidParameter('state', `must be one of ${STATES.join(', ')}, got "${state}"`);
    const alerts = await (await engine()).alerts(c.var.tenant, { service: c.req.query('service'), state: state as AlertState | undefined });
    return c.json({ alerts });
  });
  app.get('/v1/alerts/events', async (c) => c.json({ events: await (await engine()).transitions(c.var.tenant, c.req.query('slo_id')) }));
}

async function specBody(req: Request): Promise<string> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > MAX_SPEC_BYTES) throw new ApiError(413, 'payload_too_large', `SLO specs are limited to ${MAX_SPEC_BYTES} bytes`);
  const text = await req.text();
  if (Buffer.byteLength(text) > MAX_SPEC_BYTES) throw new ApiError(413, 'payload_too_large', `SLO specs are limited to ${MAX_SPEC_BYTES} bytes`);
  if (text.trim() === '') throw invalidParameter('body', 'empty; send an OpenSLO document as YAML or JSON');
  return text;
}
