// HTTP/1 of any language from syscall tracepoints (issue 20 items 1, 2), against real non-Go
// servers and clients in their own processes: Python's http.server, a Node http server,
// nginx (also as a reverse proxy, and with TLS), curl, Python's urllib and Node's fetch.
// The collector is loaded as the agent loads it (bpf/build/l7_syscalls.bpf.o); this test
// process is the "agent" (its own traffic is never looked at), so every client runs in a
// process of its own. Other tests may run beside this one: every check is per pid.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import type { CollectedMetrics } from '../agent/collectors/types.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { identifyProcess } from '../agent/process-identity.ts';
import { bucketIndexForSeconds } from '../common/exphist.ts';
import { FIXTURE_BIN, ROOT, freePort, manage, startFixture, tempDir, waitFor, type Managed } from './lib/processes.ts';

const run = promisify(execFile);
const FIXTURES = path.join(ROOT, 'test/fixtures/l7');
const PYTHON = '/usr/bin/python3';
const SERVER = 'http.server.request.duration';
const CLIENT = 'http.client.request.duration';
const SLOW_MS = 120;

let l7: SyscallL7Collector;
let lastEnd = epochNowNs();
const pending = new Map<string, number>();

async function collect(): Promise<CollectedMetrics[]> {
  const startNs = lastEnd;
  lastEnd = epochNowNs();
  const out = await l7.collect({ startNs, endNs: lastEnd, serviceOf: () => undefined });
  for (const [reason, n] of l7.takeDrops()) pending.set(reason, (pending.get(reason) ?? 0) + n);
  return out;
}

/** Drops counted since the last call (drop counters are host-wide: every process's). */
function takeDrops(): Map<string, number> {
  const out = new Map(pending);
  pending.clear();
  return out;
}

interface Point {
  attributes: Record<string, string | number>;
  value: ExponentialHistogram | number;
}

function pointsOf(collected: CollectedMetrics[], pid: number, metric: string): Point[] {
  return collected
    .filter((c) => c.pid === pid)
    .flatMap((c) => c.metrics.filter((m) => m.descriptor.name === metric).flatMap((m) => m.dataPoints as Point[]));
}

/** Request counts by "METHOD route status" (server) or "METHOD status port" (client). */
function countsOf(points: Point[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of points) {
    const a = p.attributes;
    const id = [a['http.request.method'], a['http.route'] ?? a['server.port'], a['http.response.status_code']].join(' ');
    out[id] = (out[id] ?? 0) + (p.value as ExponentialHistogram).count;
  }
  return out;
}

/** A server that prints its port on its first stdout line. */
async function startServer(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Managed & { pid: number; port: number }> {
  const child = spawn(cmd, args, { env: { ...process.env, SLOW_MS: String(SLOW_MS), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = manage(child);
  const port = await waitFor(`${cmd} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`${cmd} exited: ${m.output()}`);
    const line = m.output().split('\n')[0];
    return /^\d+$/.test(line) ? Number(line) : undefined;
  }, 10_000, 20);
  return { ...m, pid: child.pid!, port };
}

/** Runs a client to its end; resolves with its pid and stdout. */
async function client(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ pid: number; stdout: string }> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  assert.equal(code, 0, `${cmd} ${args.join(' ')} failed`);
  return { pid: child.pid!, stdout };
}

/** curl fetching every URL over one keep-alive connection; prints "status connects seconds" per URL. */
const curl = (urls: string[], extra: string[] = []) =>
  client('curl', ['-s', ...extra, ...urls.flatMap((u) => ['-o', '/dev/null', '-w', '%{http_code} %{num_connects} %{time_total}\\n', u])]);

/** The seconds curl took for its `i`th URL. */
const curlSeconds = (stdout: string, i: number) => Number(stdout.trim().split('\n')[i].split(' ')[2]);

/** A Node http server in a process of its own, and GET /same over one keep-alive connection from this process (not looked at: the agent's). */
async function keepAliveServer() {
  const server = `require('http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const node = await startServer(process.execPath, ['-e', server]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** Resolves with whether the request went over a connection used before. */
  const get = () => new Promise<boolean>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: node.port, path: '/same', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(req.reusedSocket));
    });
    req.on('error', reject);
  });
  return { node, agent, get };
}

/**
 * A request the server delays by `delay` s lands in the bucket of `delay` — or a later one
 * no further than the bucket after the time the client itself saw (the machine may be busy,
 * and what the client saw bounds what the server can have taken).
 */
function assertWithinABucket(h: ExponentialHistogram, delay: number, clientSaw: number): void {
  const idx = h.positive.bucketCounts.flatMap((n, i) => (n > 0 ? [h.positive.offset + i] : []));
  const lo = bucketIndexForSeconds(delay, h.scale);
  const hi = Math.max(lo, bucketIndexForSeconds(clientSaw, h.scale)) + 1;
  assert.ok(idx.length > 0 && idx.every((i) => i >= lo && i <= hi), `buckets ${idx} for a ${delay} s delay (buckets ${lo}..${hi}; the client saw ${clientSaw} s)`);
  assert.ok(h.min! >= delay, `min ${h.min} below the ${delay} s delay`);
}

before(() => {
  l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l) });
});
after(() => l7.close());

