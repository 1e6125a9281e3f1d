// The agent keeps the syscall path off what Go uprobes measure (issue 20 item 2): a Go server
// the agent attaches its HTTP server probes to is marked covered before they attach, its
// requests are then counted once (by the uprobes), a non-Go server beside it stays with the
// syscall path, and an exited process is forgotten.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import type { CollectedMetrics } from '../agent/collectors/types.ts';
import { ROOT, manage, startFixture, tempDir, waitFor, type Fixture, type Managed } from './lib/processes.ts';

const SERVER = 'http.server.request.duration';
let agent: Agent;
let l7: SyscallL7Collector;
let http: HttpServerCollector;

before(async () => {
  l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => {} });
  http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  agent = new Agent({
    endpoint: 'http://127.0.0.1:9', // nothing listens: batches stay spooled
    apiKey: 'k',
    spoolDir: tempDir('bw-l7-agent-spool'),
    intervalMs: 3_600_000, // this test drains the collectors itself
    discoveryIntervalMs: 200,
    // About the uprobe path: a plaintext-only Go server would otherwise get the syscall path
    // (test/server-red-path.test.ts).
    probes: 'always',
    log: () => {},
    collectors: () => [http, l7],
  });
  await agent.start();
});
after(async () => {
  await agent.stop(100);
});

function serverCounts(got: CollectedMetrics[], pid: number): number {
  return got.filter((c) => c.pid === pid)
    .flatMap((c) => c.metrics.filter((m) => m.descriptor.name === SERVER).flatMap((m) => m.dataPoints as { value: { count: number } }[]))
    .reduce((n, p) => n + p.value.count, 0);
}

async function curl(urls: string[]): Promise<void> {
  const c = spawn('curl', ['-s', ...urls.flatMap((u) => ['-o', '/dev/null', u])], { stdio: 'ignore' });
  assert.equal(await new Promise((r) => c.once('exit', r)), 0);
}

test('a Go server under uprobes is counted once; a Python server beside it by the syscall path', async () => {
  let go: Fixture | undefined;
  let py: (Managed & { port: number }) | undefined;
  try {
    go = await startFixture('httpserver');
    const goPid = go.pid;
    await waitFor('the agent to attach to the Go server', () => (http.isAttached(goPid) ? true : undefined), 15_000, 100);
    assert.deepEqual(l7.coverageOf(goPid), { httpServer: true, httpClient: false, db: false });

    const child = spawn('/usr/bin/python3', [path.join(ROOT, 'test/fixtures/l7/python_server.py')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const m = manage(child);
    const port = await waitFor('python to listen', () => (/^\d+\n/.test(m.output()) ? Number(m.output().split('\n')[0]) : undefined), 10_000, 20);
    py = { ...m, port };

    await curl(Array.from({ length: 5 }, () => `${go!.url}/hello`));
    await curl(Array.from({ length: 3 }, (_, i) => `http://127.0.0.1:${port}/ok/${i}`));
    const got = await l7.collect({ startNs: epochNowNs() - 1n, endNs: epochNowNs(), serviceOf: () => undefined });
    assert.equal(serverCounts(got, goPid), 0, 'the syscall path counted a request the uprobes measure');
    assert.equal(serverCounts(got, child.pid!), 3);
    const uprobes = await http.drainPoints(() => 'svc');
    assert.equal(uprobes.filter((p) => p.pid === goPid).reduce((n, p) => n + p.histogram.count, 0), 5);
    assert.deepEqual(l7.coverageOf(child.pid!), { httpServer: false, httpClient: false, db: false });

    await go.stop();
    await waitFor('the agent to forget the exited Go server', () => (l7.coverageOf(goPid).httpServer ? undefined : true), 15_000, 100);
    go = undefined;
  } finally {
    await go?.stop();
    await py?.stop();
  }
});
