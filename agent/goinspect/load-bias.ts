/**
 * Where a process's executable was loaded, so link-time addresses of data (itabs, variables
 * such as `runtime.allgs`) become run-time ones. An ET_EXEC binary runs at its link
 * addresses (bias 0); a PIE (ET_DYN: `-buildmode=pie`, some distributions' default) is
 * placed by the kernel at a random base, read from /proc/PID/maps. Uprobes need none of
 * this: they are attached by file offset.
 */
import { readFile, readlink, stat } from 'node:fs/promises';
import { PT_LOAD, type ElfProgramHeader } from './elf.ts';

const ET_EXEC = 2;
const ET_DYN = 3;

export interface MapsEntry {
  start: bigint;
  /** File offset of the mapping's first byte. */
  offset: bigint;
  inode: bigint;
  path: string;
}

/** The file-backed lines of /proc/PID/maps ("start-end perms offset dev inode path"). */
export function parseMaps(text: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-[0-9a-f]+\s+\S+\s+([0-9a-f]+)\s+\S+\s+(\d+)\s+(.*)$/.exec(line);
    if (!m || m[3] === '0') continue;
    out.push({ start: BigInt(`0x${m[1]}`), offset: BigInt(`0x${m[2]}`), inode: BigInt(m[3]), path: m[4] });
  }
  return out;
}

/**
 * The bias of an executable loaded as `mappings` show: the difference between the address
 * where a mapped file offset lies and the link-time address its PT_LOAD segment gives it.
 * Throws when no mapping of the file lies in a PT_LOAD segment (not this binary).
 */
export function biasFromMaps(elfType: number, programs: readonly ElfProgramHeader[], mappings: readonly MapsEntry[]): bigint {
  if (elfType === ET_EXEC) return 0n;
  if (elfType !== ET_DYN) throw new Error(`ELF type ${elfType} is neither an executable nor a PIE`);
  for (const m of [...mappings].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))) {
    for (const p of programs) {
      if (p.type !== PT_LOAD) continue;
      const from = BigInt(p.offset);
      if (m.offset < from || m.offset >= from + BigInt(Math.max(p.filesz, 1))) continue;
      // The kernel maps page-aligned: file offset `m.offset` sits at link address
      // p_vaddr + (m.offset - p_offset), which it placed at m.start.
      return m.start - (BigInt(p.vaddr) + (m.offset - from));
    }
  }
  throw new Error('no mapping of the executable lies in one of its PT_LOAD segments');
}

/**
 * The load bias of process `pid`'s executable (0 for an ET_EXEC). Its mappings are told
 * apart from other files' by the executable's inode and path.
 */
export async function processLoadBias(pid: number, elf: { type: number; programs: readonly ElfProgramHeader[] }): Promise<bigint> {
  if (elf.type === ET_EXEC) return 0n;
  const exe = `/proc/${pid}/exe`;
  const [target, st, maps] = await Promise.all([readlink(exe), stat(exe, { bigint: true }), readFile(`/proc/${pid}/maps`, 'utf8')]);
  const own = parseMaps(maps).filter((m) => m.inode === st.ino && m.path === target);
  if (own.length === 0) throw new Error(`pid ${pid}: ${target} is not in /proc/${pid}/maps`);
  return biasFromMaps(elf.type, elf.programs, own);
}
