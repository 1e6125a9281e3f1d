// Live goroutines of a Go process, read from its memory (no probe).
import { closeSync, openSync, readSync } from 'node:fs';

/** runtime._Gidle and _Gdead: a g in allgs that is not a live goroutine. */
const G_IDLE = 0;
const G_DEAD = 6;
const MAX_GOROUTINES_READ = 200_000;

/**
 * Live goroutines of a process, read from its memory (no probe): `runtime.allgs` lists every
 * g ever made; those not idle or dead are live. The status word is read under the running
 * program, so a goroutine changing state at that instant may be miscounted by one.
 */
export function countGoroutines(pid: number, allgs: bigint, statusOffset: number): number | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = Buffer.alloc(16);
    readSync(fd, header, 0, 16, Number(allgs));
    const ptr = header.readBigUInt64LE(0);
    const len = Number(header.readBigUInt64LE(8));
    if (!ptr || len <= 0 || len > MAX_GOROUTINES_READ) return undefined;
    const gs = Buffer.alloc(len * 8);
    readSync(fd, gs, 0, gs.length, Number(ptr));
    // One pread of 4 bytes per g (a few µs each, synchronous: 10k goroutines ≈ 20 ms).
    const status = Buffer.alloc(4);
    let live = 0;
    for (let i = 0; i < len; i++) {
      const g = gs.readBigUInt64LE(i * 8);
      if (!g || readSync(fd, status, 0, 4, Number(g) + statusOffset) !== 4) continue;
      const st = status.readUInt32LE(0) & ~0x1000; // without the _Gscan bit
      if (st !== G_IDLE && st !== G_DEAD) live++;
    }
    return live;
  } catch {
    return undefined; // the process exited meanwhile
  } finally {
    closeSync(fd);
  }
}
