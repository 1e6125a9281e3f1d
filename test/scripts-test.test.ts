// scripts/test's summary line: what CI reads. Skipped, cancelled and todo tests are counted, not
// hidden, and a cancelled test (a timeout, a parent that ended first) fails the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './lib/processes.ts';

function runScript(files: string[]): Promise<{ code: number; summary: string }> {
  // The nested runner must not think it is a child of this one.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile('bash', [path.join(ROOT, 'scripts/test'), ...files], { cwd: ROOT, env }, (err, stdout) => {
      const lines = stdout.trimEnd().split('\n');
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, summary: lines[lines.length - 1] });
    });
  });
}

test('the summary counts passed, failed, skipped, cancelled and todo tests; a cancelled test fails the run', async () => {
  const dir = tempDir('bw-scripts-test');
  const quiet = path.join(dir, 'quiet.test.ts');
  fs.writeFileSync(quiet, `import { test } from 'node:test';
test('ok', () => {});
test('not on this machine', { skip: 'no GPU' }, () => {});
test('later', { todo: true }, () => {});
`);
  const cut = path.join(dir, 'cut.test.ts');
  fs.writeFileSync(cut, `import { test } from 'node:test';
test('ok', () => {});
test('too slow', { timeout: 20 }, () => new Promise((r) => setTimeout(r, 500)));
`);
  const a = await runScript([quiet]);
  assert.equal(a.summary, '1 passed, 0 failed, 1 skipped, 0 cancelled, 1 todo');
  assert.equal(a.code, 0, 'skipped and todo tests are reported, not failures');
  const b = await runScript([quiet, cut]);
  assert.equal(b.summary, '2 passed, 0 failed, 1 skipped, 1 cancelled, 1 todo');
  assert.notEqual(b.code, 0);
});

test('a file whose tests ended but left a timer running still ends, and its tests are counted', { timeout: 120_000 }, async () => {
  const dir = tempDir('bw-scripts-test');
  const held = path.join(dir, 'held.test.ts');
  fs.writeFileSync(held, `import { test } from 'node:test';
test('leaves a loop behind, as a test that failed before its cleanup would', () => { setInterval(() => {}, 1000); });
`);
  const r = await runScript([held]);
  assert.equal(r.summary, '1 passed, 0 failed, 0 skipped, 0 cancelled, 0 todo');
  assert.equal(r.code, 0);
});
