import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProcStat } from '../discovery.ts';
import { DirectoryLockedError, LOCK_FILE, lockDirectory } from './dir-lock.ts';

const mounts: string[] = [];
after(() => mounts.forEach((m) => execFileSync('umount', [m])));

const tempDir = () => mkdtempSync(join(tmpdir(), 'bw-dir-lock-'));
const startOf = (pid: number) => parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))!.startTime;

/** The pid of a process that has exited (its lock is stale). */
function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

test('a lock whose owner lives is refused with its pid; one whose owner is gone, or that is garbage, is taken over', () => {
  const dir = tempDir();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, start: startOf(1) }));
  assert.throws(() => lockDirectory(dir), (err: Error) => err instanceof DirectoryLockedError && err.ownerPid === 1 && /in use by another process \(pid 1\)/.test(err.message));

  // pid 1 again, but with another start time: the pid was reused, the owner is gone.
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, start: startOf(1) + 1 }));
  lockDirectory(dir).release();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), start: 1 }));
  const lock = lockDirectory(dir);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')), { pid: process.pid, start: startOf(process.pid) });
  lock.release();
  writeFileSync(join(dir, LOCK_FILE), '{"pid": 12'); // cut short by a crash mid-write
  lockDirectory(dir).release();
  assert.deepEqual(readdirSync(dir), [], 'nothing left behind');
});

test('a stale lock is taken over on a full disk (the stale file makes the room)', () => {
  const dir = tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'bw-dir-lock-test', dir]);
  mounts.push(dir);
  writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify({ pid: deadPid(), start: 1 })}\n`);
  const fd = openSync(join(dir, 'filler'), 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(4096, 1));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  assert.throws(() => writeFileSync(join(dir, 'probe'), 'x'.repeat(8192)), /ENOSPC/);
  const lock = lockDirectory(dir);
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  lock.release();
});
