// HTTP/2 and TLS Go servers through the real agent collectors and real BPF: net/http's bundled
// h2 server (ALPN over TLS, with a certificate made by openssl for this run), HTTP/1.1 over
// the same TLS listener, h2c from golang.org/x/net/http2, and outbound HTTPS calls (HTTP/1.1
// and h2) with their peer. Every count is exact per route and status.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { HttpServerCollector, type HttpServerPoint } from '../agent/collectors/http-server.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { inspectGoBinary, type GoBinaryInfo } from '../agent/goinspect/index.ts';
import { GO_METRIC } from '../common/catalogue.ts';
import { buildGoFixture } from './helpers/go.ts';
import { manage, tempDir, waitFor, type Managed } from './lib/processes.ts';

const run = promisify(execFile);

interface Server extends Managed {
  pid: number;
  port: number;
}

let bin: string;
let info: GoBinaryInfo;
let cert: { certFile: string; keyFile: string; ca: Buffer };
const running: Managed[] = [];

/** A self-signed certificate for 127.0.0.1, made for this run. */
async function makeCertificate(): Promise<typeof cert> {
  const dir = tempDir('bw-h2-cert');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ]);
  return { certFile, keyFile, ca: fs.readFileSync(certFile) };
}

async function startServer(args: string[], binary = bin, env: Record<string, string> = {}): Promise<Server> {
  const portFile = path.join(tempDir('bw-h2-fixture'), 'port');
  const m = manage(spawn(binary, ['-addr', '127.0.0.1:0', '-port-file', portFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  running.push(m);
  const port = await waitFor('h2server to listen', () => {
    if (m.child.exitCode !== null) throw new Error(`h2server exited: ${m.output()}`);
    const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
    return text ? Number(text) : undefined;
  }, 10_000, 20);
  return { ...m, pid: m.child.pid!, port };
}

const tlsArgs = () => ['-tls-cert', cert.certFile, '-tls-key', cert.keyFile];

/** An http-server collector attached the way the agent attaches it (attachGo). */
function serverCollector(server: Server, opts: { inflightMaxAgeNs?: bigint } = {}): HttpServerCollector {
  const c = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), ...opts });
  c.attachGo({ pid: server.pid, exePath: `/proc/${server.pid}/exe`, serviceName: 'h2server' } as Parameters<HttpServerCollector['attachGo']>[0], info);
  return c;
}

/**
 * Requests over one HTTP/2 session (TLS with ALPN for https origins, prior-knowledge h2c for
 * http ones), `concurrency` streams at a time. Returns the statuses (0: the stream was reset)
 * and the protocol the session negotiated.
 */
async function h2Requests(origin: string, paths: readonly string[], concurrency = 8): Promise<{ statuses: Map<number, number>; alpn: string | undefined }> {
  const session = http2.connect(origin, origin.startsWith('https:') ? { ca: cert.ca } : {});
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < paths.length) {
        const req = session.request({ ':path': paths[next++] });
        const status = await new Promise<number>((resolve) => {
          let got = 0;
          req.on('response', (h) => (got = Number(h[':status'])));
          req.on('error', () => undefined);
          req.on('close', () => resolve(got));
          req.resume();
        });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const alpn = session.alpnProtocol;
  await new Promise<void>((resolve) => session.close(() => resolve()));
  return { statuses, alpn };
}

/** HTTPS/1.1 requests on keep-alive connections (no ALPN offered: the server picks HTTP/1.1). */
async function https1Requests(origin: string, paths: readonly string[], concurrency = 4): Promise<Map<number, number>> {
  const agent = new https.Agent({ keepAlive: true, ca: cert.ca, maxSockets: concurrency });
  const statuses = new Map<number, number>();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < paths.length) {
          const p = paths[next++];
          const status = await new Promise<number>((resolve, reject) => {
            https.get(`${origin}${p}`, { agent }, (res) => {
              assert.equal(res.httpVersion, '1.1');
              res.resume();
              res.on('end', () => resolve(res.statusCode!));
            }).on('error', reject);
          });
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return statuses;
}

