// Adaptive probing end to end, all real: the Go topology (frontend net/http → gRPC + HTTP client;
// backend gRPC → PostgreSQL, Redis) under load with a fast availability SLO on the frontend, the
// gateway with its SLO engine evaluating every second, and the eBPF agent in its default probe
// mode. A burst of errors and slow orders turns the SLO pending → the costly probes attach to the
// frontend's processes within 5 s (the delay is printed) → slow-request breakdowns and per-peer
// call metrics exist for the incident window → the alert resolves → they detach after the
// cool-down, leaving no uprobe behind. Then `burnwatch probe --for`, `burnwatch status`, and the
// `always` and `minimal` modes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, BPF_OBJECT_DIR } from '../../agent/agent.ts';
import { GoCallsCollector } from '../../agent/collectors/go-calls.ts';
import { HttpServerCollector } from '../../agent/collectors/http-server.ts';
import type { ProbeMode } from '../../agent/probe-mode.ts';
import { startGateway, LOCAL_TENANT, type RunningGateway } from '../../lambda/local/server.ts';
import { startEvaluationLoop, type EvaluationLoop } from '../../lambda/slo/loop.ts';
import { BUILTIN_DEFAULTS } from '../../lambda/slo/definitions.ts';
import { GO_METRIC } from '../../common/catalogue.ts';
import { fastCheckoutPageSpec } from '../lib/alert-fixtures.ts';
import { startTopology, type Topology } from '../lib/go-topology.ts';
import { burnwatch, getJson, tempDir, waitFor } from '../lib/processes.ts';

const KEY = 'adaptive-probes-key-0123456789';
const COOLDOWN_MS = 4_000;
const tag = `${process.pid}-${Date.now() % 100_000}`;
const FRONT = `ap-front-${tag}`;
const BACK = `ap-back-${tag}`;

let topo: Topology;
let gateway: RunningGateway;
let evaluator: EvaluationLoop;
let agent: Agent | undefined;
const agentLog: string[] = [];
let frontend: number;
let backend: number;

function spec(): string {
  // Availability of /order at 99%: 14.4× burn over 60 s and 3 s, pending for 30 s before it pages
  // (long enough that the probes must come on while it is still pending).
  return fastCheckoutPageSpec({ id: 'ap-orders', service: FRONT, shortS: 3, forS: 30, route: '/order' });
}

/** The uprobes this process holds on process `pid`, as the kernel lists them (bpftool perf). */
function uprobesOn(pid: number): number {
  const list = JSON.parse(execFileSync('bpftool', ['-j', 'perf', 'list'], { encoding: 'utf8' })) as { pid: number; fd_type: string; filename?: string }[];
  return list.filter((e) => e.pid === process.pid && e.fd_type === 'uprobe' && e.filename === `/proc/${pid}/exe`).length;
}

/** Orders from 4 workers; `query()` says what each next one asks for. */
function traffic(query: () => string) {
  let stop = false;
  const workers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      await fetch(`http://127.0.0.1:${topo.frontendPort}/order?${query()}`).then((r) => r.arrayBuffer()).catch(() => undefined);
      await sleep(5);
    }
  });
  return async () => {
    stop = true;
    await Promise.all(workers);
  };
}

function startAgent(probes: ProbeMode): Promise<Agent> {
  const a = new Agent({
    endpoint: gateway.url,
    apiKey: KEY,
    spoolDir: tempDir(`bw-ap-spool-${probes}`),
    intervalMs: 1_000,
    discoveryIntervalMs: 200,
    probes,
    probeCooldownMs: COOLDOWN_MS,
    log: (l) => agentLog.push(`${new Date().toISOString()} ${l}`),
    collectors: (log) => {
      const http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log });
      return [http, new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), log, ringPollMs: 100, deepProbes: false, httpServer: http })];
    },
  });
  return a.start().then(async () => {
    for (const pid of [frontend, backend]) await waitFor(`the agent to watch pid ${pid}`, () => (a.services().has(pid) ? true : undefined), 20_000, 100);
    return a;
  });
}

const deepOf = (a: Agent, pid: number) => a.probeState().find((p) => p.pid === pid);
const logTail = () => `\n--- agent ---\n${agentLog.slice(-30).join('\n')}`;

async function alertOf(state: 'pending' | 'firing' | 'resolved') {
  const { body } = await getJson(`${gateway.url}/v1/alerts?service=${FRONT}`, KEY);
  return (body.alerts as { state: string; since: string; updated: string }[]).find((a) => a.state === state);
}

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = burnwatch(args, { BURNWATCH_API_KEY: KEY });
  const code = await new Promise<number | null>((r) => p.child.once('exit', (c) => r(c)));
  return { code, out: p.output() };
}

