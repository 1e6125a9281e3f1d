// The Go version matrix of docs/go-support.md (issue 22 item 6), checked on every Go toolchain
// this machine's package sources offer: golang-1.19 (gc) for amd64 and, cross-built, arm64;
// gccgo-12; and, by patching the version a gc binary records, Go releases no package offers
// (older than the register ABI, newer than the offsets table). What cannot get Go uprobes must
// say why, attach nothing, and still be measured by the syscall path (issue 20).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import type { CollectedMetrics } from '../agent/collectors/types.ts';
import { isGoBinary } from '../agent/goinspect/buildinfo.ts';
import { measureBinary, mergeMeasurement } from '../agent/goinspect/gen-offsets-table.ts';
import { GCCGO_REASON, GO_PROBE_SETS, inspectGoBinary, type GoBinaryInfo, type NotInstrumentable, type ProbeSetName } from '../agent/goinspect/index.ts';
import { loadOffsetsTable } from '../agent/goinspect/offsets.ts';
import { buildGoFixture } from './helpers/go.ts';
import { FIXTURE_BIN, ROOT, manage, tempDir, waitFor, type Managed } from './lib/processes.ts';

const run = promisify(execFile);
/** Every gccgo Debian 12 packages for this architecture (gccgo-13 is not there; `gccgo` is gccgo-12). */
const GCCGO_TOOLCHAINS = ['gccgo-12', 'gccgo-11'];
const GCCGO_FIXTURE = path.join(FIXTURE_BIN, 'gccgo-httpserver');
const GCCGO_SOURCE = path.join(ROOT, 'test/fixtures/gccgo/httpserver/main.go');
/** The fixture that links every package a standard-library probe field lives in. */
const ALL_STD_FIELDS_FIXTURE = 'topo-backend';
const SERVER = 'http.server.request.duration';

function instrumentable(r: GoBinaryInfo | NotInstrumentable): GoBinaryInfo {
  if ('reason' in r) assert.fail(`not instrumentable: ${r.reason}`);
  return r;
}

function refused(r: GoBinaryInfo | NotInstrumentable): string {
  assert.ok('reason' in r, `${r.path} must not be instrumentable`);
  return r.reason;
}

const BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

/**
 * A copy of `bin` whose .go.buildinfo names another Go version of the same length: what
 * inspection reads is exactly what that toolchain would have written there (its version is a
 * length-prefixed string right after the 32-byte header).
 */
async function withGoVersion(bin: string, version: string): Promise<string> {
  const data = await readFile(bin);
  const at = data.indexOf(BUILDINFO_MAGIC);
  assert.ok(at >= 0, `${bin} has build info`);
  const len = data[at + 32]!;
  assert.equal(version.length, len, `${version} must be as long as ${data.toString('latin1', at + 33, at + 33 + len)}`);
  data.write(version, at + 33, 'latin1');
  const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'bw-goversion-')), `${path.basename(bin)}-${version}`);
  await writeFile(out, data, { mode: 0o755 });
  return out;
}

// ---- golang-1.19 (gc): the offsets table and its generator ----

test('offsets table: its entries are what gen-offsets-table.ts measures now, amd64 and arm64 (table and generator cannot drift)', async () => {
  const table = loadOffsetsTable();
  const binaries = [await buildGoFixture(ALL_STD_FIELDS_FIXTURE), await buildGoFixture(ALL_STD_FIELDS_FIXTURE, { goarch: 'arm64' })];
  const measured = (await Promise.all(binaries.map((b) => measureBinary(b)))).flat();
  assert.deepEqual(measured.map((m) => `${m.module} ${m.arch} ${m.version}`).sort(), ['std amd64 1.19.8', 'std arm64 1.19.8']);
  let merged = table;
  for (const m of measured) {
    const entry = table.entries.find((e) => e.module === m.module && e.arch === m.arch && e.from === m.version && e.to === m.version);
    assert.ok(entry, `the table has an entry for ${m.module} ${m.arch} ${m.version}`);
    assert.deepEqual(entry.structs, m.structs, `${m.module} ${m.arch} ${m.version}: table vs DWARF`);
    merged = mergeMeasurement(merged, m);
  }
  // Regenerating from these fixtures changes nothing (entries of toolchains not installed here stay as measured).
  assert.deepEqual(merged, table);
});

// ---- golang-1.19 arm64 (cross-built) ----

