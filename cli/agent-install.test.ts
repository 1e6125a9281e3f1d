// `burnwatch agent install|uninstall` through the real CLI, the unit checked by Debian's
// systemd-analyze (offline: it parses the file and checks the command it runs exists; no
// running systemd is needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_CAPABILITIES, UNIT_NAME, execWord } from './agent-unit.ts';
import { checkReadableByOthers, stateDirectoryName } from './agent-install.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/burnwatch.js');
const KEY = 'bw_unit-test-key-0123456789';

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, BURNWATCH_API_KEY: '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as NodeJS.ErrnoException & { code: number }).code as number) : 0, stdout, stderr }),
    );
  });
}

function verify(file: string): { code: number; output: string } {
  try {
    const out = execFileSync('systemd-analyze', ['verify', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, output: out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

function setup(): { dir: string; keyFile: string; unitDir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-unit-'));
  const keyFile = path.join(dir, 'api key'); // a space: the path must survive into LoadCredential=
  fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  return { dir, keyFile, unitDir: path.join(dir, 'units') };
}

/** A setting's values in a unit (every line that sets it). */
function settings(unit: string, key: string): string[] {
  return unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

test('install writes a unit systemd-analyze verifies, with the least capabilities, the spool in StateDirectory and the key by LoadCredential', async () => {
  const { keyFile, unitDir } = setup();
  // % and $ in the URL must reach the agent as written, not expanded by systemd.
  const endpoint = 'http://collector.internal:4318/base%2Fpath?x=$HOME';
  const r = await run(['agent', 'install', '--endpoint', endpoint, '--api-key-file', keyFile, '--unit-dir', unitDir, '--state-dir', '/var/lib/bw-test', '--interval', '15s']);
  assert.equal(r.code, 0, r.stderr);
  const file = path.join(unitDir, UNIT_NAME);
  assert.match(r.stdout, new RegExp(`wrote ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(fs.statSync(file).mode & 0o777, 0o644);

  const v = verify(file);
  assert.equal(v.code, 0, v.output);
  assert.equal(v.output.trim(), '', 'no warning either');

  const unit = fs.readFileSync(file, 'utf8');
  assert.ok(!unit.includes(KEY), 'the key itself is not in the unit');
  const caps = AGENT_CAPABILITIES.join(' ');
  assert.deepEqual(settings(unit, 'AmbientCapabilities'), [caps]);
  assert.deepEqual(settings(unit, 'CapabilityBoundingSet'), [caps]);
  // Every name is one systemd knows (an unknown one would be dropped without a word by verify).
  const known = execFileSync('systemd-analyze', ['capability'], { encoding: 'utf8' });
  for (const cap of AGENT_CAPABILITIES) assert.match(known, new RegExp(`^${cap.toLowerCase()}\\s`, 'm'), `${cap} known to systemd`);
  assert.deepEqual(settings(unit, 'NoNewPrivileges'), ['yes']);
  assert.deepEqual(settings(unit, 'ProtectSystem'), ['strict']);
  assert.deepEqual(settings(unit, 'DynamicUser'), ['yes']);
  assert.deepEqual(settings(unit, 'Restart'), ['on-failure']);
  assert.deepEqual(settings(unit, 'StateDirectory'), ['bw-test']);
  assert.deepEqual(settings(unit, 'LoadCredential'), [`api-key:${keyFile}`]);
  const [exec] = settings(unit, 'ExecStart');
  assert.equal(
    exec,
    `${process.execPath} ${BIN} agent --endpoint ${execWord(endpoint)} --api-key-file %d/api-key --spool-dir %S/bw-test/spool --interval 15s`,
  );
  assert.ok(exec.includes('base%%2Fpath?x=$$HOME'), exec);
  assert.deepEqual(settings(unit, 'WantedBy'), ['multi-user.target']);

  // Installing again replaces the unit (a new endpoint), it does not fail or append.
  const again = await run(['agent', 'install', '--endpoint', 'https://gw.example:8787', '--api-key-file', keyFile, '--unit-dir', unitDir]);
  assert.equal(again.code, 0, again.stderr);
  const second = fs.readFileSync(file, 'utf8');
  assert.deepEqual(settings(second, 'StateDirectory'), ['burnwatch-agent']);
  assert.match(settings(second, 'ExecStart')[0], / --endpoint https:\/\/gw\.example:8787 --api-key-file %d\/api-key --spool-dir %S\/burnwatch-agent\/spool$/);
  assert.equal(verify(file).code, 0);

  const un = await run(['agent', 'uninstall', '--unit-dir', unitDir]);
  assert.equal(un.code, 0, un.stderr);
  assert.equal(fs.existsSync(file), false);
  const twice = await run(['agent', 'uninstall', '--unit-dir', unitDir]);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /nothing to remove/);
});

test('bad install options exit 2 naming the option, and write nothing', async () => {
  const { dir, keyFile, unitDir } = setup();
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '', { mode: 0o600 });
  const cases: [string[], RegExp][] = [
    [['--api-key-file', keyFile], /--endpoint is required/],
    [['--endpoint', 'gateway:8787', '--api-key-file', keyFile], /--endpoint must be/],
    [['--endpoint', 'ftp://gw/', '--api-key-file', keyFile], /--endpoint must be http/],
    [['--endpoint', 'http://gw:8787'], /--api-key-file is required/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', path.join(dir, 'missing')], /--api-key-file: cannot read/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', empty], /is empty/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', keyFile, '--state-dir', '/etc/burnwatch'], /--state-dir must be a directory under \/var\/lib/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', keyFile, '--interval', '1500ms'], /--interval must be whole seconds/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', keyFile, '--frob'], /Unknown option '--frob'/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', keyFile, '--probes', 'sometimes'], /--probes must be one of always, adaptive, minimal, got "sometimes"/],
    [['--endpoint', 'http://gw:8787', '--api-key-file', keyFile, '--probe-cooldown', 'soon'], /--probe-cooldown: invalid duration "soon"/],
  ];
  for (const [args, message] of cases) {
    const r = await run(['agent', 'install', ...args, '--unit-dir', unitDir]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(fs.existsSync(unitDir), false, `${args.join(' ')} wrote nothing`);
  }
});

test('the state directory is a name under /var/lib, as StateDirectory= takes it', () => {
  assert.equal(stateDirectoryName(undefined), 'burnwatch-agent');
  assert.equal(stateDirectoryName('/var/lib/bw/agent'), 'bw/agent');
  assert.equal(stateDirectoryName('bw-agent'), 'bw-agent');
  for (const bad of ['/var/lib', '/var/lib/../etc', '../x', '/srv/bw', 'a b']) assert.throws(() => stateDirectoryName(bad), /--state-dir/, bad);
});

test('agent --help names install and uninstall; each has its own help', async () => {
  assert.match((await run(['agent', '--help'])).stdout, /agent install\|uninstall/);
  const install = await run(['agent', 'install', '--help']);
  assert.equal(install.code, 0);
  assert.match(install.stdout, /^Usage: burnwatch agent install --endpoint URL --api-key-file FILE/);
  const uninstall = await run(['agent', 'uninstall', '--help']);
  assert.equal(uninstall.code, 0);
  assert.match(uninstall.stdout, /^Usage: burnwatch agent uninstall/);
});

test('a CLI the service\'s own user cannot reach (a checkout under a 0700 directory) is refused, naming the directory', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-unit-private-'));
  const inner = path.join(dir, 'checkout', 'bin');
  fs.mkdirSync(inner, { recursive: true, mode: 0o755 });
  const cli = path.join(inner, 'burnwatch.js');
  fs.writeFileSync(cli, '', { mode: 0o644 });
  fs.chmodSync(path.join(dir, 'checkout'), 0o755);
  fs.chmodSync(dir, 0o700);
  assert.throws(() => checkReadableByOthers(cli), (err: Error) => err.message.includes(`${dir} is not searchable by other users (mode 700)`));
  fs.chmodSync(dir, 0o755);
  checkReadableByOthers(cli);
  fs.chmodSync(cli, 0o600);
  assert.throws(() => checkReadableByOthers(cli), /is not readable by other users \(mode 600\)/);
});

test('install passes --probes and --probe-cooldown on to the agent', async () => {
  const { keyFile, unitDir } = setup();
  const r = await run(['agent', 'install', '--endpoint', 'http://gw:8787', '--api-key-file', keyFile, '--unit-dir', unitDir, '--probes', 'minimal', '--probe-cooldown', '10m']);
  assert.equal(r.code, 0, r.stderr);
  const [exec] = settings(fs.readFileSync(path.join(unitDir, UNIT_NAME), 'utf8'), 'ExecStart');
  assert.match(exec, / --probes minimal --probe-cooldown 10m$/);
});
