import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/burnwatch.js');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, BURNWATCH_API_KEY: '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as NodeJS.ErrnoException & { code: number }).code as number) : 0, stdout, stderr }),
    );
  });
}

test('every command has --help', async () => {
  const top = await run(['--help']);
  assert.equal(top.code, 0);
  for (const command of ['up', 'agent', 'gateway']) {
    assert.match(top.stdout, new RegExp(`\\b${command}\\b`));
    const r = await run([command, '--help']);
    assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: burnwatch ${command}`));
  }
});

test('bad usage exits 2 and says what is wrong', async () => {
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);

  const badPort = await run(['up', '--port', 'eighty']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--port must be a port number/);

  const noEndpoint = await run(['agent']);
  assert.equal(noEndpoint.code, 2);
  assert.match(noEndpoint.stderr, /--endpoint is required/);

  const badInterval = await run(['agent', '--endpoint', 'http://127.0.0.1:1', '--api-key', 'main-test-key-0123456789', '--interval', 'soon']);
  assert.equal(badInterval.code, 2);
  assert.match(badInterval.stderr, /--interval: invalid duration "soon"/);

  const badOption = await run(['gateway', '--colour']);
  assert.equal(badOption.code, 2);
  assert.match(badOption.stderr, /Unknown option '--colour'/);
});
