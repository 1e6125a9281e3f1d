import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentApiKey, ARGV_KEY_WARNING, resolveLocalApiKey } from './api-key.ts';
import { MIN_API_KEY_LENGTH } from '../lambda/gateway/auth.ts';

const LONG = 'env-key-0123456789abcdef';

test('the environment wins; otherwise a key is generated once (0600 in a 0700 directory) and then reused', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bw-key-')), 'data');
  assert.deepEqual(resolveLocalApiKey(dir, { BURNWATCH_API_KEY: LONG }), { key: LONG, source: 'env' });
  const first = resolveLocalApiKey(dir, {});
  assert.equal(first.source, 'generated');
  assert.match(first.key, /^bw_[A-Za-z0-9_-]{32}$/);
  assert.equal(fs.statSync(path.join(dir, 'api-key')).mode & 0o777, 0o600);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  const again = resolveLocalApiKey(dir, {});
  assert.deepEqual(again, { key: first.key, source: 'file', file: path.join(dir, 'api-key') });
});

test(`a configured key shorter than ${MIN_API_KEY_LENGTH} characters is refused, saying where it came from`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-key-'));
  assert.throws(() => resolveLocalApiKey(dir, { BURNWATCH_API_KEY: 'secret' }), /the API key from BURNWATCH_API_KEY has 6 characters; use at least 16/);
  fs.writeFileSync(path.join(dir, 'api-key'), 'short\n');
  assert.throws(() => resolveLocalApiKey(dir, {}), new RegExp(`the API key from ${dir}/api-key has 5 characters`));
  assert.throws(() => agentApiKey({ flag: 'k' }, {}, () => {}), /the API key from --api-key has 1 characters/);
});

test('the agent takes its key from a file or the environment; --api-key still works but warns', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-key-'));
  const file = path.join(dir, 'key');
  fs.writeFileSync(file, `${LONG}-file\n`, { mode: 0o600 });
  const warnings: string[] = [];
  const warn = (l: string) => warnings.push(l);
  assert.equal(agentApiKey({ file }, { BURNWATCH_API_KEY: LONG }, warn), `${LONG}-file`);
  assert.equal(agentApiKey({}, { BURNWATCH_API_KEY: LONG }, warn), LONG);
  assert.deepEqual(warnings, []);
  assert.equal(agentApiKey({ flag: `${LONG}-flag` }, {}, warn), `${LONG}-flag`);
  assert.deepEqual(warnings, [ARGV_KEY_WARNING]);
  fs.chmodSync(file, 0o644);
  agentApiKey({ file }, {}, warn);
  assert.match(warnings[1], /can be read by other users \(mode 644\); chmod 600 it/);
  assert.throws(() => agentApiKey({ file, flag: LONG }, {}, warn), /not both/);
  assert.throws(() => agentApiKey({ file: path.join(dir, 'missing') }, {}, warn), /--api-key-file: cannot read .*missing/);
  assert.throws(() => agentApiKey({}, {}, warn), /an API key is required: --api-key-file FILE or BURNWATCH_API_KEY/);
});
