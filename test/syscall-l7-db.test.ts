// Redis and PostgreSQL calls of any language from syscall tracepoints (issue 20 item 1):
// real redis-server and PostgreSQL started here, real clients each in a process of its own —
// redis-cli, Python's redis, ioredis, psql and node-postgres — measured by
// bpf/l7_syscalls.bpf.o as the agent loads it (this test process is the "agent": its own
// traffic is never looked at). Exact counts per command/operation and error, the peer, the
// latency of a known delay within a bucket, nothing from the database server's own side, and
// the calls where the Go path's show up: the service graph of a real gateway.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import type { CollectedMetrics } from '../agent/collectors/types.ts';
import { encodeMetrics, resourceMetrics } from '../agent/export/otlp.ts';
import { bucketIndexForSeconds } from '../common/exphist.ts';
import { GO_ATTR, GO_METRIC, L7_ATTR, L7_METRIC } from '../common/catalogue.ts';
import { startGateway } from '../lambda/local/server.ts';
import type { ServiceGraph } from '../lambda/query/graph.ts';
import { get, startPostgres, startTopology } from './lib/go-topology.ts';
import { SYSTEM_PYTHON, startRedis } from './lib/db-wire.ts';
import { ROOT, tempDir } from './lib/processes.ts';

const run = promisify(execFile);
const DB = GO_METRIC.dbClientDuration;
const PG_PASSWORD = 'l7-db-secret';
const DELAY_S = 0.05;

let l7: SyscallL7Collector;
let lastEnd = epochNowNs();
const drops = new Map<string, number>();
let redisPort = 0;
let redisPid = 0;
let pgPort = 0;
const stops: (() => Promise<unknown>)[] = [];
const dir = tempDir('burnwatch-l7-db');

async function collect(): Promise<CollectedMetrics[]> {
  const startNs = lastEnd;
  lastEnd = epochNowNs();
  const out = await l7.collect({ startNs, endNs: lastEnd, serviceOf: () => undefined });
  for (const [reason, n] of l7.takeDrops()) drops.set(reason, (drops.get(reason) ?? 0) + n);
  return out;
}

interface Point {
  attributes: Record<string, string | number>;
  value: ExponentialHistogram;
}

function pointsOf(collected: CollectedMetrics[], pid: number): Point[] {
  return collected
    .filter((c) => c.pid === pid)
    .flatMap((c) => c.metrics.filter((m) => m.descriptor.name === DB).flatMap((m) => m.dataPoints as Point[]));
}

/** Calls by "system OPERATION ok|error". */
function countsOf(points: Point[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of points) {
    const a = p.attributes;
    const id = `${a[GO_ATTR.dbSystem]} ${a[GO_ATTR.dbOperation]} ${a[GO_ATTR.errorType] === undefined ? 'ok' : 'error'}`;
    out[id] = (out[id] ?? 0) + p.value.count;
  }
  return out;
}

/** Every point names the server it called. */
function assertPeer(points: Point[], port: number): void {
  assert.ok(points.length > 0);
  for (const p of points) {
    assert.equal(p.attributes[GO_ATTR.serverAddress], '127.0.0.1');
    assert.equal(p.attributes[GO_ATTR.serverPort], port);
  }
}

/**
 * A measured delay falls in the bucket of `seconds` or the one next to it: the next (a server's
 * delay, the round trip on top), or with `side` -1 the one before (a client's own timing, which
 * also holds its processing of the answer).
 */
function assertWithinABucket(h: ExponentialHistogram, seconds: number, side: 1 | -1 = 1): void {
  const idx = h.positive.bucketCounts.flatMap((n, i) => (n > 0 ? [h.positive.offset + i] : []));
  const want = bucketIndexForSeconds(seconds, h.scale);
  assert.ok(idx.length > 0 && idx.every((i) => i === want || i === want + side), `buckets ${idx} for a ${seconds} s delay (bucket ${want})`);
  if (side === 1) assert.ok(h.min! >= seconds, `min ${h.min} below the ${seconds} s delay`);
}

/** Runs a client to its end (stdin optional); resolves with its pid and output. */
async function client(cmd: string, args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ pid: number; out: string }> {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  child.stdin.end(opts.stdin ?? '');
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  assert.equal(code, 0, `${cmd} ${args.join(' ')} failed: ${out}`);
  return { pid: child.pid!, out };
}

/** A Node ES module run in its own process from the checkout (so it finds ioredis and pg). */
const node = (source: string) => client(process.execPath, ['--input-type=module', '-e', source]);

const psql = (statements: string[]) =>
  client('psql', ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', '-X', '-q', ...statements.flatMap((s) => ['-c', s])], {
    env: { PGPASSWORD: PG_PASSWORD, PGSSLMODE: 'prefer' },
  });

