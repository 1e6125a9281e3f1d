// The agent restarts itself with V8 single-threaded: same pid, same arguments and environment,
// the flag added once — with a real execve of a real node process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SINGLE_THREADED_FLAG, singleThreadedCommand } from './v8-threads.ts';
import { replaceProcess } from './bpf.ts';
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

/** Runs a node process that calls runV8SingleThreaded, then prints what it runs as. */
async function runChild(env: NodeJS.ProcessEnv): Promise<{ pid: number; lines: string[]; result: { pid: number; execArgv: string[]; args: string[]; env: string } }> {
  const script = path.join(tempDir('bw-v8-threads'), 'child.ts');
  fs.writeFileSync(
    script,
    `import { runV8SingleThreaded } from ${JSON.stringify(pathToFileURL(path.join(HERE, 'v8-threads.ts')).href)};
runV8SingleThreaded((line) => console.log('log ' + line));
console.log('result ' + JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2), env: process.env.BW_V8_THREADS_TEST }));
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, 'two words', '--flag=x'], {
    env: { ...process.env, BW_V8_THREADS_TEST: 'kept =value', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  const lines = out.trim().split('\n');
  const results = lines.filter((l) => l.startsWith('result '));
  assert.equal(results.length, 1, out);
  return { pid: child.pid!, lines, result: JSON.parse(results[0].slice('result '.length)) };
}

test('runV8SingleThreaded replaces the process: same pid, flag on, arguments and environment kept', async () => {
  const { pid, lines, result } = await runChild({ BURNWATCH_V8_THREADS: undefined });
  assert.equal(lines.filter((l) => l.startsWith('log ')).length, 0, lines.join('\n'));
  // Spawned without the flag, it has it: the image was replaced (and the new one did not exec again).
  assert.equal(result.pid, pid);
  assert.deepEqual(result.execArgv, [SINGLE_THREADED_FLAG, '--import', 'tsx']);
  assert.deepEqual(result.args, ['two words', '--flag=x']);
  assert.equal(result.env, 'kept =value');
});

test('BURNWATCH_V8_THREADS=on keeps the process as it was started', async () => {
  const { pid, result } = await runChild({ BURNWATCH_V8_THREADS: 'on' });
  assert.equal(result.pid, pid);
  assert.deepEqual(result.execArgv, ['--import', 'tsx']);
});

/** O_CLOEXEC of the process's stdio, from /proc/self/fdinfo (octal flags). */
function stdioCloseOnExec(): boolean[] {
  const O_CLOEXEC = 0o2000000;
  return [0, 1, 2].map((fd) => {
    const flags = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1];
    return (parseInt(flags, 8) & O_CLOEXEC) !== 0;
  });
}

test('a failed execve leaves the process as it was: its stdio still close-on-exec', () => {
  const before = stdioCloseOnExec();
  // The check below can only fail if some stdio fd starts close-on-exec (Node marks them so).
  assert.ok(before.some(Boolean), `no stdio fd is close-on-exec here: ${before}`);
  assert.throws(() => replaceProcess(path.join(tempDir('bw-v8-threads'), 'missing'), ['missing'], {}), /execve/);
  assert.deepEqual(stdioCloseOnExec(), before);
});
