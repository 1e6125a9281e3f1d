// GET /v1/hints and `burnwatch hints` against a running gateway (real HTTP server, DuckDB files),
// fed the agent's metric shapes and its slow-request spans: Redis made slow behind a backend.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSpans } from '../agent/export/spans.ts';
import { HINT_KINDS, type HintsReport } from '../lambda/hints/types.ts';
import { redisDominatedSlowRequests, writeSlowRedisWorld } from '../lambda/hints/testkit.ts';
import { startGateway, type RunningGateway } from '../lambda/local/server.ts';
import { ROOT } from './lib/processes.ts';

const KEY = 'k-hints-0123456789abcdef';
const TENANT = 'acme';
const END = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const NOW = END + 5_000;
const FAULT_AT = END - 6 * 60_000;

describe('GET /v1/hints and burnwatch hints', () => {
  let dataDir: string;
  let gw: RunningGateway;
  const get = (qs: string) => fetch(`${gw.url}/v1/hints?${qs}`, { headers: { authorization: `Bearer ${KEY}` } });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'burnwatch-hints-'));
    gw = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: TENANT }, now: () => NOW, log: () => undefined });
    await writeSlowRedisWorld(gw.store, TENANT, { endMs: END, faultAtMs: FAULT_AT, minutes: 20 });
    // The backend's slow requests during the fault, as the agent exports them: Redis dominates each.
    const spans = redisDominatedSlowRequests(Array.from({ length: 4 }, (_, k) => FAULT_AT + 60_000 + k * 30_000), 300, 310);
    const res = await fetch(`${gw.url}/v1/traces`, { method: 'POST', body: Buffer.from(encodeSpans(spans)), headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-protobuf' } });
    assert.equal(res.status, 200, await res.text());
  });

  after(async () => {
    await gw?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the contract: every field, in its type, the Redis peer first with the seed rule in its evidence', async () => {
    const res = await get(`service=backend&from=${(END - 10 * 60_000) / 1000}&to=${END / 1000}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as HintsReport;
    assert.deepEqual(Object.keys(body), ['service', 'from', 'to', 'baseline', 'hints']);
    assert.equal(body.service, 'backend');
    assert.equal(body.from, (END - 10 * 60_000) / 1000);
    assert.equal(body.to, END / 1000);
    assert.deepEqual(body.baseline, { from: body.from - 10 * 60, to: body.from });
    assert.ok(body.hints.length >= 1);
    body.hints.forEach((h, i) => {
      assert.deepEqual(Object.keys(h), ['rank', 'kind', 'service', 'peer', 'summary', 'confidence', 'explained_share', 'evidence', 'chain', 'next_step']);
      assert.equal(h.rank, i + 1);
      assert.ok((HINT_KINDS as readonly string[]).includes(h.kind));
      assert.ok(h.confidence >= 0 && h.confidence <= 1 && h.explained_share >= 0 && h.explained_share <= 1);
      for (const e of h.evidence) {
        assert.deepEqual(Object.keys(e), ['metric', 'labels', 'baseline', 'incident', 'unit', 'changed_at']);
        assert.ok(e.changed_at === null || typeof e.changed_at === 'number');
      }
      assert.ok(h.chain.length >= 1 && h.chain[0] === 'backend');
    });
    const first = body.hints[0];
    assert.equal(first.kind, 'slow_dependency');
    assert.equal(first.peer, '127.0.0.1:6379');
    assert.deepEqual(first.chain, ['backend']);
    const seed = first.evidence.find((e) => e.metric === 'burnwatch.slow_requests.dominated');
    assert.equal(seed?.incident, 1, JSON.stringify(first.evidence));
  });

  test('times as /v1/query parses them (relative and RFC 3339), defaults -15m..now', async () => {
    const rel = (await (await get(`service=backend&from=-10m&to=-5s`)).json()) as HintsReport;
    assert.equal(rel.to, END / 1000);
    const rfc = (await (await get(`service=backend&from=${new Date(END - 600_000).toISOString()}&to=${new Date(END).toISOString()}`)).json()) as HintsReport;
    assert.equal(rfc.from, (END - 600_000) / 1000);
    const dflt = (await (await get('service=backend')).json()) as HintsReport;
    assert.equal(dflt.to - dflt.from, 15 * 60);
  });

  test('bad parameters are a 400 naming the parameter; an unknown service a 404', async () => {
    const cases: [string, number, RegExp][] = [
      ['from=-1h', 400, /^service: required$/],
      ['service=backend&from=yesterday', 400, /^from: "yesterday" is not a time/],
      ['service=backend&from=-1m&to=-2m', 400, /^from: must be before to$/],
      ['service=backend&from=-3d', 400, /^from: the window may span at most 24h$/],
      ['service=backend&colour=red', 400, /^colour: unknown parameter/],
      ['service=backend&service=frontend', 400, /^service: given more than once$/],
      ['service=nobody', 404, /^service "nobody": no data has been received for it from \S+Z to \S+Z \(the window and the hour before it\)$/],
    ];
    for (const [qs, status, message] of cases) {
      const res = await get(qs);
      assert.equal(res.status, status, qs);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.match(body.error.message, message, qs);
    }
    assert.equal((await fetch(`${gw.url}/v1/hints?service=backend`)).status, 401);
  });

  test('burnwatch hints prints rank, kind, where, summary and the evidence before → during', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(ROOT, 'bin/burnwatch.js'), 'hints', ...args], { env: { ...process.env, BURNWATCH_API_KEY: KEY } }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
        ),
      );
    const out = await run(['frontend', '--from', String((END - 600_000) / 1000), '--to', String(END / 1000), '--endpoint', gw.url]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.split('\n');
    assert.match(lines[0], /^hints for frontend: \S+ → \S+ \(baseline \S+ → \S+\)$/);
    assert.match(out.stdout, /^ 1\. slow_dependency\s+backend → 127\.0\.0\.1:6379   via frontend → backend$/m);
    assert.match(out.stdout, /^    · db\.client\.operation\.duration \{.*aggregation=mean\}: \d+ µs → \d+\.\d ms  \(changed \d\d:\d\d:\d\dZ\)$/m);
    assert.match(out.stdout, /^    next: /m);
    const json = await run(['frontend', '--json', '--endpoint', gw.url]);
    assert.equal((JSON.parse(json.stdout) as HintsReport).service, 'frontend');
    const unknown = await run(['nobody', '--endpoint', gw.url]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /HTTP 404: service "nobody"/);
    const usage = await run([]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /SERVICE is required/);
  });
});
