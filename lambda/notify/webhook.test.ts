import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature, WebhookNotifier } from './webhook.ts';
import type { AlertTransition } from './types.ts';
import { hintedTransition } from '../../test/lib/alert-fixtures.ts';

const SECRET = 'shh';

const transition: AlertTransition = {
  id: 'svc:availability/page-1h-5m#1:firing',
  alert_id: 'svc:availability/page-1h-5m#1',
  slo_id: 'svc:availability',
  service: 'svc',
  tenant: 'local',
  severity: 'page',
  from: 'pending',
  to: 'firing',
  at: '2026-11-23T14:00:00.000Z',
  since: '2026-11-23T13:59:00.000Z',
  budget_remaining: 0.9,
  evidence: {
    rule: 'page-1h-5m', factor: 14.4, long_window: '1h', short_window: '5m', long_burn_rate: 20, short_burn_rate: 30,
    long_total: 1000, long_bad: 20, short_total: 100, short_bad: 3,
    burn_rates: { '5m': 30, '30m': 22, '1h': 20, '6h': 4, '1d': 1, '3d': 0.4 },
  },
  summary: 'test',
};

/** A receiver that answers with the given statuses in turn (then 200), recording what it got. */
async function receiver(t: import('node:test').TestContext, statuses: number[]) {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

test('a transition arrives as JSON with an HMAC-SHA256 signature the receiver can verify', async (t) => {
  const r = await receiver(t, []);
  await new WebhookNotifier({ url: r.url, secret: SECRET }).notify(transition);
  assert.equal(r.got.length, 1);
  const [{ headers, body }] = r.got;
  assert.deepEqual(JSON.parse(body), transition);
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers[EVENT_ID_HEADER], transition.id);
  const ts = headers[TIMESTAMP_HEADER] as string;
  assert.match(headers[SIGNATURE_HEADER] as string, /^sha256=[0-9a-f]{64}$/);
  assert.ok(verifySignature(SECRET, ts, body, headers[SIGNATURE_HEADER] as string));
  assert.ok(!verifySignature('other', ts, body, headers[SIGNATURE_HEADER] as string), 'another secret does not verify');
  assert.ok(!verifySignature(SECRET, ts, body.replace('firing', 'resolved'), headers[SIGNATURE_HEADER] as string), 'a changed body does not verify');
});

test('a firing transition carries its hints in the signed payload, as the engine stored them', async (t) => {
  const r = await receiver(t, []);
  await new WebhookNotifier({ url: r.url, secret: SECRET }).notify(hintedTransition);
  const [{ headers, body }] = r.got;
  assert.ok(verifySignature(SECRET, headers[TIMESTAMP_HEADER] as string, body, headers[SIGNATURE_HEADER] as string));
  const got = JSON.parse(body) as AlertTransition;
  assert.deepEqual(got.hints, hintedTransition.hints);
  assert.deepEqual(got.hints_meta, { status: 'computed', from: 1795441800, to: 1795442400 });
  assert.deepEqual(Object.keys(got.hints![0]), ['rank', 'kind', 'service', 'peer', 'summary', 'confidence', 'explained_share', 'evidence', 'chain', 'next_step']);
});

test('5xx answers are retried with backoff until delivered; the event id stays the same', async (t) => {
  const r = await receiver(t, [503, 500]);
  await new WebhookNotifier({ url: r.url, secret: SECRET, backoffMs: 10 }).notify(transition);
  assert.equal(r.got.length, 3);
  assert.deepEqual(new Set(r.got.map((g) => g.headers[EVENT_ID_HEADER])), new Set([transition.id]));
});

test('a 4xx refusal is not retried, and giving up rejects with the reason', async (t) => {
  const r = await receiver(t, [400]);
  await assert.rejects(new WebhookNotifier({ url: r.url, backoffMs: 10 }).notify(transition), /HTTP 400/);
  assert.equal(r.got.length, 1);
  const down = new WebhookNotifier({ url: 'http://127.0.0.1:1/hook', attempts: 2, backoffMs: 10 });
  await assert.rejects(down.notify(transition), /not delivered/);
});

test('a redirect is not followed: the signed body never reaches the Location, and the error names it', async (t) => {
  const elsewhere = await receiver(t, []);
  const got: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(req.url ?? '');
      res.writeHead(307, { location: elsewhere.url }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  await assert.rejects(
    new WebhookNotifier({ url, secret: SECRET, backoffMs: 10 }).notify(transition),
    new RegExp(`HTTP 307 redirect to ${elsewhere.url.replace(/[.]/g, '\\.')} not followed`),
  );
  assert.deepEqual(got, ['/hook'], 'asked once: a redirect is configuration, not an outage');
  assert.equal(elsewhere.got.length, 0, 'the signed body stays with the configured URL');
});