before(async () => {
  topo = await startTopology({ frontendService: FRONT, backendService: BACK });
  frontend = topo.frontend.child.pid!;
  backend = topo.backend.child.pid!;
  const sloDir = tempDir('bw-ap-slo');
  fs.writeFileSync(path.join(sloDir, 'orders.yaml'), spec());
  gateway = await startGateway({
    port: 0,
    dataDir: tempDir('bw-ap-gw'),
    apiKeys: { [KEY]: LOCAL_TENANT },
    log: () => undefined,
    // Only the spec's SLO: the built-in defaults (which page at once, without pending) would turn
    // services deep on their own.
    slo: { sloDir, resolutionMs: 1_000, defaults: { ...BUILTIN_DEFAULTS, availability: null, latency: null }, log: () => undefined },
  });
  evaluator = startEvaluationLoop({ engine: gateway.slo, tenant: LOCAL_TENANT, intervalMs: 1_000, log: () => undefined });
});

after(async () => {
  await agent?.stop(2_000);
  await evaluator?.stop();
  await gateway?.close();
  await topo?.stop();
});

test('adaptive: an SLO turning pending attaches the deep probes within 5 s; the incident window gets breakdowns and peer metrics; they detach after the alert resolves and the cool-down', { timeout: 240_000 }, async (t) => {
  agent = await startAgent('adaptive');
  const a = agent;
  await sleep(500);
  const redOnly = uprobesOn(frontend);
  assert.ok(redOnly > 0, 'the always-on uprobes (HTTP server RED, gRPC server, GC) are attached');
  assert.deepEqual(deepOf(a, frontend), { pid: frontend, service: FRONT, deep: false, serverRed: 'uprobes' });
  assert.equal(deepOf(a, backend)?.deep, false);

  // A healthy baseline: no probes beyond the always-on ones.
  let mode = 'ok';
  const stopTraffic = traffic(() => (mode === 'ok' ? 'ping_ms=1' : Math.random() < 0.5 ? 'fail=1' : 'pg_ms=250&ping_ms=1'));
  t.after(stopTraffic);
  await sleep(4_000);
  assert.equal(deepOf(a, frontend)?.deep, false, 'healthy: no deep probes');

  const burstAt = Date.now();
  mode = 'burst';
  let observedPendingAt = 0;
  let sinceMs = 0;
  let attachedAt = 0;
  await waitFor('the frontend to go deep', async () => {
    if (!observedPendingAt) {
      const pending = await alertOf('pending');
      if (pending) [observedPendingAt, sinceMs] = [Date.now(), Date.parse(pending.since)];
    }
    if (deepOf(a, frontend)?.deep) return (attachedAt = Date.now());
    return undefined;
  }, 60_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}${logTail()}`);
  });
  const pendingNow = await alertOf('pending');
  console.log(`# deep probes attached ${attachedAt - sinceMs} ms after the alert turned pending (${attachedAt - burstAt} ms after the burst began; the test saw pending ${observedPendingAt ? observedPendingAt - sinceMs : '?'} ms after it began)`);
  assert.ok(sinceMs > 0, 'the alert was pending');
  assert.ok(attachedAt - sinceMs <= 5_000, `attached ${attachedAt - sinceMs} ms after the trigger${logTail()}`);
  assert.ok(pendingNow, 'attached while the alert was still pending, before it paged');
  assert.equal(deepOf(a, frontend)?.reason, 'alert');
  assert.equal(deepOf(a, backend)?.deep, false, 'only the burning service');
  assert.ok(uprobesOn(frontend) > redOnly, 'deep probes add uprobes');

  // The incident window has the deep data: slow orders broken down, per-peer calls.
  const incidentFrom = Math.floor(attachedAt / 1000) + 1;
  await sleep(4_000);
  await a.collectNow();
  const slow = await waitFor('slow orders with their breakdown', async () => {
    const { body } = await getJson(`${gateway.url}/v1/slow?service=${FRONT}&from=${incidentFrom}&limit=50`, KEY);
    const withSub = (body.requests as { subcalls: { kind: string }[]; dominant: { kind: string } | null }[]).filter((r) => r.subcalls.length > 0);
    return withSub.length > 0 ? withSub : undefined;
  }, 15_000, 500);
  assert.ok(slow.some((r) => r.dominant?.kind === 'grpc'), JSON.stringify(slow.slice(0, 2)));
  const calls = await getJson(`${gateway.url}/v1/query?service=${FRONT}&metric=${GO_METRIC.rpcClientDuration}&agg=count&from=${incidentFrom}&to=now`, KEY);
  assert.equal(calls.status, 200, JSON.stringify(calls.body));
  const count = (calls.body.series as { points: [number, number][] }[]).reduce((n, s) => n + s.points.reduce((m, p) => m + p[1], 0), 0);
  assert.ok(count > 0, `gRPC client calls to the backend in the incident window: ${JSON.stringify(calls.body)}`);

  // Resolve: healthy again; the probes stay for the cool-down, then go.
  mode = 'ok';
  const resolved = await waitFor('the alert to resolve', async () => ((await alertOf('resolved')) ? Date.now() : undefined), 90_000, 100);
  await waitFor('the frontend to leave deep', () => (deepOf(a, frontend)?.deep === false ? true : undefined), COOLDOWN_MS + 45_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}${logTail()}`);
  });
  const detachedAt = Date.now();
  console.log(`# deep probes detached ${detachedAt - resolved} ms after the test saw the alert resolve (cool-down ${COOLDOWN_MS} ms)`);
  assert.ok(detachedAt - resolved >= COOLDOWN_MS - 500, `detached before the cool-down ended (${detachedAt - resolved} ms)`);
  assert.equal(uprobesOn(frontend), redOnly, 'every deep uprobe detached');
  await stopTraffic();
});

