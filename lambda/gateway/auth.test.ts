import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { apiKeyProblem, requireApiKey, tenantForKey, type TenantEnv } from './auth.ts';

const A = 'key-of-tenant-a-0123456789';
const B = 'key-of-tenant-b-0123456789';

test('each configured key maps to its tenant; any other string, whatever its length, to none', () => {
  for (const keys of [{ [A]: 'a', [B]: 'b' }, new Map([[A, 'a'], [B, 'b']])]) {
    assert.equal(tenantForKey(keys, A), 'a');
    assert.equal(tenantForKey(keys, B), 'b');
    for (const other of ['', 'k', A.slice(0, -1), `${A}x`, A.replace(/.$/, 'X'), 'constructor', '__proto__', 'toString', 'x'.repeat(10_000)]) {
      assert.equal(tenantForKey(keys, other), undefined, other.slice(0, 30));
    }
  }
});

test('the middleware: 401 without a bearer key or with a wrong one, the tenant otherwise', async () => {
  const app = new Hono<TenantEnv>().use('*', requireApiKey({ [A]: 'a' })).get('/who', (c) => c.text(c.var.tenant));
  app.onError((err, c) => c.text(err.message, 401));
  const who = (authorization?: string) => app.request('/who', { headers: authorization ? { authorization } : {} });
  assert.equal(await (await who(`Bearer ${A}`)).text(), 'a');
  assert.equal(await (await who(`bearer  ${A} `)).text(), 'a');
  for (const h of [undefined, A, `Basic ${A}`, `Bearer ${B}`, 'Bearer constructor']) assert.equal((await who(h)).status, 401, String(h));
});

test('a configured key must be at least 16 characters of one token; the message says where it came from', () => {
  assert.equal(apiKeyProblem(A, 'X'), undefined);
  assert.match(apiKeyProblem('short', '--api-key')!, /^the API key from --api-key has 5 characters; use at least 16/);
  assert.match(apiKeyProblem('with a space in the key', 'FILE')!, /from FILE contains whitespace/);
});
