// Connections opened before the syscall L7 programs were attached (issue 20 item 4): adopted at
// their first request — a read that starts with a request line on the server's side, a write
// that does on the client's — when the fd is a TCP socket, then measured as usual. Real
// processes: Python's http.server, and a Python http.client keep-alive client whose connection
// is opened (and used once) before the collector loads. Bytes that look like requests on a
// regular file or a UNIX socket are never a connection. Every check is per pid: other tests
// may run beside this one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import type { CollectedMetrics } from '../agent/collectors/types.ts';
import { ROOT, manage, tempDir, waitFor } from './lib/processes.ts';

const FIXTURES = path.join(ROOT, 'test/fixtures/l7');
const PYTHON = '/usr/bin/python3';

/** Request counts of `pid` in `metric`, by "METHOD route-or-port status". */
function counts(collected: CollectedMetrics[], pid: number, metric: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of collected.filter((c) => c.pid === pid)) {
    for (const m of c.metrics.filter((m) => m.descriptor.name === metric)) {
      for (const p of m.dataPoints) {
        const a = p.attributes;
        const id = [a['http.request.method'], a['http.route'] ?? a['server.port'], a['http.response.status_code']].join(' ');
        out[id] = (out[id] ?? 0) + (p.value as ExponentialHistogram).count;
      }
    }
  }
  return out;
}

test('a keep-alive connection opened before the programs were attached is adopted on both sides at its next request', async () => {
  const server = manage(spawn(PYTHON, [path.join(FIXTURES, 'python_server.py')], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const port = await waitFor('python to listen', () => /^(\d+)\n/.exec(server.output())?.[1], 10_000, 20);
  const child = spawn(PYTHON, [path.join(FIXTURES, 'keepalive_client.py'), port, '/ok/0', '/ok/1', '/ok/2', '/missing', '/fail', '/ok/3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const client = manage(child);
  let l7: SyscallL7Collector | undefined;
  try {
    await waitFor('the first request on the connection', () => (client.output().includes('ready') ? true : undefined), 10_000, 20);
    // Accepted and connected (and used) before any program ran: only its later requests are seen.
    l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l) });
    const startNs = epochNowNs();
    child.stdin!.write('go\n');
    await waitFor('the client to finish', () => (child.exitCode !== null ? true : undefined), 10_000, 20);
    assert.equal(child.exitCode, 0);
    assert.match(client.output(), /200 200 404 500 200/);
    const got = await l7.collect({ startNs, endNs: epochNowNs(), serviceOf: () => undefined });
    // The server's thread was already blocked in the read that returns /ok/1 when the programs
    // were attached: a syscall entered before has no enter to say where its bytes go, so the
    // server's side is adopted at the next request. The client's writes all come after.
    assert.deepEqual(counts(got, server.child.pid!, 'http.server.request.duration'), { 'GET /ok/{id} 200': 2, 'GET /missing 404': 1, 'GET /fail 500': 1 });
    assert.deepEqual(counts(got, child.pid!, 'http.client.request.duration'), { [`GET ${port} 200`]: 3, [`GET ${port} 404`]: 1, [`GET ${port} 500`]: 1 });
    const peer = got.find((c) => c.pid === child.pid)!.metrics.find((m) => m.descriptor.name === 'http.client.request.duration')!.dataPoints[0].attributes;
    assert.equal(peer['server.address'], '127.0.0.1');
  } finally {
    l7?.close();
    await client.stop();
    await server.stop();
  }
});

test('request and response bytes on a regular file or a UNIX socket pair are never adopted as a connection', async () => {
  const l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l) });
  try {
    const startNs = epochNowNs();
    const child = spawn(PYTHON, [path.join(FIXTURES, 'file_requests.py'), path.join(tempDir('bw-l7-adopt'), 'requests')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const proc = manage(child);
    await waitFor('the file reader to finish', () => (child.exitCode !== null ? true : undefined), 10_000, 20);
    assert.equal(child.exitCode, 0);
    assert.match(proc.output(), /done/);
    const got = await l7.collect({ startNs, endNs: epochNowNs(), serviceOf: () => undefined });
    assert.deepEqual(counts(got, child.pid!, 'http.server.request.duration'), {});
    assert.deepEqual(counts(got, child.pid!, 'http.client.request.duration'), {});
  } finally {
    l7.close();
  }
});
