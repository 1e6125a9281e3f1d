// The server RED path of a plaintext HTTP/1-only Go binary (issue 20 item 3): with the default
// probe mode its requests are counted by the syscall path, with no HTTP server uprobe attached;
// when its deep probes go on the HTTP server uprobes attach as slow-breakdown roots only, and the
// count stays with the syscall path — so a request in flight while they attach or detach is
// counted once, and the series (method, route, status) are the ones the uprobes give.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import { startGateway, LOCAL_TENANT, type RunningGateway } from '../lambda/local/server.ts';
import { startFixture, tempDir, waitFor, type Fixture } from './lib/processes.ts';

const KEY = 'server-red-path-key-0123456789';
const SERVER = 'http.server.request.duration';
const SERVICE = 'red-path-svc';
let gateway: RunningGateway;
let agent: Agent;
let http: HttpServerCollector;
let l7: SyscallL7Collector;
let go: Fixture;
const lines: string[] = [];

before(async () => {
  gateway = await startGateway({ port: 0, dataDir: tempDir('bw-red-path-gw'), apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
  http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => undefined });
  agent = new Agent({
    endpoint: gateway.url,
    apiKey: KEY,
    spoolDir: tempDir('bw-red-path-spool'),
    intervalMs: 3_600_000, // this test drains the collectors itself
    discoveryIntervalMs: 200,
    probePollMs: 500,
    log: (l) => lines.push(l),
    collectors: () => [http, l7],
  });
  // The agent first: the syscall path sees connections opened after it started.
  await agent.start();
  go = await startFixture('httpserver', { OTEL_SERVICE_NAME: SERVICE });
  await waitFor('the agent to watch the Go server', () => (agent.services().has(go.pid) ? true : undefined), 20_000, 100);
});

after(async () => {
  await agent?.stop(500);
  await go?.stop();
  await gateway?.close();
});

/** Requests of every kind the series tell apart: methods, a templated route, a query, 4xx and 5xx. */
const REQUESTS: [method: string, path: string][] = [
  ['GET', '/hello'], ['GET', '/hello'], ['GET', '/hello'],
  ['GET', '/users/42'], ['GET', '/users/7'],
  ['GET', '/fail'], ['GET', '/fail'],
  ['GET', '/sleep?ms=2'], ['GET', '/sleep?ms=oops'],
  ['POST', '/hello'], ['DELETE', '/users/9'],
  ['GET', '/no/such/page'],
  // Go's URL.Path is percent-decoded: the syscall path's raw target must give the same route.
  ['GET', '/users/a%20b'], ['GET', '/hello%21'],
];

async function send(): Promise<void> {
  for (const [method, p] of REQUESTS) {
    const c = spawn('curl', ['-s', '-o', '/dev/null', '-X', method, `${go.url}${p}`], { stdio: 'ignore' });
    assert.equal(await new Promise((r) => c.once('exit', r)), 0);
  }
}

type Series = Map<string, number>;

/** Each path's series of the Go server since the last call: attributes (sorted JSON) → count. */
async function drain(): Promise<{ uprobes: Series; syscalls: Series }> {
  const add = (m: Series, attributes: Record<string, unknown>, n: number) => {
    const key = JSON.stringify(Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1))));
    m.set(key, (m.get(key) ?? 0) + n);
  };
  const uprobes: Series = new Map();
  for (const p of await http.drainPoints(() => SERVICE)) if (p.pid === go.pid) add(uprobes, p.attributes, p.histogram.count);
  const syscalls: Series = new Map();
  const got = await l7.collect({ startNs: epochNowNs() - 1n, endNs: epochNowNs(), serviceOf: () => SERVICE });
  for (const c of got.filter((c) => c.pid === go.pid)) {
    for (const m of c.metrics.filter((m) => m.descriptor.name === SERVER)) {
      for (const p of m.dataPoints) add(syscalls, p.attributes, (p.value as ExponentialHistogram).count);
    }
  }
  return { uprobes, syscalls };
}

async function measured(): Promise<{ uprobes: Series; syscalls: Series }> {
  await drain();
  await send();
  await new Promise((r) => setTimeout(r, 300));
  return drain();
}

const total = (s: Series) => [...s.values()].reduce((a, b) => a + b, 0);
const state = () => agent.probeState().find((p) => p.pid === go.pid);

