/**
 * Go version and module list from a binary's `.go.buildinfo` (what `go version -m` prints).
 * Only the Go ≥1.18 layout with inline strings is read; the older layout stores pointers
 * into the data segment and is refused rather than guessed at.
 *
 * Layout (Go's debug/buildinfo): 32-byte header — 14-byte magic "\xff Go buildinf:",
 * pointer size, flags (mask 0x1: big-endian; mask 0x2: inline strings) — then two
 * uvarint-length-prefixed strings: the Go version and the module info, whose lines are
 * `path`, `mod`, `dep`, `=>` (replacement of the line before) and `build` settings.
 */
import { ElfFile, ElfFormatError, PF_W, PT_LOAD, withElfFile } from './elf.ts';

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
  /** The `=>` replacement, when the module was replaced. */
  replace?: GoModule;
}

export interface GoBuildInfo {
  /** As the toolchain spells it, e.g. "go1.19.8". */
  goVersion: string;
  /** The main package's import path. */
  path?: string;
  /** The main module; absent for GOPATH-mode builds. */
  main?: GoModule;
  deps: GoModule[];
  /** `build` lines: -compiler, CGO_ENABLED, GOARCH, vcs.revision, … */
  settings: Record<string, string>;
}

/** The binary has build info in a layout this reader does not parse. */
export class UnsupportedBuildInfoError extends Error {
  constructor(path: string, message: string) {
    super(`${path}: unsupported buildinfo format: ${message}`);
    this.name = 'UnsupportedBuildInfoError';
  }
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
const ALIGN = 16;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE_STRINGS = 0x2;
/** Without section headers the blob sits at the start of the data segment; look this far. */
const SEGMENT_SCAN_BYTES = 64 * 1024;
/** Module info is a few KB; a length beyond this is a corrupt file, not a big program. */
const MAX_STRING = 16 * 1024 * 1024;

/** Sections and notes only Go's linker writes. */
const GO_SECTIONS = ['.go.buildinfo', '.gopclntab', '.data.rel.ro.gopclntab', '.note.go.buildid'];

/**
 * Whether `path` is a Go executable. Reads only the ELF headers (and the notes when the
 * section headers are gone). Non-ELF files are `false`; I/O errors (ENOENT, EACCES) throw.
 */
export async function isGoBinary(path: string): Promise<boolean> {
  let elf: ElfFile;
  try {
    elf = await ElfFile.open(path);
  } catch (err) {
    if (err instanceof ElfFormatError) return false;
    throw err;
  }
  try {
    return await isGoElf(elf);
  } finally {
    await elf.close();
  }
}

/**
 * `isGoBinary` for an open file: a Go program from either toolchain. gccgo's are included so
 * that the agent sees them and says why it does not probe them (see isGccgoElf).
 */
export async function isGoElf(elf: ElfFile): Promise<boolean> {
  if (elf.sections.some((s) => GO_SECTIONS.includes(s.name))) return true;
  if (await isGccgoElf(elf)) return true;
  if (elf.sections.length > 0) return false;
  try {
    return (await elf.notes()).some((n) => n.name === 'Go' && n.type === GO_BUILD_ID_NOTE);
  } catch (err) {
    if (err instanceof ElfFormatError) return false;
    throw err;
  }
}

/** gccgo keeps each package's export data in this section of the executable (stripped or not). */
const GCCGO_EXPORT_SECTION = '.go_export';
/** gccgo links its runtime and standard library as libgo.so.N unless told -static-libgo. */
const LIBGO_SONAME = /^libgo\.so(\.\d+)*$/;

/**
 * Whether the file is a gccgo build. gccgo compiles through GCC: the C calling convention,
 * no .gopclntab or .go.buildinfo, the standard library usually in libgo.so — nothing the Go
 * uprobes can be placed on, so the agent names the toolchain instead of "not a Go binary".
 */
export async function isGccgoElf(elf: ElfFile): Promise<boolean> {
  if (elf.section(GCCGO_EXPORT_SECTION)) return true;
  const dynstr = elf.section('.dynstr');
  if (!dynstr) return false;
  try {
    return (await elf.readSection(dynstr)).toString('latin1').split('\0').some((name) => LIBGO_SONAME.test(name));
  } catch (err) {
    if (err instanceof ElfFormatError) return false;
    throw err;
  }
}

/** Note type of the Go build id (`.note.go.buildid`, owner "Go"). */
export const GO_BUILD_ID_NOTE = 4;

export function readGoBuildInfoFromPath(path: string): Promise<GoBuildInfo> {
  return withElfFile(path, readGoBuildInfo);
}

export async function readGoBuildInfo(elf: ElfFile): Promise<GoBuildInfo> {
  const blob = await findBuildInfoBlob(elf);
  return parseBuildInfoBlob(elf.path, blob);
}

async function findBuildInfoBlob(elf: ElfFile): Promise<Buffer> {
  const section = elf.section('.go.buildinfo');
  if (section) {
    const data = await elf.read(section.offset, Math.min(section.size, MAX_STRING), '.go.buildinfo');
    if (data.subarray(0, MAGIC.length).equals(MAGIC)) return data;
    throw new ElfFormatError(elf.path, '.go.buildinfo does not start with the Go buildinfo magic');
  }
  for (const p of elf.programs) {
    if (p.type !== PT_LOAD || !(p.flags & PF_W)) continue;
    const data = await elf.read(p.offset, Math.min(p.filesz, SEGMENT_SCAN_BYTES), 'data segment');
    for (let o = 0; o + HEADER_SIZE <= data.length; o += ALIGN) {
      if (data.compare(MAGIC, 0, MAGIC.length, o, o + MAGIC.length) === 0) {
        const size = Math.min(p.filesz - o, MAX_STRING);
        return elf.read(p.offset + o, size, '.go.buildinfo');
      }
    }
  }
  throw new ElfFormatError(elf.path, 'no Go build info (no .go.buildinfo section and no buildinfo magic in the data segment)');
}

/** Parses the blob that starts with the magic. Exported for tests of the format edge cases. */
export function parseBuildInfoBlob(path: string, blob: Buffer): GoBuildInfo {
  if (blob.length < HEADER_SIZE || !blob.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ElfFormatError(path, 'Go build info header missing or truncated');
  }
  const ptrSize = blob[14]!;
  const flags = blob[15]!;
  if ((flags & FLAG_INLINE_STRINGS) === 0) {
    throw new UnsupportedBuildInfoError(path, `pointer-based layout (Go < 1.18; ptrSize ${ptrSize}, flags 0x${flags.toString(16)})`);
  }
  if (flags & FLAG_BIG_ENDIAN) throw new UnsupportedBuildInfoError(path, 'big-endian binary');

  let pos = HEADER_SIZE;
  const readString = (what: string): string => {
    let len = 0;
    let shift = 0;
    for (;;) {
      if (pos >= blob.length) throw new ElfFormatError(path, `Go build info ${what}: truncated length`);
      const b = blob[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
      if (shift > 35) throw new ElfFormatError(path, `Go build info ${what}: length varint too long`);
    }
    if (len > MAX_STRING || pos + len > blob.length) {
      throw new ElfFormatError(path, `Go build info ${what}: length ${len} overruns the data`);
    }
    const s = blob.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const goVersion = readString('version');
  if (!goVersion.startsWith('go') && !goVersion.startsWith('devel')) {
    throw new ElfFormatError(path, `Go build info version ${JSON.stringify(goVersion.slice(0, 40))} is not a Go version`);
  }
  let modinfo = readString('module info');
  // The linker brackets module info with 16-byte sentinels (runtime/debug.modinfo).
  if (modinfo.length >= 33 && modinfo[modinfo.length - 17] === '\n') modinfo = modinfo.slice(16, -16);
  return { goVersion, ...parseModInfo(modinfo) };
}

function parseModInfo(text: string): Omit<GoBuildInfo, 'goVersion'> {
  const info: Omit<GoBuildInfo, 'goVersion'> = { deps: [], settings: {} };
  let last: GoModule | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...f] = line.split('\t');
    const mod = (): GoModule => ({ path: f[0] ?? '', version: f[1] ?? '', ...(f[2] ? { sum: f[2] } : {}) });
    switch (kind) {
      case 'path':
        info.path = f[0];
        break;
      case 'mod':
        info.main = last = mod();
        break;
      case 'dep':
        info.deps.push((last = mod()));
        break;
      case '=>':
        if (last) last.replace = mod();
        break;
      case 'build': {
        const kv = f.join('\t');
        const eq = kv.indexOf('=');
        if (eq > 0) info.settings[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
    }
  }
  return info;
}
