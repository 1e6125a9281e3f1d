/**
 * Where to put uprobes inside a Go function, found by decoding its machine code.
 *
 * - Never return probes on Go (design.md §4): a function's ends are its RET instructions, each
 *   probed on its own. Every one counts — some run only on rare paths (after
 *   runtime.deferreturn), and a call that leaves through an unprobed RET leaks its entry state.
 * - An entry probe costs ≈30 µs a hit at +0 on these VMs (the kernel single-steps the
 *   instruction out of line) but ≈2–5 µs at the `jbe` of Go's stack-check prologue, because
 *   the kernel emulates jumps. The argument registers and R14 (the goroutine) are still
 *   untouched at the jbe; when it jumps (stack growth or preemption request) the function
 *   restarts, so the BPF side skips hits whose saved flags have CF or ZF set.
 *
 * x86-64 is decoded with iced-x86 (WebAssembly). arm64 instructions are fixed 4-byte words,
 * so RETs are found by matching aligned words.
 */
import iced from 'iced-x86';
import { EM_AARCH64, EM_X86_64, ElfFile, withElfFile } from './elf.ts';
import { findGoFunctions, type GoFunction } from './pclntab.ts';

const { Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register, Code } = iced;

export type EntryProbeKind = 'stack-check-jbe' | 'function-entry';

export interface EntryProbe {
  symbol: string;
  /** Virtual address of the probed instruction. */
  address: number;
  /** File offset of the probed instruction: what a uprobe attaches at. */
  fileOffset: number;
  /**
   * 'stack-check-jbe': the `jbe` of the stack-check prologue; skip hits where the saved
   * flags have CF or ZF set (the branch will be taken and the function restarts).
   * 'function-entry': the first instruction (no stack check found, or arm64).
   */
  kind: EntryProbeKind;
}

/** The function is not in the binary (neither `.symtab` nor `.gopclntab`). */
export class SymbolNotFoundError extends Error {
  readonly symbol: string;
  constructor(path: string, symbol: string) {
    super(`${path}: function ${symbol} not found (in .symtab or .gopclntab)`);
    this.name = 'SymbolNotFoundError';
    this.symbol = symbol;
  }
}

/** The function's bytes do not decode cleanly; probing them could corrupt the program. */
export class DisassemblyError extends Error {
  constructor(path: string, symbol: string, message: string) {
    super(`${path}: ${symbol}: ${message}`);
    this.name = 'DisassemblyError';
  }
}

async function functionNamed(elf: ElfFile, symbol: string): Promise<GoFunction> {
  const fn = (await findGoFunctions(elf, [symbol])).get(symbol);
  if (!fn) throw new SymbolNotFoundError(elf.path, symbol);
  return fn;
}

/** The function's bytes and the file offset of its first byte. */
async function readFunctionCode(elf: ElfFile, fn: GoFunction): Promise<{ bytes: Buffer; fileOffset: number }> {
  const fileOffset = elf.symbolFileOffset(fn.address);
  // The whole range must sit in the executable segment, not only its first byte.
  elf.symbolFileOffset(fn.address + fn.size - 1);
  const bytes = await elf.read(fileOffset, fn.size, `code of ${fn.name}`);
  return { bytes, fileOffset };
}

function withBinary<T>(binary: ElfFile | string, fn: (elf: ElfFile) => Promise<T>): Promise<T> {
  return typeof binary === 'string' ? withElfFile(binary, fn) : fn(binary);
}

/** File offsets of every RET in `symbol`, decoding exactly its `[value, value+size)`. */
export function returnOffsets(binary: ElfFile | string, symbol: string): Promise<number[]> {
  return withBinary(binary, async (elf) => functionReturnOffsets(elf, await functionNamed(elf, symbol)));
}

/** Where an entry probe on `symbol` costs least while seeing the arguments intact. */
export function entryProbeOffset(binary: ElfFile | string, symbol: string): Promise<EntryProbe> {
  return withBinary(binary, async (elf) => functionEntryProbe(elf, await functionNamed(elf, symbol)));
}

/** `returnOffsets` for a function already looked up (saves a symbol-table scan per call). */
export async function functionReturnOffsets(elf: ElfFile, fn: GoFunction): Promise<number[]> {
  const { bytes, fileOffset } = await readFunctionCode(elf, fn);
  const addrs = returnAddresses(elf, fn.name, bytes, fn.address);
  if (addrs.length === 0) throw new DisassemblyError(elf.path, fn.name, 'no RET instruction');
  return addrs.map((a) => a - fn.address + fileOffset);
}

