// The syscall path's Redis RESP and PostgreSQL wire parsers (bpf/lib/l7_redis.bpf.h,
// bpf/lib/l7_postgres.bpf.h), run for real through BPF_PROG_TEST_RUN on
// bpf/l7_parsers_test.bpf.c, over the bytes real clients and servers exchanged: a TCP relay
// records what redis-cli, ioredis, Python's redis, psql and node-postgres sent to a real
// redis-server and PostgreSQL and what they answered, one chunk per read. Then every prefix
// of those chunks (short reads), random bytes, mutated captures and other protocols'
// bytes: never a wrong command or operation word, never a false error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { BpfObject } from '../agent/bpf.ts';
import { startPostgres } from './lib/go-topology.ts';
import { psql, pythonRedis, redisCliLines, startRedis, startRelay, type Chunk, type Direction, type Relay } from './lib/db-wire.ts';
import { tempDir } from './lib/processes.ts';
import { rng } from './lib/exphist-reference.ts';
import { btfLayout } from './lib/btf-layout.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/l7_parsers_test.bpf.o', import.meta.url));
/** L7_PEEK in bpf/lib/l7_proto.bpf.h: the bytes of a read/write the syscall programs copy. */
const PEEK = 256;
/** L7_MSG_* (bpf/lib/l7_proto.bpf.h), L7_PROTO_* (bpf/l7_syscalls.h). */
const MSG = { more: 0x4, setup: 0x20, negotiate: 0x40 } as const;
const PROTO = { unknown: 0, http1: 1, redis: 2, postgres: 3 } as const;
/** L7_TEST_* in bpf/l7_parsers_test.bpf.c. */
const PARSER = { dispatch: 0, redis: 1, postgres: 2 } as const;

interface Parsed {
  /** The parser's return value: 1 when it recognised the bytes. */
  ret: number;
  protocol: number;
  error: boolean;
  more: boolean;
  /** Connection set-up (start-up, SSLRequest): the protocol, but no request. */
  setup: boolean;
  negotiate: boolean;
  /** Whole messages the buffer holds, when the parser could count them; 0 when not. */
  messages: number;
  op: string;
}

let obj: BpfObject;
let ctxLayout: ReturnType<typeof btfLayout>;
let msgLayout: ReturnType<typeof btfLayout>;

/** Runs one parser on the first PEEK bytes of `bytes`, as the syscall programs see a read/write. */
function parse(parser: keyof typeof PARSER, direction: Direction, bytes: Buffer, proto = 0): Parsed {
  const n = Math.min(bytes.length, PEEK);
  const ctx = Buffer.alloc(ctxLayout.size);
  ctx.writeUInt32LE(PARSER[parser], ctxLayout.at.parser);
  ctx.writeUInt32LE(direction === 'response' ? 1 : 0, ctxLayout.at.response);
  ctx.writeUInt32LE(proto, ctxLayout.at.proto);
  ctx.writeUInt32LE(n, ctxLayout.at.n);
  bytes.copy(ctx, ctxLayout.at.buf, 0, n);
  const run = obj.program('l7_parsers_test').testRun({ ctxIn: ctx });
  assert.equal(run.retval, 0, 'the harness ran');
  const out = run.ctxOut!;
  const m = ctxLayout.at.m;
  const op = out.subarray(m + msgLayout.at.op, m + msgLayout.at.op + 16);
  return {
    ret: out.readInt32LE(ctxLayout.at.ret),
    protocol: out.readUInt8(m + msgLayout.at.protocol),
    error: out.readUInt8(m + msgLayout.at.error) !== 0,
    more: (out.readUInt32LE(m + msgLayout.at.flags) & MSG.more) !== 0,
    setup: (out.readUInt32LE(m + msgLayout.at.flags) & MSG.setup) !== 0,
    negotiate: (out.readUInt32LE(m + msgLayout.at.flags) & MSG.negotiate) !== 0,
    messages: out.readUInt32LE(m + msgLayout.at.messages),
    op: op.toString('latin1', 0, op.indexOf(0) < 0 ? op.length : op.indexOf(0)),
  };
}

