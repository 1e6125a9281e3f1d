import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildGoFixture } from '../../test/helpers/go.ts';
import { readGoBuildInfoFromPath } from './buildinfo.ts';
import {
  OffsetsUnresolvedError,
  loadOffsetsTable,
  lookupMemberOffsets,
  parseOffsetsTable,
  resolveMemberOffsets,
  tableMemberOffset,
  type OffsetContext,
  type OffsetsTable,
} from './offsets.ts';
import { mergeMeasurement, measureBinary } from './gen-offsets-table.ts';
import { GO_PROBE_SETS, allProbeFields } from './probe-sets.ts';

const run = promisify(execFile);
const HTTP_FIELDS = Object.values(GO_PROBE_SETS.httpServer.fields);

async function context(bin: string, arch: 'amd64' | 'arm64' = 'amd64'): Promise<OffsetContext> {
  return { path: bin, arch, buildInfo: await readGoBuildInfoFromPath(bin) };
}

/** Member offsets as llvm-dwarfdump prints them, for an independent check. */
async function dwarfdumpOffsets(bin: string, struct: string): Promise<Map<string, number>> {
  const { stdout } = await run('llvm-dwarfdump', ['--debug-info', `--name=${struct}`, '--show-children', bin], { maxBuffer: 64 * 1024 * 1024 });
  const out = new Map<string, number>();
  let member: string | undefined;
  for (const line of stdout.split('\n')) {
    if (/DW_TAG_member/.test(line)) member = '';
    const name = /DW_AT_name\s+\("(.*)"\)/.exec(line);
    if (name && member === '') member = name[1];
    const loc = /DW_AT_data_member_location\s+\((?:0x)?([0-9a-f]+)\)/.exec(line);
    if (loc && member) {
      if (!out.has(member)) out.set(member, /0x/.test(line) ? parseInt(loc[1]!, 16) : Number(loc[1]));
      member = undefined;
    }
  }
  return out;
}

test('DWARF offsets of the HTTP probe fields (Request.Method = 0, URL = 16) match llvm-dwarfdump', async () => {
  const bin = await buildGoFixture('httpserver');
  const got = resolveMemberOffsets(await context(bin), HTTP_FIELDS);
  assert.deepEqual(got.map((g) => g.source), HTTP_FIELDS.map(() => 'dwarf'));
  const byName = Object.fromEntries(HTTP_FIELDS.map((f, i) => [`${f.struct}.${f.member}`, got[i]!.offset]));
  assert.equal(byName['net/http.Request.Method'], 0);
  assert.equal(byName['net/http.Request.URL'], 16);
  for (const struct of new Set(HTTP_FIELDS.map((f) => f.struct))) {
    const dump = await dwarfdumpOffsets(bin, struct);
    for (const f of HTTP_FIELDS.filter((x) => x.struct === struct)) {
      assert.equal(byName[`${f.struct}.${f.member}`], dump.get(f.member), `${f.struct}.${f.member}`);
    }
  }
});

test('stripped binary: the table gives the same offsets as the DWARF of the unstripped build', async () => {
  const full = await buildGoFixture('httpserver');
  const stripped = await buildGoFixture('httpserver', { stripped: true });
  const fromDwarf = resolveMemberOffsets(await context(full), HTTP_FIELDS);
  const fromTable = resolveMemberOffsets(await context(stripped), HTTP_FIELDS);
  assert.deepEqual(fromTable.map((r) => r.source), HTTP_FIELDS.map(() => 'table'));
  assert.deepEqual(fromTable.map((r) => r.offset), fromDwarf.map((r) => r.offset));
});

