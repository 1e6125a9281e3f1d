// The AMP store as Lambda runs it: lambda/aws/env.ts bundled by esbuild with the functions'
// settings (infra/constructs/function.ts: CJS, node20, minified, the SDK inside), loaded in a fresh
// Node process whose only credentials are the role's keys in the environment, writing and reading
// through the SigV4-verifying proxy to a real Prometheus. Catches what only a bundle breaks
// (subpath exports, the credential chain's lazy imports).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startPrometheus, type PrometheusServer } from '../../test/lib/prometheus-server.ts';
import { startSigV4Proxy, type SigV4Proxy } from '../../test/lib/sigv4-verifying-proxy.ts';

const KEYS = { accessKeyId: 'ASIABUNDLETEST', secretAccessKey: 'YnVuZGxlLXRlc3Qtc2VjcmV0LWtleS0wMDAwMDAwMDA', sessionToken: 'bundle//session+token' };

let prometheus: PrometheusServer;
let proxy: SigV4Proxy;
let dir: string;

before(async () => {
  prometheus = await startPrometheus();
  // The bundle signs with the real clock, so the proxy checks against it too.
  proxy = await startSigV4Proxy({ upstream: prometheus.url, credentials: KEYS, region: 'ap-southeast-2', service: 'aps', now: () => new Date() });
  dir = mkdtempSync(join(tmpdir(), 'burnwatch-amp-bundle-'));
});
after(async () => {
  await proxy?.close();
  await prometheus?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the bundled AMP store signs with the environment\'s keys, stores 12 points and reads them back', async () => {
  const outfile = join(dir, 'index.js');
  await build({
    entryPoints: [fileURLToPath(new URL('./env.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    outfile,
    external: ['@duckdb/node-api'],
    logLevel: 'silent',
  });
  const script = `
    const { metricStoreFromEnv } = require(${JSON.stringify(outfile)});
    (async () => {
      const store = metricStoreFromEnv();
      const t0 = BigInt(Date.now() - 600000) * 1000000n;
      const series = { metric: 'rpc.server.duration', unit: 'ms', resource: { 'service.name': 'ledger' }, attributes: { 'rpc.method': 'Post' } };
      const points = Array.from({ length: 12 }, (_, i) => ({ series, startNs: t0 + BigInt(i) * 10000000000n, endNs: t0 + BigInt(i + 1) * 10000000000n, kind: 'sum', temporality: 'delta', monotonic: true, value: i + 1 }));
      const written = await store.write('acme', points);
      const read = await store.fetchPoints({ tenant: 'acme', metric: series.metric, fromNs: t0, toNs: t0 + 1000n * 1000000000n });
      process.stdout.write(JSON.stringify({ written, values: read.map((p) => p.value).sort((a, b) => a - b) }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    BURNWATCH_STORAGE: 'amp',
    BURNWATCH_AMP_ENDPOINT: `${proxy.url}/workspaces/ws-bundle/`,
    AWS_REGION: 'ap-southeast-2',
    AWS_ACCESS_KEY_ID: KEYS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    AWS_SESSION_TOKEN: KEYS.sessionToken,
  };
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env, cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`bundle exited ${code}: ${stderr}`))));
  });
  const result = JSON.parse(out) as { written: { inserted: number; duplicates: number }; values: number[] };
  assert.deepEqual(result.written, { inserted: 12, duplicates: 0 });
  assert.deepEqual(result.values, Array.from({ length: 12 }, (_, i) => i + 1));
  assert.ok(proxy.received.length >= 2);
  for (const r of proxy.received) {
    assert.equal(r.status === 403 ? r.reason : r.status, r.url.includes('remote_write') ? 204 : 200);
    assert.match(r.headers.authorization ?? '', /Credential=ASIABUNDLETEST\/\d{8}\/ap-southeast-2\/aps\/aws4_request/);
  }
});
