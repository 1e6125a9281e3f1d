// The agent restarts itself with V8 single-threaded: same pid, same arguments and environment,
// the flag added once — with a real execve of a real node process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SINGLE_THREADED_FLAG, singleThreadedCommand } from './v8-threads.ts';
import { tempDir } from '../test/lib/processes.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

test('the command adds the flag before the node options and keeps the script and its arguments', () => {
  assert.deepEqual(singleThreadedCommand('/usr/bin/node', ['--import', 'tsx'], ['node', '/x/bin/burnwatch.js', 'agent', '--endpoint', 'http://h:1']), [
    '/usr/bin/node',
    SINGLE_THREADED_FLAG,
    '--import',
    'tsx',
    '/x/bin/burnwatch.js',
    'agent',
    '--endpoint',
    'http://h:1',
  ]);
  assert.equal(singleThreadedCommand('/usr/bin/node', ['--single-threaded', '--import', 'tsx'], ['node', '/x/a.js']), undefined);
});

test('runV8SingleThreaded replaces the process: same pid, flag on, arguments and environment kept', async () => {
  const script = path.join(tempDir('bw-v8-threads'), 'child.ts');
  fs.writeFileSync(
    script,
    `import { runV8SingleThreaded } from ${JSON.stringify(pathToFileURL(path.join(HERE, 'v8-threads.ts')).href)};
runV8SingleThreaded((line) => console.log('log ' + line));
console.log('result ' + JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2), env: process.env.BW_V8_THREADS_TEST }));
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, 'two words', '--flag=x'], {
    env: { ...process.env, BW_V8_THREADS_TEST: 'kept =value' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  const lines = out.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('log ')).length, 0, out);
  // Spawned without the flag, it has it: the image was replaced, once (the new one did not exec again).
  const results = lines.filter((l) => l.startsWith('result '));
  assert.equal(results.length, 1, out);
  const r = JSON.parse(results[0].slice('result '.length));
  assert.equal(r.pid, child.pid);
  assert.deepEqual(r.execArgv, [SINGLE_THREADED_FLAG, '--import', 'tsx']);
  assert.deepEqual(r.args, ['two words', '--flag=x']);
  assert.equal(r.env, 'kept =value');
});
