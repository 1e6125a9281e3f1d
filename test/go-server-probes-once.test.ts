// The HTTP server probe points of a Go process carry one uprobe each, whoever needs them
// (issue 22 item 7): http-server's programs count RED and, while deep probes are on for the
// process, also make its requests roots of the slow breakdown in the maps go-calls shares. Read
// back from the kernel (`bpftool perf list`: the uprobes this process attached), not from the
// collectors' own lists.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { HttpServerCollector, type HttpServerPoint } from '../agent/collectors/http-server.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { inspectGoBinary, type GoBinaryInfo } from '../agent/goinspect/index.ts';
import { GO_METRIC } from '../common/catalogue.ts';
import { buildGoFixture } from './helpers/go.ts';
import { sendRequests, startFixture, waitFor, type Fixture } from './lib/processes.ts';
import path from 'node:path';

let server: Fixture;
let exe: string;
let info: GoBinaryInfo;
let http: HttpServerCollector;
let calls: GoCallsCollector;

/** This process's uprobes on `exe`: file offset → the programs attached there. */
function uprobesOn(file: string): Map<number, string[]> {
  const names = new Map<number, string>();
  for (const p of JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[]) {
    names.set(p.id, p.name ?? '');
  }
  const perf = JSON.parse(execFileSync('bpftool', ['perf', 'list', '-j'], { encoding: 'utf8' })) as { pid: number; prog_id: number; fd_type: string; filename?: string; offset?: number }[];
  const out = new Map<number, string[]>();
  for (const a of perf) {
    if (a.pid !== process.pid || a.fd_type !== 'uprobe' || a.filename !== file) continue;
    out.set(a.offset!, [...(out.get(a.offset!) ?? []), names.get(a.prog_id) ?? '']);
  }
  return out;
}

function serverPoints(i: GoBinaryInfo): number[] {
  const s = i.probeSets;
  return [
    s.httpServer!.points.serveHttp.fileOffset,
    s.httpServer!.points.finishRequest.fileOffset,
    ...(s.http2Server ? [s.http2Server.points.handlerDone.fileOffset] : []),
    ...(s.http2XnetServer ? [s.http2XnetServer.points.runHandler.fileOffset, s.http2XnetServer.points.handlerDone.fileOffset] : []),
  ];
}

function redCounts(points: HttpServerPoint[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of points) {
    const id = `${p.attributes['http.route']} ${p.attributes['http.response.status_code']}`;
    out.set(id, (out.get(id) ?? 0) + p.histogram.count);
  }
  return out;
}

before(async () => {
  await buildGoFixture('h2server');
  server = await startFixture('h2server');
  exe = `/proc/${server.pid}/exe`;
  const i = await inspectGoBinary(exe);
  if ('reason' in i) throw new Error(i.reason);
  info = i;
  assert.ok(info.probeSets.httpServer && info.probeSets.httpClient, 'the fixture serves HTTP and calls out');
  http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
  calls = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), ringPollMs: 50, deepProbes: false, httpServer: http });
  http.attach({
    pid: server.pid, binaryPath: exe, binaryKey: info.fileKey, probes: info.probeSets.httpServer!,
    http2: info.probeSets.http2Server, http2Xnet: info.probeSets.http2XnetServer,
  });
  await calls.attach(server.pid, exe, info, 'h2server');
});

after(async () => {
  calls?.close();
  http?.close();
  await server?.stop();
});

test('with deep probes on, each probe point of the process has one uprobe, the server points http-server\'s; slow breakdown and RED exact', async () => {
  await calls.setDeepProbes(server.pid, true);
  const attached = uprobesOn(exe);
  const twice = [...attached].filter(([, programs]) => programs.length > 1);
  assert.deepEqual(twice, [], 'no probe point carries two uprobes');
  for (const offset of serverPoints(info)) {
    assert.equal(attached.get(offset)?.length, 1, `server point at ${offset}`);
    assert.match(attached.get(offset)![0], /^go_http/, `server point at ${offset} is http-server's`);
  }
  assert.ok([...attached.values()].some(([p]) => p.startsWith('go_http_client')), 'the deep HTTP client probes are on');

  await http.drainPoints(() => 'h2server');
  const inner = encodeURIComponent(`${server.url}/sleep?ms=250`);
  const statuses = await sendRequests([...Array.from({ length: 10 }, () => `${server.url}/hello`), `${server.url}/call?url=${inner}`], 1);
  assert.equal(statuses.get(200), 11);
  const slow = await waitFor('the two slow requests', () => {
    const got = calls.takeSlowRequests();
    return got.length ? got : undefined;
  }, 5_000, 50);
  await new Promise((r) => setTimeout(r, 200));
  slow.push(...calls.takeSlowRequests());
  const port = new URL(server.url).port;
  assert.deepEqual(
    slow.map((r) => ({ route: r.route, method: r.method, status: r.status, subcalls: r.subcalls.map((c) => `${c.kind} ${c.operation} ${c.peer} ${c.status}`) }))
      .sort((a, b) => a.route.localeCompare(b.route)),
    [
      { route: '/call', method: 'GET', status: 200, subcalls: [`http GET 127.0.0.1:${port} 200`] },
      { route: '/sleep', method: 'GET', status: 200, subcalls: [] },
    ],
  );
  assert.deepEqual(redCounts(await http.drainPoints(() => 'h2server')), new Map([['/hello 200', 10], ['/call 200', 1], ['/sleep 200', 1]]));
  const metrics = (await calls.collect({ startNs: 1n, endNs: 2n, serviceOf: () => 'h2server' })) as { pid: number; metrics: MetricData[] }[];
  const clientCalls = metrics
    .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === GO_METRIC.httpClientDuration))
    .flatMap((d) => d.dataPoints as { value: { count: number } }[])
    .reduce((n, p) => n + p.value.count, 0);
  assert.equal(clientCalls, 1);
});

test('deep probes off: the server points keep their one uprobe (RED), no request becomes a root, none is left in flight', async () => {
  await calls.setDeepProbes(server.pid, false);
  const attached = uprobesOn(exe);
  for (const offset of serverPoints(info)) assert.equal(attached.get(offset)?.length, 1, `server point at ${offset}`);
  assert.ok(![...attached.values()].some(([p]) => p.startsWith('go_http_client')), 'the deep HTTP client probes are gone');
  await http.drainPoints(() => 'h2server');
  const statuses = await sendRequests([`${server.url}/sleep?ms=250`, `${server.url}/hello`], 1);
  assert.equal(statuses.get(200), 2);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(calls.takeSlowRequests(), []);
  assert.deepEqual(redCounts(await http.drainPoints(() => 'h2server')), new Map([['/sleep 200', 1], ['/hello 200', 1]]));
  assert.equal(calls.inflightRequests(server.pid), 0);
});
