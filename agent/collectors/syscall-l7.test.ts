// struct l7_series (bpf/l7_syscalls.h) as the collector decodes it: the layout is read from the
// object's BTF, so a field moved in C fails here rather than as wrong attributes in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BPF_OBJECT_DIR } from '../agent.ts';
import { btfLayout } from '../../test/lib/btf-layout.ts';
import { decodeSeries } from './syscall-l7.ts';

const layout = btfLayout(path.join(BPF_OBJECT_DIR, 'l7_syscalls.bpf.o'), 'l7_series');

function series(fields: { pid: number; status: number; pathLen: number; kind: number; protocol: number; error: number; family: number; port: number; addr: number[]; op: string; path: string }): Buffer {
  const b = Buffer.alloc(layout.size);
  b.writeUInt32LE(fields.pid, layout.at.pid);
  b.writeUInt16LE(fields.status, layout.at.status);
  b.writeUInt16LE(fields.pathLen, layout.at.path_len);
  b[layout.at.kind] = fields.kind;
  b[layout.at.protocol] = fields.protocol;
  b[layout.at.error] = fields.error;
  b[layout.at.family] = fields.family;
  b.writeUInt16LE(fields.port, layout.at.port);
  Buffer.from(fields.addr).copy(b, layout.at.addr);
  b.write(fields.op, layout.at.op, 'latin1');
  b.write(fields.path, layout.at.path, 'latin1');
  return b;
}

test('a server series: method, raw path and its length, status; no peer', () => {
  const s = decodeSeries(series({ pid: 4242, status: 503, pathLen: 7, kind: 0, protocol: 1, error: 0, family: 2, port: 8080, addr: [10, 0, 0, 1], op: 'DELETE', path: '/a/0/b' }));
  assert.deepEqual(s, { pid: 4242, status: 503, pathLen: 7, kind: 0, protocol: 1, error: false, op: 'DELETE', path: '/a/0/b' });
});

test('client series carry the server they called: IPv4, IPv6 and IPv4-mapped IPv6', () => {
  const v4 = decodeSeries(series({ pid: 1, status: 200, pathLen: 1, kind: 1, protocol: 1, error: 0, family: 2, port: 443, addr: [192, 168, 1, 20], op: 'GET', path: '/' }));
  assert.deepEqual(v4.peer, { address: '192.168.1.20', port: 443 });
  const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05];
  assert.deepEqual(decodeSeries(series({ pid: 1, status: 0, pathLen: 0, kind: 2, protocol: 2, error: 1, family: 10, port: 6379, addr: v6, op: 'GET', path: '' })).peer, { address: '2001:db8::5', port: 6379 });
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
  const db = decodeSeries(series({ pid: 1, status: 0, pathLen: 0, kind: 2, protocol: 3, error: 1, family: 10, port: 5432, addr: mapped, op: 'SELECT', path: '' }));
  assert.deepEqual([db.peer, db.error, db.op], [{ address: '127.0.0.1', port: 5432 }, true, 'SELECT']);
});
