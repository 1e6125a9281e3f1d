import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync } from 'node:fs';
import { buildGoFixture } from '../../test/helpers/go.ts';
import { disassemble, fileOffsetVia, isRet, loadSegments, nmSymbols } from '../../test/helpers/binutils.ts';
import { withElfFile } from './elf.ts';
import {
  DisassemblyError,
  SymbolNotFoundError,
  entryProbeOffset,
  functionReturnOffsets,
  returnOffsets,
  x86StackCheckJbe,
} from './instructions.ts';

const SERVE_HTTP = 'net/http.serverHandler.ServeHTTP';
const FINISH_REQUEST = 'net/http.(*response).finishRequest';

function fileBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

test('entry probes of ServeHTTP and finishRequest sit on the stack-check jbe objdump shows', async () => {
  const bin = await buildGoFixture('httpserver');
  const syms = await nmSymbols(bin);
  const segs = await loadSegments(bin);
  for (const name of [SERVE_HTTP, FINISH_REQUEST]) {
    const sym = syms.get(name)!;
    const probe = await entryProbeOffset(bin, name);
    const lines = await disassemble(bin, sym.value, sym.value + 32);
    const jbeAt = lines.findIndex((l) => l.mnemonic === 'jbe');
    assert.ok(jbeAt >= 1 && jbeAt <= 2, `${name}: jbe is the 2nd or 3rd instruction: ${lines.map((l) => l.text).join(' | ')}`);
    assert.match(lines[jbeAt - 1]!.text, /^cmp\s+0x10\(%r14\),%(rsp|r12)$/);
    assert.equal(probe.kind, 'stack-check-jbe');
    assert.equal(probe.address, lines[jbeAt]!.address);
    assert.equal(probe.fileOffset, fileOffsetVia(segs, lines[jbeAt]!.address));
    // The bytes at the file offset are a near jbe (0f 86 rel32).
    assert.deepEqual([...fileBytes(bin, probe.fileOffset, 2)], [0x0f, 0x86]);
  }
});

test('a large-frame prologue (mov; sub; jb; cmp; jbe) is recognised', async () => {
  const bin = await buildGoFixture('httpserver');
  const syms = await nmSymbols(bin);
  // runtime.getproccount has an 8 KB frame, so it guards against SP underflow first.
  const sym = syms.get('runtime.getproccount')!;
  const lines = await disassemble(bin, sym.value, sym.value + 32);
  assert.deepEqual(lines.slice(0, 5).map((l) => l.mnemonic), ['mov', 'sub', 'jb', 'cmp', 'jbe']);
  const probe = await entryProbeOffset(bin, 'runtime.getproccount');
  assert.equal(probe.kind, 'stack-check-jbe');
  assert.equal(probe.address, lines[4]!.address);
});

test('a function without a stack check gets its entry', async () => {
  const bin = await buildGoFixture('httpserver');
  const syms = await nmSymbols(bin);
  const segs = await loadSegments(bin);
  // runtime.memmove is NOSPLIT assembly.
  const sym = syms.get('runtime.memmove')!;
  const first = (await disassemble(bin, sym.value, sym.value + 16))[0]!;
  assert.notEqual(first.mnemonic, 'cmp');
  const probe = await entryProbeOffset(bin, 'runtime.memmove');
  assert.deepEqual(probe, { symbol: 'runtime.memmove', address: sym.value, fileOffset: fileOffsetVia(segs, sym.value), kind: 'function-entry' });
});

test('RET offsets equal objdump RETs for every net/http function', async () => {
  const bin = await buildGoFixture('httpserver');
  const syms = await nmSymbols(bin);
  const segs = await loadSegments(bin);
  const fns = [...syms.values()].filter((s) => s.type.toLowerCase() === 't' && s.name.startsWith('net/http.') && s.size > 0);
  assert.ok(fns.length > 500, `found ${fns.length} net/http functions`);
  const lo = Math.min(...fns.map((f) => f.value));
  const hi = Math.max(...fns.map((f) => f.value + f.size));
  const lines = await disassemble(bin, lo, hi);
  const objdumpRets = new Set(
    lines.filter((l) => isRet(l.mnemonic) && fns.some((f) => l.address >= f.value && l.address < f.value + f.size)).map((l) => fileOffsetVia(segs, l.address)),
  );
  const ours = new Set<number>();
  await withElfFile(bin, async (elf) => {
    for (const f of fns) {
      const offs = await functionReturnOffsets(elf, { name: f.name, address: f.value, size: f.size, source: 'symtab' }).catch((err: Error) => {
        // A function that never returns (e.g. one that always panics) has no RET.
        if (err instanceof DisassemblyError && /no RET/.test(err.message)) return [];
        throw err;
      });
      for (const o of offs) ours.add(o);
    }
  });
  assert.ok(objdumpRets.size > 500);
  assert.deepEqual([...ours].sort((a, b) => a - b), [...objdumpRets].sort((a, b) => a - b));
});