/** `entryProbeOffset` for a function already looked up. */
export async function functionEntryProbe(elf: ElfFile, fn: GoFunction): Promise<EntryProbe> {
  if (elf.machine !== EM_X86_64 && elf.machine !== EM_AARCH64) {
    throw new DisassemblyError(elf.path, fn.name, `unsupported machine ${elf.machine}`);
  }
  const { bytes, fileOffset } = await readFunctionCode(elf, fn);
  // arm64: +0. Its prologue branch (b.ls) is also emulated by the kernel, but the flag test
  // the BPF side would need there (C clear or Z set) is neither implemented nor measured.
  const jbe = elf.machine === EM_X86_64 ? x86StackCheckJbe(bytes, fn.address, fn.size) : undefined;
  const address = jbe ?? fn.address;
  return {
    symbol: fn.name,
    address,
    fileOffset: address - fn.address + fileOffset,
    kind: jbe === undefined ? 'function-entry' : 'stack-check-jbe',
  };
}

/**
 * The `call`s of `callee` in `fn` ('calls'), or the instruction after each ('after-calls'):
 * link-time addresses and file offsets. x86-64 only (a direct `call rel32`); throws when there
 * is none, since a probe set that cannot see its event must not attach half-blind.
 */
export async function functionCallSites(
  elf: ElfFile,
  fn: GoFunction,
  callee: GoFunction,
  at: 'calls' | 'after-calls',
): Promise<{ addresses: number[]; fileOffsets: number[] }> {
  if (elf.machine !== EM_X86_64) throw new DisassemblyError(elf.path, fn.name, `call sites are found on x86-64 only (machine ${elf.machine})`);
  const { bytes, fileOffset } = await readFunctionCode(elf, fn);
  const sites = x86CallSites(bytes, fn.address, callee.address, (a) => {
    throw new DisassemblyError(elf.path, fn.name, `undecodable instruction at 0x${a.toString(16)}`);
  });
  if (sites.length === 0) throw new DisassemblyError(elf.path, fn.name, `no call of ${callee.name}`);
  const addresses = sites.map((s) => (at === 'calls' ? s.call : s.next));
  return { addresses, fileOffsets: addresses.map((a) => a - fn.address + fileOffset) };
}

/** Direct calls of `target` in x86-64 `code` loaded at `address`: each call's address and the next instruction's. */
export function x86CallSites(code: Uint8Array, address: number, target: number, onInvalid: (address: number) => never): { call: number; next: number }[] {
  const decoder = new Decoder(64, code, DecoderOptions.None);
  const instr = new Instruction();
  try {
    decoder.ip = BigInt(address);
    const out: { call: number; next: number }[] = [];
    while (decoder.canDecode) {
      decoder.decodeOut(instr);
      if (instr.code === Code.INVALID) onInvalid(Number(instr.ip));
      if (instr.mnemonic === Mnemonic.Call && instr.opKind(0) === OpKind.NearBranch64 && instr.nearBranchTarget === BigInt(target)) {
        out.push({ call: Number(instr.ip), next: Number(instr.nextIP) });
      }
    }
    return out;
  } finally {
    instr.free();
    decoder.free();
  }
}

function returnAddresses(elf: ElfFile, symbol: string, bytes: Uint8Array, address: number): number[] {
  switch (elf.machine) {
    case EM_X86_64:
      return x86ReturnAddresses(bytes, address, (at) => {
        throw new DisassemblyError(elf.path, symbol, `undecodable instruction at 0x${at.toString(16)}`);
      });
    case EM_AARCH64:
      return arm64ReturnAddresses(bytes, address);
    default:
      throw new DisassemblyError(elf.path, symbol, `unsupported machine ${elf.machine}`);
  }
}

