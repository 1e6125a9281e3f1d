// The syscall path's HTTP/1 parser (bpf/lib/l7_http1.bpf.h) through the protocol dispatch,
// run for real with BPF_PROG_TEST_RUN on bpf/l7_parsers_test.bpf.c: request lines, the route's
// raw path, header facts (chunked, Content-Length, the head's end and bytes after it), status
// lines, and bytes that are not HTTP/1. Every prefix of a request (a short read) gives the
// right method and a prefix of the path, or nothing.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../agent/bpf.ts';
import { btfLayout } from './lib/btf-layout.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/l7_parsers_test.bpf.o', import.meta.url));
const PEEK = 256; // L7_PEEK
const PATH_MAX = 64; // HTTP_PATH_MAX
const HTTP1 = 1; // L7_PROTO_HTTP1
const FLAG = { chunked: 0x1, noBody: 0x2, more: 0x4, headDone: 0x8, informational: 0x10 }; // L7_MSG_*

let obj: BpfObject;
let ctx: ReturnType<typeof btfLayout>;
let msg: ReturnType<typeof btfLayout>;

before(() => {
  obj = BpfObject.open(OBJECT);
  obj.load();
  ctx = btfLayout(OBJECT, 'l7_parsers_test_ctx');
  msg = btfLayout(OBJECT, 'l7_message');
});
after(() => obj.close());

interface Http1 {
  ret: number;
  protocol: number;
  op: string;
  path: string;
  pathLen: number;
  status: number;
  flags: number;
  bodyAt: number;
  bodyLen: number;
}

/** The dispatch on one read/write's first PEEK bytes, on a connection whose protocol is `proto`. */
function parse(text: string | Buffer, direction: 'request' | 'response', proto = 0): Http1 {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const n = Math.min(bytes.length, PEEK);
  const c = Buffer.alloc(ctx.size);
  c.writeUInt32LE(0, ctx.at.parser); // L7_TEST_DISPATCH
  c.writeUInt32LE(direction === 'response' ? 1 : 0, ctx.at.response);
  c.writeUInt32LE(proto, ctx.at.proto);
  c.writeUInt32LE(n, ctx.at.n);
  bytes.copy(c, ctx.at.buf, 0, n);
  const run = obj.program('l7_parsers_test').testRun({ ctxIn: c });
  assert.equal(run.retval, 0);
  const out = run.ctxOut!;
  const m = (f: string) => ctx.at.m + msg.at[f];
  const str = (f: string, len: number) => {
    const b = out.subarray(m(f), m(f) + len);
    const end = b.indexOf(0);
    return b.toString('latin1', 0, end < 0 ? len : end);
  };
  return {
    ret: out.readInt32LE(ctx.at.ret),
    protocol: out.readUInt8(m('protocol')),
    op: str('op', 16),
    path: str('path', PATH_MAX),
    pathLen: out.readInt32LE(m('path_len')),
    status: out.readUInt16LE(m('status')),
    flags: out.readUInt32LE(m('flags')),
    bodyAt: out.readUInt32LE(m('body_at')),
    bodyLen: Number(out.readBigInt64LE(m('body_len'))),
  };
}

const GET = 'GET /users/42?page=2 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n';

test('a request line: method, the path without its query, the head\'s end', () => {
  const r = parse(GET, 'request');
  assert.equal(r.ret, 1);
  assert.equal(r.protocol, HTTP1);
  assert.deepEqual([r.op, r.path, r.pathLen], ['GET', '/users/42', 9]);
  assert.equal(r.bodyAt, GET.length);
  assert.equal(r.bodyLen, -1);
  assert.equal(r.flags & (FLAG.more | FLAG.chunked), 0);
  assert.ok(r.flags & FLAG.headDone);
});

