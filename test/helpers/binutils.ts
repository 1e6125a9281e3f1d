/**
 * Independent answers about ELF files from binutils/LLVM (nm, readelf, objdump,
 * llvm-objdump), for tests that check burnwatch's own ELF and instruction readers against
 * the standard tools.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MAX_BUFFER = 512 * 1024 * 1024;

export interface NmSymbol {
  name: string;
  value: number;
  size: number;
  type: string;
}

/** `nm -S --defined-only`: symbols with a size, by name. */
export async function nmSymbols(file: string): Promise<Map<string, NmSymbol>> {
  const { stdout } = await run('nm', ['-S', '--defined-only', file], { maxBuffer: MAX_BUFFER });
  const out = new Map<string, NmSymbol>();
  for (const line of stdout.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (\S) (.+)$/.exec(line);
    if (m && !out.has(m[4]!)) out.set(m[4]!, { name: m[4]!, value: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16), type: m[3]! });
  }
  return out;
}

export interface LoadSegment {
  offset: number;
  vaddr: number;
  filesz: number;
  flags: string;
}

/** `readelf -lW`: the PT_LOAD segments. */
export async function loadSegments(file: string): Promise<LoadSegment[]> {
  const { stdout } = await run('readelf', ['-lW', file], { maxBuffer: MAX_BUFFER });
  const segs: LoadSegment[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+([RWE ]+?)\s+0x/.exec(line);
    if (m) segs.push({ offset: parseInt(m[1]!, 16), vaddr: parseInt(m[2]!, 16), filesz: parseInt(m[3]!, 16), flags: m[4]! });
  }
  return segs;
}

/** vaddr → file offset through the segments readelf lists. */
export function fileOffsetVia(segs: LoadSegment[], vaddr: number): number {
  const s = segs.find((x) => vaddr >= x.vaddr && vaddr < x.vaddr + x.filesz);
  if (!s) throw new Error(`0x${vaddr.toString(16)} is in no PT_LOAD segment`);
  return vaddr - s.vaddr + s.offset;
}

export interface DisassembledLine {
  address: number;
  mnemonic: string;
  text: string;
}

const PREFIXES = new Set(['rep', 'repz', 'repe', 'repnz', 'repne', 'bnd', 'notrack', 'lock', 'data16', 'cs', 'ds']);

/**
 * Disassembles [start, stop) with GNU objdump (x86-64) or llvm-objdump (any arch), one entry
 * per instruction.
 */
export async function disassemble(file: string, start: number, stop: number, tool: 'objdump' | 'llvm-objdump' = 'objdump'): Promise<DisassembledLine[]> {
  const { stdout } = await run(
    tool,
    ['-d', '--no-show-raw-insn', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${stop.toString(16)}`, file],
    { maxBuffer: MAX_BUFFER },
  );
  const lines: DisassembledLine[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*([0-9a-f]+):\s+(.*)$/.exec(line);
    if (!m) continue;
    const text = m[2]!.trim();
    if (!text) continue;
    const tokens = text.split(/\s+/);
    let mnemonic = tokens[0]!;
    if (PREFIXES.has(mnemonic) && tokens[1]) mnemonic = tokens[1];
    lines.push({ address: parseInt(m[1]!, 16), mnemonic, text });
  }
  return lines;
}

export function isRet(mnemonic: string): boolean {
  return /^ret[qlw]?$/.test(mnemonic);
}
