// Decoding of what the kernel-signal programs write: peers (IPv4, IPv6, IPv4-mapped), wait
// statuses, OOM records. Layouts mirror bpf/tcp.h, bpf/lifecycle.h, bpf/memory.h.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePeer } from './tcp.ts';
import { exitAttributes } from './lifecycle.ts';
import { decodeOomEvent } from './memory.ts';

function peerKey(tgid: number, family: number, port: number, addr: number[], direction = 0): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(tgid, 0);
  b.writeUInt16LE(family, 4);
  b.writeUInt16LE(port, 6);
  Buffer.from(addr).copy(b, 8);
  b[24] = direction;
  return b;
}

test('decodePeer: IPv4, IPv6 in RFC 5952 form, IPv4-mapped IPv6 as IPv4, direction', () => {
  assert.deepEqual(decodePeer(peerKey(7, 2, 6379, [10, 0, 3, 7])), { tgid: 7, inbound: false, address: '10.0.3.7', port: 6379 });
  const v6 = (groups: number[]) => groups.flatMap((g) => [g >> 8, g & 0xff]);
  assert.equal(decodePeer(peerKey(1, 10, 443, v6([0, 0, 0, 0, 0, 0, 0, 1]))).address, '::1');
  assert.equal(decodePeer(peerKey(1, 10, 443, v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 0x5]))).address, '2001:db8::1:0:0:5');
  assert.equal(decodePeer(peerKey(1, 10, 443, v6([0x2001, 0xdb8, 1, 2, 3, 4, 5, 6]))).address, '2001:db8:1:2:3:4:5:6');
  assert.equal(decodePeer(peerKey(1, 10, 443, v6([0xfe80, 0, 0, 0, 0xa, 0, 0, 0]))).address, 'fe80::a:0:0:0');
  assert.equal(decodePeer(peerKey(1, 10, 80, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2])).address, '192.168.1.2');
  assert.equal(decodePeer(peerKey(1, 2, 8080, [127, 0, 0, 1], 1)).inbound, true);
});

test('exitAttributes: a normal exit has its code; a killed process its signal and 128 + signal', () => {
  assert.deepEqual(exitAttributes(0), { 'process.exit.code': 0 });
  assert.deepEqual(exitAttributes(3 << 8), { 'process.exit.code': 3 });
  assert.deepEqual(exitAttributes(9), { 'burnwatch.exit.signal': 'SIGKILL', 'process.exit.code': 137 });
  assert.deepEqual(exitAttributes(11 | 0x80), { 'burnwatch.exit.signal': 'SIGSEGV', 'process.exit.code': 139 }); // core dumped
});

test('decodeOomEvent: the cgroup path is rebuilt root first from the leaf-first names', () => {
  const b = Buffer.alloc(40 + 8 * 64);
  b.writeUInt32LE(4242, 8);
  b.write('alloc', 16);
  b.writeUInt32LE(2, 32);
  b.write('bwtest-oom', 40);
  b.write('system.slice', 40 + 64);
  assert.deepEqual(decodeOomEvent(b), { pid: 4242, comm: 'alloc', cgroupPath: '/system.slice/bwtest-oom' });
  b.writeUInt32LE(0, 32);
  assert.equal(decodeOomEvent(b).cgroupPath, '/');
});
