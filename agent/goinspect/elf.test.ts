import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildGoFixture } from '../../test/helpers/go.ts';
import { fileOffsetVia, loadSegments, nmSymbols } from '../../test/helpers/binutils.ts';
import { EM_AARCH64, EM_X86_64, ElfFile, ElfFormatError, STT_FUNC, withElfFile } from './elf.ts';
import { findGoFunctions, findPclntabFunctions } from './pclntab.ts';

const run = promisify(execFile);

test('headers, sections and symbols agree with readelf and nm', async () => {
  const bin = await buildGoFixture('httpserver');
  const nm = await nmSymbols(bin);
  const segs = await loadSegments(bin);
  await withElfFile(bin, async (elf) => {
    assert.equal(elf.machine, EM_X86_64);
    assert.ok(elf.hasSymtab());
    for (const name of ['.text', '.gopclntab', '.go.buildinfo', '.symtab']) assert.ok(elf.section(name), name);
    const loads = elf.programs.filter((p) => p.type === 1);
    assert.deepEqual(
      loads.map((p) => ({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz })),
      segs.map((s) => ({ offset: s.offset, vaddr: s.vaddr, filesz: s.filesz })),
    );
    const all = await elf.symbols();
    const names = ['net/http.serverHandler.ServeHTTP', 'net/http.(*response).finishRequest', 'main.main', 'runtime.memmove'];
    const found = await elf.findSymbols([...names, 'no.such.symbol']);
    assert.equal(found.size, names.length);
    for (const n of names) {
      const s = found.get(n)!;
      assert.deepEqual({ value: s.value, size: s.size }, { value: nm.get(n)!.value, size: nm.get(n)!.size }, n);
      assert.equal(s.type, STT_FUNC);
      assert.deepEqual(all.get(n), s);
      assert.equal(elf.symbolFileOffset(s.value), fileOffsetVia(segs, s.value));
    }
    // Every function nm lists is in the map with nm's address.
    for (const s of nm.values()) if (s.type === 'T') assert.equal(all.get(s.name)?.value, s.value, s.name);
  });
});

test('symbolFileOffset refuses addresses outside executable segments', async () => {
  const bin = await buildGoFixture('httpserver');
  await withElfFile(bin, async (elf) => {
    const data = elf.section('.go.buildinfo')!;
    assert.throws(() => elf.symbolFileOffset(data.addr), (err: Error) => err instanceof ElfFormatError && /not in an executable PT_LOAD/.test(err.message));
    assert.throws(() => elf.symbolFileOffset(0x10), ElfFormatError);
  });
});

test('.gopclntab lookups match .symtab addresses (sizes include alignment padding only)', async () => {
  const bin = await buildGoFixture('httpserver');
  const nm = await nmSymbols(bin);
  const names = [...nm.values()].filter((s) => s.type === 'T' && /^(net\/http|main|net\/url)\./.test(s.name)).map((s) => s.name);
  assert.ok(names.length > 100);
  await withElfFile(bin, async (elf) => {
    const fromPcln = await findPclntabFunctions(elf, names);
    assert.equal(fromPcln.size, names.length);
    for (const n of names) {
      const f = fromPcln.get(n)!;
      const s = nm.get(n)!;
      assert.equal(f.address, s.value, n);
      assert.ok(f.size >= s.size && f.size < s.size + 32, `${n}: pclntab size ${f.size}, symtab ${s.size}`);
    }
  });
});

test('a stripped binary has no .symtab; functions come from .gopclntab', async () => {
  const bin = await buildGoFixture('httpserver', { stripped: true });
  await withElfFile(bin, async (elf) => {
    assert.equal(elf.hasSymtab(), false);
    assert.equal((await elf.symbols()).size, 0);
    const fns = await findGoFunctions(elf, ['net/http.serverHandler.ServeHTTP', 'main.main', 'no.such.function']);
    assert.equal(fns.get('net/http.serverHandler.ServeHTTP')?.source, 'pclntab');
    assert.ok(fns.has('main.main'));
    assert.equal(fns.has('no.such.function'), false);
  });
});

test('notes: the Go build id is what `go tool buildid` prints', async () => {
  const bin = await buildGoFixture('httpserver');
  const { stdout } = await run('go', ['tool', 'buildid', bin]);
  await withElfFile(bin, async (elf) => {
    const goNote = (await elf.notes()).find((n) => n.name === 'Go' && n.type === 4);
    assert.equal(goNote?.desc.toString('utf8'), stdout.trim());
  });
});

test('arm64 binaries are read too', async () => {
  const bin = await buildGoFixture('httpserver', { goarch: 'arm64' });
  await withElfFile(bin, async (elf) => {
    assert.equal(elf.machine, EM_AARCH64);
    assert.ok((await elf.findSymbols(['main.main'])).has('main.main'));
  });
});

test('non-ELF, truncated and 32-bit files are clear ElfFormatErrors', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'elf-test-'));
  try {
    const bin = await buildGoFixture('httpserver');
    const text = path.join(dir, 'text');
    await writeFile(text, 'just some text, long enough to hold an ELF header if it were one........');
    await assert.rejects(ElfFile.open(text), /not an ELF file \(bad magic\)/);

    const truncated = path.join(dir, 'truncated');
    await writeFile(truncated, (await readFile(bin)).subarray(0, 200));
    await assert.rejects(ElfFile.open(truncated), (err: Error) => err instanceof ElfFormatError && /truncated: program headers needs bytes 64\.\.\d+, file ends at 200/.test(err.message));

    const elf32 = path.join(dir, 'elf32');
    await copyFile(bin, elf32);
    const b = await readFile(elf32);
    b[4] = 1; // ELFCLASS32
    await writeFile(elf32, b);
    await assert.rejects(ElfFile.open(elf32), /unsupported ELF class 1 \(only ELF64\)/);

    await assert.rejects(ElfFile.open(path.join(dir, 'missing')), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
