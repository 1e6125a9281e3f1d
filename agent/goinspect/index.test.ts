import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, link, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildGoFixture, buildGoSource } from '../../test/helpers/go.ts';
import { entryProbeOffset } from './instructions.ts';
import { inspectGoBinary, type GoBinaryInfo, type NotInstrumentable } from './index.ts';

const run = promisify(execFile);

function instrumentable(r: GoBinaryInfo | NotInstrumentable): GoBinaryInfo {
  if ('reason' in r) assert.fail(`not instrumentable: ${r.reason}`);
  return r;
}

test('fixture: everything the HTTP probe needs, in one object', async () => {
  const bin = await buildGoFixture('httpserver');
  const info = instrumentable(await inspectGoBinary(bin));
  const { stdout: goVersion } = await run('go', ['env', 'GOVERSION']);
  const { stdout: buildId } = await run('go', ['tool', 'buildid', bin]);
  assert.equal(info.goVersion, goVersion.trim());
  assert.match(info.goVersion, /^go1\.19\./);
  assert.equal(info.arch, 'amd64');
  // Go's linker writes no GNU build-id by default: the Go build id stands in.
  assert.equal(info.gnuBuildId, undefined);
  assert.equal(info.buildId, buildId.trim());
  // Only probe sets of libraries the binary does not link (gRPC, database/sql, …) are skipped.
  for (const s of info.skipped) assert.match(s.reason, / not found \(in \.symtab or \.gopclntab\)$/, s.probeSet);
  assert.ok(info.probeSets.goRuntime);
  const http = info.probeSets.httpServer!;
  assert.ok(http);
  assert.deepEqual(http.points.serveHttp, await entryProbeOffset(bin, 'net/http.serverHandler.ServeHTTP'));
  assert.deepEqual(http.points.finishRequest, await entryProbeOffset(bin, 'net/http.(*response).finishRequest'));
  assert.equal(http.points.serveHttp.kind, 'stack-check-jbe');
  assert.equal(http.points.finishRequest.kind, 'stack-check-jbe');
  assert.equal(http.offsets.requestMethod, 0);
  assert.equal(http.offsets.requestUrl, 16);
  assert.deepEqual(Object.values(http.offsetSources), ['dwarf', 'dwarf', 'dwarf', 'dwarf', 'dwarf']);
  assert.match(info.fileKey, /^\d+:\d+:\d+$/);
});

test('stripped fixture: same Go version, probes from .gopclntab, identical offsets from the table', async () => {
  const full = instrumentable(await inspectGoBinary(await buildGoFixture('httpserver')));
  const stripped = instrumentable(await inspectGoBinary(await buildGoFixture('httpserver', { stripped: true })));
  assert.equal(stripped.goVersion, full.goVersion);
  const http = stripped.probeSets.httpServer!;
  assert.deepEqual(http.offsets, full.probeSets.httpServer!.offsets);
  assert.deepEqual(Object.values(http.offsetSources), ['table', 'table', 'table', 'table', 'table']);
  assert.equal(http.points.serveHttp.kind, 'stack-check-jbe');
  assert.equal(http.points.finishRequest.kind, 'stack-check-jbe');
});

test('PIE: a stripped PIE (.data.rel.ro.gopclntab) resolves to the same probes as its unstripped build', async () => {
  const full = instrumentable(await inspectGoBinary(await buildGoFixture('httpserver', { pie: true })));
  const stripped = instrumentable(await inspectGoBinary(await buildGoFixture('httpserver', { pie: true, stripped: true })));
  assert.deepEqual(stripped.probeSets.httpServer!.points, full.probeSets.httpServer!.points);
  assert.deepEqual(stripped.probeSets.httpServer!.offsets, full.probeSets.httpServer!.offsets);
  assert.equal(full.probeSets.httpServer!.points.serveHttp.kind, 'stack-check-jbe');
});

test('a GNU build-id, when the linker wrote one, is the build id', async () => {
  const bin = await buildGoSource('package main\n\nimport "net/http"\n\nfunc main() { http.ListenAndServe("127.0.0.1:0", nil) }\n');
  const withGnu = await buildGoSource('package main\n\nimport "net/http"\n\nfunc main() { http.ListenAndServe("127.0.0.1:0", nil) }\n', {
    ldflags: '-B 0x5eedfacecafe0123456789abcdef0123456789ab',
  });
  const plain = instrumentable(await inspectGoBinary(bin));
  assert.equal(plain.gnuBuildId, undefined);
  const gnu = instrumentable(await inspectGoBinary(withGnu));
  const { stdout } = await run('readelf', ['-n', withGnu]);
  const expected = /Build ID: ([0-9a-f]+)/.exec(stdout)?.[1];
  assert.equal(expected, '5eedfacecafe0123456789abcdef0123456789ab');
  assert.equal(gnu.gnuBuildId, expected);
  assert.equal(gnu.buildId, expected);
  assert.ok(gnu.goBuildId);
});

test('arm64 binary: entry probes at the function entry', async () => {
  const info = instrumentable(await inspectGoBinary(await buildGoFixture('httpserver', { goarch: 'arm64' })));
  assert.equal(info.arch, 'arm64');
  const http = info.probeSets.httpServer!;
  assert.equal(http.points.serveHttp.kind, 'function-entry');
  assert.equal(http.offsets.urlPath, 56);
});

test('non-Go, non-ELF and missing files are NotInstrumentable with a clear reason', async () => {
  assert.deepEqual(await inspectGoBinary('/bin/ls'), { path: '/bin/ls', reason: '/bin/ls: not a Go binary (no .go.buildinfo, .gopclntab or Go build id)' });
  const passwd = await inspectGoBinary('/etc/passwd');
  assert.match((passwd as NotInstrumentable).reason, /not an ELF file/);
  const missing = await inspectGoBinary('/no/such/binary');
  assert.match((missing as NotInstrumentable).reason, /^cannot read \/no\/such\/binary: ENOENT/);
});

test('a Go binary without an HTTP server: the runtime probes resolve, httpServer is skipped naming the missing function', async () => {
  const bin = await buildGoSource('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("no http here") }\n');
  const r = instrumentable(await inspectGoBinary(bin));
  assert.ok(r.probeSets.goRuntime);
  assert.equal(r.probeSets.httpServer, undefined);
  assert.match(r.skipped.find((s) => s.probeSet === 'httpServer')!.reason, /function net\/http\.serverHandler\.ServeHTTP not found/);
});

test('results belong to the file, not the path: a hard link shares them, a copy does not', async () => {
  const bin = await buildGoFixture('httpserver');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspect-'));
  try {
    await link(bin, path.join(dir, 'linked'));
    await copyFile(bin, path.join(dir, 'copied'));
    const a = instrumentable(await inspectGoBinary(bin));
    const linked = instrumentable(await inspectGoBinary(path.join(dir, 'linked')));
    const copied = instrumentable(await inspectGoBinary(path.join(dir, 'copied')));
    assert.equal(linked.fileKey, a.fileKey);
    assert.equal(linked.path, path.join(dir, 'linked'));
    assert.notEqual(copied.fileKey, a.fileKey);
    // Skip reasons name the path inspected.
    const unpathed = (i: typeof a) => i.skipped.map((s) => ({ ...s, reason: s.reason.replace(i.path, '') }));
    assert.deepEqual({ ...copied, path: bin, fileKey: a.fileKey, skipped: unpathed(copied) }, { ...a, skipped: unpathed(a) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
