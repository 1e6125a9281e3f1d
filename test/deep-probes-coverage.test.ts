// The coverage handoff between the go-calls deep probes and the syscall L7 path (issue 20 items
// 2, 3), all real: the Go topology's frontend makes plaintext outbound HTTP calls; while its deep
// probes are off the syscall path counts them, while they are on the uprobes do — each call once,
// never by both, never by neither — across off → on → off driven by a probe request at the gateway.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import type { Collector } from '../agent/collectors/types.ts';
import { startGateway, LOCAL_TENANT, type RunningGateway } from '../lambda/local/server.ts';
import { startTopology, get, type Topology } from './lib/go-topology.ts';
import { tempDir, waitFor } from './lib/processes.ts';

const KEY = 'deep-coverage-key-0123456789';
const CLIENT = 'http.client.request.duration';
let topo: Topology;
let gateway: RunningGateway;
let agent: Agent;
let calls: GoCallsCollector;
let l7: SyscallL7Collector;
let frontend: number;
let windowNs = 1n;

before(async () => {
  topo = await startTopology();
  frontend = topo.frontend.child.pid!;
  gateway = await startGateway({ port: 0, dataDir: tempDir('bw-deep-cov-gw'), apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
  const http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  calls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), deepProbes: false, log: () => undefined, httpServer: http });
  l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => undefined });
  agent = new Agent({
    endpoint: gateway.url,
    apiKey: KEY,
    spoolDir: tempDir('bw-deep-cov-spool'),
    intervalMs: 3_600_000, // this test drains the collectors itself
    discoveryIntervalMs: 200,
    probePollMs: 500,
    probeCooldownMs: 1_000,
    log: () => undefined,
    collectors: () => [http, calls, l7],
  });
  // The agent first: connections opened before it started are not the syscall path's.
  await agent.start();
  await waitFor('the agent to watch the frontend', () => (agent.services().has(frontend) ? true : undefined), 20_000, 100);
});

after(async () => {
  await agent?.stop(500);
  await gateway?.close();
  await topo?.stop();
});

async function clientCalls(c: Collector): Promise<number> {
  const startNs = windowNs;
  windowNs += 1n;
  const got = await c.collect({ startNs, endNs: windowNs, serviceOf: () => undefined });
  return got
    .filter((m) => m.pid === frontend)
    .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === CLIENT).flatMap((d) => d.dataPoints as { value: unknown }[]))
    .reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0);
}

/** `n` orders, each making one outbound HTTP call; then who counted them. */
async function orders(n: number): Promise<{ uprobes: number; syscalls: number }> {
  await clientCalls(calls);
  await clientCalls(l7);
  for (let i = 0; i < n; i++) assert.equal(await get(topo.frontendPort, '/order?ping_ms=1'), 200);
  await new Promise((r) => setTimeout(r, 300));
  return { uprobes: await clientCalls(calls), syscalls: await clientCalls(l7) };
}

const deep = () => agent.probeState().find((p) => p.pid === frontend)?.deep;

test('outbound HTTP of a Go process: counted by the syscall path while its deep probes are off, by the uprobes while on, once either way', { timeout: 180_000 }, async () => {
  assert.equal(deep(), false);
  assert.deepEqual(await orders(6), { uprobes: 0, syscalls: 6 }, 'deep off: the syscall path');

  const now = Date.now();
  await gateway.slo.requestProbes(LOCAL_TENANT, { service: topo.frontendService, requested_ms: now, until_ms: now + 600_000 });
  await waitFor('the deep probes', () => (deep() ? true : undefined), 10_000, 50);
  assert.deepEqual(await orders(6), { uprobes: 6, syscalls: 0 }, 'deep on: the uprobes');

  await gateway.slo.requestProbes(LOCAL_TENANT, { service: topo.frontendService, requested_ms: Date.now(), until_ms: Date.now() });
  await waitFor('the deep probes to go', () => (deep() === false ? true : undefined), 20_000, 50);
  assert.deepEqual(await orders(6), { uprobes: 0, syscalls: 6 }, 'deep off again: the syscall path');
});
