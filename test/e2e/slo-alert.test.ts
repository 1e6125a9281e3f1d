// End to end, all real: a Go service switched to 20% errors → eBPF agent → gateway → SLO engine
// in `burnwatch up` → a page alert → a signed webhook to a real HTTP receiver; then the CLI's
// `slo status` and `gate` read the same API. Windows are shrunk by a test-only SLO spec (long 60 s,
// short 5 s) and the engine runs every 2 s on 1 s buckets, so the story takes seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../lambda/notify/webhook.ts';
import type { AlertTransition } from '../../lambda/notify/types.ts';
import { burnwatch, freePort, getJson, startFixture, tempDir, waitFor } from '../lib/processes.ts';
import { fastCheckoutPageSpec } from '../lib/alert-fixtures.ts';

const KEY = 'e2e-slo-key-0123456789';
const SECRET = 'e2e-webhook-secret';
const SHORT_S = 5;
const SLO_INTERVAL_S = 2;
const AGENT_INTERVAL_S = 1;


interface Received {
  at: number;
  transition: AlertTransition;
  verified: boolean;
}

async function webhookReceiver(t: import('node:test').TestContext, service: string) {
  const all: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const verified = verifySignature(SECRET, req.headers[TIMESTAMP_HEADER] as string, body, req.headers[SIGNATURE_HEADER] as string);
      all.push({ at: Date.now(), transition: JSON.parse(body) as AlertTransition, verified });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  // The agent watches every Go process on the host, so other tests' services can alert too: only this test's service counts.
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, get got() { return all.filter((g) => g.transition.service === service); } };
}

/** Requests to /api/checkout from 4 workers until stopped. */
function trafficTo(url: string) {
  let stop = false;
  let sent = 0;
  const workers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      await fetch(url).then((r) => r.arrayBuffer()).catch(() => undefined);
      sent++;
      await sleep(10);
    }
  });
  return { stop: async () => { stop = true; await Promise.all(workers); return sent; } };
}

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = burnwatch(args, { BURNWATCH_API_KEY: KEY });
  const code = await new Promise<number | null>((r) => p.child.once('exit', (c) => r(c)));
  return { code, out: p.output() };
}

