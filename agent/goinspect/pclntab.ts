/**
 * Function lookup in Go's own function table, `.gopclntab`, for binaries stripped with
 * `-ldflags=-s` (no `.symtab`). The runtime needs this table for stack traces, so every Go
 * binary keeps it. Layout: `pcHeader` in Go's runtime/symtab.go (1.18+; the same in 1.20+
 * apart from the magic), then `functab` pairs and `_func` records.
 */
import { ElfFormatError, STT_FUNC, type ElfFile } from './elf.ts';

/** A function found by name: its virtual address and its size. */
export interface GoFunction {
  name: string;
  address: number;
  /** For pclntab lookups: up to the next function, which includes the alignment padding. */
  size: number;
  source: 'symtab' | 'pclntab';
}

const MAGIC_GO118 = 0xfffffff0;
const MAGIC_GO120 = 0xfffffff1;
const SECTION_NAMES = ['.gopclntab', '.data.rel.ro.gopclntab'];

interface PclntabView {
  tab: Buffer;
  nfunc: number;
  textStart: number;
  funcnameOff: number;
  pclnOff: number;
}

async function readPclntab(elf: ElfFile): Promise<PclntabView> {
  const section = SECTION_NAMES.map((n) => elf.section(n)).find((s) => s !== undefined);
  if (!section) throw new ElfFormatError(elf.path, 'no .gopclntab section (not a Go binary, or an unsupported layout)');
  const tab = await elf.readSection(section);
  if (tab.length < 72) throw new ElfFormatError(elf.path, `.gopclntab too short (${tab.length} bytes)`);
  const magic = tab.readUInt32LE(0);
  if (magic !== MAGIC_GO118 && magic !== MAGIC_GO120) {
    throw new ElfFormatError(elf.path, `unsupported .gopclntab magic 0x${magic.toString(16)} (Go 1.18+ only)`);
  }
  const ptrSize = tab[7];
  if (ptrSize !== 8) throw new ElfFormatError(elf.path, `unsupported .gopclntab pointer size ${ptrSize}`);
  const word = (i: number): number => {
    const v = tab.readBigUInt64LE(8 + i * 8);
    if (v > BigInt(tab.length) && i !== 2) throw new ElfFormatError(elf.path, `.gopclntab header word ${i} out of range`);
    return Number(v);
  };
  const nfunc = word(0);
  // The header's textStart is the runtime's `text` (which is not always .text's start,
  // e.g. with external linking); in a PIE it is relocated at load time and reads 0 here.
  const headerTextStart = Number(tab.readBigUInt64LE(24));
  const textStart = headerTextStart !== 0 ? headerTextStart : (elf.section('.text')?.addr ?? 0);
  const funcnameOff = word(3);
  const pclnOff = word(7);
  if (pclnOff + (nfunc + 1) * 8 > tab.length) throw new ElfFormatError(elf.path, `.gopclntab functab overruns the section`);
  return { tab, nfunc, textStart, funcnameOff, pclnOff };
}

/** Looks `names` up in `.gopclntab`; absent names are missing from the result. */
export async function findPclntabFunctions(elf: ElfFile, names: readonly string[]): Promise<Map<string, GoFunction>> {
  const found = new Map<string, GoFunction>();
  if (names.length === 0) return found;
  const { tab, nfunc, textStart, funcnameOff, pclnOff } = await readPclntab(elf);
  const wanted = new Map(names.map((n) => [n, Buffer.from(n, 'utf8')]));
  for (let i = 0; i < nfunc && found.size < wanted.size; i++) {
    const entryOff = tab.readUInt32LE(pclnOff + i * 8);
    const funcOff = tab.readUInt32LE(pclnOff + i * 8 + 4);
    const rec = pclnOff + funcOff;
    if (rec + 8 > tab.length) throw new ElfFormatError(elf.path, `.gopclntab _func ${i} overruns the section`);
    const nameStart = funcnameOff + tab.readInt32LE(rec + 4);
    for (const [n, bytes] of wanted) {
      const end = nameStart + bytes.length;
      if (end < tab.length && tab[end] === 0 && tab.compare(bytes, 0, bytes.length, nameStart, end) === 0) {
        const nextEntryOff = tab.readUInt32LE(pclnOff + (i + 1) * 8);
        found.set(n, { name: n, address: textStart + entryOff, size: nextEntryOff - entryOff, source: 'pclntab' });
        break;
      }
    }
  }
  return found;
}

/**
 * Resolves functions by name: `.symtab` first (exact sizes), `.gopclntab` for what it lacks
 * (stripped binaries).
 */
export async function findGoFunctions(elf: ElfFile, names: readonly string[]): Promise<Map<string, GoFunction>> {
  const result = new Map<string, GoFunction>();
  const syms = await elf.findSymbols(names);
  for (const [n, s] of syms) {
    // A zero size says nothing about where the function ends; the pclntab knows.
    if (s.type === STT_FUNC && s.size > 0) result.set(n, { name: n, address: s.value, size: s.size, source: 'symtab' });
  }
  const missing = names.filter((n) => !result.has(n));
  if (missing.length > 0) {
    for (const [n, f] of await findPclntabFunctions(elf, missing)) result.set(n, f);
  }
  return result;
}

/**
 * Names the function holding a code address, as the runtime does for its stack traces (an
 * inlined call's PC names the function it was inlined into). Reads `.gopclntab` once.
 */
export class GoFunctionTable {
  private constructor(
    private readonly entries: Uint32Array,
    private readonly view: PclntabView,
  ) {}

  static async read(elf: ElfFile): Promise<GoFunctionTable> {
    const view = await readPclntab(elf);
    const entries = new Uint32Array(view.nfunc + 1);
    for (let i = 0; i <= view.nfunc; i++) entries[i] = view.tab.readUInt32LE(view.pclnOff + i * 8);
    return new GoFunctionTable(entries, view);
  }

  /** The function containing link-time address `pc`, or undefined outside the Go text. */
  nameAt(pc: number): string | undefined {
    const { tab, nfunc, textStart, funcnameOff, pclnOff } = this.view;
    const off = pc - textStart;
    if (off < this.entries[0] || off >= this.entries[nfunc]) return undefined;
    let lo = 0;
    let hi = nfunc - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.entries[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    const rec = pclnOff + tab.readUInt32LE(pclnOff + lo * 8 + 4);
    const nameStart = funcnameOff + tab.readInt32LE(rec + 4);
    const end = tab.indexOf(0, nameStart);
    return tab.toString('utf8', nameStart, end < 0 ? tab.length : end);
  }
}