function countsOf(points: HttpServerPoint[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of points) {
    const id = `${p.attributes['http.request.method']} ${p.attributes['http.route']} ${p.attributes['http.response.status_code']}`;
    out.set(id, (out.get(id) ?? 0) + p.histogram.count);
  }
  return out;
}

const sorted = <K>(m: Map<K, number>) => new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const repeat = (paths: string[], n: number) => Array.from({ length: n }, () => paths).flat();

before(async () => {
  bin = await buildGoFixture('h2server');
  const i = await inspectGoBinary(bin);
  if (!('probeSets' in i)) throw new Error(`h2server not instrumentable: ${i.reason}`);
  info = i;
  cert = await makeCertificate();
});

after(async () => {
  for (const m of running) await m.stop();
});

describe('HTTP/2 and HTTPS servers', () => {
  test('h2 (ALPN) and HTTP/1.1 over one TLS listener: every request counted once with its route, status and duration', async () => {
    assert.ok(info.probeSets.http2Server, 'the bundled HTTP/2 server resolves');
    const server = await startServer(tlsArgs());
    const collector = serverCollector(server);
    try {
      const origin = `https://127.0.0.1:${server.port}`;
      const paths = ['/hello', '/fail', '/silent', '/users/4711', '/hello?x=1'];
      const h2 = await h2Requests(origin, [...repeat(paths, 40), '/sleep?ms=250']);
      assert.equal(h2.alpn, 'h2');
      assert.deepEqual(sorted(h2.statuses), new Map([[200, 161], [500, 40]]));
      const h1 = await https1Requests(origin, repeat(paths, 10));
      assert.deepEqual(sorted(h1), new Map([[200, 40], [500, 10]]));

      const points = await collector.drainPoints(() => 'h2server');
      assert.deepEqual(sorted(countsOf(points)), sorted(new Map([
        ['GET /hello 200', 100], // 40 + 40 (with a query) over h2, 20 over HTTP/1.1
        ['GET /fail 500', 50],
        ['GET /silent 200', 50], // nothing written: the implicit 200
        ['GET /users/{id} 200', 50],
        ['GET /sleep 200', 1],
      ])));
      const sleep = points.find((p) => p.attributes['http.route'] === '/sleep')!.histogram;
      assert.ok(sleep.sum >= 0.25 && sleep.sum < 0.35, `the 250 ms request took ${sleep.sum} s`);
      // Every start found its end: nothing left in flight, nothing replaced or refused.
      assert.equal(collector.inflightCount(), 0);
      assert.deepEqual([...collector.takeDrops()], []);
    } finally {
      collector.close();
      await server.stop();
    }
  });

  test('h2c (golang.org/x/net/http2): streams counted from their own start; the upgraded connection is one start that never finishes', async () => {
    assert.ok(info.probeSets.http2XnetServer, 'x/net http2 resolves');
    const server = await startServer(['-h2c']);
    const collector = serverCollector(server, { inflightMaxAgeNs: 300_000_000n });
    try {
      const origin = `http://127.0.0.1:${server.port}`;
      const got = await h2Requests(origin, [...repeat(['/hello', '/fail', '/users/17', '/silent'], 25), '/sleep?ms=200']);
      assert.equal(got.alpn, 'h2c');
      assert.deepEqual(sorted(got.statuses), new Map([[200, 76], [500, 25]]));
      // Plain HTTP/1.1 on the same port still goes through finishRequest.
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${origin}/hello`)).status, 200);
      const points = await collector.drainPoints(() => 'h2server');
      assert.deepEqual(sorted(countsOf(points)), sorted(new Map([
        ['GET /hello 200', 30],
        ['GET /fail 500', 25],
        ['GET /users/{id} 200', 25],
        ['GET /silent 200', 25],
        ['GET /sleep 200', 1],
      ])));
      const sleep = points.find((p) => p.attributes['http.route'] === '/sleep')!.histogram;
      assert.ok(sleep.sum >= 0.2 && sleep.sum < 0.3, `the 200 ms request took ${sleep.sum} s`);
      const drops = collector.takeDrops();
      // The prior-knowledge preface reached ServeHTTP as `PRI *` and the h2c handler took the
      // connection over: that start never finishes. It is counted once: as stale by the sweep
      // once old (at the drain above or the next one), or as unfinished when its recycled
      // goroutine starts another request first.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(total(countsOf(await collector.drainPoints(() => 'h2server'))), 0);
      for (const [reason, n] of collector.takeDrops()) drops.set(reason, (drops.get(reason) ?? 0) + n);
      const neverFinished = (drops.get('inflight_stale') ?? 0) + (drops.get('inflight_unfinished') ?? 0);
      assert.equal(neverFinished, 1, JSON.stringify([...drops]));
      assert.deepEqual([...drops.keys()].filter((r) => r !== 'inflight_stale' && r !== 'inflight_unfinished'), []);
      assert.equal(collector.inflightCount(), 0);
    } finally {
      collector.close();
      await server.stop();
    }
  });

  test('h2 over TLS by golang.org/x/net/http2 (ConfigureServer): the stream start stands when ServeHTTP follows on its goroutine', async () => {
    const server = await startServer([...tlsArgs(), '-xnet']);
    const collector = serverCollector(server);
    try {
      const origin = `https://127.0.0.1:${server.port}`;
      const got = await h2Requests(origin, [...repeat(['/hello', '/fail', '/users/9'], 30), '/sleep?ms=200']);
      assert.equal(got.alpn, 'h2');
      assert.deepEqual(sorted(got.statuses), new Map([[200, 61], [500, 30]]));
      const points = await collector.drainPoints(() => 'h2server');
      assert.deepEqual(sorted(countsOf(points)), sorted(new Map([
        ['GET /hello 200', 30],
        ['GET /fail 500', 30],
        ['GET /users/{id} 200', 30],
        ['GET /sleep 200', 1],
      ])));
      const sleep = points.find((p) => p.attributes['http.route'] === '/sleep')!.histogram;
      assert.ok(sleep.sum >= 0.2 && sleep.sum < 0.3, `the 200 ms request took ${sleep.sum} s`);
      // ServeHTTP found the stream's start and left it: no start replaced, none left over.
      assert.deepEqual([...collector.takeDrops()], []);
      assert.equal(collector.inflightCount(), 0);
    } finally {
      collector.close();
      await server.stop();
    }
  });

  test('a stripped binary: the bundled h2 server\'s offsets come from the offsets table, counts stay exact', async () => {
    const strippedBin = await buildGoFixture('h2server', { stripped: true });
    const stripped = await inspectGoBinary(strippedBin);
    assert.ok('probeSets' in stripped && stripped.probeSets.http2Server, 'http2Server resolves without DWARF');
    assert.deepEqual(Object.values(stripped.probeSets.http2Server.offsetSources), ['table', 'table', 'table']);
    assert.deepEqual(stripped.probeSets.http2Server.offsets, info.probeSets.http2Server!.offsets);
    const server = await startServer(tlsArgs(), strippedBin);
    const c = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
    try {
      c.attachGo({ pid: server.pid, exePath: `/proc/${server.pid}/exe`, serviceName: 'h2server' } as Parameters<HttpServerCollector['attachGo']>[0], stripped);
      const got = await h2Requests(`https://127.0.0.1:${server.port}`, repeat(['/hello', '/fail'], 20));
      assert.equal(got.alpn, 'h2');
      assert.deepEqual(sorted(countsOf(await c.drainPoints(() => 'h2server'))), new Map([['GET /fail 500', 20], ['GET /hello 200', 20]]));
      assert.deepEqual([...c.takeDrops()], []);
    } finally {
      c.close();
      await server.stop();
    }
  });

  test('h2c: a panicked stream\'s start is not inherited by a later request on its recycled goroutine', async () => {
    // One P: an exited goroutine's g is the next one a `go` statement gets (the P's free list).
    const server = await startServer(['-h2c'], bin, { GOMAXPROCS: '1' });
    const collector = serverCollector(server);
    try {
      const origin = `http://127.0.0.1:${server.port}`;
      const rounds = 5;
      for (let i = 0; i < rounds; i++) {
        assert.deepEqual([...(await h2Requests(origin, ['/panic'], 1)).statuses], [[0, 1]]);
        await new Promise((r) => setTimeout(r, 300));
        // A new HTTP/1.1 connection: its `go c.serve()` takes a recycled g.
        const status = await new Promise<number>((resolve, reject) => {
          http.get(`${origin}/hello`, { agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          }).on('error', reject);
        });
        assert.equal(status, 200);
      }
      const points = await collector.drainPoints(() => 'h2server');
      assert.deepEqual(countsOf(points), new Map([['GET /hello 200', rounds]]));
      const hello = points[0].histogram;
      assert.ok(hello.max! < 0.25, `a /hello took ${hello.max} s: it inherited a start 300 ms older`);
      // Each round left two starts that never finish (the panicked stream, the h2c connection's
      // `PRI *`): counted when their g started another request, or still in flight.
      const drops = collector.takeDrops();
      assert.equal((drops.get('inflight_unfinished') ?? 0) + collector.inflightCount(), 2 * rounds, JSON.stringify([...drops]));
    } finally {
      collector.close();
      await server.stop();
    }
  });

  test('a binary whose HTTP/2 server did not resolve: HTTP/1 still measured, one log line per binary, a drop per process', async () => {
    const { http2Server: _, ...sets } = info.probeSets;
    const reason = `${bin}: net/http.http2responseWriter.rws: no DWARF offset and no offsets-table entry for go1.99`;
    const unresolved: GoBinaryInfo = { ...info, probeSets: sets, skipped: [...info.skipped, { probeSet: 'http2Server', reason }] };
    const lines: string[] = [];
    const c = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log: (l) => lines.push(l) });
    const servers = [await startServer(tlsArgs()), await startServer(tlsArgs())];
    try {
      for (const s of servers) c.attachGo({ pid: s.pid, exePath: `/proc/${s.pid}/exe`, serviceName: 'h2server' } as Parameters<HttpServerCollector['attachGo']>[0], unresolved);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], new RegExp(`pid ${servers[0].pid} \\(h2server\\): HTTP/2 requests not measured: .*no offsets-table entry`));
      assert.deepEqual(sorted(await https1Requests(`https://127.0.0.1:${servers[0].port}`, repeat(['/hello'], 3))), new Map([[200, 3]]));
      assert.deepEqual(countsOf(await c.drainPoints(() => 'h2server')), new Map([['GET /hello 200', 3]]));
      assert.equal(c.takeDrops().get('skipped_http2Server'), 2);
    } finally {
      c.close();
      for (const s of servers) await s.stop();
    }
  });

  test('an h2 handler that panics never finishes: its start is swept and counted, the other streams are exact', async () => {
    const server = await startServer(tlsArgs());
    const collector = serverCollector(server, { inflightMaxAgeNs: 300_000_000n });
    try {
      const got = await h2Requests(`https://127.0.0.1:${server.port}`, [...repeat(['/hello'], 10), '/panic', '/panic'], 1);
      assert.deepEqual(sorted(got.statuses), new Map([[0, 2], [200, 10]])); // the two panics reset their streams
      await new Promise((r) => setTimeout(r, 400));
      assert.deepEqual(countsOf(await collector.drainPoints(() => 'h2server')), new Map([['GET /hello 200', 10]]));
      // Each counted once: stale by age, or unfinished if the second stream's goroutine
      // reused the first's g (the runtime recycles them) before the sweep.
      const drops = collector.takeDrops();
      assert.equal((drops.get('inflight_stale') ?? 0) + (drops.get('inflight_unfinished') ?? 0), 2, JSON.stringify([...drops]));
      assert.deepEqual([...drops.keys()].filter((r) => r !== 'inflight_stale' && r !== 'inflight_unfinished'), []);
      assert.equal(collector.inflightCount(), 0);
    } finally {
      collector.close();
      await server.stop();
    }
  });
});