describe('syscall L7: HTTP/1 servers and clients of any language', () => {
  test('Python http.server and curl over one keep-alive connection: exact counts per route and status, both sides', async () => {
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      const base = `http://127.0.0.1:${py.port}`;
      const urls = [`${base}/ok/1`, `${base}/ok/2?q=x`, `${base}/ok/3`, `${base}/missing`, `${base}/fail`, `${base}/slow`, `${base}/ok/4`];
      const c = await curl(urls);
      // One connection for all of them: keep-alive is what is being measured.
      assert.deepEqual(c.stdout.trim().split('\n').map((l) => l.split(' ')[1]).filter((n) => n !== '0'), ['1']);
      const got = await collect();
      assert.deepEqual(countsOf(pointsOf(got, py.pid, SERVER)), {
        'GET /ok/{id} 200': 4, 'GET /missing 404': 1, 'GET /fail 500': 1, 'GET /slow 200': 1,
      });
      assert.deepEqual(countsOf(pointsOf(got, c.pid, CLIENT)), { [`GET ${py.port} 200`]: 5, [`GET ${py.port} 404`]: 1, [`GET ${py.port} 500`]: 1 });
      const peer = pointsOf(got, c.pid, CLIENT)[0].attributes;
      assert.equal(peer['server.address'], '127.0.0.1');
      const slow = pointsOf(got, py.pid, SERVER).find((p) => p.attributes['http.route'] === '/slow')!;
      assertWithinABucket(slow.value as ExponentialHistogram, SLOW_MS / 1000, curlSeconds(c.stdout, 5));
      assert.equal((await identifyProcess(py.pid))?.serviceName, 'python3.11');
    } finally {
      await py.stop();
    }
  });

  test('one series over several buckets: count, sum, min and max are the whole series\', not one bucket\'s', async () => {
    // Each (series, bucket) entry in the kernel holds its own count, sum, min and max; the
    // collector must add them up across buckets (and CPUs) into the series' one point.
    const delaysMs = [0, 2 * SLOW_MS, SLOW_MS / 2, SLOW_MS, 0];
    const server = `require('http').createServer((q, s) => setTimeout(() => s.end('ok'), Number(new URL(q.url, 'http://x').searchParams.get('ms'))))` +
      `.listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
    const node = await startServer(process.execPath, ['-e', server]);
    try {
      const c = await curl(delaysMs.map((ms) => `http://127.0.0.1:${node.port}/delay?ms=${ms}`));
      const saw = delaysMs.map((_, i) => curlSeconds(c.stdout, i));
      const points = pointsOf(await collect(), node.pid, SERVER);
      assert.equal(points.length, 1, `one series: ${JSON.stringify(points.map((p) => p.attributes))}`);
      const h = points[0].value as ExponentialHistogram;
      assert.equal(h.count, delaysMs.length);
      assert.equal(h.positive.bucketCounts.reduce((a, b) => a + b, 0), delaysMs.length);
      assert.ok(h.positive.bucketCounts.filter((n) => n > 0).length >= 3, `delays ${delaysMs} ms in ${h.positive.bucketCounts.filter((n) => n > 0).length} buckets`);
      const longest = Math.max(...delaysMs) / 1000;
      assert.ok(h.max! >= longest && h.max! <= Math.max(...saw), `max ${h.max} s: the ${longest} s delay, at most what curl saw`);
      assert.ok(h.min! < SLOW_MS / 2000, `min ${h.min} s: an undelayed request's`);
      const delayed = delaysMs.reduce((a, b) => a + b, 0) / 1000;
      const sawTotal = saw.reduce((a, b) => a + b, 0);
      assert.ok(h.sum! >= delayed && h.sum! <= sawTotal, `sum ${h.sum} s: at least the ${delayed} s of delays, at most the ${sawTotal} s curl saw`);
    } finally {
      await node.stop();
    }
  });

  test('a full map of series names loses no request: those it cannot name go to their overflow series, the drops are named', async () => {
    const small = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l), maxEntries: { l7_series_seen_0: 1, l7_series_seen_1: 1 } });
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      const base = `http://127.0.0.1:${py.port}`;
      await curl([`${base}/ok/1`, `${base}/missing`, `${base}/fail`, `${base}/ok/2`]);
      const got = await small.collect({ startNs: 1n, endNs: epochNowNs(), serviceOf: () => undefined });
      // One slot (host-wide: another process's series may take it): the series not named keep
      // their method and status under the overflow route.
      const counts = countsOf(pointsOf(got, py.pid, SERVER));
      const byStatus: Record<string, number> = {};
      for (const [id, n] of Object.entries(counts)) byStatus[id.split(' ')[2]] = (byStatus[id.split(' ')[2]] ?? 0) + n;
      assert.deepEqual(byStatus, { 200: 2, 404: 1, 500: 1 });
      const overflowed = Object.keys(counts).filter((id) => id.startsWith('GET /{overflow} '));
      assert.ok(overflowed.length >= 2, `at most one series named: ${JSON.stringify(counts)}`);
      for (const id of Object.keys(counts)) assert.ok(['GET /ok/{id} 200', 'GET /missing 404', 'GET /fail 500'].includes(id) || overflowed.includes(id), id);
      // Three series, one slot (drop counters are host-wide: other processes may add more).
      const drops = small.takeDrops();
      assert.ok((drops.get('stats_map_full') ?? 0) >= 2, 'series not named are counted as stats_map_full');
      assert.ok((drops.get('series_overflow') ?? 0) >= 2, 'requests recorded under an overflow series are counted');
      assert.equal(drops.get('series_unnamed'), undefined);
    } finally {
      await py.stop();
      small.close();
      await collect(); // the shared collector's view of the same requests
      takeDrops();
    }
  });

  test('full name maps, named and overflow: a request that cannot be named is not recorded, and is counted', async () => {
    const one = { l7_series_seen_0: 1, l7_series_seen_1: 1, l7_overflow_seen_0: 1, l7_overflow_seen_1: 1 };
    const small = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l), maxEntries: one });
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      const base = `http://127.0.0.1:${py.port}`;
      await curl([`${base}/ok/1`, `${base}/missing`, `${base}/fail`, `${base}/ok/2`]);
      const got = await small.collect({ startNs: 1n, endNs: epochNowNs(), serviceOf: () => undefined });
      // Three series (200, 404, 500), one name and one overflow name (host-wide: other processes may take them).
      const recorded = pointsOf(got, py.pid, SERVER).reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0);
      assert.ok(recorded < 4, `${recorded} recorded with room for two of three series`);
      const drops = small.takeDrops();
      assert.ok((drops.get('stats_map_full') ?? 0) >= 4 - recorded, `not recorded: counted (${JSON.stringify([...drops])})`);
      assert.equal(drops.get('series_unnamed'), undefined);
    } finally {
      await py.stop();
      small.close();
      await collect();
      takeDrops();
    }
  });

  test('two series with one id are never merged: the later is recorded under its overflow series, counted', async () => {
    // Every id the kernel makes is 0 (overflow ids 1): each series after a process's first collides.
    const colliding = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: (l) => console.error(l), seriesIdMask: 0n });
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      const base = `http://127.0.0.1:${py.port}`;
      const c = await curl([`${base}/ok/1`, `${base}/slow`, `${base}/ok/2`, `${base}/slow`]);
      const got = await colliding.collect({ startNs: 1n, endNs: epochNowNs(), serviceOf: () => undefined });
      assert.deepEqual(countsOf(pointsOf(got, py.pid, SERVER)), { 'GET /ok/{id} 200': 2, 'GET /{overflow} 200': 2 });
      const slow = pointsOf(got, py.pid, SERVER).find((p) => p.attributes['http.route'] === '/{overflow}')!.value as ExponentialHistogram;
      assert.ok(slow.min! >= SLOW_MS / 1000, `the overflow series holds the /slow requests (min ${slow.min} s), not /ok's`);
      // curl's side: one series per path (client series keep the path), so they collide as well.
      assert.equal(pointsOf(got, c.pid, CLIENT).reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0), 4);
      const drops = colliding.takeDrops();
      assert.ok((drops.get('series_collision') ?? 0) >= 2, `collisions counted: ${JSON.stringify([...drops])}`);
      assert.equal(drops.get('series_unnamed'), undefined);
    } finally {
      await py.stop();
      colliding.close();
      await collect();
      takeDrops();
    }
  });

  test('a keep-alive connection repeating one route is named again in each generation its requests land in', async () => {
    // The connection caches its series id; a generation retired and current again (two
    // collects) must not reuse an id whose name was drained with it.
    const { node, agent, get } = await keepAliveServer();
    try {
      await collect();
      takeDrops();
      const reused: boolean[] = [];
      const counts: Record<string, number>[] = [];
      for (const collects of [1, 2, 1, 1]) {
        reused.push(await get());
        let got: CollectedMetrics[] = [];
        for (let i = 0; i < collects; i++) got = [...got, ...(await collect())];
        counts.push(countsOf(pointsOf(got, node.pid, SERVER)));
      }
      assert.deepEqual(reused, [false, true, true, true], 'one connection throughout');
      assert.deepEqual(counts, Array(4).fill({ 'GET /same 200': 1 }));
      assert.equal(takeDrops().get('series_unnamed'), undefined);
    } finally {
      agent.destroy();
      await node.stop();
    }
  });

  test('coverage given and withdrawn applies to a connection already open (its cached coverage is looked up again)', async () => {
    const { node, agent, get } = await keepAliveServer();
    try {
      await collect();
      const reused: boolean[] = [];
      const counts: Record<string, number>[] = [];
      for (const httpServer of [false, true, false]) {
        l7.setUprobeCoverage(node.pid, { httpServer, httpClient: false, db: false });
        reused.push(await get(), await get());
        counts.push(countsOf(pointsOf(await collect(), node.pid, SERVER)));
      }
      assert.deepEqual(reused, [false, true, true, true, true, true], 'one connection throughout');
      assert.deepEqual(counts, [{ 'GET /same 200': 2 }, {}, { 'GET /same 200': 2 }]);
      takeDrops();
    } finally {
      l7.processExited(node.pid);
      agent.destroy();
      await node.stop();
    }
  });

  test('a chunked response is measured to its last chunk; POST bodies and HEAD are not mistaken for pipelining', async () => {
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      const base = `http://127.0.0.1:${py.port}`;
      const c = await curl([`${base}/chunked`]);
      const post = await client('curl', ['-s', '-o', '/dev/null', '-d', 'a=1&b=2', `${base}/ok/5`, '--next', '-s', '-o', '/dev/null', '-I', `${base}/ok/6`]);
      const got = await collect();
      const server = pointsOf(got, py.pid, SERVER);
      assert.deepEqual(countsOf(server), { 'GET /chunked 200': 1, 'POST /ok/{id} 201': 1, 'HEAD /ok/{id} 200': 1 });
      // Three parts SLOW_MS apart: the response ends after the last one, not at its head.
      const chunked = server.find((p) => p.attributes['http.route'] === '/chunked')!.value as ExponentialHistogram;
      assert.ok(chunked.min! >= (3 * SLOW_MS) / 1000, `chunked response took ${chunked.min} s`);
      assert.ok((pointsOf(got, c.pid, CLIENT)[0].value as ExponentialHistogram).min! >= (3 * SLOW_MS) / 1000);
      assert.equal(pointsOf(got, post.pid, CLIENT).reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0), 2);
      takeDrops();
    } finally {
      await py.stop();
    }
  });

  test('a chunked body whose end is split across writes is counted unfinished; the next request is measured', async () => {
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      const base = `http://127.0.0.1:${py.port}`;
      const c = await curl([`${base}/chunked-split`, `${base}/ok/1`, `${base}/chunked`]);
      assert.deepEqual(c.stdout.trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')), ['200 1', '200 0', '200 0']);
      const got = await collect();
      assert.deepEqual(countsOf(pointsOf(got, py.pid, SERVER)), { 'GET /ok/{id} 200': 1, 'GET /chunked 200': 1 });
      const drops = takeDrops();
      // The server's view of the split one; curl's too unless it read both parts at once. (Drop
      // counters are host-wide: other processes' unfinished requests may add to them.)
      assert.ok((drops.get('unfinished') ?? 0) >= 1, `unfinished ${drops.get('unfinished')}`);
    } finally {
      await py.stop();
    }
  });

  test('pipelined requests are counted as unmatched, never measured', async () => {
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      // Three requests in one write (from this process, which the collector ignores).
      const sock = net.connect(py.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
      let text = '';
      sock.on('data', (d) => (text += d));
      sock.write(req('/ok/1') + req('/missing') + req('/ok/2'));
      await waitFor('three responses', () => ((text.match(/HTTP\/1\.1 /g) ?? []).length === 3 ? true : undefined), 5_000, 20);
      sock.destroy();
      // A request on a new connection afterwards is measured as usual, even when its first
      // byte comes in a read of its own (as Go's server reads ahead on idle connections).
      const split = net.connect(py.port, '127.0.0.1');
      await new Promise((r) => split.once('connect', r));
      let answer = '';
      split.on('data', (d) => (answer += d));
      split.write('G');
      await new Promise((r) => setTimeout(r, 100));
      split.write('ET /ok/7 HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('the split request\'s response', () => (answer.includes('\r\n\r\n') ? true : undefined), 5_000, 20);
      split.destroy();
      await curl([`http://127.0.0.1:${py.port}/ok/3`]);
      const got = await collect();
      assert.deepEqual(countsOf(pointsOf(got, py.pid, SERVER)), { 'GET /ok/{id} 200': 2 });
      // Drop counters are host-wide (another process may pipeline meanwhile): at least these three.
      assert.ok((takeDrops().get('pipelined') ?? 0) >= 3);
    } finally {
      await py.stop();
    }
  });

  test('an HTTP/2 connection (prior knowledge) is counted on both sides, never parsed as HTTP/1', async () => {
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    try {
      // Python's http.server does not speak HTTP/2 (it answers the preface with an error): curl
      // may fail, what matters is what the kernel made of the bytes.
      const h2 = spawn('curl', ['-s', '-o', '/dev/null', '--http2-prior-knowledge', `http://127.0.0.1:${py.port}/ok/1`], { stdio: 'ignore' });
      await new Promise((r) => h2.once('exit', r));
      const got = await collect();
      const conns = (pid: number) => pointsOf(got, pid, 'burnwatch.l7.unparsed.connections').map((p) => [p.attributes['burnwatch.l7.protocol'], p.attributes['burnwatch.connection.role'], p.value]);
      assert.deepEqual(conns(py.pid), [['http2', 'server', 1]]);
      assert.deepEqual(conns(h2.pid!), [['http2', 'client', 1]]);
      assert.deepEqual(pointsOf(got, py.pid, SERVER), []);
      assert.deepEqual(pointsOf(got, h2.pid!, CLIENT), []);
    } finally {
      await py.stop();
    }
  });

  test('a connection accepted before the programs were attached is adopted at its next request; later ones are tracked', async () => {
    const py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    const older = net.connect(py.port, '127.0.0.1');
    await new Promise((r) => older.once('connect', r));
    // Python accepts it now; a collector loaded afterwards never saw the accept.
    await waitFor('the server to accept', async () => ((await run('ss', ['-Htnp', 'state', 'established', `sport = :${py.port}`])).stdout.includes(`pid=${py.pid}`) || undefined), 5_000, 20);
    const late = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => {} });
    try {
      let answer = '';
      older.on('data', (d) => (answer += d));
      // The server's read of the first request was entered before the programs were attached
      // (its thread blocked in it): not seen. The connection is adopted at the second.
      for (const [i, p] of ['/ok/1', '/ok/2'].entries()) {
        older.write(`GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
        await waitFor('the response', () => ((answer.match(/\r\n\r\n/g) ?? []).length > i ? true : undefined), 5_000, 20);
      }
      await curl([`http://127.0.0.1:${py.port}/missing`]);
      const got = await late.collect({ startNs: lastEnd, endNs: epochNowNs(), serviceOf: () => undefined });
      assert.deepEqual(countsOf(pointsOf(got, py.pid, SERVER)), { 'GET /ok/{id} 200': 1, 'GET /missing 404': 1 });
    } finally {
      older.destroy();
      late.close();
      await py.stop();
      await collect(); // what the shared collector saw meanwhile
    }
  });

  test('routes are capped per service, as on the Go path: two processes of one service share the budget', async () => {
    const capped = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => {}, maxRoutesPerService: 2 });
    const env = { OTEL_SERVICE_NAME: `shared-${process.pid}` };
    const [a, b] = [await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')], env), await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')], env)];
    try {
      await curl([`http://127.0.0.1:${a.port}/ok/1`, `http://127.0.0.1:${a.port}/missing`]);
      await curl([`http://127.0.0.1:${b.port}/fail`, `http://127.0.0.1:${b.port}/ok/2`]);
      const got = await capped.collect({ startNs: lastEnd, endNs: epochNowNs(), serviceOf: () => undefined });
      // Three routes for a service allowed two: whichever is drained last is the overflow (map order).
      const points = [...pointsOf(got, a.pid, SERVER), ...pointsOf(got, b.pid, SERVER)];
      const count = (route?: string) => points.filter((p) => !route || p.attributes['http.route'] === route).reduce((n, p) => n + (p.value as ExponentialHistogram).count, 0);
      const named = new Set(points.map((p) => p.attributes['http.route']).filter((r) => r !== '/{overflow}'));
      assert.equal(count(), 4);
      assert.equal(named.size, 2, [...named].join(' '));
      assert.ok(count('/{overflow}') >= 1 && count('/{overflow}') <= 2);
      assert.ok((capped.takeDrops().get('route_overflow') ?? 0) >= 1); // host-wide: other services may overflow too
    } finally {
      capped.close();
      await a.stop();
      await b.stop();
      await collect();
    }
  });

  test('a Node http server with Node fetch and Python urllib as clients', async () => {
    const node = await startServer(process.execPath, [path.join(FIXTURES, 'node_server.mjs')]);
    try {
      const base = `http://127.0.0.1:${node.port}`;
      const fetchClient = await client(process.execPath, [path.join(FIXTURES, 'node_client.mjs'), `${base}/ok/1`, `${base}/ok/2`, `${base}/fail`, `${base}/missing`, `${base}/chunked`]);
      assert.equal(fetchClient.stdout.trim(), '200 200 500 404 200');
      const urllib = await client(PYTHON, ['-c', [
        'import sys, urllib.request, urllib.error',
        'for u in sys.argv[1:]:',
        '    try: urllib.request.urlopen(u).read()',
        '    except urllib.error.HTTPError as e: e.read()',
      ].join('\n'), `${base}/slow`, `${base}/fail`]);
      const timed = await curl([`${base}/slow`]);
      const got = await collect();
      assert.deepEqual(countsOf(pointsOf(got, node.pid, SERVER)), {
        'GET /ok/{id} 200': 2, 'GET /fail 500': 2, 'GET /missing 404': 1, 'GET /chunked 200': 1, 'GET /slow 200': 2,
      });
      assert.deepEqual(countsOf(pointsOf(got, fetchClient.pid, CLIENT)), {
        [`GET ${node.port} 200`]: 3, [`GET ${node.port} 500`]: 1, [`GET ${node.port} 404`]: 1,
      });
      assert.deepEqual(countsOf(pointsOf(got, urllib.pid, CLIENT)), { [`GET ${node.port} 200`]: 1, [`GET ${node.port} 500`]: 1 });
      const chunked = pointsOf(got, node.pid, SERVER).find((p) => p.attributes['http.route'] === '/chunked')!.value as ExponentialHistogram;
      assert.ok(chunked.min! >= (3 * SLOW_MS) / 1000, `chunked response took ${chunked.min} s`);
      assert.deepEqual(countsOf(pointsOf(got, timed.pid, CLIENT)), { [`GET ${node.port} 200`]: 1 });
      const slow = pointsOf(got, timed.pid, CLIENT)[0].value as ExponentialHistogram;
      assertWithinABucket(slow, SLOW_MS / 1000, curlSeconds(timed.stdout, 0));
      assert.equal((await identifyProcess(node.pid))?.serviceName, 'node');
    } finally {
      await node.stop();
    }
  });
});

