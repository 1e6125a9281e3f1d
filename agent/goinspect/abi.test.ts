import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildGoFixture } from '../../test/helpers/go.ts';
import { goMinorVersion, registerAbiProblem } from './abi.ts';
import { inspectGoBinary } from './index.ts';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

/**
 * A copy of `bin` whose .go.buildinfo names another Go version of the same length (Debian
 * packages only Go 1.19, so older toolchains are not at hand): what inspection reads is exactly
 * what an old toolchain would have written there.
 */
async function withGoVersion(bin: string, version: string): Promise<string> {
  const data = await readFile(bin);
  const at = data.indexOf(MAGIC);
  assert.ok(at >= 0, 'the fixture has build info');
  const len = data[at + 32];
  const old = data.toString('latin1', at + 33, at + 33 + len);
  assert.match(old, /^go1\.\d+/);
  assert.equal(version.length, len, `${version} must be as long as ${old}`);
  data.write(version, at + 33, 'latin1');
  const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'bw-abi-')), path.basename(bin));
  await writeFile(out, data, { mode: 0o755 });
  return out;
}

test('Go version strings: releases, candidates, experiments and devel builds', () => {
  assert.equal(goMinorVersion('go1.19.8'), 19);
  assert.equal(goMinorVersion('go1.21rc2'), 21);
  assert.equal(goMinorVersion('go1.22.0 X:boringcrypto'), 22);
  assert.equal(goMinorVersion('devel go1.23-a1b2c3d Tue Jan 2 15:04:05 2024 +0000'), 23);
  assert.equal(goMinorVersion('go1.9'), 9);
  assert.equal(goMinorVersion('devel +a1b2c3d'), undefined);
  assert.equal(goMinorVersion('gccgo'), undefined);
});

test('the register ABI: Go ≥ 1.17 on amd64, ≥ 1.18 on arm64, and not with GOEXPERIMENT=noregabi', () => {
  const info = (goVersion: string, settings: Record<string, string> = {}) => ({ goVersion, settings });
  assert.equal(registerAbiProblem(info('go1.17.13'), 'amd64'), undefined);
  assert.equal(registerAbiProblem(info('go1.18'), 'arm64'), undefined);
  assert.match(registerAbiProblem(info('go1.16.15'), 'amd64')!, /go1\.16\.15 on amd64 passes function arguments on the stack.*Go ≥ 1\.17 on amd64/);
  assert.match(registerAbiProblem(info('go1.17.13'), 'arm64')!, /go1\.17\.13 on arm64 passes function arguments on the stack.*Go ≥ 1\.18 on arm64/);
  assert.match(registerAbiProblem(info('go1.19.8', { GOEXPERIMENT: 'fieldtrack,noregabi' }), 'amd64')!, /GOEXPERIMENT=noregabi/);
  assert.match(registerAbiProblem(info('go1.19.8 X:noregabi'), 'amd64')!, /GOEXPERIMENT=noregabi/);
  assert.equal(registerAbiProblem(info('go1.19.8', { GOEXPERIMENT: 'regabiargs' }), 'amd64'), undefined);
  assert.match(registerAbiProblem(info('devel +a1b2c3d'), 'amd64')!, /names no go1\.N release/);
});

test('a binary from a stack-ABI Go is not instrumentable, with the reason; the same bytes with a register-ABI version are', async () => {
  const bin = await buildGoFixture('httpserver');
  const old = await inspectGoBinary(await withGoVersion(bin, 'go1.16.8'));
  assert.ok('reason' in old, 'go1.16 on amd64 must be refused');
  assert.match(old.reason, /not instrumentable: go1\.16\.8 on amd64 passes function arguments on the stack/);
  const first = await inspectGoBinary(await withGoVersion(bin, 'go1.17.8'));
  assert.ok(!('reason' in first), `go1.17 on amd64 has the register ABI: ${'reason' in first ? first.reason : ''}`);
  assert.equal(first.goVersion, 'go1.17.8');
});

test('arm64: Go 1.17 is refused (its register ABI came in 1.18)', async () => {
  const bin = await buildGoFixture('httpserver', { goarch: 'arm64' });
  const old = await inspectGoBinary(await withGoVersion(bin, 'go1.17.8'));
  assert.ok('reason' in old, 'go1.17 on arm64 must be refused');
  assert.match(old.reason, /go1\.17\.8 on arm64 passes function arguments on the stack.*Go ≥ 1\.18 on arm64/);
  const current = await inspectGoBinary(bin);
  assert.ok(!('reason' in current), `the arm64 build itself is instrumentable: ${'reason' in current ? current.reason : ''}`);
});