describe('slow HTTP/2 requests', () => {
  test('an h2 request over TLS ends its slow-request root: recorded with route, status and its HTTPS sub-call; no root left in flight', async () => {
    const server = await startServer([...tlsArgs(), '-ca', cert.certFile]);
    // The roots come from the server probes, which http-server owns: go-calls shares its maps.
    const http = serverCollector(server, { inflightMaxAgeNs: 300_000_000n });
    const calls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 50, inflightMaxAgeNs: 300_000_000n, httpServer: http });
    try {
      await calls.attach(server.pid, `/proc/${server.pid}/exe`, info, 'h2server');
      const origin = `https://127.0.0.1:${server.port}`;
      // The server calls itself over h2: /call (slow because of its sub-call) and the /sleep it calls.
      const inner = encodeURIComponent(`${origin}/sleep?ms=250`);
      const got = await h2Requests(origin, [...repeat(['/hello'], 20), `/call?proto=2&url=${inner}`], 1);
      assert.deepEqual(sorted(got.statuses), new Map([[200, 21]]));
      const slow = await waitFor('two slow requests', () => {
        const all = calls.takeSlowRequests();
        return all.length ? all : undefined;
      }, 5_000, 50);
      await new Promise((r) => setTimeout(r, 200));
      slow.push(...calls.takeSlowRequests());
      const view = slow
        .map((r) => ({ route: r.route, method: r.method, status: r.status, subcalls: r.subcalls.map((c) => `${c.kind} ${c.operation} ${c.peer} ${c.status}`) }))
        .sort((a, b) => a.route.localeCompare(b.route));
      assert.deepEqual(view, [
        { route: '/call', method: 'GET', status: 200, subcalls: [`http GET 127.0.0.1:${server.port} 200`] },
        { route: '/sleep', method: 'GET', status: 200, subcalls: [] },
      ]);
      // Every root ended: after the age limit, the sweep finds none.
      await new Promise((r) => setTimeout(r, 400));
      await calls.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined });
      const drops = calls.takeDrops();
      assert.equal(drops.get('inflight_stale'), undefined, JSON.stringify([...drops]));
      assert.equal(drops.get('inflight_unfinished'), undefined, JSON.stringify([...drops]));
    } finally {
      calls.close();
      http.close();
      await server.stop();
    }
  });
});