describe('syscall L7: nginx, as server and reverse proxy, with TLS counted and not parsed', () => {
  let dir: string;
  let nginx: Managed;
  let py: Awaited<ReturnType<typeof startServer>>;
  let port: number;
  let tlsPort: number;
  let worker: number;

  before(async () => {
    dir = tempDir('bw-nginx');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    py = await startServer(PYTHON, [path.join(FIXTURES, 'python_server.py')]);
    port = await freePort();
    tlsPort = await freePort();
    const temp = (n: string) => `${n}_temp_path ${path.join(dir, n)};`;
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off; master_process on; worker_processes 1; user root;
pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events {}
http {
  access_log off; ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join(' ')}
  server {
    listen 127.0.0.1:${port}; listen 127.0.0.1:${tlsPort} ssl;
    ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem;
    location /ok/ { return 200 "ok\\n"; }
    location = /missing { return 404; }
    location = /fail { return 500; }
    location /py/ { proxy_pass http://127.0.0.1:${py.port}/; }
  }
}`);
    nginx = manage(spawn('/usr/sbin/nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'pipe', 'pipe'] }));
    worker = await waitFor('an nginx worker', async () => {
      const { stdout } = await run('pgrep', ['-P', String(nginx.child.pid)]).catch(() => ({ stdout: '' }));
      const pids = stdout.trim().split('\n').filter(Boolean).map(Number);
      return pids.length === 1 && fs.existsSync(`${dir}/nginx.pid`) ? pids[0] : undefined;
    }, 10_000, 50);
    // The worker's sockets exist before the first request: wait until it answers.
    await waitFor('nginx to answer', () => fetch(`http://127.0.0.1:${port}/ok/0`).then((r) => r.status === 200 || undefined).catch(() => undefined), 10_000, 50);
    await collect();
  });
  after(async () => {
    await nginx?.stop('SIGQUIT');
    await py?.stop();
  });

  test('nginx workers are the service "nginx"; their requests are counted per route and status', async () => {
    assert.equal((await identifyProcess(worker))?.serviceName, 'nginx');
    const base = `http://127.0.0.1:${port}`;
    const c = await curl([`${base}/ok/1`, `${base}/ok/2`, `${base}/missing`, `${base}/fail`, `${base}/fail`]);
    const got = await collect();
    assert.deepEqual(countsOf(pointsOf(got, worker, SERVER)), { 'GET /ok/{id} 200': 2, 'GET /missing 404': 1, 'GET /fail 500': 2 });
    assert.deepEqual(countsOf(pointsOf(got, c.pid, CLIENT)), { [`GET ${port} 200`]: 2, [`GET ${port} 404`]: 1, [`GET ${port} 500`]: 2 });
  });

  test('as a reverse proxy nginx is a client of its upstream, and the upstream\'s delay shows on both', async () => {
    const c = await curl([`http://127.0.0.1:${port}/py/slow`, `http://127.0.0.1:${port}/py/missing`]);
    const got = await collect();
    assert.deepEqual(countsOf(pointsOf(got, worker, SERVER)), { 'GET /py/slow 200': 1, 'GET /py/missing 404': 1 });
    assert.deepEqual(countsOf(pointsOf(got, worker, CLIENT)), { [`GET ${py.port} 200`]: 1, [`GET ${py.port} 404`]: 1 });
    assert.deepEqual(countsOf(pointsOf(got, py.pid, SERVER)), { 'GET /slow 200': 1, 'GET /missing 404': 1 });
    // nginx's call to the upstream holds the upstream's own handling of it.
    const upstream = pointsOf(got, worker, CLIENT).find((p) => p.attributes['http.response.status_code'] === 200)!.value as ExponentialHistogram;
    const handled = pointsOf(got, py.pid, SERVER).find((p) => p.attributes['http.route'] === '/slow')!.value as ExponentialHistogram;
    assertWithinABucket(handled, SLOW_MS / 1000, curlSeconds(c.stdout, 0));
    assert.ok(upstream.min! >= handled.max!, `nginx waited ${upstream.min} s for a response its upstream took ${handled.max} s over`);
  });

  test('TLS connections are counted with their bytes, never parsed as HTTP', async () => {
    const bytes = (pid: number, dir: string) => pointsOf(got, pid, 'burnwatch.l7.unparsed.bytes').filter((p) => p.attributes['network.io.direction'] === dir).reduce((n, p) => n + (p.value as number), 0);
    // (Responses that keep the connection open: after an error nginx closes it, and curl's
    // close_notify is then never read by the worker.)
    const c = await curl([`https://127.0.0.1:${tlsPort}/ok/1`, `https://127.0.0.1:${tlsPort}/ok/2`], ['-k']);
    assert.deepEqual(c.stdout.trim().split('\n').map((l) => l.split(' ')[0]), ['200', '200']);
    // The worker reads curl's last record (its close_notify) after curl has gone: wait for it.
    const got: CollectedMetrics[] = [];
    await waitFor('the worker to read the closed connection', async () => {
      got.push(...(await collect()));
      return bytes(worker, 'receive') === bytes(c.pid, 'transmit') || undefined;
    }, 5_000, 50).catch(() => undefined);
    assert.deepEqual(pointsOf(got, worker, SERVER), []);
    assert.deepEqual(pointsOf(got, c.pid, CLIENT), []);
    const conns = (pid: number) => pointsOf(got, pid, 'burnwatch.l7.unparsed.connections').map((p) => [p.attributes['burnwatch.l7.protocol'], p.attributes['burnwatch.connection.role'], p.value]);
    assert.deepEqual(conns(worker), [['tls', 'server', 1]]);
    assert.deepEqual(conns(c.pid), [['tls', 'client', 1]]);
    // What one side sent, the other received (a TLS handshake is a few hundred bytes at least).
    assert.ok(bytes(c.pid, 'transmit') > 200);
    assert.equal(bytes(worker, 'receive'), bytes(c.pid, 'transmit'));
    assert.equal(bytes(worker, 'transmit'), bytes(c.pid, 'receive'));
  });
});

