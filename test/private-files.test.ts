// What `burnwatch gateway` writes under its data directory (the DuckDB files and their WALs, the
// generated API key) is readable by its owner only, whatever the umask it was started with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { burnwatch, freePort, tempDir, waitFor } from './lib/processes.ts';
import { counterMetric, protobufBody, resourceMetrics } from './otlp-fixtures.ts';

function walk(dir: string): string[] {
  return [dir, ...fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))];
}

test('the gateway\'s data directory is 0700 and every file in it 0600, under a permissive umask', async () => {
  const dataDir = path.join(tempDir('bw-private'), 'data');
  const port = await freePort();
  const umask = process.umask(0o002); // the child inherits it: a group-writable default
  const gateway = burnwatch(['gateway', '--port', String(port), '--data-dir', dataDir], { BURNWATCH_API_KEY: '' });
  process.umask(umask);
  try {
    const key = await waitFor('the gateway to serve', async () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited: ${gateway.output()}`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return res?.status === 200 ? fs.readFileSync(path.join(dataDir, 'api-key'), 'utf8').trim() : undefined;
    }, 30_000);
    const body = protobufBody(resourceMetrics({ 'service.name': 'private' }, [counterMetric('work.items', [{ endMs: Date.now() - 1000, value: 1 }])]));
    const res = await fetch(`http://127.0.0.1:${port}/v1/metrics`, { method: 'POST', body: Buffer.from(body), headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-protobuf' } });
    assert.equal(res.status, 200, await res.text());
  } finally {
    assert.equal(await gateway.stop('SIGTERM'), 0, gateway.output());
  }
  const entries = walk(dataDir);
  assert.ok(entries.some((p) => p.endsWith('.duckdb')) && entries.some((p) => p.endsWith('api-key')), entries.join('\n'));
  for (const p of entries) {
    const st = fs.statSync(p);
    assert.equal((st.mode & 0o777).toString(8), st.isDirectory() ? '700' : '600', p);
  }
});