test('arm64 (cross-built): every probe set resolves as on amd64 but the call-site ones, with DWARF and (stripped) from the table alike', async () => {
  const resolved = async (opts: { goarch?: 'arm64'; stripped?: boolean }) =>
    instrumentable(await inspectGoBinary(await buildGoFixture(ALL_STD_FIELDS_FIXTURE, opts)));
  const [full, stripped, amd64, amd64Stripped] = [
    await resolved({ goarch: 'arm64' }),
    await resolved({ goarch: 'arm64', stripped: true }),
    await resolved({}),
    await resolved({ stripped: true }),
  ];
  const callSiteSets = (Object.keys(GO_PROBE_SETS) as ProbeSetName[]).filter((name) =>
    Object.values(GO_PROBE_SETS[name].points as Record<string, { at: string }>).some((p) => p.at === 'calls' || p.at === 'after-calls'),
  );
  assert.deepEqual(callSiteSets.sort(), ['goGcAssist', 'goLockWait']);
  const names = (i: GoBinaryInfo) => Object.keys(i.probeSets).sort();
  const withoutCallSites = (i: GoBinaryInfo) => names(i).filter((s) => !callSiteSets.includes(s as ProbeSetName));
  assert.deepEqual(names(full), withoutCallSites(amd64));
  assert.deepEqual(names(stripped), withoutCallSites(amd64Stripped));
  for (const info of [full, stripped]) {
    assert.equal(info.arch, 'arm64');
    for (const name of callSiteSets) {
      assert.match(info.skipped.find((s) => s.probeSet === name)!.reason, /call sites are found on x86-64 only \(machine 183\)/);
    }
    // arm64 entry probes sit at the function's first instruction (no jbe to predict).
    for (const set of Object.values(info.probeSets)) {
      for (const p of Object.values(set.points) as { kind?: string }[]) if (p.kind) assert.equal(p.kind, 'function-entry');
    }
  }
  // Stripped: std fields come from the table, equal to DWARF's; third-party module fields
  // cannot (GOPATH builds record no module versions, and the table has no module entries).
  for (const [name, set] of Object.entries(stripped.probeSets)) {
    assert.deepEqual(set.offsets, full.probeSets[name as ProbeSetName]!.offsets, name);
  }
  assert.ok(Object.values(stripped.probeSets.httpServer!.offsetSources).every((s) => s === 'table'));
  assert.ok(Object.values(full.probeSets.httpServer!.offsetSources).every((s) => s === 'dwarf'));
  for (const name of ['grpcServer', 'grpcClient', 'sqlPq', 'redigo', 'redisV5'] as const) {
    assert.ok(full.probeSets[name], `${name} resolves from DWARF`);
    assert.match(stripped.skipped.find((s) => s.probeSet === name)!.reason, /no DWARF offset and no offsets-table entry for .*\(not in build info\) arm64/);
  }
});

// ---- Go releases no package here offers ----

test('stack-ABI Go (older than 1.17 on amd64): refused with the reason, whatever else the binary has', async () => {
  for (const bin of [await buildGoFixture('httpserver'), await buildGoFixture('httpserver', { stripped: true })]) {
    const reason = refused(await inspectGoBinary(await withGoVersion(bin, 'go1.16.8')));
    assert.match(reason, /not instrumentable: go1\.16\.8 on amd64 passes function arguments on the stack; probes read them from registers \(Go ≥ 1\.17 on amd64\)/);
  }
});

test('an unknown newer Go on a stripped binary: every probe set that needs struct offsets is skipped naming the version and fields; the rest resolve', async () => {
  const info = instrumentable(await inspectGoBinary(await withGoVersion(await buildGoFixture('lockserver', { stripped: true }), 'go1.23.4')));
  assert.equal(info.goVersion, 'go1.23.4');
  const needOffsets = (Object.keys(GO_PROBE_SETS) as ProbeSetName[]).filter((s) => Object.keys(GO_PROBE_SETS[s].fields).length > 0);
  for (const name of needOffsets) {
    assert.equal(info.probeSets[name], undefined, `${name} must not resolve without offsets`);
    const reason = info.skipped.find((s) => s.probeSet === name)?.reason;
    assert.ok(reason, `${name} is reported skipped`);
    // Either the library is not linked, or no offset source knows go1.23.4.
    if (!/ not found \(in \.symtab or \.gopclntab\)/.test(reason)) {
      assert.match(reason, /\(go1\.23\.4\): no DWARF offset and no offsets-table entry for .*\(go1\.23\.4 amd64\)/);
    }
  }
  assert.match(info.skipped.find((s) => s.probeSet === 'httpServer')!.reason, /net\/http\.Request\.Method \(go1\.23\.4 amd64\)/);
  // Sets that read no struct member do not depend on the version's layout.
  assert.deepEqual(Object.keys(info.probeSets).sort(), ['goGcAssist', 'goLockWait']);
});

