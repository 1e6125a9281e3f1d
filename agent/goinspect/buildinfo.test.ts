import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildGoFixture, GO_FIXTURES_DIR } from '../../test/helpers/go.ts';
import { ElfFormatError } from './elf.ts';
import { UnsupportedBuildInfoError, isGoBinary, parseBuildInfoBlob, readGoBuildInfoFromPath } from './buildinfo.ts';

const run = promisify(execFile);

/** `go version -m` as { version, lines: [kind, ...fields][] }. */
async function goVersionM(bin: string): Promise<{ version: string; lines: string[][] }> {
  const { stdout } = await run('go', ['version', '-m', bin]);
  const [first, ...rest] = stdout.trimEnd().split('\n');
  return { version: first!.split(': ')[1]!, lines: rest.map((l) => l.trim().split('\t')) };
}

test('fixture: Go version, main package path and build settings, as `go version -m` reports them', async () => {
  const bin = await buildGoFixture('httpserver');
  const info = await readGoBuildInfoFromPath(bin);
  const expected = await goVersionM(bin);
  const { stdout: toolchain } = await run('go', ['env', 'GOVERSION']);
  assert.match(info.goVersion, /^go1\.19\.\d+$/);
  assert.equal(info.goVersion, expected.version);
  assert.equal(info.goVersion, toolchain.trim());
  // GOPATH-mode build: the path is the source directory, and there is no main module.
  assert.equal(info.path, `_${path.join(GO_FIXTURES_DIR, 'httpserver')}`);
  assert.equal(info.path, expected.lines.find((l) => l[0] === 'path')?.[1]);
  assert.equal(info.main, undefined);
  assert.deepEqual(info.deps, []);
  const settings = Object.fromEntries(expected.lines.filter((l) => l[0] === 'build').map((l) => [l[1]!.split('=')[0], l[1]!.split('=').slice(1).join('=')]));
  assert.deepEqual(info.settings, settings);
  assert.equal(info.settings.GOARCH, 'amd64');
});

test('module-mode binary: the main module is read', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'buildinfo-mod-'));
  try {
    await writeFile(path.join(dir, 'go.mod'), 'module example.com/burnwatch/probe\n\ngo 1.19\n');
    await writeFile(path.join(dir, 'main.go'), 'package main\n\nfunc main() { println("hi") }\n');
    const bin = path.join(dir, 'probe');
    await run('go', ['build', '-o', bin, '.'], {
      cwd: dir,
      env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=mod', GOPROXY: 'off', CGO_ENABLED: '0' },
    });
    const info = await readGoBuildInfoFromPath(bin);
    assert.equal(info.path, 'example.com/burnwatch/probe');
    assert.deepEqual(info.main, { path: 'example.com/burnwatch/probe', version: '(devel)' });
    const expected = await goVersionM(bin);
    assert.deepEqual(expected.lines.find((l) => l[0] === 'mod')?.slice(1, 3), [info.main.path, info.main.version]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function blob(flags: number, version: string, modinfo: string): Buffer {
  const header = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(header);
  header[14] = 8;
  header[15] = flags;
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len: number[] = [];
    let n = b.length;
    do {
      len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n > 0);
    return Buffer.concat([Buffer.from(len), b]);
  };
  return Buffer.concat([header, str(version), str(modinfo)]);
}

test('module lines: mod, dep, => replacements and build settings (sentinels stripped)', () => {
  const sentinel = '0123456789abcdef';
  const text =
    'path\texample.com/svc\n' +
    'mod\texample.com/svc\tv1.2.3\th1:abc=\n' +
    'dep\tgoogle.golang.org/grpc\tv1.60.1\th1:def=\n' +
    'dep\tgithub.com/redis/go-redis/v9\tv9.0.0\th1:x=\n' +
    '=>\tgithub.com/fork/go-redis/v9\tv9.0.1\th1:y=\n' +
    'build\t-ldflags=-X main.v=a=b\n' +
    'build\tvcs.revision=deadbeef\n';
  const info = parseBuildInfoBlob('x', blob(2, 'go1.21.5', sentinel + text + sentinel));
  assert.equal(info.goVersion, 'go1.21.5');
  assert.equal(info.path, 'example.com/svc');
  assert.deepEqual(info.main, { path: 'example.com/svc', version: 'v1.2.3', sum: 'h1:abc=' });
  assert.deepEqual(info.deps, [
    { path: 'google.golang.org/grpc', version: 'v1.60.1', sum: 'h1:def=' },
    {
      path: 'github.com/redis/go-redis/v9',
      version: 'v9.0.0',
      sum: 'h1:x=',
      replace: { path: 'github.com/fork/go-redis/v9', version: 'v9.0.1', sum: 'h1:y=' },
    },
  ]);
  assert.deepEqual(info.settings, { '-ldflags': '-X main.v=a=b', 'vcs.revision': 'deadbeef' });
});

test('the pre-1.18 pointer layout is refused as unsupported, not guessed at', () => {
  assert.throws(
    () => parseBuildInfoBlob('/old/bin', blob(0, 'go1.17', '')),
    (err: Error) => err instanceof UnsupportedBuildInfoError && /\/old\/bin: unsupported buildinfo format: pointer-based layout \(Go < 1\.18/.test(err.message),
  );
  assert.throws(() => parseBuildInfoBlob('/be/bin', blob(3, 'go1.20', '')), /unsupported buildinfo format: big-endian/);
});

test('corrupt build info is an ElfFormatError naming what is wrong', () => {
  const b = blob(2, 'go1.19.8', 'path\tx\n');
  assert.throws(() => parseBuildInfoBlob('f', b.subarray(0, 36)), (err: Error) => err instanceof ElfFormatError && /version: length 8 overruns/.test(err.message));
  assert.throws(() => parseBuildInfoBlob('f', blob(2, 'not-a-version', '')), /is not a Go version/);
  assert.throws(() => parseBuildInfoBlob('f', Buffer.from('hello')), /header missing or truncated/);
});

test('isGoBinary: Go binaries (stripped too) yes; other ELF files and non-ELF files no', async () => {
  assert.equal(await isGoBinary(await buildGoFixture('httpserver')), true);
  assert.equal(await isGoBinary(await buildGoFixture('httpserver', { stripped: true })), true);
  assert.equal(await isGoBinary(await buildGoFixture('httpserver', { goarch: 'arm64' })), true);
  assert.equal(await isGoBinary('/bin/ls'), false);
  assert.equal(await isGoBinary(process.execPath), false);
  assert.equal(await isGoBinary('/etc/passwd'), false);
  await assert.rejects(isGoBinary('/no/such/file'), { code: 'ENOENT' });
});
