import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveLocalApiKey } from './api-key.ts';

test('the environment wins; otherwise a key is generated once and then reused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-key-'));
  assert.deepEqual(resolveLocalApiKey(dir, { BURNWATCH_API_KEY: 'k1' }), { key: 'k1', source: 'env' });
  const first = resolveLocalApiKey(dir, {});
  assert.equal(first.source, 'generated');
  assert.match(first.key, /^bw_[A-Za-z0-9_-]{32}$/);
  assert.equal(fs.statSync(path.join(dir, 'api-key')).mode & 0o777, 0o600);
  const again = resolveLocalApiKey(dir, {});
  assert.deepEqual(again, { key: first.key, source: 'file', file: path.join(dir, 'api-key') });
});
