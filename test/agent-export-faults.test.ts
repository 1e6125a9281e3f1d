// The agent's export interval under a failing step, all real: a Go server probed by the real
// collectors, a trace spool on a full tmpfs (ENOSPC), and an OTLP receiver. The kernel maps are
// drained at the start of an interval, so a step that fails later must not take the interval's
// metrics with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { decodeMetricsRequest, startReceiver, type Receiver } from '../agent/export/testkit.ts';
import { AGENT_ATTR, AGENT_METRIC, ATTR } from '../common/catalogue.ts';
import { spawn } from 'node:child_process';
import { FIXTURE_BIN, manage, sendRequests, tempDir, waitFor, type Managed } from './lib/processes.ts';

const SLOW = 3;
const FAST = 5;
let receiver: Receiver;
let fixture: Managed & { pid: number; url: string };
let agent: Agent;
let traceDir: string;
const agentLog: string[] = [];

/** A tmpfs of `kb` KiB at `dir`, filled to the last byte: every write there fails with ENOSPC. */
function fullTmpfs(dir: string, kb: number): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k,mode=0700`, 'burnwatch-test-full', dir]);
}

function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
}

/** The topology backend alone (no databases): its HTTP /ping?ms=N is a server request with sub-call probes. */
async function startBackend(): Promise<Managed & { pid: number; url: string }> {
  const portFile = path.join(tempDir('bw-export-faults-fixture'), 'ports');
  const m = manage(spawn(path.join(FIXTURE_BIN, 'topo-backend'), ['-port-file', portFile], { env: { ...process.env, OTEL_SERVICE_NAME: 'export-faults' }, stdio: ['ignore', 'pipe', 'pipe'] }));
  const port = await waitFor('topo-backend to listen', () => {
    if (m.child.exitCode !== null) throw new Error(`topo-backend exited: ${m.output()}`);
    const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
    return text ? Number(text.split(/\s+/)[1]) : undefined;
  }, 10_000, 20);
  return { ...m, pid: m.child.pid!, url: `http://127.0.0.1:${port}` };
}

before(async () => {
  receiver = await startReceiver();
  fixture = await startBackend();
  const spoolDir = tempDir('bw-export-faults');
  traceDir = path.join(spoolDir, 'traces');
  fs.mkdirSync(traceDir);
  fullTmpfs(traceDir, 256);
  const http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  const goCalls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 100, log: (l) => agentLog.push(l), httpServer: http });
  agent = new Agent({
    endpoint: receiver.url,
    apiKey: 'export-faults-test-key',
    spoolDir,
    intervalMs: 3_600_000,
    discoveryIntervalMs: 200,
    log: (l) => agentLog.push(l),
    collectors: () => [http, goCalls],
  });
  fill(traceDir);
  await agent.start();
  await waitFor(`the agent to watch pid ${fixture.pid}`, () => (agent.services().has(fixture.pid) ? true : undefined), 15_000, 100);
  await goCalls.whenAttached(fixture.pid);
});

after(async () => {
  await agent?.stop(2_000);
  await fixture?.stop();
  await receiver?.close();
  if (traceDir) execFileSync('umount', [traceDir]);
});

test('a trace spool that cannot be written costs the spans, never the interval\'s metrics; the failure is counted', async () => {
  const urls = [...Array.from({ length: SLOW }, () => `${fixture.url}/ping?ms=250`), ...Array.from({ length: FAST }, () => `${fixture.url}/ping`)];
  assert.deepEqual([...(await sendRequests(urls, 1))], [[200, SLOW + FAST]]);
  // The ring buffer is polled every 100 ms: a few polls bring the slow records to the collector.
  await new Promise((r) => setTimeout(r, 500));
  await agent.collectNow();
  await agent.stop(5_000);

  const resources = receiver.requests.filter((r) => r.url === '/v1/metrics').flatMap((r) => decodeMetricsRequest(r.body));
  const points = (name: string, resource: (a: Record<string, unknown>) => boolean) =>
    resources.filter((r) => resource(r.attributes)).flatMap((r) => r.scopes.flatMap((s) => s.metrics.filter((m) => m.name === name).flatMap((m) => m.points)));
  const served = points('http.server.request.duration', (a) => a[ATTR.processPid] === fixture.pid).reduce((n, p) => n + (p.histogram?.count ?? 0), 0);
  assert.equal(served, SLOW + FAST, `every request of the interval is exported; agent log:\n${agentLog.join('\n')}`);

  const failures = points(AGENT_METRIC.exportFailures, (a) => a[ATTR.serviceName] === 'burnwatch-agent');
  const spoolTraces = failures.filter((p) => p.attributes[AGENT_ATTR.exportStep] === 'spool_traces').reduce((n, p) => n + (p.value ?? 0), 0);
  assert.equal(spoolTraces, 1, agentLog.join("\n") + 'the one interval with slow requests failed to spool its spans, and says so');
  assert.equal(failures.filter((p) => p.attributes[AGENT_ATTR.exportStep] !== 'spool_traces').length, 0);
  assert.ok(agentLog.some((l) => /export step spool_traces failed.*ENOSPC/.test(l)), agentLog.join('\n'));
  assert.equal(receiver.requests.filter((r) => r.url === '/v1/traces').length, 0);
});
