/**
 * A small ELF64 reader (little-endian x86-64 and aarch64): headers, program and section
 * headers, `.symtab` symbols, notes. It reads with positional reads only what it is asked
 * for, because the binaries it looks at can be 50+ MB and most questions (is this Go? where
 * is this function?) need a few kilobytes of them.
 */
import type { BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** The file is not an ELF file this reader understands, or it is truncated/inconsistent. */
export class ElfFormatError extends Error {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'ElfFormatError';
  }
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;

export const SHT_SYMTAB = 2;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHF_COMPRESSED = 0x800;

export const STT_FUNC = 2;

export interface ElfProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSection {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  /** Virtual address (st_value). */
  value: number;
  size: number;
  /** STT_* */
  type: number;
  /** STB_* */
  bind: number;
  shndx: number;
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const SHN_XINDEX = 0xffff;

/** A u64 that must fit a JS number (addresses and sizes of user-space files always do). */
function u64(buf: Buffer, at: number, path: string, what: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfFormatError(path, `${what} ${v} is out of range`);
  return Number(v);
}

/** Reads exactly `length` bytes at `offset`, or throws naming what was being read. */
async function readExactly(fh: FileHandle, path: string, offset: number, length: number, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) {
      throw new ElfFormatError(path, `truncated: ${what} needs bytes ${offset}..${offset + length}, file ends at ${offset + done}`);
    }
    done += bytesRead;
  }
  return buf;
}

/**
 * An open ELF64 file. Close it with `close()` (or use `withElfFile`); it holds a file
 * descriptor so that every read sees the same file even if the path is replaced meanwhile.
 */
export class ElfFile {
  readonly path: string;
  /** e_machine: EM_X86_64, EM_AARCH64, … */
  readonly machine: number;
  /** e_type: 2 = EXEC, 3 = DYN (PIE). */
  readonly type: number;
  readonly programs: readonly ElfProgramHeader[];
  readonly sections: readonly ElfSection[];
  readonly #fh: FileHandle;
  #symbols: Map<string, ElfSymbol> | undefined;

  private constructor(path: string, fh: FileHandle, machine: number, type: number, programs: ElfProgramHeader[], sections: ElfSection[]) {
    this.path = path;
    this.#fh = fh;
    this.machine = machine;
    this.type = type;
    this.programs = programs;
    this.sections = sections;
  }