// ---- gccgo-12 ----

test('gccgo-12 and gccgo-11: dynamic, static-libgo and stripped builds are seen as Go programs and refused naming gccgo', async () => {
  assert.ok(fs.existsSync(GCCGO_FIXTURE), `${GCCGO_FIXTURE} missing: run bash scripts/build-go-fixtures`);
  const { stdout: needed } = await run('readelf', ['-d', GCCGO_FIXTURE]);
  assert.match(needed, /Shared library: \[libgo\.so\.\d+\]/, 'the fixture is linked against libgo as distributions build');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bw-gccgo-'));
  const binaries = [GCCGO_FIXTURE];
  for (const gccgo of GCCGO_TOOLCHAINS) {
    const { stdout } = await run(gccgo, ['--version']);
    assert.match(stdout, new RegExp(`^${gccgo} `), `${gccgo} is installed by scripts/setup`);
    const dynamic = path.join(dir, `${gccgo}-dynamic`);
    const staticLibgo = path.join(dir, `${gccgo}-static-libgo`);
    const stripped = path.join(dir, `${gccgo}-stripped`);
    await run(gccgo, ['-O2', '-o', dynamic, GCCGO_SOURCE]);
    await run(gccgo, ['-O2', '-static-libgo', '-o', staticLibgo, GCCGO_SOURCE]);
    fs.copyFileSync(dynamic, stripped);
    await run('strip', [stripped]);
    binaries.push(dynamic, staticLibgo, stripped);
  }
  for (const bin of binaries) {
    assert.equal(await isGoBinary(bin), true, bin);
    assert.equal(refused(await inspectGoBinary(bin)), `${bin}: ${GCCGO_REASON}`);
  }
  // Not every ELF from GCC is gccgo's.
  assert.equal(await isGoBinary('/bin/ls'), false);
  assert.equal(await isGoBinary(process.execPath), false);
});

// ---- the agent: refused processes get no uprobes and are still measured from syscalls ----

let agent: Agent;
let l7: SyscallL7Collector;
let http: HttpServerCollector;
const logLines: string[] = [];

before(async () => {
  l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => {} });
  http = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log: (l) => logLines.push(l) });
  agent = new Agent({
    endpoint: 'http://127.0.0.1:9', // nothing listens: batches stay spooled
    apiKey: 'k',
    spoolDir: tempDir('bw-go-toolchains-spool'),
    intervalMs: 3_600_000, // this test drains the collectors itself
    discoveryIntervalMs: 200,
    log: (l) => logLines.push(l),
    collectors: () => [http, l7],
  });
  await agent.start();
});
after(async () => {
  await agent.stop(100);
});