before(async () => {
  chmodSync(dir, 0o755);
  l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l) });
  const redis = await startRedis(dir);
  stops.push(redis.stop);
  redisPort = redis.port;
  redisPid = Number((await client('redis-cli', ['-p', String(redisPort), 'INFO', 'server'])).out.match(/process_id:(\d+)/)![1]);
  const pg = await startPostgres(dir, { password: PG_PASSWORD });
  stops.push(pg.stop);
  pgPort = pg.port;
  await collect(); // start from a clean interval
  drops.clear();
});

after(async () => {
  for (const s of stops.reverse()) await s();
  l7?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('syscall L7: Redis and PostgreSQL clients of any language', () => {
  test('redis-cli and Python redis: exact counts per command and error, the peer, DEBUG SLEEP within a bucket of what the client timed; nothing from redis-server itself', async () => {
    const cli = await client('redis-cli', ['-p', String(redisPort)], {
      stdin: ['SET k 1', 'GET k', 'GET k', 'INCR k', 'LPUSH k x', `DEBUG SLEEP ${DELAY_S}`, 'NOSUCHCMD x'].join('\n') + '\n',
    });
    assert.match(cli.out, /WRONGTYPE/);
    const py = await client(SYSTEM_PYTHON, ['-c', [
      'import redis',
      `r = redis.Redis(host='127.0.0.1', port=${redisPort})`,
      "r.set('p', 'x'); r.get('p'); r.get('p'); r.incr('n')",
      'try:\n  r.lpush("p", 1)\nexcept redis.ResponseError:\n  pass',
      "r.delete('p')",
      // The known delay, and the client's own timing of it (a loaded machine may stretch it).
      'import time',
      't = time.perf_counter()',
      `r.execute_command('DEBUG', 'SLEEP', ${DELAY_S})`,
      'print(time.perf_counter() - t)',
    ].join('\n')]);
    const timedS = Number(py.out.trim());
    const got = await collect();

    const cliPoints = pointsOf(got, cli.pid);
    // redis-cli asks for COMMAND DOCS before the first line (its hints).
    assert.deepEqual(countsOf(cliPoints), {
      'redis COMMAND ok': 1, 'redis SET ok': 1, 'redis GET ok': 2, 'redis INCR ok': 1, 'redis LPUSH error': 1, 'redis DEBUG ok': 1, 'redis NOSUCHCMD error': 1,
    });
    assertPeer(cliPoints, redisPort);

    const pyPoints = pointsOf(got, py.pid);
    // redis-py's incr() is INCRBY key 1 on the wire: the command word is what was sent.
    assert.deepEqual(countsOf(pyPoints), { 'redis SET ok': 1, 'redis GET ok': 2, 'redis INCRBY ok': 1, 'redis LPUSH error': 1, 'redis DEL ok': 1, 'redis DEBUG ok': 1 });
    assertPeer(pyPoints, redisPort);
    const slept = pyPoints.find((p) => p.attributes[GO_ATTR.dbOperation] === 'DEBUG')!.value;
    assert.ok(slept.min! >= DELAY_S && slept.max! <= timedS, `measured ${slept.min} s: at least the ${DELAY_S} s sleep, at most the ${timedS} s Python saw`);
    assertWithinABucket(slept, timedS, -1);

    // The server's side of the same calls is not a client call.
    assert.deepEqual(pointsOf(got, redisPid), []);
    assert.equal(drops.get('pipelined') ?? 0, 0);
  });

  test('ioredis: its commands counted exactly, its pipelines (the connect preamble, a MULTI batch) never measured wrong', async () => {
    const c = await node(`
      import { Redis } from 'ioredis';
      const r = new Redis({ port: ${redisPort}, host: '127.0.0.1', disableClientInfo: true });
      await r.set('io', '1');
      await r.get('io');
      await r.incr('io');
      await r.lpush('io', 'x').catch(() => undefined);
      await r.quit();
    `);
    const got = await collect();
    const points = pointsOf(got, c.pid);
    // HELLO, then its ready check (INFO), then ours.
    assert.deepEqual(countsOf(points), {
      'redis HELLO ok': 1, 'redis INFO ok': 1, 'redis SET ok': 1, 'redis GET ok': 1, 'redis INCR ok': 1, 'redis LPUSH error': 1, 'redis QUIT ok': 1,
    });
    assertPeer(points, redisPort);

    // By default ioredis opens with HELLO and two CLIENT SETINFO in one write; pipeline() sends a
    // batch the same way. Pipelined commands are counted as unmatched (never measured wrong), and
    // once their replies are in, the connection's next commands are measured again.
    const before = drops.get('pipelined') ?? 0;
    const d = await node(`
      import { Redis } from 'ioredis';
      const r = new Redis({ port: ${redisPort}, host: '127.0.0.1' });
      await r.set('io2', '1');
      await r.pipeline().get('io2').hgetall('h').incr('io2').exec();
      await r.get('io2');
      await r.quit();
    `);
    const after = await collect();
    assert.deepEqual(countsOf(pointsOf(after, d.pid)), { 'redis INFO ok': 1, 'redis SET ok': 1, 'redis GET ok': 1, 'redis QUIT ok': 1 });
    // Other processes' pipelines may be counted too (the counter is the host's): at least these six.
    assert.ok((drops.get('pipelined') ?? 0) - before >= 6, `pipelined commands counted as unmatched: ${(drops.get('pipelined') ?? 0) - before}`);
  });

  test('psql: exact counts per operation and ErrorResponse, start-up and SCRAM not counted, pg_sleep within a bucket of what psql timed', async () => {
    const p = await psql(['SELECT 1', 'CREATE TABLE l7 (id int primary key, v text)', "INSERT INTO l7 VALUES (1, 'a')", "update l7 set v = 'b'", 'SELECT 1/0', 'DELETE FROM l7', '/* nightly */ SELECT 2']);
    assert.match(p.out, /division by zero/);
    // pg_sleep overshoots by a few milliseconds here (its own latch waits, a loaded VM): the
    // known delay is what psql itself timed (\timing: from sending the query to its result).
    const sleep = await psql(['\\timing on', `SELECT pg_sleep(${DELAY_S})`]);
    const timedS = Number(/Time: ([\d.]+) ms/.exec(sleep.out)![1]) / 1000;
    const got = await collect();
    const points = pointsOf(got, p.pid);
    assert.deepEqual(countsOf(points), {
      'postgresql SELECT ok': 1, 'postgresql CREATE ok': 1, 'postgresql INSERT ok': 1, 'postgresql UPDATE ok': 1, 'postgresql SELECT error': 1, 'postgresql DELETE ok': 1,
      // A statement that does not start with its keyword: the operation is not guessed.
      'postgresql UNKNOWN ok': 1,
    });
    assertPeer(points, pgPort);
    const slept = pointsOf(got, sleep.pid);
    assert.deepEqual(countsOf(slept), { 'postgresql SELECT ok': 1 });
    const h = slept[0].value;
    assert.ok(h.min! >= DELAY_S && h.max! <= timedS, `measured ${h.min} s: at least the ${DELAY_S} s sleep, at most the ${timedS} s psql saw`);
    assertWithinABucket(h, timedS, -1);
  });

  test('psql over TLS (its SSLRequest answered "S"): the connection counted as TLS, nothing parsed from it', async () => {
    const tlsDir = tempDir('burnwatch-l7-db-tls');
    chmodSync(tlsDir, 0o755);
    const [key, crt] = [join(tlsDir, 'server.key'), join(tlsDir, 'server.crt')];
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', crt]);
    const pgUid = Number((await run('id', ['-u', 'postgres'])).stdout);
    for (const f of [key, crt]) chownSync(f, pgUid, 0);
    chmodSync(key, 0o600);
    const server = await startPostgres(tlsDir, { password: PG_PASSWORD, settings: ['ssl=on', `ssl_cert_file=${crt}`, `ssl_key_file=${key}`] });
    try {
      const p = await client('psql', ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', '-X', '-q', '-c', 'SELECT 1', '-c', 'SELECT 2'], {
        env: { PGPASSWORD: PG_PASSWORD, PGSSLMODE: 'require' },
      });
      const got = await collect();
      assert.deepEqual(pointsOf(got, p.pid), [], 'no query parsed from encrypted bytes');
      const unparsed = got
        .filter((c) => c.pid === p.pid)
        .flatMap((c) => c.metrics.filter((m) => m.descriptor.name === L7_METRIC.unparsedConnections).flatMap((m) => m.dataPoints as { attributes: Record<string, string>; value: number }[]));
      assert.deepEqual(unparsed.map((d) => [d.attributes[L7_ATTR.protocol], d.attributes[L7_ATTR.role], d.value]), [['tls', 'client', 1]]);
    } finally {
      await server.stop();
      rmSync(tlsDir, { recursive: true, force: true });
    }
  });

  test('node-postgres: simple and extended queries, a prepared statement run again, an error in an extended query', async () => {
    const c = await node(`
      import pg from 'pg';
      const c = new pg.Client({ host: '127.0.0.1', port: ${pgPort}, user: 'postgres', password: '${PG_PASSWORD}', database: 'postgres' });
      await c.connect();
      await c.query('SELECT 1');
      await c.query('SELECT $1::int AS x', [7]);
      await c.query({ name: 'plus', text: 'select $1::int + 1', values: [1] });
      await c.query({ name: 'plus', text: 'select $1::int + 1', values: [2] });
      await c.query('SELECT $1::int / 0', [1]).catch(() => undefined);
      await c.query('CREATE TABLE IF NOT EXISTS l7n (id int)');
      await c.query('INSERT INTO l7n VALUES ($1)', [1]);
      await c.end();
    `);
    const got = await collect();
    const points = pointsOf(got, c.pid);
    assert.deepEqual(countsOf(points), {
      'postgresql SELECT ok': 3, 'postgresql EXECUTE ok': 1, 'postgresql SELECT error': 1, 'postgresql CREATE ok': 1, 'postgresql INSERT ok': 1,
    });
    assertPeer(points, pgPort);
  });

  test('a Go service (lib/pq, redigo, go-redis v5) is measured from its syscalls like any client, and not at all while DB uprobes cover it', async () => {
    const topo = await startTopology({ backendService: 'l7-db-backend' });
    try {
      const pid = topo.backend.child.pid!;
      const orders = async (n: number) => {
        for (let i = 0; i < n; i++) assert.equal(await get(topo.frontendPort, `/order?${i % 2 ? 'pg_ms=5' : ''}`), 200);
        assert.equal(await get(topo.backendHttpPort, '/redis5?ms=0'), 200);
      };
      await orders(4);
      let got = await collect();
      // Each order: SELECT 1 (a simple query), pg_sleep($1) every other one (lib/pq prepares the
      // unnamed statement, then binds and executes it: named by its Parse's word, as the Go path
      // names it), redigo SET and GET; /redis5: go-redis SET and GET.
      const points = pointsOf(got, pid);
      assert.deepEqual(countsOf(points), { 'postgresql SELECT ok': 6, 'redis SET ok': 5, 'redis GET ok': 5 });
      for (const p of points) {
        const port = p.attributes[GO_ATTR.dbSystem] === 'redis' ? topo.redisPort : topo.pgPort;
        assert.deepEqual([p.attributes[GO_ATTR.serverAddress], p.attributes[GO_ATTR.serverPort]], ['127.0.0.1', port]);
      }
      l7.setUprobeCoverage(pid, { httpServer: false, httpClient: false, db: true });
      await orders(4);
      got = await collect();
      assert.deepEqual(pointsOf(got, pid), [], 'covered by uprobes: not counted from syscalls');
      l7.setUprobeCoverage(pid, { httpServer: false, httpClient: false, db: false });
    } finally {
      await topo.stop();
    }
  });

  test('the calls show up where the Go path\'s do: the gateway\'s service graph has the Redis and PostgreSQL edges', async () => {
    const py = await client(SYSTEM_PYTHON, ['-c', `import redis\nr = redis.Redis(host='127.0.0.1', port=${redisPort})\nr.set('g', 1)\nr.get('g')`]);
    const p = await psql(['SELECT 1']);
    const got = await collect();
    const resources = [
      resourceMetrics({ 'service.name': 'py-worker', 'host.name': 'l7-db-host', 'process.pid': py.pid }, got.filter((c) => c.pid === py.pid).flatMap((c) => c.metrics)),
      resourceMetrics({ 'service.name': 'report-job', 'host.name': 'l7-db-host', 'process.pid': p.pid }, got.filter((c) => c.pid === p.pid).flatMap((c) => c.metrics)),
    ];
    const gwDir = tempDir('burnwatch-l7-db-gw');
    const key = 'k-l7-db-0123456789abcdef';
    const gw = await startGateway({ port: 0, dataDir: gwDir, apiKeys: { [key]: 'tenant-l7' }, log: () => undefined });
    try {
      const auth = { authorization: `Bearer ${key}` };
      const post = await fetch(`${gw.url}/v1/metrics`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-protobuf' }, body: Buffer.from(encodeMetrics(resources)) });
      assert.equal(post.status, 200, await post.text());
      const now = Date.now() / 1000;
      const res = await fetch(`${gw.url}/v1/graph?from=${Math.floor(now - 600)}&to=${Math.ceil(now + 60)}`, { headers: auth });
      assert.equal(res.status, 200);
      const graph = (await res.json()) as ServiceGraph;
      const edges = graph.edges.map((e) => ({ from: e.from, protocol: e.protocol, requests: e.requests, errors: e.errors }));
      assert.deepEqual(edges.filter((e) => e.from === 'py-worker'), [{ from: 'py-worker', protocol: 'redis', requests: 2, errors: 0 }]);
      assert.deepEqual(edges.filter((e) => e.from === 'report-job'), [{ from: 'report-job', protocol: 'postgresql', requests: 1, errors: 0 }]);
    } finally {
      await gw.close();
      rmSync(gwDir, { recursive: true, force: true });
    }
  });
});
