// An exclusive, pid-checked lock on a directory: `<dir>/.lock` holds the owner's pid and start
// time (/proc/PID/stat field 22). A second process that wants the directory fails with the
// owner's pid; a lock whose owner is gone (killed with SIGKILL, crashed, the pid now someone
// else's) is stale and taken over, so a restart after `kill -9` is never blocked.
//
// Why a lock file and not flock(2): Node has no flock, and a pid in the file also tells the
// operator who holds the directory.

import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseProcStat } from '../discovery.ts';

export const LOCK_FILE = '.lock';

export class DirectoryLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly ownerPid: number,
  ) {
    super(`${dir} is in use by another process (pid ${ownerPid}${ownerPid === process.pid ? ', this one' : ''}): two agents must not share a spool directory — give each its own --spool-dir`);
    this.name = 'DirectoryLockedError';
  }
}

interface Owner {
  pid: number;
  /** Clock ticks since boot when the owner started: tells a reused pid apart. */
  start: number;
}

/** Directories this process holds: a second lock on one of them fails like one from another process. */
const held = new Set<string>();

export interface DirectoryLock {
  readonly path: string;
  /** Gives the directory up (idempotent); a lock another process took over meanwhile is left alone. */
  release(): void;
}

/** Takes `<dir>/.lock` (mode 0600) or throws DirectoryLockedError naming the live owner. */
export function lockDirectory(dir: string): DirectoryLock {
  const real = realpathSync(dir);
  const path = join(real, LOCK_FILE);
  const me: Owner = { pid: process.pid, start: startTimeOf(process.pid)! };
  const content = `${JSON.stringify(me)}\n`;
  if (held.has(real)) throw new DirectoryLockedError(dir, process.pid);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      held.add(real);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          held.delete(real);
          try {
            if (readFileSync(path, 'utf8') === content) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = readOwner(path);
    if (seen === undefined) continue; // released between our create and read: try again
    if (seen.owner && isAlive(seen.owner) && !(seen.owner.pid === process.pid && !held.has(real))) {
      throw new DirectoryLockedError(dir, seen.owner.pid);
    }
    takeOverStale(path, seen.text);
  }
  throw new Error(`${dir}: could not take ${LOCK_FILE} (other processes keep taking it)`);
}

/**
 * Removes a stale lock without ever removing a fresh one another process just wrote: move it
 * aside under a unique name, and put it back if it is not the stale one we judged.
 */
function takeOverStale(path: string, staleText: string): void {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let text = '';
  try {
    text = readFileSync(aside, 'utf8');
  } catch {
    // vanished: nothing to restore
  }
  if (text !== staleText) {
    try {
      linkSync(aside, path);
    } catch {
      // someone else holds it now: they win either way
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // already gone
  }
}

function readOwner(path: string): { text: string; owner?: Owner } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (Number.isSafeInteger(o.pid) && Number.isSafeInteger(o.start)) return { text, owner: { pid: o.pid!, start: o.start! } };
  } catch {
    // a lock cut short by a crash mid-write: stale
  }
  return { text };
}

function isAlive(owner: Owner): boolean {
  return startTimeOf(owner.pid) === owner.start;
}

function startTimeOf(pid: number): number | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime;
  } catch {
    return undefined; // gone
  }
}