test('a plaintext HTTP/1 Go server: syscall path always, uprobes while deep as roots only, the same series as the uprobes give', { timeout: 180_000 }, async () => {
  assert.deepEqual(state(), { pid: go.pid, service: SERVICE, deep: false, serverRed: 'syscalls' });
  assert.equal(http.isAttached(go.pid), false, 'no HTTP server uprobe on a plaintext-only binary');
  assert.equal(l7.coverageOf(go.pid).httpServer, false);
  assert.ok(lines.some((l) => l.startsWith(`server RED of pid ${go.pid} (${SERVICE}): syscall path, plaintext HTTP/1 only`)), lines.join('\n'));

  const off = await measured();
  assert.equal(total(off.uprobes), 0);
  assert.equal(total(off.syscalls), REQUESTS.length, 'deep off: every request counted by the syscall path');

  const now = Date.now();
  await gateway.slo.requestProbes(LOCAL_TENANT, { service: SERVICE, requested_ms: now, until_ms: now + 600_000 });
  await waitFor('the deep probes', () => (state()?.deep ? true : undefined), 10_000, 50);
  assert.equal(http.isAttached(go.pid), true);
  assert.equal(l7.coverageOf(go.pid).httpServer, false, 'the syscall path keeps the count while deep');
  const on = await measured();
  assert.equal(total(on.uprobes), 0, 'deep on: the server uprobes are roots only, they count nothing');
  assert.deepEqual(new Map([...on.syscalls].sort()), new Map([...off.syscalls].sort()), 'deep on: the syscall path, same series');

  // The series the uprobes would give, for the same requests: counting probes on the same binary.
  const info = await inspectGoBinary(`/proc/${go.pid}/exe`);
  assert.ok(!('reason' in info) && info.probeSets.httpServer, 'the fixture has the HTTP server probe set');
  const counting = { pid: go.pid, binaryPath: `/proc/${go.pid}/exe`, binaryKey: info.fileKey, probes: info.probeSets.httpServer };
  http.detach(go.pid);
  http.attach(counting);
  const both = await measured();
  http.detach(go.pid);
  http.attach({ ...counting, rootsOnly: true }); // as the deep probes had them
  // Same metric, same attributes, same routes and statuses, same counts.
  assert.deepEqual(new Map([...both.uprobes].sort()), new Map([...both.syscalls].sort()));
  assert.deepEqual(new Map([...both.syscalls].sort()), new Map([...off.syscalls].sort()));

  await gateway.slo.requestProbes(LOCAL_TENANT, { service: SERVICE, requested_ms: Date.now(), until_ms: Date.now() });
  await waitFor('the deep probes to go', () => (state()?.deep === false ? true : undefined), 20_000, 50);
  assert.equal(http.isAttached(go.pid), false);
  assert.equal(http.inflightCount(), 0, 'no request start of the process left behind');
  const again = await measured();
  assert.equal(total(again.uprobes), 0);
  assert.deepEqual(new Map([...again.syscalls].sort()), new Map([...off.syscalls].sort()), 'deep off again: the syscall path, same series');
});

test('deep probes switched on and off under steady load: every request the server answered is counted once', { timeout: 180_000 }, async () => {
  await drain();
  // Four keep-alive clients back to back: at any moment some request is in flight.
  let answered = 0;
  let running = true;
  const clients = Array.from({ length: 4 }, async (_, i) => {
    while (running) {
      const res = await fetch(`${go.url}${i % 2 ? '/users/7' : '/fail'}`);
      await res.arrayBuffer();
      answered++;
    }
  });
  for (let k = 0; k < 4; k++) {
    await gateway.slo.requestProbes(LOCAL_TENANT, { service: SERVICE, requested_ms: Date.now(), until_ms: Date.now() + 600_000 });
    await waitFor('the deep probes', () => (state()?.deep ? true : undefined), 10_000, 50);
    await new Promise((r) => setTimeout(r, 300));
    await gateway.slo.requestProbes(LOCAL_TENANT, { service: SERVICE, requested_ms: Date.now(), until_ms: Date.now() });
    await waitFor('the deep probes to go', () => (state()?.deep === false ? true : undefined), 20_000, 50);
  }
  running = false;
  await Promise.all(clients);
  await new Promise((r) => setTimeout(r, 300));
  const { uprobes, syscalls } = await drain();
  assert.ok(answered > 100, `load ran (${answered} requests)`);
  assert.equal(total(uprobes) + total(syscalls), answered, 'each request counted once across four attaches and detaches');
  assert.equal(total(uprobes), 0, 'by the syscall path');
});
