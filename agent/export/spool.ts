// The on-disk spool between collectors and the shipper: a batch is on disk (gzip, fsynced,
// renamed into place) before anyone tries to send it, and leaves only when the gateway has it
// (remove), refused it for good (reject), or a bound pushed it out — and every drop is counted.
//
// Layout of `dir`:
//   <seq>-<createdMs>.pb.gz   a spooled batch; <seq> (12 digits) orders batches and survives
//                             restarts (the next seq continues after the highest one seen)
//   .tmp-*                    a batch being written; one found at start-up is a crash leftover
//   rejected/                 batches the gateway refused as bad input (+ <id>.json why), bounded
//   corrupt/                  files that were not readable batches, bounded
//   .lock                     the owning process (dir-lock.ts): one spool, one agent
//
// Batches hold what services did (routes, peers, errors): directories are created 0700 and
// files 0600, whatever the umask.

import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockDirectory, type DirectoryLock } from './dir-lock.ts';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

const BATCH_NAME = /^(\d{12})-(\d+)\.pb\.gz$/;
const TEMP_PREFIX = '.tmp-';
const GZIP_MAGIC = [0x1f, 0x8b];
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const REJECTED_DIR = 'rejected';
const CORRUPT_DIR = 'corrupt';

export interface SpoolOptions {
  /** Bound on the compressed bytes of all spooled batches; the oldest go first. */
  maxBytes: number;
  /** Batches older than this are dropped (and counted) rather than sent late. */
  maxAgeMs: number;
  /** How many batches rejected/ and corrupt/ each keep for inspection (oldest deleted). Default 20. */
  maxQuarantined?: number;
  /** The clock (ms since the epoch); injectable so age bounds can be tested without waiting. */
  now?: () => number;
  /** Where a corrupt file is reported (once per file). Default: stderr. */
  log?: (line: string) => void;
}

export interface SpoolEntry {
  id: string;
  /** Compressed size on disk. */
  bytes: number;
  createdMs: number;
}

export interface SpoolStats {
  batches: number;
  bytes: number;
  /** Batches dropped by either bound (size or age), and their compressed bytes. */
  droppedBatches: number;
  droppedBytes: number;
  /** The part of droppedBatches that the age bound dropped. */
  droppedForAge: number;
  droppedBytesForAge: number;
  /** The part of droppedBatches dropped because the disk was full (ENOSPC/EDQUOT) to make room for a newer batch. */
  droppedForDiskFull: number;
  droppedBytesForDiskFull: number;
  /** Files that were not readable batches (bad gzip, partial writes), quarantined or deleted. */
  corrupt: number;
  corruptBytes: number;
  /** Batches moved to rejected/. */
  rejected: number;
  /** put() calls that failed to write (disk full, permissions); the batch is lost and this counts it. */
  writeErrors: number;
}

export interface RejectionInfo {
  status: number;
  message: string;
}

type Listener = () => void;

export class Spool {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly maxQuarantined: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly entries = new Map<string, SpoolEntry & { seq: number }>();
  private totalBytes = 0;
  /** Bytes of puts in progress, counted against the bound before they land. */
  private reservedBytes = 0;
  private nextSeq = 1;
  private readonly counters = {
    droppedBatches: 0,
    droppedBytes: 0,
    droppedForAge: 0,
    droppedBytesForAge: 0,
    droppedForDiskFull: 0,
    droppedBytesForDiskFull: 0,
    corrupt: 0,
    corruptBytes: 0,
    rejected: 0,
    writeErrors: 0,
  };
  private readonly listeners = new Set<Listener>();
  /** Set while puts need drops to fit on the disk: the condition is logged once, not per batch. */
  private diskFull = false;
  private readonly lock: DirectoryLock;