test('RET offsets of a handful of functions, by name', async () => {
  const bin = await buildGoFixture('httpserver');
  const syms = await nmSymbols(bin);
  const segs = await loadSegments(bin);
  for (const name of [SERVE_HTTP, FINISH_REQUEST, 'main.main', 'net/http.(*conn).serve', 'net/http.(*ServeMux).ServeHTTP']) {
    const sym = syms.get(name)!;
    const expected = (await disassemble(bin, sym.value, sym.value + sym.size)).filter((l) => isRet(l.mnemonic)).map((l) => fileOffsetVia(segs, l.address));
    assert.ok(expected.length >= 1, name);
    assert.deepEqual(await returnOffsets(bin, name), expected, name);
  }
});

test('stripped binary: functions resolve through .gopclntab to the same jbe and RETs objdump shows', async () => {
  const bin = await buildGoFixture('httpserver', { stripped: true });
  for (const name of [SERVE_HTTP, FINISH_REQUEST]) {
    const probe = await entryProbeOffset(bin, name);
    assert.equal(probe.kind, 'stack-check-jbe');
    const lines = await disassemble(bin, probe.address - 9, probe.address + 6);
    const at = lines.find((l) => l.address === probe.address);
    assert.equal(at?.mnemonic, 'jbe', `${name}: ${lines.map((l) => l.text).join(' | ')}`);
    const rets = await returnOffsets(bin, name);
    assert.ok(rets.length >= 1);
    for (const r of rets) assert.equal(fileBytes(bin, r, 1)[0], 0xc3, `${name}: ret at file offset ${r}`);
  }
});

test('arm64: RETs match llvm-objdump; the entry probe is the function entry', async () => {
  const bin = await buildGoFixture('httpserver', { goarch: 'arm64' });
  const syms = await nmSymbols(bin);
  const segs = await loadSegments(bin);
  for (const name of [SERVE_HTTP, FINISH_REQUEST, 'net/http.(*conn).serve']) {
    const sym = syms.get(name)!;
    const lines = await disassemble(bin, sym.value, sym.value + sym.size, 'llvm-objdump');
    const expected = lines.filter((l) => l.mnemonic === 'ret').map((l) => fileOffsetVia(segs, l.address));
    assert.ok(expected.length >= 1, name);
    assert.deepEqual(await returnOffsets(bin, name), expected, name);
    assert.deepEqual(await entryProbeOffset(bin, name), {
      symbol: name,
      address: sym.value,
      fileOffset: fileOffsetVia(segs, sym.value),
      kind: 'function-entry',
    });
  }
});

test('an unknown function is a SymbolNotFoundError naming it', async () => {
  const bin = await buildGoFixture('httpserver');
  await assert.rejects(returnOffsets(bin, 'main.noSuchFunction'), (err: Error) => err instanceof SymbolNotFoundError && /main\.noSuchFunction/.test(err.message));
  await assert.rejects(entryProbeOffset(bin, 'main.noSuchFunction'), SymbolNotFoundError);
});

test('x86StackCheckJbe rejects look-alikes', () => {
  const base = 0x1000;
  // cmp rsp,[r14+0x10]; jbe +0x20 (inside a 0x40-byte function)
  const good = Buffer.from([0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x20, 0, 0, 0, 0xc3]);
  assert.equal(x86StackCheckJbe(good, base, 0x40), base + 4);
  // the jbe target outside the function
  assert.equal(x86StackCheckJbe(good, base, 0x20), undefined);
  // cmp rsp,[r14+0x18]: not stackguard0
  const wrongDisp = Buffer.from([0x49, 0x3b, 0x66, 0x18, 0x0f, 0x86, 0x20, 0, 0, 0]);
  assert.equal(x86StackCheckJbe(wrongDisp, base, 0x40), undefined);
  // lea r12,[rsp-0x28]; cmp rsp,[r14+0x10] — the cmp must test the lea's register
  const wrongReg = Buffer.from([0x4c, 0x8d, 0x64, 0x24, 0xd8, 0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x20, 0, 0, 0]);
  assert.equal(x86StackCheckJbe(wrongReg, base, 0x40), undefined);
  // lea r12,[rsp-0x28]; cmp r12,[r14+0x10]; jbe
  const lea = Buffer.from([0x4c, 0x8d, 0x64, 0x24, 0xd8, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x20, 0, 0, 0]);
  assert.equal(x86StackCheckJbe(lea, base, 0x40), base + 9);
});
