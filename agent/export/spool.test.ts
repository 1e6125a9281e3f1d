import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Spool } from './spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'burnwatch-spool-'));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Incompressible payload of exactly n random-ish bytes, so compressed sizes are predictable. */
function payload(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const batchFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.pb.gz')).sort();

test('put stores gzip on disk before returning; list is oldest first; read returns the wire bytes; remove deletes', async () => {
  const dir = tempDir();
  const spool = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
  const inputs = [payload(100, 1), payload(200, 2), payload(300, 3)];
  const ids: string[] = [];
  for (const p of inputs) {
    const id = await spool.put(p);
    assert.ok(id);
    ids.push(id);
    // Durable before put resolved: the file is in place and holds the whole batch.
    assert.deepEqual(new Uint8Array(gunzipSync(readFileSync(join(dir, `${id}.pb.gz`)))), p);
  }
  assert.deepEqual((await spool.list()).map((e) => e.id), ids);
  assert.deepEqual(new Uint8Array(gunzipSync((await spool.read(ids[1]))!)), inputs[1]);
  const onDisk = batchFiles(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  assert.equal(spool.stats().bytes, onDisk);
  assert.equal(spool.stats().batches, 3);

  await spool.remove(ids[0]);
  await spool.remove(ids[0]); // idempotent
  assert.deepEqual((await spool.list()).map((e) => e.id), ids.slice(1));
  assert.equal(await spool.read(ids[0]), undefined);
  assert.equal(batchFiles(dir).length, 2);
  assert.ok(!readdirSync(dir).some((n) => n.startsWith('.tmp-')), 'no temp files left behind');
});

test('the size bound drops the oldest batches first and counts them', async () => {
  const dir = tempDir();
  const size = gzipSync(payload(1000, 0)).length; // ≈1020 bytes; payloads of equal length compress alike
  const spool = new Spool(dir, { maxBytes: size * 3 + 10, maxAgeMs: 60_000 });
  const ids: (string | null)[] = [];
  for (let i = 0; i < 5; i++) ids.push(await spool.put(payload(1000, i)));
  const left = (await spool.list()).map((e) => e.id);
  assert.deepEqual(left, ids.slice(2), 'the two oldest were dropped');
  const s = spool.stats();
  assert.equal(s.batches, 3);
  assert.ok(s.bytes <= size * 3 + 10);
  assert.equal(s.droppedBatches, 2);
  assert.equal(s.droppedBytes, 2 * size);
  assert.equal(s.droppedForAge, 0);
  assert.equal(batchFiles(dir).length, 3);

  // A batch larger than the whole bound cannot be kept: counted, nothing else evicted for it.
  assert.equal(await spool.put(payload(size * 4, 9)), null);
  assert.equal(spool.stats().droppedBatches, 3);
  assert.deepEqual((await spool.list()).map((e) => e.id), left);
});

test('the age bound drops batches older than maxAgeMs and counts them apart', async () => {
  const dir = tempDir();
  let clock = 1_700_000_000_000;
  const spool = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000, now: () => clock });
  const old1 = await spool.put(payload(10, 1));
  clock += 30_000;
  const old2 = await spool.put(payload(10, 2));
  clock += 20_000;
  const young = await spool.put(payload(10, 3));
  assert.equal((await spool.list()).length, 3);
  clock += 15_000; // old1 is 65 s old, old2 35 s, young 15 s
  assert.deepEqual((await spool.list()).map((e) => e.id), [old2, young]);
  clock += 30_000;
  assert.deepEqual((await spool.list()).map((e) => e.id), [young]);
  const s = spool.stats();
  assert.equal(s.droppedBatches, 2);
  assert.equal(s.droppedForAge, 2);
  assert.equal(s.droppedBytesForAge, s.droppedBytes);
  assert.ok(!existsSync(join(dir, `${old1}.pb.gz`)));
});

test('a new Spool on the same directory picks up the batches, their order and the sequence', async () => {
  const dir = tempDir();
  const first = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
  const a = await first.put(payload(50, 1));
  const b = await first.put(payload(60, 2));
  await first.remove(a!);
  const c = await first.put(payload(70, 3));
  first.close(); // the previous run ends

  const second = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
  assert.deepEqual((await second.list()).map((e) => e.id), [b, c]);
  assert.equal(second.stats().bytes, first.stats().bytes);
  const d = await second.put(payload(80, 4));
  assert.deepEqual((await second.list()).map((e) => e.id), [b, c, d], 'new batches sort after the old ones');
  assert.deepEqual(new Uint8Array(gunzipSync((await second.read(c!))!)), payload(70, 3));
});