// ---- Reference decoders (whole messages only): what a request's word and a reply's error are. ----

/** The command word of a whole RESP request (multi-bulk or inline), upper-cased. */
function redisWord(b: Buffer): string {
  const text = b.toString('latin1');
  const m = text.startsWith('*') ? /^\*\d+\r\n\$\d+\r\n([^\r]*)\r\n/.exec(text) : /^([^ \r\n]+)/.exec(text);
  assert.ok(m, `a Redis request: ${JSON.stringify(text.slice(0, 40))}`);
  return m[1].toUpperCase();
}

/** PostgreSQL messages of a typed stream: [type, body]. */
function pgMessages(b: Buffer): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (let at = 0; at + 5 <= b.length; ) {
    const len = b.readUInt32BE(at + 1);
    out.push([String.fromCharCode(b[at]), b.subarray(at + 5, at + 1 + len)]);
    at += 1 + len;
  }
  return out;
}

const sqlWord = (text: string) => (/^\s*([A-Za-z]+)/.exec(text)?.[1] ?? '').toUpperCase();

// ---- Servers, captures ----

let redisPort = 0;
let pgPort = 0;
const PG_PASSWORD = 'relay-secret';
const stops: (() => Promise<unknown>)[] = [];

before(async () => {
  assert.ok(existsSync(OBJECT), `${OBJECT} is missing: build it with make -C bpf`);
  obj = BpfObject.open(OBJECT);
  obj.load();
  ctxLayout = btfLayout(OBJECT, 'l7_parsers_test_ctx');
  msgLayout = btfLayout(OBJECT, 'l7_message');
  const dir = tempDir('burnwatch-l7-parsers');
  const { chmodSync } = await import('node:fs');
  chmodSync(dir, 0o755);
  const redis = await startRedis(dir);
  stops.push(redis.stop);
  redisPort = redis.port;
  const pgServer = await startPostgres(dir, { password: PG_PASSWORD });
  stops.push(pgServer.stop);
  pgPort = pgServer.port;
});

after(async () => {
  for (const s of stops.reverse()) await s();
  obj?.close();
});

/** Runs `client` against a fresh relay in front of `port` and returns what crossed it. */
async function capture(port: number, client: (relayPort: number) => Promise<unknown>): Promise<Chunk[]> {
  const relay: Relay = await startRelay(port);
  try {
    await client(relay.port);
    // The last reply may still be in flight from the relay to a client that already returned.
    await new Promise((r) => setTimeout(r, 50));
    return relay.chunks.slice();
  } finally {
    await relay.close();
  }
}

/** One round trip of a connection: what the client wrote, then the reads of the answer. */
interface Exchange {
  request: Buffer;
  /** The answer's chunks in order; the first is the read a syscall probe matches. */
  responses: Buffer[];
}

/** A connection's chunks grouped into round trips: a request chunk after an answer starts the next. */
function exchanges(chunks: Chunk[], conn = 0): Exchange[] {
  const out: Exchange[] = [];
  for (const c of chunks.filter((c) => c.conn === conn)) {
    const last = out[out.length - 1];
    if (c.direction === 'request') {
      if (last && last.responses.length === 0) last.request = Buffer.concat([last.request, c.bytes]);
      else out.push({ request: c.bytes, responses: [] });
    } else if (last) {
      last.responses.push(c.bytes);
    }
  }
  return out;
}

/** Every capture made by the tests below, for the prefix and mutation checks. */
const captured: { proto: 'redis' | 'postgres'; chunk: Chunk }[] = [];
function keep(proto: 'redis' | 'postgres', chunks: Chunk[]): Chunk[] {
  for (const chunk of chunks) captured.push({ proto, chunk });
  return chunks;
}

/**
 * Whole RESP values (requests or replies) that make up the buffer exactly; 0 when it ends inside
 * one. Between requests, empty lines are skipped (Redis ignores them and sends no reply).
 */