  /** Opens and parses the headers; throws ElfFormatError for anything but ELF64 little-endian. */
  static async open(path: string): Promise<ElfFile> {
    const fh = await open(path, 'r');
    try {
      return await ElfFile.#parse(path, fh);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  static async #parse(path: string, fh: FileHandle): Promise<ElfFile> {
    const { size: fileSize } = await fh.stat();
    if (fileSize < EHDR_SIZE) throw new ElfFormatError(path, `not an ELF file (${fileSize} bytes)`);
    const eh = await readExactly(fh, path, 0, EHDR_SIZE, 'ELF header');
    if (!eh.subarray(0, 4).equals(ELF_MAGIC)) throw new ElfFormatError(path, 'not an ELF file (bad magic)');
    if (eh[4] !== ELFCLASS64) throw new ElfFormatError(path, `unsupported ELF class ${eh[4]} (only ELF64)`);
    if (eh[5] !== ELFDATA2LSB) throw new ElfFormatError(path, `unsupported ELF data encoding ${eh[5]} (only little-endian)`);
    const type = eh.readUInt16LE(16);
    const machine = eh.readUInt16LE(18);
    const phoff = u64(eh, 32, path, 'e_phoff');
    const shoff = u64(eh, 40, path, 'e_shoff');
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    const shentsize = eh.readUInt16LE(58);
    let shnum = eh.readUInt16LE(60);
    let shstrndx = eh.readUInt16LE(62);

    const programs: ElfProgramHeader[] = [];
    if (phnum > 0) {
      if (phentsize < PHDR_SIZE) throw new ElfFormatError(path, `e_phentsize ${phentsize} < ${PHDR_SIZE}`);
      const ph = await readExactly(fh, path, phoff, phnum * phentsize, 'program headers');
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        programs.push({
          type: ph.readUInt32LE(o),
          flags: ph.readUInt32LE(o + 4),
          offset: u64(ph, o + 8, path, 'p_offset'),
          vaddr: u64(ph, o + 16, path, 'p_vaddr'),
          filesz: u64(ph, o + 32, path, 'p_filesz'),
          memsz: u64(ph, o + 40, path, 'p_memsz'),
        });
      }
    }

    const sections: ElfSection[] = [];
    if (shoff !== 0) {
      if (shentsize < SHDR_SIZE) throw new ElfFormatError(path, `e_shentsize ${shentsize} < ${SHDR_SIZE}`);
      // Extended numbering: more than 0xff00 sections keep the real counts in section 0.
      if (shnum === 0 || shstrndx === SHN_XINDEX) {
        const sh0 = await readExactly(fh, path, shoff, SHDR_SIZE, 'section header 0');
        if (shnum === 0) shnum = u64(sh0, 32, path, 'sh_size of section 0');
        if (shstrndx === SHN_XINDEX) shstrndx = sh0.readUInt32LE(40);
      }
      const sh = await readExactly(fh, path, shoff, shnum * shentsize, 'section headers');
      const raw: (Omit<ElfSection, 'name'> & { nameOff: number })[] = [];
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        raw.push({
          nameOff: sh.readUInt32LE(o),
          type: sh.readUInt32LE(o + 4),
          flags: u64(sh, o + 8, path, 'sh_flags'),
          addr: u64(sh, o + 16, path, 'sh_addr'),
          offset: u64(sh, o + 24, path, 'sh_offset'),
          size: u64(sh, o + 32, path, 'sh_size'),
          link: sh.readUInt32LE(o + 40),
          entsize: u64(sh, o + 56, path, 'sh_entsize'),
        });
      }
      const strSec = raw[shstrndx];
      if (strSec === undefined) throw new ElfFormatError(path, `e_shstrndx ${shstrndx} is not a section (${shnum} sections)`);
      const names = await readExactly(fh, path, strSec.offset, strSec.size, 'section name table');
      for (const { nameOff, ...s } of raw) sections.push({ name: cString(names, nameOff), ...s });
    }
    return new ElfFile(path, fh, machine, type, programs, sections);
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }

  /** "dev:inode:mtimeNs" of the open file: what results about this file can be cached by. */
  async fileKey(): Promise<string> {
    return fileKeyOf(await this.#fh.stat({ bigint: true }));
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** Reads `length` bytes at file offset `offset`. */
  read(offset: number, length: number, what = 'data'): Promise<Buffer> {
    return readExactly(this.#fh, this.path, offset, length, what);
  }

  /** A section's bytes as stored in the file (compressed sections are refused, not inflated). */
  async readSection(section: ElfSection | string): Promise<Buffer> {
    const s = typeof section === 'string' ? this.section(section) : section;
    if (s === undefined) throw new ElfFormatError(this.path, `no section ${section as string}`);
    if (s.type === SHT_NOBITS) throw new ElfFormatError(this.path, `section ${s.name} has no file data (SHT_NOBITS)`);
    if (s.flags & SHF_COMPRESSED) throw new ElfFormatError(this.path, `section ${s.name} is compressed`);
    return this.read(s.offset, s.size, `section ${s.name}`);
  }

  /** Reads `length` bytes at virtual address `vaddr` from the PT_LOAD segment holding them. */
  async readVirtual(vaddr: number, length: number): Promise<Buffer> {
    return this.read(this.#vaddrToFileOffset(vaddr, length, false), length, `bytes at 0x${vaddr.toString(16)}`);
  }

  /**
   * The file offset of code at virtual address `vaddr`, through the executable PT_LOAD
   * segment that holds it (`off = vaddr - p_vaddr + p_offset`): the offset a uprobe takes.
   */
  symbolFileOffset(vaddr: number): number {
    return this.#vaddrToFileOffset(vaddr, 1, true);
  }

  #vaddrToFileOffset(vaddr: number, length: number, executable: boolean): number {
    for (const p of this.programs) {
      if (p.type !== PT_LOAD || (executable && !(p.flags & PF_X))) continue;
      if (vaddr >= p.vaddr && vaddr + length <= p.vaddr + p.filesz) return vaddr - p.vaddr + p.offset;
    }
    const kind = executable ? 'an executable PT_LOAD segment' : 'any PT_LOAD segment';
    throw new ElfFormatError(this.path, `address 0x${vaddr.toString(16)} (+${length}) is not in ${kind}`);
  }

  /** Whether the file has a `.symtab` (Go's `-ldflags=-s` removes it). */
  hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB);
  }

  /** Every named `.symtab` symbol by name (first one wins for duplicate local names). Cached. */
  async symbols(): Promise<Map<string, ElfSymbol>> {
    if (this.#symbols) return this.#symbols;
    const map = new Map<string, ElfSymbol>();
    await this.#scanSymtab((name, sym) => {
      if (!map.has(name)) map.set(name, sym(name));
      return false;
    });
    this.#symbols = map;
    return map;
  }

  /**
   * The `.symtab` symbols with these names, without decoding every name in the table
   * (names are compared as bytes): the cheap way to resolve a handful of functions.
   */
  async findSymbols(names: readonly string[]): Promise<Map<string, ElfSymbol>> {
    const found = new Map<string, ElfSymbol>();
    if (this.#symbols) {
      for (const n of names) {
        const s = this.#symbols.get(n);
        if (s) found.set(n, s);
      }
      return found;
    }
    const wanted = new Map(names.map((n) => [n, Buffer.from(n, 'utf8')]));
    await this.#scanSymtabRaw((strtab, nameOff, make) => {
      for (const [n, bytes] of wanted) {
        if (found.has(n)) continue;
        const end = nameOff + bytes.length;
        if (end < strtab.length && strtab[end] === 0 && strtab.compare(bytes, 0, bytes.length, nameOff, end) === 0) {
          found.set(n, make(n));
        }
      }
      return found.size === wanted.size;
    });
    return found;
  }

  async #scanSymtab(visit: (name: string, make: (name: string) => ElfSymbol) => boolean): Promise<void> {
    await this.#scanSymtabRaw((strtab, nameOff, make) => visit(cString(strtab, nameOff), make));
  }

  /** Walks `.symtab`; `visit` returns true to stop. */
  async #scanSymtabRaw(visit: (strtab: Buffer, nameOff: number, make: (name: string) => ElfSymbol) => boolean): Promise<void> {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return;
    const strSec = this.sections[symtab.link];
    if (!strSec) throw new ElfFormatError(this.path, `.symtab links to missing string table ${symtab.link}`);
    const [syms, strtab] = await Promise.all([this.readSection(symtab), this.readSection(strSec)]);
    const entsize = symtab.entsize || SYM_SIZE;
    for (let o = 0; o + SYM_SIZE <= syms.length; o += entsize) {
      const nameOff = syms.readUInt32LE(o);
      if (nameOff === 0 || nameOff >= strtab.length) continue;
      const make = (name: string): ElfSymbol => ({
        name,
        type: syms[o + 4]! & 0xf,
        bind: syms[o + 4]! >> 4,
        shndx: syms.readUInt16LE(o + 6),
        value: u64(syms, o + 8, this.path, 'st_value'),
        size: u64(syms, o + 16, this.path, 'st_size'),
      });
      if (visit(strtab, nameOff, make)) return;
    }
  }

  /** Notes from SHT_NOTE sections, or from PT_NOTE segments when the section headers are gone. */
  async notes(): Promise<ElfNote[]> {
    const regions = this.sections.length
      ? this.sections.filter((s) => s.type === SHT_NOTE).map((s) => ({ offset: s.offset, size: s.size }))
      : this.programs.filter((p) => p.type === PT_NOTE).map((p) => ({ offset: p.offset, size: p.filesz }));
    const notes: ElfNote[] = [];
    for (const r of regions) {
      const buf = await this.read(r.offset, r.size, 'notes');
      let o = 0;
      while (o + 12 <= buf.length) {
        const namesz = buf.readUInt32LE(o);
        const descsz = buf.readUInt32LE(o + 4);
        const type = buf.readUInt32LE(o + 8);
        const nameStart = o + 12;
        const descStart = nameStart + align4(namesz);
        if (descStart + descsz > buf.length) break;
        notes.push({
          name: buf.toString('latin1', nameStart, nameStart + namesz).replace(/\0+$/, ''),
          type,
          desc: buf.subarray(descStart, descStart + descsz),
        });
        o = descStart + align4(descsz);
      }
    }
    return notes;
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** "dev:inode:mtimeNs": one version of one file, whatever path reaches it. */
export function fileKeyOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.mtimeNs}`;
}

/** The NUL-terminated string at `off`. */
export function cString(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 ? buf.length : end);
}

/** Opens `path`, runs `fn`, and always closes the file. */
export async function withElfFile<T>(path: string, fn: (elf: ElfFile) => Promise<T>): Promise<T> {
  const elf = await ElfFile.open(path);
  try {
    return await fn(elf);
  } finally {
    await elf.close();
  }
}
