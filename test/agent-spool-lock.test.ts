// Two real `burnwatch agent` processes on one spool directory: the second is refused with the
// owner's pid (sharing would let each one's recovery delete the other's unfinished batches), and
// the lock of an agent killed with SIGKILL does not block its restart.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startReceiver, type Receiver } from '../agent/export/testkit.ts';
import { burnwatch, tempDir, waitFor, type Managed } from './lib/processes.ts';

const KEY = 'spool-lock-test-key';
const running: Managed[] = [];
let receiver: Receiver | undefined;

after(async () => {
  for (const m of running) await m.stop('SIGKILL');
  await receiver?.close();
});

function agent(spoolDir: string): Managed {
  const m = burnwatch(['agent', '--endpoint', receiver!.url, '--interval', '1h', '--spool-dir', spoolDir], { BURNWATCH_API_KEY: KEY });
  running.push(m);
  return m;
}

async function started(m: Managed): Promise<void> {
  await waitFor('the agent to start shipping', () => {
    if (m.child.exitCode !== null) throw new Error(`agent exited ${m.child.exitCode}: ${m.output()}`);
    return m.output().includes('shipping to') ? true : undefined;
  }, 60_000);
}

const exited = (m: Managed) => new Promise<number | null>((resolve) => (m.child.exitCode !== null ? resolve(m.child.exitCode) : m.child.once('exit', (code) => resolve(code))));

test('a second agent on the same spool directory is refused; a killed agent\'s lock does not block a restart', async () => {
  receiver = await startReceiver();
  const spoolDir = path.join(tempDir('bw-spool-lock'), 'spool');
  const first = agent(spoolDir);
  await started(first);
  const lock = JSON.parse(fs.readFileSync(path.join(spoolDir, '.lock'), 'utf8'));
  assert.equal(lock.pid, first.child.pid);

  const second = agent(spoolDir);
  assert.equal(await exited(second), 1, second.output());
  assert.match(second.output(), new RegExp(`burnwatch agent: ${spoolDir} is in use by another process \\(pid ${first.child.pid}\\).*give each its own --spool-dir`));
  assert.doesNotMatch(second.output(), /\n\s+at /, 'a message, not a stack trace');
  assert.equal(first.child.exitCode, null, 'the first agent keeps running');

  await first.stop('SIGKILL');
  assert.ok(fs.existsSync(path.join(spoolDir, '.lock')), 'SIGKILL leaves the lock behind');
  const restarted = agent(spoolDir);
  await started(restarted);
  assert.equal(JSON.parse(fs.readFileSync(path.join(spoolDir, '.lock'), 'utf8')).pid, restarted.child.pid);
  assert.equal(await restarted.stop('SIGTERM'), 0, restarted.output());
  assert.ok(!fs.existsSync(path.join(spoolDir, '.lock')), 'a clean stop gives the directory up');
});