function respCount(b: Buffer, request = false): number {
  const text = b.toString('latin1');
  let at = 0;
  const value = (): boolean => {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return false;
    const type = text[at];
    const head = text.slice(at + 1, eol);
    at = eol + 2;
    if ('$!='.includes(type)) {
      const len = Number(head);
      if (len < 0) return true;
      at += len + 2;
      return at <= text.length;
    }
    if ('*~%|>'.includes(type)) {
      const n = Number(head);
      const items = n < 0 ? 0 : type === '%' ? 2 * n : type === '|' ? 2 * n + 1 : n;
      for (let k = 0; k < items; k++) if (!value()) return false;
      return true;
    }
    return true; // a simple line
  };
  let n = 0;
  while (at < text.length) {
    if (request && n > 0 && (text[at] === '\r' || text[at] === '\n')) {
      at++;
      continue;
    }
    if (!value()) return 0;
    n++;
  }
  return at === text.length ? n : 0;
}

/** Whole multi-bulk commands in a buffer (the reference count; inline: one). */
function redisCommands(b: Buffer): number {
  const text = b.toString('latin1');
  if (!text.startsWith('*')) return 1;
  let n = 0;
  for (let at = 0; at < text.length; n++) {
    const head = /^\*(\d+)\r\n/.exec(text.slice(at));
    assert.ok(head, 'a multi-bulk command');
    at += head[0].length;
    for (let k = 0; k < Number(head[1]); k++) {
      const bulk = /^\$(\d+)\r\n/.exec(text.slice(at))!;
      at += bulk[0].length + Number(bulk[1]) + 2;
    }
  }
  return n;
}

/** Each round trip of a client parsed: [op, error]; more than one command in a write must say MORE. */
function redisExchanges(chunks: Chunk[], conn = 0): [string, boolean][] {
  return exchanges(chunks, conn).map(({ request, responses }) => {
    const q = parse('redis', 'request', request);
    assert.equal(q.ret, 1, `request ${JSON.stringify(request.toString('latin1').slice(0, 40))} recognised`);
    assert.equal(q.op, redisWord(request), 'the command word, as the reference decoder reads it');
    if (request.length <= PEEK) {
      assert.equal(q.more, redisCommands(request) > 1, 'MORE exactly when the write holds several commands');
      assert.equal(q.messages, request[0] === 0x2a ? respCount(request, true) : 1, 'the commands counted');
    }
    const r = parse('redis', 'response', responses[0]);
    assert.equal(r.ret, 1, `reply ${JSON.stringify(responses[0].toString('latin1').slice(0, 40))} recognised`);
    assert.equal(r.error, responses[0][0] === 0x2d, 'an error exactly when the reply is "-…"');
    if (responses[0].length <= PEEK) assert.equal(r.messages, respCount(responses[0]), 'the replies counted when the read holds whole ones');
    return [q.op, r.error];
  });
}