test('20% errors → a page alert within 2 evaluation cycles of the short window filling; one signed webhook per transition; gate and status', { timeout: 120_000 }, async (t) => {
  const service = `e2e-slo-${process.pid}`;
  const hook = await webhookReceiver(t, service);
  const sloDir = tempDir('bw-e2e-slo-specs');
  fs.writeFileSync(path.join(sloDir, 'checkout.yaml'), fastCheckoutPageSpec({ id: 'e2e-checkout', service, shortS: SHORT_S, forS: SLO_INTERVAL_S }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const up = burnwatch([
    'up', '--port', String(port), '--data-dir', tempDir('bw-e2e-slo'), '--interval', `${AGENT_INTERVAL_S}s`,
    '--slo-dir', sloDir, '--slo-interval', `${SLO_INTERVAL_S}s`, '--slo-resolution', '1s', '--webhook', hook.url, '--webhook-secret', SECRET,
  ], { BURNWATCH_API_KEY: KEY });
  t.after(() => up.stop());
  await waitFor('the stack to watch processes', () => (up.output().includes('watching Go processes') ? true : undefined), 30_000);

  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  t.after(() => fixture.stop());
  await waitFor(`the agent to instrument pid ${fixture.pid}`, () => (up.output().includes(`instrumenting pid ${fixture.pid} `) ? true : undefined), 15_000, 100);

  // Errors on before any traffic, so both windows hold only the 20%-error requests: the alert
  // is then bounded by the short window filling, plus export and evaluation delays.
  assert.ok((await fetch(`${fixture.url}/admin/error-permille?value=200`)).ok);
  const errorsFrom = Date.now();
  const traffic = trafficTo(`${fixture.url}/api/checkout`);
  // A failed assertion must not leave the workers looping (they would keep the test process alive).
  t.after(() => traffic.stop());
  const firing = await waitFor('a firing webhook', () => hook.got.find((g) => g.transition.to === 'firing'), 40_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}\n--- burnwatch up ---\n${up.output().slice(-4000)}`);
  });
  const filled = errorsFrom + SHORT_S * 1000 + AGENT_INTERVAL_S * 1000;
  const bound = filled + 2 * SLO_INTERVAL_S * 1000 + 1000; // +1 s: agent → gateway → store
  t.diagnostic(`firing ${firing.at - errorsFrom} ms after the errors began (short window filled at +${filled - errorsFrom} ms, bound +${bound - errorsFrom} ms)`);
  assert.ok(firing.at <= bound, `fired ${firing.at - bound} ms after 2 evaluation cycles past the short window filling\n--- burnwatch up ---\n${up.output().slice(-4000)}`);

  const alerts = await getJson(`${base}/v1/alerts?service=${service}&state=firing`, KEY);
  assert.equal(alerts.status, 200);
  assert.equal(alerts.body.alerts.length, 1);
  const [alert] = alerts.body.alerts;
  assert.deepEqual(Object.keys(alert).slice(0, 9), ['id', 'slo_id', 'service', 'severity', 'state', 'since', 'burn_rates', 'budget_remaining', 'hints']);
  assert.deepEqual([alert.slo_id, alert.service, alert.severity, alert.state], ['e2e-checkout', service, 'page', 'firing']);
  // The firing notification carries the hints computed as it fired (`none` is an answer too: no
  // fault but the errors the service itself returns), and /v1/alerts shows the same ones.
  const hints = firing.transition.hints;
  assert.ok(Array.isArray(hints) && hints.length >= 1 && hints.length <= 3, JSON.stringify(firing.transition));
  for (const h of hints) {
    assert.deepEqual(Object.keys(h), ['rank', 'kind', 'service', 'peer', 'summary', 'confidence', 'explained_share', 'evidence', 'chain', 'next_step']);
    assert.ok(h.confidence >= 0 && h.confidence <= 1 && typeof h.summary === 'string' && h.summary.length > 0, JSON.stringify(h));
  }
  assert.equal(firing.transition.hints_meta?.status, 'computed');
  assert.deepEqual(alert.hints, hints);
  assert.ok(up.output().includes(`— ${hints[0].kind}: ${hints[0].summary}`), 'the alert line of `burnwatch up` ends with the top hint');
  assert.deepEqual(Object.keys(alert.burn_rates), ['5m', '30m', '1h', '6h', '3d']);
  assert.ok(alert.burn_rates['5m'] > 14.4, `burn ${alert.burn_rates['5m']}`);

  // Errors off: the short window empties within 5 s and the alert resolves.
  await fetch(`${fixture.url}/admin/error-permille?value=0`);
  await waitFor('a resolved webhook', () => hook.got.find((g) => g.transition.to === 'resolved'), 30_000, 50);
  const sent = await traffic.stop();
  t.diagnostic(`${sent} requests sent`);
  await sleep(3 * SLO_INTERVAL_S * 1000); // more cycles: nothing must be sent twice

  const evidence = () => `\n${hook.got.map((g) => `${new Date(g.at).toISOString()} ${g.transition.summary}`).join('\n')}\n--- burnwatch up ---\n${up.output().slice(-4000)}`;
  assert.deepEqual(hook.got.map((g) => `${g.transition.slo_id}:${g.transition.from}->${g.transition.to}`), [
    'e2e-checkout:null->pending',
    'e2e-checkout:pending->firing',
    'e2e-checkout:firing->resolved',
  ], evidence());
  assert.ok(hook.got.every((g) => g.verified), 'every notification carries a valid HMAC signature');
  const events = await getJson(`${base}/v1/alerts/events?slo_id=e2e-checkout`, KEY);
  assert.deepEqual(events.body.events.map((e: AlertTransition) => e.id), hook.got.map((g) => g.transition.id), 'each stored transition was sent once');
  assert.equal(hook.got[1].transition.evidence.long_window, '1m');
  assert.equal(hook.got[1].transition.evidence.short_window, `${SHORT_S}s`);

  const detail = await getJson(`${base}/v1/slos/e2e-checkout`, KEY);
  assert.equal(detail.status, 200);
  assert.equal(detail.body.slo.file, path.join(sloDir, 'checkout.yaml'));
  assert.ok(detail.body.slo.burn_down.length > 0);
  assert.ok(detail.body.slo.budget_remaining < 0, 'a 20% error burst overspends a 1% budget');

  const status = await cli(['slo', 'status', service, '--endpoint', base]);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /e2e-checkout\s+e2e-slo-\d+\s+availability/);
  const gate = await cli(['gate', service, '--max-burn', '0.8', '--endpoint', base]);
  assert.equal(gate.code, 1, gate.out);
  assert.match(gate.out, /FAIL/);
  const quiet = await cli(['gate', service, '--window', '1s', '--endpoint', base]);
  assert.equal(quiet.code, 1, `no requests in the last second: no data fails by default\n${quiet.out}`);
  assert.match(quiet.out, /no data/);
  const allowed = await cli(['gate', service, '--window', '1s', '--allow-no-data', '--endpoint', base]);
  assert.equal(allowed.code, 0, `--allow-no-data lets no data pass\n${allowed.out}`);
  const unknown = await cli(['gate', 'no-such-service', '--endpoint', base]);
  assert.equal(unknown.code, 2, unknown.out);
  const unreachable = await cli(['gate', service, '--endpoint', `http://127.0.0.1:${await freePort()}`]);
  assert.equal(unreachable.code, 2, unreachable.out);
  assert.match(up.output(), /alert .*FIRING .*e2e-checkout/);
});