test('bytes after the head: a body of Content-Length, or a pipelined request', () => {
  const post = 'POST /orders HTTP/1.1\r\nHost: x\r\ncontent-length:  5\r\n\r\nhello';
  const p = parse(post, 'request');
  assert.deepEqual([p.ret, p.op, p.path, p.bodyLen, p.bodyAt + p.bodyLen], [1, 'POST', '/orders', 5, post.length]);
  const two = parse(GET + GET, 'request');
  assert.ok(two.flags & FLAG.more);
  assert.equal(two.bodyAt, GET.length);
  assert.equal(two.bodyLen, -1);
});

test('a path longer than the kernel keeps, or a request line longer than the peek, is marked truncated', () => {
  const long = `/${'a'.repeat(100)}`;
  const r = parse(`GET ${long} HTTP/1.1\r\n\r\n`, 'request');
  assert.deepEqual([r.path, r.pathLen], [long.slice(0, PATH_MAX), long.length]);
  const cut = parse(`GET /${'b'.repeat(400)} HTTP/1.1\r\n\r\n`, 'request');
  assert.equal(cut.ret, 1);
  assert.equal(cut.pathLen, PATH_MAX + 1);
  assert.equal(cut.path, `/${'b'.repeat(PATH_MAX - 1)}`);
});

test('every prefix of a request (a short read) gives the right method and a prefix of the path, or nothing', () => {
  for (let k = 1; k <= GET.length; k++) {
    const r = parse(GET.slice(0, k), 'request');
    if (r.ret !== 1) continue;
    assert.equal(r.op, 'GET', `prefix ${k}`);
    assert.ok('/users/42'.startsWith(r.path), `prefix ${k}: path ${r.path}`);
  }
});

test('bytes that are not an HTTP/1 request are not one', () => {
  for (const text of [
    'get / HTTP/1.1\r\n\r\n', // methods are upper case
    'GET http://example/ HTTP/1.1\r\n\r\n', // absolute-form (proxies): no origin path to route
    'GET /x\r\n\r\n', // no protocol version
    'HELLO WORLD\r\n',
    'VERYLONGMETHODNAME / HTTP/1.1\r\n',
    '*1\r\n$4\r\nPING\r\n', // Redis
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', // a TLS ClientHello
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  ]) {
    const r = parse(text, 'request');
    assert.ok(r.ret !== 1 || r.protocol !== HTTP1, JSON.stringify(text));
  }
});

test('status lines: the status, chunked bodies, responses without a body, 1xx', () => {
  const ok = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTRANSFER-encoding: gzip, Chunked\r\n\r\n5\r\nhello\r\n', 'response', HTTP1);
  assert.deepEqual([ok.ret, ok.status], [1, 200]);
  assert.ok(ok.flags & FLAG.chunked);
  const sized = parse('HTTP/1.0 404 Not Found\r\nContent-Length: 1234\r\n\r\n', 'response', HTTP1);
  assert.deepEqual([sized.status, sized.bodyLen, sized.flags & FLAG.chunked], [404, 1234, 0]);
  assert.ok(parse('HTTP/1.1 204 No Content\r\n\r\n', 'response', HTTP1).flags & FLAG.noBody);
  assert.ok(parse('HTTP/1.1 304 Not Modified\r\n\r\n', 'response', HTTP1).flags & FLAG.noBody);
  const cont = parse('HTTP/1.1 100 Continue\r\n\r\n', 'response', HTTP1);
  assert.ok(cont.flags & FLAG.informational);
  // A chunked header cut by the peek is not guessed.
  const cutHead = parse(`HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(300)}\r\nTransfer-Encoding: chunked\r\n\r\n`, 'response', HTTP1);
  assert.deepEqual([cutHead.status, cutHead.flags & (FLAG.chunked | FLAG.headDone)], [200, 0]);
  for (const bad of ['HTTP/2 200\r\n\r\n', 'HTTP/1.1 999 What\r\n', 'HTTP/1.1 20', 'HTTPS/1.1 200 OK\r\n']) {
    assert.notEqual(parse(bad, 'response', HTTP1).ret, 1, bad);
  }
  // An answer is parsed only as the connection's protocol.
  assert.notEqual(parse('HTTP/1.1 200 OK\r\n\r\n', 'response', 0).ret, 1);
});
