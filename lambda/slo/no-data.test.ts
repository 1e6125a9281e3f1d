// A service that stops answering burns no budget: its own `no_data` alert says so. The engine on
// the real gateway (OTLP protobuf over HTTP) and DuckDB, driven by an injected clock; then the
// same API read by `burnwatch gate` and `burnwatch slo status`, run in-process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGate } from '../../cli/gate.ts';
import { runSlo } from '../../cli/slo.ts';
import { sloSettings } from '../../cli/slo-options.ts';
import { bucketIndexForSeconds } from '../../common/exphist.ts';
import { DURATION, GatewayClient, expHistogramMetric, protobufBody, resourceMetrics } from '../../test/otlp-fixtures.ts';
import { startGateway } from '../local/server.ts';
import { emailText } from '../notify/sns.ts';
import type { AlertTransition, Notifier } from '../notify/types.ts';
import type { AlertView } from './engine.ts';
import { parseSpecText } from './spec.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 9, 0);
const TENANT = 'acme';
const KEY = 'no-data-test-key-0001';
const FAST = bucketIndexForSeconds(0.01, 5);

class Collect implements Notifier {
  readonly name = 'collect';
  readonly seen: AlertTransition[] = [];
  async notify(t: AlertTransition): Promise<void> {
    this.seen.push(t);
  }
}