/** Runs a server with the fixtures' command line (-addr, -port-file) until it listens. */
async function startServer(bin: string): Promise<Managed & { pid: number; url: string }> {
  const portFile = path.join(tempDir('bw-go-toolchains'), 'port');
  const m = manage(spawn(bin, ['-addr', '127.0.0.1:0', '-port-file', portFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const port = await waitFor(`${bin} to listen`, () => {
    if (m.child.exitCode !== null) throw new Error(`${bin} exited: ${m.output()}`);
    const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
    return text ? Number(text) : undefined;
  }, 10_000, 20);
  return { ...m, pid: m.child.pid!, url: `http://127.0.0.1:${port}` };
}

/** One curl process per call: its connections are opened now, after the agent started. */
async function curl(urls: string[]): Promise<void> {
  const c = spawn('curl', ['-s', ...urls.flatMap((u) => ['-o', '/dev/null', u])], { stdio: 'ignore' });
  assert.equal(await new Promise((r) => c.once('exit', r)), 0);
}

/** Server requests the syscall path counted for `pid`, by "METHOD route status". */
function serverCounts(got: CollectedMetrics[], pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of got.filter((x) => x.pid === pid)) {
    for (const m of c.metrics.filter((x) => x.descriptor.name === SERVER)) {
      for (const p of m.dataPoints as { attributes: Record<string, string | number>; value: ExponentialHistogram }[]) {
        const a = p.attributes;
        const id = `${a['http.request.method']} ${a['http.route']} ${a['http.response.status_code']}`;
        out[id] = (out[id] ?? 0) + p.value.count;
      }
    }
  }
  return out;
}

/** The same request mix for every server: exact counts per route and status are known. */
async function sendMix(url: string): Promise<Record<string, number>> {
  await curl([...Array.from({ length: 5 }, () => `${url}/hello`), ...Array.from({ length: 3 }, () => `${url}/fail`)]);
  await curl([`${url}/users/7`, `${url}/users/8`]);
  return { 'GET /hello 200': 5, 'GET /fail 500': 3, 'GET /users/{id} 200': 2 };
}

for (const [toolchain, binary, expectedLog] of [
  ['gccgo-12', async () => GCCGO_FIXTURE, /built by gccgo: not instrumentable with Go uprobes/],
  ['a stack-ABI Go (go1.16.8 recorded)', async () => withGoVersion(await buildGoFixture('httpserver'), 'go1.16.8'), /go1\.16\.8 on amd64 passes function arguments on the stack/],
] as const) {
  test(`agent, ${toolchain} server: one log line saying why, no uprobes, and the syscall path counts its requests exactly`, async () => {
    const server = await startServer(await binary());
    try {
      const line = await waitFor('the agent to say why it does not probe the server', () =>
        logLines.find((l) => l.includes(`not instrumenting pid ${server.pid} `)), 15_000, 100);
      assert.match(line, expectedLog);
      const expected = await sendMix(server.url);
      const got = await l7.collect({ startNs: epochNowNs() - 1n, endNs: epochNowNs(), serviceOf: () => undefined });
      assert.deepEqual(serverCounts(got, server.pid), expected);
      assert.equal(http.isAttached(server.pid), false);
      assert.deepEqual(l7.coverageOf(server.pid), { httpServer: false, httpClient: false, db: false });
      assert.equal(logLines.filter((l) => l.includes(`pid ${server.pid} `)).length, 1, 'one line per process');
    } finally {
      await server.stop();
    }
  });
}

test('agent, unknown newer Go on a stripped binary: the HTTP server probes are not attached (logged with the reason), the syscall path counts', async () => {
  const server = await startServer(await withGoVersion(await buildGoFixture('httpserver', { stripped: true }), 'go1.23.4'));
  try {
    const line = await waitFor('the agent to say why the HTTP server probes are off', () =>
      logLines.find((l) => l.includes(`http-server: not attaching to pid ${server.pid} `)), 15_000, 100);
    assert.match(line, /no DWARF offset and no offsets-table entry for net\/http\.Request\.Method \(go1\.23\.4 amd64\)/);
    const expected = await sendMix(server.url);
    const got = await l7.collect({ startNs: epochNowNs() - 1n, endNs: epochNowNs(), serviceOf: () => undefined });
    assert.deepEqual(serverCounts(got, server.pid), expected);
    assert.equal(http.isAttached(server.pid), false);
    assert.equal(l7.coverageOf(server.pid).httpServer, false);
  } finally {
    await server.stop();
  }
});

test('agent, 32-bit Go (GOARCH=386) server: not taken for a Go process, and — the documented limit — not seen by the syscall path either', async () => {
  const bin = path.join(tempDir('bw-go-386'), 'httpserver-386');
  await run('go', ['build', '-o', bin, '.'], {
    cwd: path.join(ROOT, 'test/fixtures/go/httpserver'),
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '', CGO_ENABLED: '0', GOARCH: '386' },
  });
  assert.equal(await isGoBinary(bin), false);
  assert.match(refused(await inspectGoBinary(bin)), /unsupported ELF class 1 \(only ELF64\)/);
  const server = await startServer(bin);
  try {
    await sendMix(server.url);
    const got = await l7.collect({ startNs: epochNowNs() - 1n, endNs: epochNowNs(), serviceOf: () => undefined });
    // Its read/write/accept are compat system calls, which the syscalls:* tracepoints skip.
    assert.deepEqual(serverCounts(got, server.pid), {});
    // Several discovery scans (every 200 ms) have passed while the requests ran.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.deepEqual(logLines.filter((l) => l.includes(`pid ${server.pid} `)), []);
    assert.equal(http.isAttached(server.pid), false);
  } finally {
    await server.stop();
  }
});
