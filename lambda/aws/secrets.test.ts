import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseApiKeysSecret } from './secrets.ts';

test('the API keys secret: tenant → key or keys, inverted for the gateway; bad ones named', () => {
  const keys = parseApiKeysSecret(JSON.stringify({ acme: ['a'.repeat(20), 'b'.repeat(20)], beta: 'c'.repeat(40) }));
  assert.deepEqual([...keys], [['a'.repeat(20), 'acme'], ['b'.repeat(20), 'acme'], ['c'.repeat(40), 'beta']]);
  const bad: [string, RegExp][] = [
    ['nope', /not JSON/],
    ['[]', /must be a JSON object/],
    ['{}', /holds no key/],
    ['{"acme": "short"}', /tenant "acme": each key must be a string of at least 16 characters/],
    [JSON.stringify({ a: 'k'.repeat(20), b: 'k'.repeat(20) }), /one key is given to both "a" and "b"/],
  ];
  for (const [text, message] of bad) assert.throws(() => parseApiKeysSecret(text), message, text);
});
