// Fault: a "billion laughs" YAML bomb (nested aliases) as an SLO spec, through POST /v1/slos and
// through --slo-dir. Expanded, it would be 9^9 strings; it must be refused with a clear message
// before it expands, the gateway's memory must not grow with it, and the good specs beside it
// keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { KEY, report, startGateway, tempDir, waitFor } from './harness.ts';

const BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
  .concat('bcdefghi'.split('').map((x, i) => `${x}: &${x} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`))
  .join('\n');

const GOOD = (name: string, service: string) => `apiVersion: openslo/v1
kind: SLO
metadata: { name: ${name} }
spec:
  service: ${service}
  indicator: { spec: { ratioMetric: { bad: { metricSource: { type: burnwatch } }, total: { metricSource: { type: burnwatch } } } } }
  timeWindow: [{ duration: 7d, isRolling: true }]
  objectives: [{ target: 0.999 }]
`;

/** Peak resident memory of a process so far (kB), from the kernel's own accounting. */
function peakRssKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmHWM in /proc/PID/status');
  return Number(m[1]);
}

async function call(base: string, method: string, p: string, body?: string) {
  const res = await fetch(`${base}${p}`, { method, body, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/yaml' } });
  return { status: res.status, body: await res.json() };
}

test('a YAML bomb in an SLO spec is refused with a clear message, in the API and in --slo-dir, without memory growth', { timeout: 60_000 }, async (t) => {
  const sloDir = tempDir('bw-rel-slodir');
  fs.writeFileSync(path.join(sloDir, 'a-bomb.yaml'), BOMB);
  fs.writeFileSync(path.join(sloDir, 'b-good.yaml'), GOOD('file-good', 'payments'));
  const g = await startGateway(t, ['--slo-dir', sloDir, '--slo-interval', '1s']);
  const pid = g.proc.child.pid!;
  // Let the evaluation loop read the directory (bomb included) at least once.
  await waitFor('the bomb file to be reported', () => (/a-bomb\.yaml.*aliases/.test(g.proc.output()) ? true : undefined), 20_000);
  const peakBefore = peakRssKb(pid);

  const started = Date.now();
  const posted = await call(g.base, 'POST', '/v1/slos', BOMB);
  const refuseMs = Date.now() - started;
  assert.equal(posted.status, 400, JSON.stringify(posted.body));
  assert.equal(posted.body.error.code, 'invalid_parameter');
  assert.match(posted.body.error.message, /aliases expand to more than \d+ nodes/);

  // The same bomb hidden in a multi-document body next to a good SLO: the whole body is refused.
  const mixed = await call(g.base, 'POST', '/v1/slos', `${GOOD('api-good', 'payments')}---\n${BOMB}`);
  assert.equal(mixed.status, 400, JSON.stringify(mixed.body));
  assert.match(mixed.body.error.message, /\[1\].*aliases/);

  // The server is unharmed: a good spec is accepted, and the file SLO beside the bomb is in force.
  assert.equal((await call(g.base, 'POST', '/v1/slos', GOOD('api-good', 'payments'))).status, 201);
  const slos = await call(g.base, 'GET', '/v1/slos?service=payments');
  assert.equal(slos.status, 200, JSON.stringify(slos.body));
  const ids = slos.body.slos.map((s: { id: string }) => s.id);
  assert.ok(ids.includes('file-good') && ids.includes('api-good'), `good SLOs in force: ${ids}`);

  const growthKb = peakRssKb(pid) - peakBefore;
  // Expanded, the bomb is hundreds of millions of strings (gigabytes); refused, it costs nothing.
  assert.ok(growthKb < 64 * 1024, `peak RSS grew by ${growthKb} kB`);
  report(t, {
    fault: 'YAML bomb (9^9 alias expansion) via POST /v1/slos and --slo-dir',
    sent: `${BOMB.length}-byte spec, twice by API, once as a file`,
    stored: '0 (400 invalid_parameter; file reported in the log)',
    lost: `none (good SLOs ${ids.length} in force; peak RSS +${Math.round(growthKb / 1024)} MB)`,
    recoverMs: refuseMs,
  });
});
