// The pure parts of the Go calls collector: how kernel strings become attributes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { operationWord, peerOf, slowThresholdsFromEnv, splitGrpcMethod } from './go-calls.ts';

const noIp = Buffer.alloc(4);

test('peers from client strings (HTTP host, gRPC and etcd targets) or from the socket', () => {
  assert.deepEqual(peerOf('127.0.0.1:8080', noIp, 0), { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(peerOf('dns:///orders.internal:443', noIp, 0), { address: 'orders.internal', port: 443 });
  // etcd 3.4's target, of which the kernel keeps the tail.
  assert.deepEqual(peerOf('-4f6e-8f0e-0a1b2c3d4e5f/127.0.0.1:2379', noIp, 0), { address: '127.0.0.1', port: 2379 });
  assert.deepEqual(peerOf('[::1]:50051', noIp, 0), { address: '::1', port: 50051 });
  assert.deepEqual(peerOf('example.com', noIp, 0), { address: 'example.com' });
  assert.deepEqual(peerOf('', Buffer.from([10, 0, 3, 7]), 6379), { address: '10.0.3.7', port: 6379 });
  assert.deepEqual(peerOf('', noIp, 0), {});
});

test('SQL operation word: letters only, upper-cased, never a literal', () => {
  assert.equal(operationWord('select'), 'SELECT');
  assert.equal(operationWord('  INSERT'), 'INSERT');
  assert.equal(operationWord("'; DROP"), 'UNKNOWN');
  assert.equal(operationWord(''), 'UNKNOWN');
});

test('gRPC full method → service and method', () => {
  assert.deepEqual(splitGrpcMethod('/grpc.health.v1.Health/Check'), { service: 'grpc.health.v1.Health', method: 'Check' });
  assert.deepEqual(splitGrpcMethod('weird'), { service: '', method: 'weird' });
});

test('slow thresholds from the environment, per service, with clear errors', () => {
  assert.deepEqual(slowThresholdsFromEnv({}), {});
  assert.deepEqual(slowThresholdsFromEnv({ BURNWATCH_SLOW_THRESHOLD: '300ms', BURNWATCH_SLOW_THRESHOLDS: 'checkout=1s, search=50ms' }), {
    slowThresholdNs: 300_000_000n,
    slowThresholdsByService: { checkout: 1_000_000_000n, search: 50_000_000n },
  });
  assert.throws(() => slowThresholdsFromEnv({ BURNWATCH_SLOW_THRESHOLDS: 'checkout' }), /BURNWATCH_SLOW_THRESHOLDS: "checkout" is not service=duration/);
  assert.throws(() => slowThresholdsFromEnv({ BURNWATCH_SLOW_THRESHOLD: 'soon' }), /^Error: BURNWATCH_SLOW_THRESHOLD: /);
});