test('Redis: the command word of each request and error replies, from redis-cli, ioredis, Python and inline commands', async () => {
  const cli = keep('redis', await capture(redisPort, (p) =>
    redisCliLines(p, ['SET greeting hello', 'get greeting', 'INCR visits', 'LPUSH queue a b c', 'LRANGE queue 0 -1', 'INCR queue', 'HSET h f v', 'HGETALL h', 'NOSUCHCMD x', 'DEBUG SLEEP 0', 'ZRANGEBYSCORE z 0 1']),
  ));
  // redis-cli asks for COMMAND DOCS first (for its hints), then runs each line.
  assert.deepEqual(redisExchanges(cli), [
    ['COMMAND', false], ['SET', false], ['GET', false], ['INCR', false], ['LPUSH', false], ['LRANGE', false], ['INCR', true],
    ['HSET', false], ['HGETALL', false], ['NOSUCHCMD', true], ['DEBUG', false], ['ZRANGEBYSCORE', false],
  ]);

  const node = keep('redis', await capture(redisPort, async (p) => {
    const r = new Redis({ port: p, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0 });
    await r.connect();
    await r.set('k', 'v');
    await r.get('k');
    await r.hgetall('h');
    await r.incr('k').catch(() => undefined);
    await r.call('JSON.SET', 'doc', '$', '{}').catch(() => undefined);
    await r.quit();
  }));
  // ioredis 6 opens with HELLO 3 and two CLIENT SETINFO in one write (pipelined).
  assert.deepEqual(redisExchanges(node), [['HELLO', false], ['SET', false], ['GET', false], ['HGETALL', false], ['INCR', true], ['JSON.SET', true], ['QUIT', false]]);

  const py = keep('redis', await capture(redisPort, (p) =>
    pythonRedis(p, "r.set('p', 'x')\nr.get('p')\ntry:\n  r.lpush('p', 1)\nexcept redis.ResponseError:\n  pass\nr.delete('p')"),
  ));
  assert.deepEqual(redisExchanges(py), [['SET', false], ['GET', false], ['LPUSH', true], ['DEL', false]]);

  // Inline commands, as typed into nc/telnet: CRLF or a bare LF.
  const inline = keep('redis', await capture(redisPort, async (p) => {
    const s = net.connect(p, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    for (const line of ['PING\r\n', 'set inl 1\n', 'INCR inl\r\n', 'lpush inl x\r\n']) {
      s.write(line);
      await new Promise((r) => s.once('data', r));
    }
    s.end();
  }));
  assert.deepEqual(redisExchanges(inline), [['PING', false], ['SET', false], ['INCR', false], ['LPUSH', true]]);
});

test('Redis pipelining: a buffer holding more than one command or reply says so (MORE), with the first command word', async () => {
  const cli = keep('redis', await capture(redisPort, (p) =>
    new Promise<void>((resolve, reject) => {
      // redis-cli --pipe writes the whole stream at once and reads the replies after.
      const proto = ['SET a 1', 'INCR a', 'GET a', 'LPUSH a x'].map((l) => {
        const args = l.split(' ');
        return `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;
      });
      // It exits 1 when a reply was an error (the last one is): the output says how many.
      const child = execFile('redis-cli', ['-p', String(p), '--pipe'], (err, stdout) => (/replies: 4/.test(stdout) ? resolve() : reject(err ?? new Error(stdout))));
      child.stdin!.end(proto.join(''));
    }),
  ));
  const [pipe] = exchanges(cli);
  const first = parse('redis', 'request', pipe.request);
  assert.equal(first.ret, 1);
  assert.equal(first.op, 'SET');
  assert.equal(first.more, true, 'the commands after the first are in the same buffer');
  // redis-cli --pipe ends the stream with an ECHO of a random marker, to know when all replies are in.
  assert.equal(first.messages, respCount(pipe.request, true), `the commands counted when the write holds whole ones: ${JSON.stringify(pipe.request.toString('latin1'))}`);
  assert.ok(first.messages >= 4, 'the four commands at least (the ECHO may go out after the first replies)');
  const replies = Buffer.concat(pipe.responses);
  assert.ok(replies.toString('latin1').includes('-WRONGTYPE'), 'the last command failed');
  const r = parse('redis', 'response', pipe.responses[0]);
  assert.equal(r.ret, 1);
  assert.equal(r.more, true, 'several replies in one read');
  assert.equal(r.messages, respCount(pipe.responses[0]), 'the replies of the read counted when whole');

  const node = keep('redis', await capture(redisPort, async (p) => {
    const c = new Redis({ port: p, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false });
    await c.connect();
    await c.pipeline().get('a').hgetall('h').incr('greeting').exec();
    await c.quit();
  }));
  const batches = exchanges(node).map((x) => parse('redis', 'request', x.request)).filter((q) => q.more);
  assert.deepEqual(batches.map((q) => [q.op, q.messages]), [['HELLO', 3], ['GET', 3]], 'the connect preamble and the pipeline each went out as one write, flagged and counted');
});

/**
 * Each round trip of a PostgreSQL connection parsed: [op, error] of those recognised as
 * queries. A round trip is a query exactly when it runs a statement: a simple 'Q', or an
 * Execute (in this buffer or, for a Parse longer than the peek, further on); start-up,
 * SSLRequest, SCRAM ('p') and Terminate are not.
 */
function pgQueries(rounds: Exchange[]): [string, boolean][] {
  const out: [string, boolean][] = [];
  for (const [i, { request, responses }] of rounds.entries()) {
    const typed = request[0] !== 0; // start-up packets begin with a length, not a type byte
    const msgs = typed ? pgMessages(request) : [];
    const types = msgs.map(([t]) => t).join('');
    const runs = typed && (types.includes('Q') || types.includes('E') || (request.length > PEEK && types.startsWith('P')));
    const q = parse('postgres', 'request', request);
    assert.equal(q.ret === 1 && !q.setup, runs, `round trip ${i} (${types || 'start-up'}) ${runs ? 'is' : 'is not'} a query`);
    // Start-up packets are PostgreSQL's set-up; an SSLRequest leaves what follows to its answer.
    assert.equal(q.setup, !typed, `round trip ${i}: set-up exactly for the untyped start-up packets`);
    assert.equal(q.negotiate, !typed && request.length === 8 && request.readUInt32BE(4) === 80877103, `round trip ${i}: SSLRequest`);
    const first = responses[0];
    const r = first ? parse('postgres', 'response', first) : undefined;
    if (!runs) {
      // Answers to start-up and authentication (S/N, R…) are not taken as a query's answer.
      if (first && /^[RNS]/.test(String.fromCharCode(first[0]))) assert.equal(r!.ret, 0, `answer ${i} (${String.fromCharCode(first[0])}…) is not a query's`);
      continue;
    }
    assert.ok(r && r.ret === 1, `answer to round trip ${i} recognised`);
    const parseMsg = msgs.find(([t]) => t === 'Q' || t === 'P');
    if (parseMsg && q.op !== '') {
      const body = parseMsg[1];
      const text = parseMsg[0] === 'Q' ? body : body.subarray(body.indexOf(0) + 1);
      assert.equal(q.op, sqlWord(text.toString('latin1')), 'the statement\'s first word');
    }
    if (request.length <= PEEK) {
      // Round trips: each 'Q', each Sync that ends an Execute; counted when the write ends one.
      let rounds = 0;
      let execute = false;
      for (const t of types) {
        if (t === 'Q') rounds++;
        if (t === 'E') execute = true;
        if (t === 'S') {
          if (execute) rounds++;
          execute = false;
        }
      }
      assert.equal(q.messages, /[QS]$/.test(types) ? rounds : 0, `round trip ${i} (${types}) counted`);
    }
    if (first.length <= PEEK) {
      const answerTypes = pgMessages(first).map(([t]) => t).join('');
      const whole = pgMessages(first).reduce((n, [, body]) => n + 5 + body.length, 0) === first.length;
      assert.equal(r.messages, whole && answerTypes.endsWith('Z') ? answerTypes.split('Z').length - 1 : 0, `answer ${i} (${answerTypes}) counted`);
    }
    const wholeAnswer = Buffer.concat(responses);
    assert.equal(r.error, pgMessages(wholeAnswer).some(([t]) => t === 'E'), 'an error exactly when the answer holds an ErrorResponse');
    out.push([q.op, r.error]);
  }
  return out;
}

test('PostgreSQL: psql and node-postgres, simple and extended queries and errors; start-up and authentication are not queries', async () => {
  const psqlChunks = keep('postgres', await capture(pgPort, (p) =>
    psql(p, ['SELECT 1', '  create table t (id int primary key, v text)', "INSERT INTO t VALUES (1, 'a')", 'update t set v = $$b$$', 'SELECT 1/0', 'DELETE FROM t', 'WITH x AS (SELECT 1) SELECT * FROM x'], { password: PG_PASSWORD }),
  ));
  const rounds = exchanges(psqlChunks);
  // psql (sslmode=prefer) asks for TLS first; this server says 'N'; then start-up and SCRAM.
  assert.equal(rounds[0].request.length, 8, 'SSLRequest');
  assert.equal(rounds[0].request.readUInt32BE(4), 80877103);
  assert.deepEqual(rounds[0].responses[0], Buffer.from('N'));
  assert.deepEqual(pgQueries(rounds), [['SELECT', false], ['CREATE', false], ['INSERT', false], ['UPDATE', false], ['SELECT', true], ['DELETE', false], ['WITH', false]]);

  const nodeChunks = keep('postgres', await capture(pgPort, async (p) => {
    const c = new pg.Client({ host: '127.0.0.1', port: p, user: 'postgres', password: PG_PASSWORD, database: 'postgres' });
    await c.connect();
    await c.query('SELECT 1');                                   // simple
    await c.query('SELECT $1::int AS x', [7]);                   // extended: Parse/Bind/Describe/Execute/Sync
    await c.query({ name: 'one', text: 'select $1::int + 1', values: [1] }); // named: prepared, then run
    await c.query({ name: 'one', text: 'select $1::int + 1', values: [2] }); // reused: Bind/Execute only
    await c.query('SELECT $1::int / 0', [1]).catch(() => undefined);        // extended, ErrorResponse
    await c.query('insert into t values ($1, $2)', [2, 'x'.repeat(300)]);   // a Parse/Bind past the peeked bytes
    await c.query(`SELECT ${'1 + '.repeat(80)}$1::int AS long_one`, [1]);  // the Parse itself longer than the peek
    await c.end();
  }));
  const nodeGot = pgQueries(exchanges(nodeChunks));
  assert.deepEqual(nodeGot, [
    ['SELECT', false], ['SELECT', false], ['SELECT', false], ['EXECUTE', false], ['SELECT', true], ['INSERT', false], ['SELECT', false],
  ]);
});

test('split and short buffers: every prefix of every captured chunk gives the whole chunk\'s word or none, and never a false error', () => {
  assert.ok(captured.length > 50, `captures from the tests above (${captured.length})`);
  let recognisedPrefixes = 0;
  for (const { proto, chunk } of captured) {
    const whole = parse(proto, chunk.direction, chunk.bytes);
    const limit = Math.min(chunk.bytes.length, PEEK);
    for (let k = 0; k < limit; k++) {
      const p = parse(proto, chunk.direction, chunk.bytes.subarray(0, k));
      if (p.ret !== 1) continue;
      recognisedPrefixes++;
      if (whole.ret === 1 && chunk.direction === 'request') {
        assert.ok(p.op === whole.op || p.op === '', `${proto} prefix ${k} of ${JSON.stringify(chunk.bytes.toString('latin1').slice(0, 30))}: "${p.op}" vs "${whole.op}"`);
      }
      if (chunk.direction === 'response') assert.ok(!p.error || whole.error, `${proto} prefix ${k}: no error the whole reply lacks`);
      if (proto === 'redis' && chunk.bytes[0] === 0x2a) {
        assert.equal(p.messages, respCount(chunk.bytes.subarray(0, k), chunk.direction === 'request'), `redis prefix ${k}: the whole messages in it counted`);
      }
      assert.equal(whole.ret, 1, `${proto} prefix ${k} recognised, so the whole ${chunk.direction} is too`);
    }
  }
  assert.ok(recognisedPrefixes > 0);
});

/** The op is empty or a word that stands in the buffer (case aside): never made up. */
function assertWordFromBuffer(p: Parsed, b: Buffer, what: string): void {
  if (p.ret !== 1 || p.op === '' || p.op === 'EXECUTE') return;
  assert.match(p.op, /^[A-Z][A-Z0-9._-]*$/, what);
  assert.ok(b.toString('latin1').toUpperCase().includes(p.op), `${what}: "${p.op}" is in the bytes`);
}

test('garbage, mutated captures and other protocols: no made-up words; HTTP, TLS and each other\'s bytes are not taken', async () => {
  const r = rng(20);
  const parsers = ['redis', 'postgres'] as const;
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(r() * 300);
    const b = Buffer.alloc(len);
    const printable = i % 2 === 0;
    for (let k = 0; k < len; k++) b[k] = printable ? 32 + Math.floor(r() * 95) : Math.floor(r() * 256);
    for (const parser of parsers) for (const d of ['request', 'response'] as const) assertWordFromBuffer(parse(parser, d, b), b, `random ${parser} ${d}`);
  }
  let kept = 0;
  for (const { proto, chunk } of captured) {
    const whole = parse(proto, chunk.direction, chunk.bytes);
    for (let j = 0; j < 20; j++) {
      const b = Buffer.from(chunk.bytes.subarray(0, PEEK));
      const at = Math.floor(r() * b.length);
      b[at] = Math.floor(r() * 256);
      const p = parse(proto, chunk.direction, b);
      assertWordFromBuffer(p, b, `mutated ${proto} ${chunk.direction}`);
      if (p.ret === 1 && whole.ret === 1 && p.op === whole.op) kept++;
    }
  }
  assert.ok(kept > 0, 'most mutations outside the word keep it');

  const others: Buffer[] = [
    Buffer.from('GET /checkout?id=7 HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from('POST /orders HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}'),
    Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    await clientHello(),
  ];
  for (const b of others) {
    for (const parser of parsers) {
      for (const d of ['request', 'response'] as const) {
        assert.equal(parse(parser, d, b).ret, 0, `${parser} ${d} does not take ${JSON.stringify(b.toString('latin1').slice(0, 20))}`);
      }
    }
  }
  // Each other's bytes: no Redis request is a PostgreSQL one and the reverse.
  for (const { proto, chunk } of captured) {
    const other = proto === 'redis' ? 'postgres' : 'redis';
    if (chunk.direction === 'request') assert.equal(parse(other, 'request', chunk.bytes).ret, 0, `${other} does not take a ${proto} request`);
  }
});

test('dispatch: the first request names the protocol (an SSLRequest leaves it open); answers are parsed as the connection\'s protocol only', async () => {
  const seen = { redis: 0, postgres: 0 };
  for (const { proto, chunk } of captured) {
    const own = parse(proto, chunk.direction, chunk.bytes);
    if (chunk.direction === 'request') {
      const d = parse('dispatch', 'request', chunk.bytes, PROTO.unknown);
      assert.equal(d.ret, own.ret, `dispatch recognises what the ${proto} parser does`);
      if (d.ret !== 1) continue;
      assert.equal(d.op, own.op);
      assert.equal(d.protocol, own.negotiate ? PROTO.unknown : PROTO[proto], `a ${proto} request names ${proto}`);
      seen[proto]++;
    } else {
      const d = parse('dispatch', 'response', chunk.bytes, PROTO[proto]);
      assert.deepEqual([d.ret, d.error], [own.ret, own.error]);
      const other = proto === 'redis' ? PROTO.postgres : PROTO.redis;
      if (own.ret === 1) assert.equal(d.protocol, PROTO[proto]);
      assert.equal(parse('dispatch', 'response', chunk.bytes, PROTO.unknown).ret, 0, 'no answer is parsed before a request named the protocol');
      assertWordFromBuffer(parse('dispatch', 'response', chunk.bytes, other), chunk.bytes, 'an answer read as the other protocol');
    }
  }
  assert.ok(seen.redis > 10 && seen.postgres > 10, JSON.stringify(seen));
  const http = parse('dispatch', 'request', Buffer.from('GET /orders/7 HTTP/1.1\r\nHost: x\r\n\r\n'), PROTO.unknown);
  assert.deepEqual([http.ret, http.protocol, http.op], [1, PROTO.http1, 'GET'], 'HTTP/1 still comes first');
});

/** The first bytes a TLS client sends (a ClientHello), from Node's own TLS stack. */
async function clientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) =>
      s.once('data', (d) => {
        resolve(Buffer.from(d));
        s.destroy();
        srv.close();
      }),
    );
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => undefined);
    });
    srv.on('error', reject);
  });
}