test('corrupt, empty and partial files are set aside and counted, never fatal', async () => {
  const dir = tempDir();
  const first = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 3_600_000 });
  const good = await first.put(payload(100, 1));
  const truncated = await first.put(payload(5000, 2));
  const garbage = await first.put(payload(100, 3));
  const empty = await first.put(payload(100, 4));
  const last = await first.put(payload(100, 5));
  const path = (id: string | null) => join(dir, `${id}.pb.gz`);
  const full = readFileSync(path(truncated));
  writeFileSync(path(truncated), full.subarray(0, full.length >> 1)); // valid magic, cut short
  writeFileSync(path(garbage), 'not a gzip stream at all');
  writeFileSync(path(empty), '');
  writeFileSync(join(dir, '.tmp-deadbeef'), 'half a batch'); // a put that crashed mid-write
  writeFileSync(join(dir, 'README'), 'not ours'); // foreign files are left alone
  first.close();

  const logs: string[] = [];
  const spool = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 3_600_000, log: (l) => logs.push(l) });
  // Cheap start-up checks catch the garbage, the empty file and the temp file.
  assert.equal(spool.stats().corrupt, 3);
  assert.equal(logs.length, 3, 'each one is reported once');
  assert.ok(logs.some((l) => l.includes(`${garbage}.pb.gz`) && l.includes('not gzip')));
  assert.ok(logs.some((l) => l.includes('.tmp-deadbeef') && l.includes('never finished')));
  assert.deepEqual((await spool.list()).map((e) => e.id), [good, truncated, last]);
  assert.ok(existsSync(join(dir, 'corrupt', `${garbage}.pb.gz`)));
  assert.ok(existsSync(join(dir, 'corrupt', `${empty}.pb.gz`)));
  assert.ok(!existsSync(join(dir, '.tmp-deadbeef')));
  assert.ok(existsSync(join(dir, 'README')));

  // The truncated one passes the magic check and is caught when read, before it could be sent.
  assert.equal(await spool.read(truncated!), undefined);
  assert.equal(spool.stats().corrupt, 4);
  assert.match(logs[3], /gzip: unexpected end of file/);
  assert.ok(existsSync(join(dir, 'corrupt', `${truncated}.pb.gz`)));
  assert.deepEqual((await spool.list()).map((e) => e.id), [good, last]);
  assert.ok(await spool.read(good!));
  assert.equal(spool.stats().bytes, statSync(path(good)).size + statSync(path(last)).size);
});

test('rejected batches move to rejected/ with the reason, and rejected/ stays bounded', async () => {
  const dir = tempDir();
  const spool = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000, maxQuarantined: 2 });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await spool.put(payload(20, i)))!);
  for (const id of ids.slice(0, 3)) await spool.reject(id, { status: 400, message: `bad batch ${id}` });
  assert.equal(spool.stats().rejected, 3);
  assert.deepEqual((await spool.list()).map((e) => e.id), [ids[3]]);
  const kept = readdirSync(join(dir, 'rejected')).sort();
  assert.deepEqual(kept, [`${ids[1]}.json`, `${ids[1]}.pb.gz`, `${ids[2]}.json`, `${ids[2]}.pb.gz`]);
  const why = JSON.parse(readFileSync(join(dir, 'rejected', `${ids[2]}.json`), 'utf8'));
  assert.equal(why.status, 400);
  assert.equal(why.message, `bad batch ${ids[2]}`);
  // A restart continues the sequence past the rejected ids too, so names never collide.
  await spool.remove(ids[3]);
  spool.close();
  const again = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
  const next = await again.put(payload(5, 5));
  assert.ok(next! > ids[3]);
});

test('onPut listeners hear about stored batches; bad options are refused by name', async () => {
  const spool = new Spool(tempDir(), { maxBytes: 1000, maxAgeMs: 1000 });
  let heard = 0;
  const off = spool.onPut(() => heard++);
  await spool.put(payload(1, 1));
  off();
  await spool.put(payload(1, 2));
  assert.equal(heard, 1);
  assert.throws(() => new Spool(tempDir(), { maxBytes: 0, maxAgeMs: 1 }), /maxBytes must be > 0/);
  assert.throws(() => new Spool(tempDir(), { maxBytes: 1, maxAgeMs: NaN }), /maxAgeMs must be > 0/);
});

test('directories are created 0700 and batch files 0600, whatever the umask', async () => {
  const dir = join(tempDir(), 'spool');
  const umask = process.umask(0);
  try {
    const spool = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
    const ids = [await spool.put(payload(50, 1)), await spool.put(payload(50, 2))];
    await spool.reject(ids[0]!, { status: 400, message: 'bad' });
    spool.close();
  } finally {
    process.umask(umask);
  }
  const walk = (d: string): string[] => [d, ...readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]))];
  const modes = walk(dir).map((p) => [p.slice(dir.length) || '/', (statSync(p).mode & 0o777).toString(8)]);
  assert.ok(modes.length >= 6, JSON.stringify(modes)); // the dir, rejected/ (batch + why), corrupt/, one batch
  for (const [p, mode] of modes) assert.equal(mode, statSync(join(dir, p)).isDirectory() ? '700' : '600', p);
});

test('one spool, one owner: a second Spool on the directory is refused until the first closes', async () => {
  const dir = tempDir();
  const first = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
  assert.throws(() => new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 }), (err: Error) => {
    assert.equal(err.name, 'DirectoryLockedError');
    assert.match(err.message, new RegExp(`is in use by another process \\(pid ${process.pid}, this one\\).*give each its own --spool-dir`));
    return true;
  });
  assert.ok(existsSync(join(dir, '.lock')));
  first.close();
  assert.ok(!existsSync(join(dir, '.lock')), 'closing gives the directory up');
  const second = new Spool(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 });
  second.close();
});
