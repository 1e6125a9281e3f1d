// End to end for kernel signals: a plain C program (not Go, not instrumented) runs under
// `burnwatch up`; its CPU time, run-queue latency, page faults and start/exit reach the query
// API under its own service name (OTEL_SERVICE_NAME) with its build id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { compileC } from '../helpers/cc.ts';
import { burnwatch, freePort, getJson, tempDir, waitFor } from '../lib/processes.ts';

const KEY = 'e2e-kernel-key-0123456789';

test('a non-Go process gets a resource of its own and kernel signals in the query API', { timeout: 90_000 }, async (t) => {
  const spin = await compileC('spin');
  const buildId = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', spin], { encoding: 'utf8' }))![1];
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const up = burnwatch(['up', '--port', String(port), '--data-dir', tempDir('bw-e2e-kernel'), '--interval', '1s'], { BURNWATCH_API_KEY: KEY });
  t.after(() => up.stop());
  await waitFor('the stack to watch processes', () => (up.output().includes('watching Go processes') ? true : undefined), 30_000);
  assert.doesNotMatch(up.output(), /signal (tcp|sched|memory|block|lifecycle)/, 'every kernel signal attached on this kernel');

  const service = `bw-spin-${process.pid}`;
  const child = spawn(spin, ['600'], { env: { ...process.env, OTEL_SERVICE_NAME: service }, stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));

  const query = async (metric: string, agg: string, by = '') => {
    const r = await getJson(`${base}/v1/query?service=${service}&metric=${metric}&agg=${agg}&from=-10m&to=now${by}`, KEY);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body as { series: { labels: Record<string, string>; points: [number, number][] }[] }).series;
  };
  const total = async (metric: string) => (await query(metric, 'count')).reduce((n, s) => n + s.points[0][1], 0);

  const cpuNs = await waitFor('CPU time of the program', async () => ((await total('burnwatch.cpu.time')) > 0 ? total('burnwatch.cpu.time') : undefined), 30_000, 500);
  // At most its 0.6 s of wall time; how much of it depends on what else the machine runs.
  assert.ok(cpuNs > 0.05e9 && cpuNs < 0.7e9, `${cpuNs} ns on a CPU for a 0.6 s spin`);
  assert.ok((await total('burnwatch.sched.runqueue.latency')) > 0, 'run-queue latencies recorded');
  assert.ok((await total('burnwatch.page_faults')) > 0, 'page faults recorded');
  const starts = await query('burnwatch.process.starts', 'count', '&by=process.executable.build_id');
  assert.deepEqual(starts.map((s) => [s.labels['process.executable.build_id'], s.points[0][1]]), [[buildId, 1]]);
  const exits = await waitFor('the exit', async () => {
    const s = await query('burnwatch.process.exits', 'count', '&by=process.exit.code');
    return s.length ? s : undefined;
  }, 10_000, 500);
  assert.deepEqual(exits.map((s) => [s.labels['process.exit.code'], s.points[0][1]]), [['0', 1]]);
});