test('burnwatch probe SERVICE --for attaches within 5 s and detaches when it ends; burnwatch status shows it', { timeout: 120_000 }, async () => {
  const a = agent!;
  const asked = await cli(['probe', BACK, '--for', '15s', '--endpoint', gateway.url]);
  const askedAt = Date.now();
  assert.equal(asked.code, 0, asked.out);
  assert.match(asked.out, new RegExp(`deep probes requested for ${BACK} for 15s`));
  const wanted = await cli(['status', '--endpoint', gateway.url]);
  assert.match(wanted.out, new RegExp(`^  ${BACK} +manual +until `, 'm'), wanted.out);
  await waitFor('the backend to go deep', () => (deepOf(a, backend)?.deep ? true : undefined), 5_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}${logTail()}`);
  });
  console.log(`# manual request: deep ${Date.now() - askedAt} ms after burnwatch probe returned`);
  assert.equal(deepOf(a, backend)?.reason, 'manual');
  // The agents' reports arrive with their next export (every second here).
  await waitFor('status to show the backend deep', async () => {
    const s = await cli(['status', '--endpoint', gateway.url]);
    return new RegExp(`${BACK} +\\S+ +${backend} +deep +manual +adaptive`).test(s.out) ? s : undefined;
  }, 12_000, 500);
  await waitFor('the request to end', () => (deepOf(a, backend)?.deep === false ? true : undefined), 30_000, 100);
  const endedAfter = Date.now() - askedAt;
  assert.ok(endedAfter >= 14_500, `detached ${endedAfter} ms after a 15 s request`);

  // Bad input is a clear usage error or the API's 4xx, named.
  const bad = await cli(['probe', BACK, '--for', 'forever', '--endpoint', gateway.url]);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /for: invalid duration "forever"/);
  const unknown = await cli(['probe', `nobody-${tag}`, '--endpoint', gateway.url]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.out, /no service "nobody-.*" reported requests/);
});

test('--probes always attaches at once; --probes minimal never, even when asked', { timeout: 120_000 }, async () => {
  await agent?.stop(2_000);
  agent = undefined;
  const always = await startAgent('always');
  await waitFor('both processes deep', () => (deepOf(always, frontend)?.deep && deepOf(always, backend)?.deep ? true : undefined), 10_000, 50);
  assert.equal(deepOf(always, frontend)?.reason, 'always');
  await always.stop(2_000);

  const minimal = await startAgent('minimal');
  agent = minimal;
  assert.equal((await cli(['probe', FRONT, '--for', '1m', '--endpoint', gateway.url])).code, 0);
  await sleep(5_000);
  assert.deepEqual(deepOf(minimal, frontend), { pid: frontend, service: FRONT, deep: false, serverRed: 'uprobes' });
  await minimal.collectNow();
  const { body } = await getJson(`${gateway.url}/v1/probes/status`, KEY);
  const reported = (body.processes as { pid: number; deep: boolean; mode: string }[]).find((p) => p.pid === frontend);
  assert.deepEqual([reported?.deep, reported?.mode], [false, 'minimal']);
});
