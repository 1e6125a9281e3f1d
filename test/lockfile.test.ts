// A fresh clone's `npm start`/`npm test` run scripts/setup, whose `npm install` must find the
// committed lockfile already complete: if it rewrote package-lock.json, every clone would show
// a modified file after its first test run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, tempDir } from './lib/processes.ts';

const run = promisify(execFile);

test('npm install leaves the committed package-lock.json exactly as it is', async () => {
  const dir = tempDir('bw-lockfile');
  const { stdout: committed } = await run('git', ['show', 'HEAD:package-lock.json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.writeFileSync(path.join(dir, 'package-lock.json'), committed);
  // --package-lock-only: the resolution npm install does, without touching any node_modules.
  await run('npm', ['install', '--package-lock-only', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
  assert.ok(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === committed, 'npm install rewrote the committed lockfile: commit the one it writes');
});
