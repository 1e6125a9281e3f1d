// Seed 002 made real (issue 22 item 4): a Go service whose reads take an RWMutex's read lock
// runs clean for a minute; then a background writer starts taking the write lock, the reads
// queue behind it and the service's latency burns. The whole path runs for real — the agent
// (HTTP server and go-waits collectors) ships to the local gateway, and /v1/hints is asked
// about the service under a random name — and the first hint must be `lock`, naming the
// handler that waited.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoWaitsCollector } from '../agent/collectors/go-waits.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import type { HintsReport } from '../lambda/hints/types.ts';
import { LOCAL_TENANT, startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { buildGoFixture } from './helpers/go.ts';
import { getJson, manage, tempDir, waitFor, type Managed } from './lib/processes.ts';
import { OpenLoopLoad } from './scenarios/load.ts';

const KEY = `lock-hint-${randomBytes(8).toString('hex')}`;
const SERVICE = `svc-${randomBytes(4).toString('hex')}`;
let gateway: RunningGateway;
let agent: Agent;
let server: Managed;
let port: number;

before(async () => {
  const bin = await buildGoFixture('lockserver');
  gateway = await startGateway({ port: 0, dataDir: tempDir('bw-lock-hint-gw'), apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
  agent = new Agent({
    endpoint: gateway.url,
    apiKey: KEY,
    spoolDir: tempDir('bw-lock-hint-spool'),
    intervalMs: 2_000,
    discoveryIntervalMs: 300,
    log: () => undefined,
    collectors: (log) => [
      new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log }),
      new GoWaitsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_waits.bpf.o'), log }),
    ],
  });
  await agent.start();
  const portFile = path.join(tempDir('bw-lock-hint'), 'port');
  server = manage(spawn(bin, ['-port-file', portFile], { env: { ...process.env, OTEL_SERVICE_NAME: SERVICE }, stdio: ['ignore', 'pipe', 'pipe'] }));
  port = Number(await waitFor('lockserver port', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) || undefined, 10_000, 20));
  await waitFor('the agent to watch the service', () => ([...agent.services().values()].includes(SERVICE) ? true : undefined), 15_000, 100);
});

after(async () => {
  await server?.stop();
  await agent?.stop(2_000);
  await gateway?.close();
});

test('reads queued behind a writer on an RWMutex: the first hint is `lock`, naming the reading handler', { timeout: 300_000 }, async () => {
  const load = new OpenLoopLoad(port, '/read', { rate: 20, query: 'work=2ms' });
  try {
    await sleep(70_000); // a clean baseline of several 10 s intervals
    const faultAtMs = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/refresh?hold=40ms&every=100ms`);
    assert.equal(res.status, 200, await res.text());
    let last: HintsReport | undefined;
    const deadline = faultAtMs + 150_000;
    while (Date.now() < deadline) {
      await sleep(10_000);
      await agent.collectNow();
      const r = await getJson(`${gateway.url}/v1/hints?service=${SERVICE}&from=${(faultAtMs - 20_000) / 1000}&to=${Date.now() / 1000}`, KEY);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      last = r.body as HintsReport;
      if (last.hints[0]?.kind === 'lock') break;
    }
    const top = last?.hints[0];
    assert.equal(top?.kind, 'lock', JSON.stringify(last?.hints.map((h) => [h.kind, h.summary, h.confidence])));
    assert.equal(top!.service, SERVICE);
    assert.match(top!.summary, /main\.readHandler/);
    assert.equal(top!.evidence[0].metric, 'burnwatch.go.lock.wait');
  } finally {
    const stats = await load.stop();
    assert.ok(stats.ok > 0, 'the load reached the service');
  }
});
