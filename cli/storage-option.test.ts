import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStorageOption } from './storage-option.ts';
import { UsageError } from './args.ts';

test('--storage: duckdb:DIR, a Prometheus base URL, or a full remote-write URL whose base serves queries', () => {
  assert.deepEqual(parseStorageOption('duckdb:/var/lib/bw'), { kind: 'duckdb', dataDir: '/var/lib/bw' });
  assert.deepEqual(parseStorageOption('prometheus:http://localhost:9090'), {
    kind: 'prometheus', remoteWriteUrl: 'http://localhost:9090/api/v1/write', queryUrl: 'http://localhost:9090',
  });
  assert.deepEqual(parseStorageOption('prometheus:http://prom.internal/prometheus/'), {
    kind: 'prometheus', remoteWriteUrl: 'http://prom.internal/prometheus/api/v1/write', queryUrl: 'http://prom.internal/prometheus',
  });
  const amp = 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1234';
  assert.deepEqual(parseStorageOption(`prometheus:${amp}/api/v1/remote_write`), { kind: 'prometheus', remoteWriteUrl: `${amp}/api/v1/remote_write`, queryUrl: amp });
});

test('--storage: anything else is a usage error that says what is wrong', () => {
  for (const [value, message] of [
    ['postgres:x', /must be duckdb:DIR or prometheus:URL, got "postgres:x"/],
    ['prometheus:', /must be duckdb:DIR or prometheus:URL/],
    ['prometheus:localhost:9090', /needs an http\(s\) URL, got "localhost:9090"/],
    ['prometheus:not a url', /needs an http\(s\) URL/],
    ['prometheus:http://h:9090/?x=1', /takes no query or fragment/],
  ] as const) {
    assert.throws(() => parseStorageOption(value), (err: Error) => err instanceof UsageError && message.test(err.message), value);
  }
});