async function stack(t: import('node:test').TestContext, slo: { resolutionMs?: number; noDataAfterMs?: number } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-no-data-'));
  let clock = T0;
  const notifier = new Collect();
  const gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: TENANT }, now: () => clock, log: () => undefined, slo: { ...slo, notifiers: [notifier], log: () => undefined } });
  t.after(async () => {
    await gw.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const client = new GatewayClient(gw.url, KEY);
  const send = async (service: string, endMs: number, count: number) => {
    const metric = expHistogramMetric(DURATION, [{ endMs, attributes: { 'http.route': '/pay', 'http.response.status_code': 200 }, scale: 5, buckets: { [FAST]: count } }]);
    const res = await client.postMetrics(protobufBody(resourceMetrics({ 'service.name': service }, [metric])));
    assert.equal(res.status, 200, await res.text());
  };
  const cycle = async (nowMs: number) => {
    clock = nowMs;
    return gw.slo.cycle(TENANT, nowMs);
  };
  const at = (ms: number) => (clock = ms);
  return { gw, client, notifier, send, cycle, at };
}

/** Runs a CLI command in-process against the gateway; its exit code and what it printed. */
async function cli(run: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const key = process.env.BURNWATCH_API_KEY;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  process.env.BURNWATCH_API_KEY = KEY;
  try {
    return { code: await run(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
    if (key === undefined) delete process.env.BURNWATCH_API_KEY;
    else process.env.BURNWATCH_API_KEY = key;
  }
}

test('a service that goes silent raises no_data with the last time it was seen, stays firing, resolves when data returns', async (t) => {
  const { notifier, send, cycle, at, client, gw } = await stack(t);
  // 30 minutes of requests, one report a minute ending 40 s into it; an evaluation each minute.
  for (let m = 0; m < 30; m++) {
    at(T0 + m * MIN + 40_000);
    await send('pay', T0 + m * MIN + 40_000, 50);
    await cycle(T0 + (m + 1) * MIN);
  }
  assert.equal(notifier.seen.length, 0, 'healthy: nothing to say');
  // Then nothing at all: the default silence is 10 buckets (10 minutes at 1-minute buckets).
  const firedAt: number[] = [];
  for (let m = 31; m <= 70; m++) {
    const { transitions } = await cycle(T0 + m * MIN);
    if (transitions.length > 0) firedAt.push(m);
  }
  // The last minute with requests is minute 29; [now − 10 min, now) is empty from minute 40 on.
  assert.deepEqual(firedAt, [40], 'fires once, when the silence reaches 10 minutes, and stays firing');
  assert.deepEqual(notifier.seen.map((x) => `${x.slo_id}/${x.evidence.rule}:${x.from}->${x.to}`), ['pay:availability/no_data:null->firing', 'pay:latency/no_data:null->firing']);
  const fired = notifier.seen[0];
  assert.equal(fired.severity, 'page');
  assert.equal(fired.evidence.last_seen, new Date(T0 + 29 * MIN).toISOString());
  assert.match(fired.summary, /FIRING pay: availability SLO pay:availability: NO DATA — no requests since 2026-11-20T09:29:00.000Z \(none in the last 10m/);
  // The SNS e-mail reads as silence, not as a burn rate.
  assert.match(emailText(fired), /rule no_data: no requests for 10m \(last seen 2026-11-20T09:29:00.000Z\)/);
  assert.doesNotMatch(emailText(fired), /burn ≥/);

  // What the API shows while it is silent.
  const { alerts } = await client.getJson<{ alerts: AlertView[] }>('/v1/alerts?service=pay&state=firing');
  assert.deepEqual(alerts.map((a) => [a.slo_id, a.rule, a.severity, a.state, a.last_seen]).sort(), [
    ['pay:availability', 'no_data', 'page', 'firing', '2026-11-20T09:29:00.000Z'],
    ['pay:latency', 'no_data', 'page', 'firing', '2026-11-20T09:29:00.000Z'],
  ]);
  at(T0 + 70 * MIN + 1);
  const { slos } = await client.getJson<{ slos: { id: string; status: string; last_seen?: string; total: number }[] }>('/v1/slos?service=pay');
  assert.deepEqual(slos.map((s) => [s.id, s.status, s.last_seen, s.total]), [
    ['pay:availability', 'silent', '2026-11-20T09:29:00.000Z', 1500],
    ['pay:latency', 'silent', '2026-11-20T09:29:00.000Z', 1500],
  ]);

  // The release gate fails for it, unless told that no data may pass; `slo status` shows it.
  const gate = await cli(runGate, ['pay', '--endpoint', gw.url]);
  assert.equal(gate.code, 1, gate.out);
  assert.match(gate.out, /pay:availability: 0\.0% of the 30d budget consumed .*silent: no requests since 2026-11-20T09:29:00\.000Z \(fails; --allow-no-data lets it pass\)/);
  assert.match(gate.out, /FAIL pay: no data/);
  const allowed = await cli(runGate, ['pay', '--allow-no-data', '--endpoint', gw.url]);
  assert.equal(allowed.code, 0, allowed.out);
  assert.match(allowed.out, /passes: --allow-no-data/);
  const status = await cli(runSlo, ['status', 'pay', '--endpoint', gw.url]);
  assert.equal(status.code, 0);
  assert.match(status.out, /pay:availability .* no_data:firing \(last seen 2026-11-20T09:29:00Z\)/);

  // Data returns: resolved at the next cycle, once per SLO, and the gate passes again.
  at(T0 + 70 * MIN + 30_000);
  await send('pay', T0 + 70 * MIN + 30_000, 10);
  const back = await cycle(T0 + 71 * MIN);
  assert.deepEqual(back.transitions.map((x) => `${x.slo_id}:${x.from}->${x.to}`), ['pay:availability:firing->resolved', 'pay:latency:firing->resolved']);
  assert.match(back.transitions[0].summary, /RESOLVED pay: availability SLO pay:availability: requests again \(10 in the last 10m\)/);
  assert.deepEqual(back.slos.filter((s) => s.service === 'pay').map((s) => [s.status, s.last_seen]), [['ok', undefined], ['ok', undefined]]);
  assert.equal((await cli(runGate, ['pay', '--endpoint', gw.url])).code, 0);
  for (let m = 72; m <= 75; m++) assert.deepEqual((await cycle(T0 + m * MIN)).transitions, [], 'nothing more while it answers');
  assert.equal(notifier.seen.length, 4, 'one notification per transition');
});

test('the silence scales with the resolution and is configurable; no data at all in the window fails the gate; a service silent for its whole window is retired', async (t) => {
  // 1-second buckets and a 5-second silence: the whole story in simulated seconds.
  const { notifier, send, cycle, at, gw } = await stack(t, { resolutionMs: 1000, noDataAfterMs: 5000 });
  at(T0 + 500);
  await send('fast', T0 + 500, 7);
  await cycle(T0 + 1000);
  assert.deepEqual((await cycle(T0 + 5000)).transitions, []);
  const fired = (await cycle(T0 + 6000)).transitions;
  assert.deepEqual(fired.map((x) => [x.slo_id, x.to, x.evidence.silence, x.evidence.last_seen]), [
    ['fast:availability', 'firing', '5s', new Date(T0).toISOString()],
    ['fast:latency', 'firing', '5s', new Date(T0).toISOString()],
  ]);
  // A window with no requests at all (the gate's --window shorter than the silence) fails the gate too.
  at(T0 + 7000);
  const gate = await cli(runGate, ['fast', '--window', '2s', '--endpoint', gw.url]);
  assert.equal(gate.code, 1, gate.out);
  assert.match(gate.out, /fast:availability: no data in 2s \(fails; --allow-no-data lets it pass\)/);
  assert.equal((await cli(runGate, ['fast', '--window', '2s', '--allow-no-data', '--endpoint', gw.url])).code, 0);
  assert.equal((await cli(runGate, ['fast', '--window', '2s', '--fail-on-no-data', '--endpoint', gw.url])).code, 1, 'the older flag still fails');
  // 30 days later the window is empty: the service counts as retired and stops paging.
  const retired = (await cycle(T0 + 30 * 86_400_000 + 2000)).transitions;
  assert.deepEqual(retired.map((x) => [x.slo_id, x.from, x.to]), [
    ['fast:availability', 'firing', 'resolved'],
    ['fast:latency', 'firing', 'resolved'],
  ]);
  assert.match(retired[0].summary, /no requests in its whole 30d window, so it counts as retired/);
  assert.equal(notifier.seen.length, 4);
});

test('the silence is configurable from the command line, and no burn-rate condition may take the no_data name', () => {
  const settings = (values: Record<string, string>) => sloSettings(values, () => undefined, {}).engine.noDataAfterMs;
  assert.equal(settings({}), 10 * MIN, '10 buckets of the default 1-minute resolution');
  assert.equal(settings({ 'slo-resolution': '1s' }), 10_000, 'scaled with the resolution');
  assert.equal(settings({ 'slo-no-data-after': '30m' }), 30 * MIN);
  assert.equal(settings({ 'slo-no-data-after': 'off' }), 0);
  assert.throws(() => settings({ 'slo-no-data-after': 'soon' }), /--slo-no-data-after/);
  const parsed = parseSpecText(`
apiVersion: openslo/v1
kind: SLO
metadata: { name: taken }
spec:
  service: s
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  objectives: [{ target: 0.999 }]
  alertPolicies:
    - spec:
        conditions:
          - metadata: { name: no_data }
            spec: { severity: page, condition: { kind: burnrate, threshold: 14.4, lookbackWindow: 1h } }
`, 'taken.yaml', 'file');
  assert.deepEqual(parsed.slos, []);
  assert.match(parsed.errors.map((e) => e.message).join('\n'), /"no_data" is the name of every SLO's own no-data alert/);
});