describe('outbound HTTPS calls', () => {
  test('HTTP/1.1 and h2 calls over TLS carry method, peer and status, counted once each', async () => {
    const peer = await startServer(tlsArgs());
    const caller = await startServer(['-ca', cert.certFile]);
    const calls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 100 });
    const peerServer = serverCollector(peer);
    try {
      await calls.attach(caller.pid, `/proc/${caller.pid}/exe`, info, 'caller');
      const target = (p: string) => encodeURIComponent(`https://127.0.0.1:${peer.port}${p}`);
      const plan: [string, number, number][] = [
        [`/call?url=${target('/hello')}`, 12, 200],
        [`/call?url=${target('/fail')}`, 3, 500],
        [`/call?proto=2&url=${target('/hello')}`, 7, 200],
        [`/call?proto=2&url=${target('/fail')}`, 2, 500],
      ];
      for (const [p, n, status] of plan) {
        for (let i = 0; i < n; i++) assert.equal((await fetch(`http://127.0.0.1:${caller.port}${p}`)).status, status, p);
      }
      const metrics = (await calls.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined })) as { pid: number; metrics: MetricData[] }[];
      const client = metrics
        .filter((m) => m.pid === caller.pid)
        .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === GO_METRIC.httpClientDuration))
        .flatMap((d) => d.dataPoints as { attributes: Record<string, unknown>; value: ExponentialHistogram }[])
        .map((p) => [JSON.stringify(Object.fromEntries(Object.entries(p.attributes).sort())), p.value.count] as const);
      const attrs = (status: number) =>
        JSON.stringify(Object.fromEntries(Object.entries({ 'http.request.method': 'GET', 'http.response.status_code': status, 'server.address': '127.0.0.1', 'server.port': peer.port }).sort()));
      assert.deepEqual(new Map(client), new Map([[attrs(200), 19], [attrs(500), 5]]));
      // The peer saw the same calls over TLS: HTTP/1.1 and h2 alike.
      assert.deepEqual(sorted(countsOf(await peerServer.drainPoints(() => 'peer'))), new Map([['GET /fail 500', 5], ['GET /hello 200', 19]]));
      assert.deepEqual([...peerServer.takeDrops()], []);
    } finally {
      calls.close();
      peerServer.close();
      await caller.stop();
      await peer.stop();
    }
  });
});

function total(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}