test('the checked-in table is reproducible from the fixtures (amd64 and arm64)', async () => {
  const checkedIn = loadOffsetsTable();
  let regenerated: OffsetsTable = { entries: [] };
  // topo-backend links every package a probe set reads (net/http, database/sql, net, runtime).
  for (const bin of [await buildGoFixture('topo-backend'), await buildGoFixture('topo-backend', { goarch: 'arm64' })]) {
    for (const m of await measureBinary(bin)) regenerated = mergeMeasurement(regenerated, m);
  }
  for (const e of regenerated.entries) {
    const version = e.from;
    for (const [struct, members] of Object.entries(e.structs)) {
      for (const [member, off] of Object.entries(members)) {
        assert.equal(tableMemberOffset(checkedIn, e.module, version, e.arch, struct, member), off, `${e.arch} ${version} ${struct}.${member}`);
      }
    }
  }
});

test('the generator script writes a table the lookup reads', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'offsets-gen-'));
  try {
    const table = path.join(dir, 'table.json');
    const bin = await buildGoFixture('topo-backend');
    const script = new URL('./gen-offsets-table.ts', import.meta.url).pathname;
    await run(process.execPath, ['--import', 'tsx', script, '--table', table, bin], { cwd: new URL('../..', import.meta.url).pathname });
    const written = parseOffsetsTable(await readFile(table, 'utf8'), table);
    const info = await readGoBuildInfoFromPath(bin);
    assert.equal(tableMemberOffset(written, 'std', info.goVersion, 'amd64', 'net/http.Request', 'URL'), 16);
    assert.equal(written.entries.length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('never a guess: an unknown Go version without DWARF is an error naming binary, version and field', async () => {
  const stripped = await buildGoFixture('httpserver', { stripped: true });
  const ctx = await context(stripped);
  const other = { ...ctx, buildInfo: { ...ctx.buildInfo, goVersion: 'go1.7.1' } };
  assert.throws(
    () => resolveMemberOffsets(other, HTTP_FIELDS),
    (err: Error) =>
      err instanceof OffsetsUnresolvedError &&
      err.message.includes(stripped) &&
      err.message.includes('go1.7.1') &&
      err.message.includes('net/http.Request.Method (go1.7.1 amd64)') &&
      err.message.includes('net/http.response.status (go1.7.1 amd64)'),
  );
  // No arm64 entry at all for a version the table lacks; and a field nobody measured.
  const lookup = lookupMemberOffsets(ctx, [...HTTP_FIELDS, { struct: 'net/http.Request', member: 'NoSuchField' }]);
  assert.equal(lookup.results.at(-1), undefined);
  assert.ok(lookup.results.slice(0, -1).every((r) => r?.source === 'table'));
  // A module the binary does not use.
  assert.throws(() => resolveMemberOffsets(ctx, [{ struct: 'google.golang.org/grpc.Server', member: 'opts', module: 'google.golang.org/grpc' }]), /google\.golang\.org\/grpc \(not in build info\)/);
});

test('table lookup: inclusive ranges, exact arch and module, release versions only', () => {
  const table: OffsetsTable = {
    entries: [
      { module: 'std', arch: 'amd64', from: '1.20.0', to: '1.20.7', structs: { S: { a: 8 } } },
      { module: 'example.com/m', arch: 'amd64', from: '1.2.0', to: '1.2.0', structs: { S: { a: 24 } } },
    ],
  };
  assert.equal(tableMemberOffset(table, 'std', 'go1.20', 'amd64', 'S', 'a'), 8);
  assert.equal(tableMemberOffset(table, 'std', 'go1.20.7', 'amd64', 'S', 'a'), 8);
  assert.equal(tableMemberOffset(table, 'std', 'go1.20.8', 'amd64', 'S', 'a'), undefined);
  assert.equal(tableMemberOffset(table, 'std', 'go1.20.3', 'arm64', 'S', 'a'), undefined);
  assert.equal(tableMemberOffset(table, 'std', 'go1.20rc1', 'amd64', 'S', 'a'), undefined);
  assert.equal(tableMemberOffset(table, 'std', 'devel go1.21-abc', 'amd64', 'S', 'a'), undefined);
  assert.equal(tableMemberOffset(table, 'example.com/m', 'v1.2.0', 'amd64', 'S', 'a'), 24);
  assert.equal(tableMemberOffset(table, 'std', 'go1.20.1', 'amd64', 'S', 'b'), undefined);
});

test('a malformed table is rejected with the path of the bad value', () => {
  const bad = (entries: unknown) => () => parseOffsetsTable(JSON.stringify({ entries }), 't.json');
  assert.throws(() => parseOffsetsTable('{', 't.json'), /t\.json: not JSON/);
  assert.throws(bad([{ module: 'std', arch: 'x86', from: '1.19.8', to: '1.19.8', structs: {} }]), /entries\[0\]\.arch: must be "amd64" or "arm64"/);
  assert.throws(bad([{ module: 'std', arch: 'amd64', from: '1.19', to: 'latest', structs: {} }]), /entries\[0\]\.to: must be a version/);
  assert.throws(bad([{ module: 'std', arch: 'amd64', from: '1.19.9', to: '1.19.8', structs: {} }]), /from 1\.19\.9 is after to 1\.19\.8/);
  assert.throws(bad([{ module: 'std', arch: 'amd64', from: '1.19.8', to: '1.19.8', structs: { S: { a: -1 } } }]), /structs\["S"\]\.a: must be a non-negative integer/);
});

test('merging measurements: widen within a minor release, split across, refuse contradictions', () => {
  const m = (version: string, a: number, extra?: number) => ({
    module: 'std',
    arch: 'amd64' as const,
    version,
    structs: { S: { a, ...(extra === undefined ? {} : { b: extra }) } },
  });
  let t: OffsetsTable = { entries: [] };
  t = mergeMeasurement(t, m('1.19.8', 8));
  t = mergeMeasurement(t, m('1.19.2', 8));
  assert.deepEqual(t.entries.map((e) => [e.from, e.to]), [['1.19.2', '1.19.8']]);
  // Same offsets in the next minor release: a new entry, not a range spanning minors.
  t = mergeMeasurement(t, m('1.20.1', 8));
  assert.deepEqual(t.entries.map((e) => [e.from, e.to]), [['1.19.2', '1.19.8'], ['1.20.1', '1.20.1']]);
  // A measurement inside a range that disagrees is an error, not an overwrite.
  assert.throws(() => mergeMeasurement(t, m('1.19.5', 16)), /contradicts entry std amd64 1\.19\.2\.\.1\.19\.8: S\.a: 16 vs 8/);
  // A new field measured at one version: its own entry, the old one keeps its range …
  t = mergeMeasurement(t, m('1.19.8', 8, 40));
  assert.equal(t.entries.length, 3);
  assert.equal(tableMemberOffset(t, 'std', '1.19.2', 'amd64', 'S', 'b'), undefined);
  assert.equal(tableMemberOffset(t, 'std', '1.19.8', 'amd64', 'S', 'b'), 40);
  // … until the other end is measured with it too, which makes the old entry redundant.
  t = mergeMeasurement(t, m('1.19.2', 8, 40));
  assert.deepEqual(
    t.entries.map((e) => [e.from, e.to, Object.keys(e.structs.S!).join()]),
    [['1.19.2', '1.19.8', 'a,b'], ['1.20.1', '1.20.1', 'a']],
  );
  // Re-measuring is idempotent.
  assert.deepEqual(mergeMeasurement(t, m('1.19.8', 8, 40)).entries, t.entries);
});

test('every probe-set field is in the checked-in table for the fixture toolchain', async () => {
  const info = await readGoBuildInfoFromPath(await buildGoFixture('httpserver'));
  for (const f of allProbeFields().filter((x) => (x.module ?? 'std') === 'std')) {
    for (const arch of ['amd64', 'arm64'] as const) {
      assert.notEqual(tableMemberOffset(loadOffsetsTable(), 'std', info.goVersion, arch, f.struct, f.member), undefined, `${arch} ${f.struct}.${f.member}`);
    }
  }
});