  /**
   * Opens (creating if needed) the spool in `dir` and takes over whatever a previous run left.
   * Throws DirectoryLockedError while another live process has it open: recovery deletes
   * unfinished temp files, which in a shared directory would be the other agent's batches.
   */
  constructor(dir: string, options: SpoolOptions) {
    if (!(options.maxBytes > 0)) throw new RangeError(`spool maxBytes must be > 0, got ${options.maxBytes}`);
    if (!(options.maxAgeMs > 0)) throw new RangeError(`spool maxAgeMs must be > 0, got ${options.maxAgeMs}`);
    const maxQuarantined = options.maxQuarantined ?? 20;
    if (!Number.isInteger(maxQuarantined) || maxQuarantined < 0) {
      throw new RangeError(`spool maxQuarantined must be a non-negative integer, got ${maxQuarantined}`);
    }
    this.dir = dir;
    this.maxBytes = options.maxBytes;
    this.maxAgeMs = options.maxAgeMs;
    this.maxQuarantined = maxQuarantined;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => console.error(`[burnwatch agent] ${line}`));
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    this.lock = lockDirectory(dir);
    try {
      mkdirSync(join(dir, REJECTED_DIR), { recursive: true, mode: DIR_MODE });
      mkdirSync(join(dir, CORRUPT_DIR), { recursive: true, mode: DIR_MODE });
      this.recover();
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  /** Gives the directory up for another process; what is spooled stays for the next run. */
  close(): void {
    this.lock.release();
  }

  /** Called after every successful put (the shipper wakes up on it). Returns an unsubscribe. */
  onPut(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Compresses and durably stores one encoded OTLP request; resolves with its id once the batch is
   * on disk. Older batches are dropped to make room. A batch that alone exceeds maxBytes cannot be
   * kept: it is counted as dropped and null is returned. A write failure is counted and rethrown.
   */
  async put(request: Uint8Array): Promise<string | null> {
    const gz = await gzipAsync(request);
    if (gz.length > this.maxBytes) {
      this.countDrop(gz.length, false);
      return null;
    }
    this.reservedBytes += gz.length;
    try {
      await this.dropExpired();
      await this.dropOldestUntilFits();
      const seq = this.nextSeq++;
      const createdMs = Math.floor(this.now());
      const id = `${String(seq).padStart(12, '0')}-${createdMs}`;
      await this.writeMakingRoom(fileName(id), gz);
      this.entries.set(id, { id, seq, bytes: gz.length, createdMs });
      this.totalBytes += gz.length;
      for (const l of this.listeners) l();
      return id;
    } catch (err) {
      this.counters.writeErrors++;
      throw new Error(`spool ${this.dir}: cannot store a batch of ${gz.length} bytes: ${(err as Error).message}`, { cause: err });
    } finally {
      this.reservedBytes -= gz.length;
    }
  }

  /** Spooled batches, oldest first, after dropping those past the age bound. */
  async list(): Promise<SpoolEntry[]> {
    await this.dropExpired();
    return this.ordered().map(({ id, bytes, createdMs }) => ({ id, bytes, createdMs }));
  }

  /**
   * The batch's gzip bytes, exactly as they go on the wire, after checking they decompress.
   * Undefined when the batch is gone (sent, dropped) or was corrupt (then it is quarantined).
   */
  async read(id: string): Promise<Uint8Array | undefined> {
    if (!this.entries.has(id)) return undefined;
    let gz: Buffer;
    try {
      gz = await readFile(join(this.dir, fileName(id)));
    } catch (err) {
      if (isNotFound(err)) {
        this.forget(id);
        return undefined;
      }
      throw err;
    }
    try {
      await gunzipAsync(gz);
    } catch (err) {
      await this.quarantineCorrupt(fileName(id), gz.length, `gzip: ${(err as Error).message}`);
      this.forget(id);
      return undefined;
    }
    return gz;
  }

  /** Deletes a delivered batch. Removing a batch that is already gone is not an error. */
  async remove(id: string): Promise<void> {
    if (!this.forget(id)) return;
    await unlinkIfPresent(join(this.dir, fileName(id)));
  }

  /** Moves a batch the gateway refused as bad input to rejected/, with why, keeping the newest few. */
  async reject(id: string, info: RejectionInfo): Promise<void> {
    if (!this.forget(id)) return;
    const target = join(this.dir, REJECTED_DIR);
    if (this.maxQuarantined === 0) {
      await unlinkIfPresent(join(this.dir, fileName(id)));
    } else {
      try {
        await rename(join(this.dir, fileName(id)), join(target, fileName(id)));
        await writeFile(join(target, `${id}.json`), JSON.stringify({ ...info, rejectedAt: new Date(this.now()).toISOString() }) + '\n', { mode: FILE_MODE });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.trimQuarantine(target);
    }
    this.counters.rejected++;
  }

  stats(): SpoolStats {
    return { batches: this.entries.size, bytes: this.totalBytes, ...this.counters };
  }

  private ordered() {
    return [...this.entries.values()].sort((a, b) => a.seq - b.seq);
  }

  private forget(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    this.entries.delete(id);
    this.totalBytes -= e.bytes;
    return true;
  }

  private countDrop(bytes: number, forAge: boolean): void {
    this.counters.droppedBatches++;
    this.counters.droppedBytes += bytes;
    if (forAge) {
      this.counters.droppedForAge++;
      this.counters.droppedBytesForAge += bytes;
    }
  }

  private async dropExpired(): Promise<void> {
    const cutoff = this.now() - this.maxAgeMs;
    // Not a prefix scan: a clock stepped back can make an older seq look younger.
    for (const e of this.ordered()) {
      if (e.createdMs <= cutoff) await this.drop(e.id, true);
    }
  }

  private async dropOldestUntilFits(): Promise<void> {
    for (const e of this.ordered()) {
      if (this.totalBytes + this.reservedBytes <= this.maxBytes) break;
      await this.drop(e.id, false);
    }
  }

  private async drop(id: string, forAge: boolean): Promise<void> {
    const e = this.entries.get(id);
    if (!e || !this.forget(id)) return;
    this.countDrop(e.bytes, forAge);
    await unlinkIfPresent(join(this.dir, fileName(id)));
  }

  /**
   * Writes a batch; when the disk is full (ENOSPC, EDQUOT) drops the oldest batch and tries again,
   * as the size bound does: the newest data is worth more than the oldest, and a full disk must
   * not turn into losing every new interval. Each such drop is counted. With nothing left to
   * drop, the error stands.
   */
  private async writeMakingRoom(name: string, gz: Uint8Array): Promise<void> {
    for (let dropped = 0; ; dropped++) {
      try {
        await this.writeDurably(name, gz);
        if (dropped === 0) this.diskFull = false;
        return;
      } catch (err) {
        const oldest = this.ordered()[0];
        if (!isDiskFull(err) || !oldest || !this.forget(oldest.id)) throw err;
        if (!this.diskFull) this.log(`spool ${this.dir}: disk full (${(err as Error).message}); dropping the oldest batches to keep the newest, counted as disk_full`);
        this.diskFull = true;
        this.countDrop(oldest.bytes, false);
        this.counters.droppedForDiskFull++;
        this.counters.droppedBytesForDiskFull += oldest.bytes;
        await unlinkIfPresent(join(this.dir, fileName(oldest.id)));
      }
    }
  }

  private async writeDurably(name: string, data: Uint8Array): Promise<void> {
    const temp = join(this.dir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(temp, 'wx', FILE_MODE);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, join(this.dir, name));
    } catch (err) {
      await unlinkIfPresent(temp).catch(() => {});
      throw err;
    }
    // The rename is durable only once the directory entry is.
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /**
   * Start-up: adopt the batches a previous run left, continue its sequence, and set aside whatever
   * is not a batch. Cheap checks only (name, size, gzip magic); the full check happens at read().
   */
  private recover(): void {
    let maxSeq = 0;
    for (const sub of [REJECTED_DIR, CORRUPT_DIR]) {
      for (const name of readdirSync(join(this.dir, sub))) {
        const m = BATCH_NAME.exec(name) ?? /^(\d{12})-\d+\.json$/.exec(name);
        if (m) maxSeq = Math.max(maxSeq, Number(m[1]));
      }
    }
    for (const dirent of readdirSync(this.dir, { withFileTypes: true })) {
      const name = dirent.name;
      const path = join(this.dir, name);
      if (!dirent.isFile()) continue; // rejected/, corrupt/
      if (name.startsWith(TEMP_PREFIX)) {
        // A put that never returned: its caller was not told the batch was stored.
        const size = safeSize(path);
        unlinkSync(path);
        this.countCorrupt(name, size, 'a write that never finished');
        continue;
      }
      const m = BATCH_NAME.exec(name);
      if (!m) continue; // not ours: leave it alone
      const seq = Number(m[1]);
      maxSeq = Math.max(maxSeq, seq);
      const size = safeSize(path);
      if (size < GZIP_MAGIC.length || !hasGzipMagic(path)) {
        this.countCorrupt(name, size, size === 0 ? 'empty' : 'not gzip');
        if (this.maxQuarantined === 0) unlinkSync(path);
        else renameSync(path, join(this.dir, CORRUPT_DIR, name));
        continue;
      }
      const id = name.slice(0, -'.pb.gz'.length);
      this.entries.set(id, { id, seq, bytes: size, createdMs: Number(m[2]) });
      this.totalBytes += size;
    }
    this.nextSeq = maxSeq + 1;
    this.trimQuarantine(join(this.dir, CORRUPT_DIR));
  }

  private countCorrupt(name: string, size: number, why: string): void {
    this.counters.corrupt++;
    this.counters.corruptBytes += size;
    this.log(`spool: ${name} (${size} bytes) is not a readable batch (${why}); set aside, not sent`);
  }

  private async quarantineCorrupt(name: string, size: number, why: string): Promise<void> {
    this.countCorrupt(name, size, why);
    try {
      if (this.maxQuarantined === 0) await unlinkIfPresent(join(this.dir, name));
      else await rename(join(this.dir, name), join(this.dir, CORRUPT_DIR, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.trimQuarantine(join(this.dir, CORRUPT_DIR));
  }

  /**
   * Keeps the newest maxQuarantined batches (by seq) in a quarantine directory. Synchronous: it
   * runs at start-up too, and the directory holds a few dozen names at most.
   */
  private trimQuarantine(dir: string): void {
    const names = readdirSync(dir);
    const ids = [...new Set(names.map((n) => /^(\d{12}-\d+)\./.exec(n)?.[1]).filter((x): x is string => !!x))].sort();
    const excess = ids.slice(0, Math.max(0, ids.length - this.maxQuarantined));
    const doomed = new Set(excess);
    for (const n of names) {
      const id = /^(\d{12}-\d+)\./.exec(n)?.[1];
      if (id && doomed.has(id)) unlinkSync(join(dir, n));
    }
  }
}

function fileName(id: string): string {
  return `${id}.pb.gz`;
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function safeSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function hasGzipMagic(path: string): boolean {
  const head = Buffer.alloc(GZIP_MAGIC.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
}