/** Addresses of RET instructions in x86-64 `code` loaded at `address`. */
export function x86ReturnAddresses(code: Uint8Array, address: number, onInvalid: (address: number) => never): number[] {
  const decoder = new Decoder(64, code, DecoderOptions.None);
  const instr = new Instruction();
  try {
    decoder.ip = BigInt(address);
    const rets: number[] = [];
    while (decoder.canDecode) {
      decoder.decodeOut(instr);
      if (instr.code === Code.INVALID) onInvalid(Number(instr.ip));
      if (instr.mnemonic === Mnemonic.Ret) rets.push(Number(instr.ip));
    }
    return rets;
  } finally {
    instr.free();
    decoder.free();
  }
}

/** Any `RET Xn` (Go uses X30): 1101011 0010 11111 000000 Rn 00000. */
const ARM64_RET_MASK = 0xfffffc1f;
const ARM64_RET = 0xd65f0000;

/** Addresses of RET instructions in arm64 `code` loaded at `address` (4-byte aligned). */
export function arm64ReturnAddresses(code: Uint8Array, address: number): number[] {
  const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
  const rets: number[] = [];
  for (let o = 0; o + 4 <= code.byteLength; o += 4) {
    if ((view.getUint32(o, true) & ARM64_RET_MASK) >>> 0 === ARM64_RET) rets.push(address + o);
  }
  return rets;
}

/** How many leading instructions may precede the `jbe` (the longest prologue has four). */
const PROLOGUE_SCAN = 6;
/** g.stackguard0 is the third word of runtime.g. */
const STACKGUARD0_OFFSET = 16n;

/**
 * The address of the `jbe` in Go's amd64 stack-check prologue (cmd/internal/obj/x86
 * stacksplit), or undefined when the function has none (NOSPLIT). The three shapes:
 *
 *     cmp rsp, [r14+0x10]; jbe morestack                          (small frames)
 *     lea r12, [rsp-N]; cmp r12, [r14+0x10]; jbe morestack        (frames up to 4 KB)
 *     mov r12, rsp; sub r12, N; jb morestack; cmp r12, [r14+0x10]; jbe morestack
 *
 * The jbe must jump forward inside the function (to the morestack call at its end).
 */
export function x86StackCheckJbe(code: Uint8Array, address: number, size: number): number | undefined {
  const decoder = new Decoder(64, code.subarray(0, Math.min(code.length, 64)), DecoderOptions.None);
  decoder.ip = BigInt(address);
  const ins: InstanceType<typeof Instruction>[] = [];
  try {
    while (decoder.canDecode && ins.length < PROLOGUE_SCAN) ins.push(decoder.decode());
    const inFunction = (target: bigint): boolean => target > BigInt(address) && target < BigInt(address + size);
    let i = 0;
    let tmp: number = Register.RSP;
    const first = ins[0];
    if (!first) return undefined;
    if (
      first.mnemonic === Mnemonic.Lea &&
      first.opKind(0) === OpKind.Register &&
      first.memoryBase === Register.RSP &&
      first.memoryIndex === Register.None
    ) {
      tmp = first.op0Register;
      i = 1;
    } else if (
      first.mnemonic === Mnemonic.Mov &&
      first.opCount === 2 &&
      first.opKind(0) === OpKind.Register &&
      first.opKind(1) === OpKind.Register &&
      first.op1Register === Register.RSP
    ) {
      tmp = first.op0Register;
      const sub = ins[1];
      const jb = ins[2];
      if (!sub || sub.mnemonic !== Mnemonic.Sub || sub.opKind(0) !== OpKind.Register || sub.op0Register !== tmp) return undefined;
      if (!jb || jb.mnemonic !== Mnemonic.Jb || !inFunction(jb.nearBranchTarget)) return undefined;
      i = 3;
    }
    const cmp = ins[i];
    const jbe = ins[i + 1];
    if (
      !cmp ||
      cmp.mnemonic !== Mnemonic.Cmp ||
      cmp.opCount !== 2 ||
      cmp.opKind(0) !== OpKind.Register ||
      cmp.op0Register !== tmp ||
      cmp.opKind(1) !== OpKind.Memory ||
      cmp.memoryBase !== Register.R14 ||
      cmp.memoryIndex !== Register.None ||
      cmp.memoryDisplacement !== STACKGUARD0_OFFSET
    ) {
      return undefined;
    }
    if (!jbe || jbe.mnemonic !== Mnemonic.Jbe || !inFunction(jbe.nearBranchTarget)) return undefined;
    return Number(jbe.ip);
  } finally {
    for (const x of ins) x.free();
    decoder.free();
  }
}