describe('syscall L7: no double counting with Go uprobes', () => {
  test('a Go server is measured by the syscall path until uprobes cover it, then only by the uprobes', async () => {
    const fixture = await startFixture('httpserver');
    const binary = path.join(FIXTURE_BIN, 'httpserver');
    const http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
    try {
      const urls = (n: number) => Array.from({ length: n }, (_, i) => `${fixture.url}/${i % 3 === 0 ? 'fail' : 'hello'}`);
      await curl(urls(6));
      let got = await collect();
      assert.deepEqual(countsOf(pointsOf(got, fixture.pid, SERVER)), { 'GET /hello 200': 4, 'GET /fail 500': 2 });

      const info = await inspectGoBinary(binary);
      if (!('probeSets' in info) || !info.probeSets.httpServer) throw new Error('fixture not instrumentable');
      l7.setUprobeCoverage(fixture.pid, { httpServer: true, httpClient: false, db: false });
      http.attach({ pid: fixture.pid, binaryPath: binary, binaryKey: info.fileKey, probes: info.probeSets.httpServer });
      await curl(urls(9));
      got = await collect();
      assert.deepEqual(pointsOf(got, fixture.pid, SERVER), []);
      const uprobes = await http.drainPoints(() => 'svc');
      const n = (status: number) => uprobes.filter((p) => p.attributes['http.response.status_code'] === status).reduce((s, p) => s + p.histogram.count, 0);
      assert.deepEqual([n(200), n(500)], [6, 3]);

      // Coverage withdrawn (the uprobes detached): the syscall path counts it again.
      http.detach(fixture.pid);
      l7.setUprobeCoverage(fixture.pid, { httpServer: false, httpClient: false, db: false });
      await curl(urls(3));
      got = await collect();
      assert.deepEqual(countsOf(pointsOf(got, fixture.pid, SERVER)), { 'GET /hello 200': 2, 'GET /fail 500': 1 });
    } finally {
      http.close();
      await fixture.stop();
    }
  });
});
