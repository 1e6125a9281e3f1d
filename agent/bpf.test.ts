// Real loads, attaches and map reads through the libbpf addon (needs root and a kernel
// with BTF). Test programs: bpf/loader_test.bpf.c; processes to observe: a small C
// helper compiled here, and the Go fixture for DWARF.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BpfError,
  BpfObject,
  MapType,
  RingBufferReader,
  dwarfMemberOffsets,
  possibleCpus,
} from './bpf.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OBJ = join(ROOT, 'bpf/build/loader_test.bpf.o');
const GO_FIXTURE = join(ROOT, 'test/fixtures/go/bin/httpserver');

// The helper waits for a line on stdin (so probes and filters can be set up for its
// pid first), then makes <getpids> getpid syscalls and <calls> calls to probed().
const HELPER_C = `
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
struct probe_layout { char a; long b; int c; };
struct probe_layout layout_for_dwarf;
__attribute__((noinline)) int probed(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) {
  char line[16];
  if (argc < 3 || !fgets(line, sizeof line, stdin)) return 2;
  int getpids = atoi(argv[1]), calls = atoi(argv[2]);
  for (int i = 0; i < getpids; i++) syscall(SYS_getpid);
  volatile int acc = 0;
  for (int i = 0; i < calls; i++) acc += probed(i);
  return 0;
}
`;

let work: string;
let helper: string;
let probedOffset: number;

/** File offset of a function symbol: its address mapped through the PT_LOAD headers. */
function symbolFileOffset(binary: string, symbol: string): number {
  const symLine = execFileSync('readelf', ['-sW', binary], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[3] === 'FUNC' && f[7] === symbol);
  assert.ok(symLine, `${symbol} not in ${binary}`);
  const addr = parseInt(symLine[1], 16);
  for (const line of execFileSync('readelf', ['-lW', binary], { encoding: 'utf8' }).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'LOAD') continue;
    const [offset, vaddr, , , memsz] = f.slice(1, 6).map((x) => parseInt(x, 16));
    if (addr >= vaddr && addr < vaddr + memsz) return addr - vaddr + offset;
  }
  throw new Error(`${symbol} at 0x${addr.toString(16)} is in no PT_LOAD segment`);
}

interface Helper {
  pid: number;
  /** Lets the helper run its loops and waits for it to exit cleanly. */
  go(): Promise<void>;
}

function startHelper(getpids: number, calls: number): Helper {
  const child = spawn(helper, [String(getpids), String(calls)], { stdio: ['pipe', 'ignore', 'inherit'] });
  assert.ok(child.pid, 'helper did not start');
  const exited = once(child, 'exit');
  return {
    pid: child.pid,
    async go() {
      child.stdin.end('go\n');
      const [code] = await exited;
      assert.equal(code, 0, 'helper exit code');
    },
  };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Sums a u64 counter over the per-CPU slots of one value. */
function sumPerCpu(value: Buffer): bigint {
  let sum = 0n;
  for (let off = 0; off < value.length; off += 8) sum += value.readBigUInt64LE(off);
  return sum;
}

/** Drained per-CPU u32 → u64 counters as pid → total. */
function countsByPid(drained: { keys: Buffer[]; values: Buffer[] }): Map<number, bigint> {
  const out = new Map<number, bigint>();
  drained.keys.forEach((k, i) => out.set(k.readUInt32LE(0), sumPerCpu(drained.values[i])));
  return out;
}

/** BPF objects, links and perf events this process holds open. */
function bpfFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (/^anon_inode:(bpf|btf|\[perf_event\])/.test(readlinkSync(`/proc/self/fd/${fd}`))) n++;
    } catch {
      // the fd of the directory listing itself is gone by now
    }
  }
  return n;
}

function assertBpfError(fn: () => unknown, code: string, message: RegExp): BpfError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof BpfError, `expected a BpfError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.errno > 0);
  assert.match(caught.message, message);
  return caught;
}

before(() => {
  execFileSync('bash', [join(ROOT, 'scripts/build-addon')], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('make', ['-s', '-C', join(ROOT, 'bpf'), 'build/loader_test.bpf.o'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync(GO_FIXTURE)) {
    execFileSync('go', ['build', '-o', '../bin/httpserver', '.'], {
      cwd: join(ROOT, 'test/fixtures/go/httpserver'),
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  work = mkdtempSync(join(tmpdir(), 'burnwatch-bpf-test-'));
  writeFileSync(join(work, 'helper.c'), HELPER_C);
  helper = join(work, 'helper');
  execFileSync('cc', ['-O1', '-g', '-o', helper, join(work, 'helper.c')]);
  probedOffset = symbolFileOffset(helper, 'probed');
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('BpfObject before load', () => {
  test('reuseMap: two objects share one kernel map; a map of an unloaded object, or a loaded target, is refused', () => {
    const a = BpfObject.open(OBJ);
    const b = BpfObject.open(OBJ);
    try {
      assert.throws(() => b.reuseMap('watched', a.map('watched')), /not loaded|loaded/);
      a.load();
      b.reuseMap('watched', a.map('watched'));
      b.load();
      const key = Buffer.alloc(4);
      key.writeUInt32LE(4242);
      a.map('watched').update(key, Buffer.from([7]));
      assert.deepEqual(b.map('watched').lookup(key), Buffer.from([7]));
      assert.equal(b.map('watched').delete(key), true);
      assert.equal(a.map('watched').lookup(key), undefined);
      assert.throws(() => a.reuseMap('watched', b.map('watched')), /before load/);
    } finally {
      b.close();
      a.close();
    }
  });

  test('setRodata values reach the kernel, for every value kind', () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.setRodata({
        magic: 0x1122334455667788n,
        increment: 4000000000,
        signed_knob: -12345,
        flag: true,
        tag: Buffer.from('burnwat\0'),
      });
      obj.load();
      const run = obj.program('read_config').testRun({ ctxIn: Buffer.alloc(40) });
      assert.equal(run.retval, 7);
      const out = run.ctxOut;
      assert.ok(out);
      assert.equal(out.readBigUInt64LE(0), 0x1122334455667788n);
      assert.equal(out.readUInt32LE(8), 4000000000);
      assert.equal(out.readInt32LE(12), -12345);
      assert.equal(out[16], 1);
      assert.equal(out.subarray(17, 25).toString('latin1'), 'burnwat\0');
      // The section map itself holds the same bytes, and is frozen after load.
      const rodata = obj.map('.rodata');
      const magic = Buffer.alloc(8);
      magic.writeBigUInt64LE(0x1122334455667788n);
      assert.ok(rodata.readValue().includes(magic));
      assertBpfError(() => rodata.writeValue(Buffer.alloc(rodata.valueSize)), 'EPERM', /\.rodata/);
    } finally {
      obj.close();
    }
  });

  test('setRodata rejects unknown names, wrong sizes and out-of-range values, naming the variable', () => {
    const obj = BpfObject.open(OBJ);
    try {
      assertBpfError(() => obj.setRodata({ no_such_knob: 1 }), 'ENOENT', /no_such_knob/);
      assertBpfError(() => obj.setRodata({ tag: Buffer.alloc(7) }), 'EINVAL', /'tag'.*7 bytes, must have 8/);
      assertBpfError(() => obj.setRodata({ increment: 2 ** 32 }), 'ERANGE', /'increment'/);
      assertBpfError(() => obj.setRodata({ increment: -1 }), 'ERANGE', /'increment'/);
      assertBpfError(() => obj.setRodata({ tag: 5 }), 'EINVAL', /'tag'.*Buffer/);
      // Nothing was written by a rejected call: a valid call after them still applies alone.
      obj.setRodata({ increment: 9 });
      obj.load();
      const out = obj.program('read_config').testRun({ ctxIn: Buffer.alloc(40) }).ctxOut;
      assert.equal(out?.readUInt32LE(8), 9);
      assert.equal(out?.readBigUInt64LE(0), 0n);
      assertBpfError(() => obj.setRodata({ increment: 1 }), 'EBUSY', /before load/);
      assertBpfError(() => obj.setMapMaxEntries('watched', 8), 'EBUSY', /before load/);
    } finally {
      obj.close();
    }
  });

  test('a verifier rejection is a BpfError with errno and the verifier log', () => {
    const obj = BpfObject.open(OBJ);
    obj.setAutoload('bad_prog', true);
    const err = assertBpfError(() => obj.load(), 'EACCES', /bad_prog/);
    assert.equal(err.errno, 13);
    assert.ok(err.verifierLog && err.verifierLog.length > 0, 'verifier log is empty');
    assert.match(err.verifierLog, /invalid mem access/);
    // A failed object is closed; using it is an error, closing again is not.
    assertBpfError(() => obj.map('watched').lookup(u32(1)), 'EBADF', /closed/);
    obj.close();
    obj.close();
  });

  test('names, map metadata and setMapMaxEntries', () => {
    const obj = BpfObject.open(OBJ);
    try {
      assert.deepEqual(
        [...obj.programs].sort(),
        ['bad_prog', 'count_getpid', 'count_uprobe', 'emit_events', 'exec_btf', 'exec_raw', 'read_config'],
      );
      for (const m of ['watched', 'getpid_counts', 'uprobe_hits', 'exec_counts', 'events', '.rodata']) {
        assert.ok(obj.maps.includes(m), `maps lacks ${m}: ${obj.maps.join(', ')}`);
      }
      obj.setMapMaxEntries('getpid_counts', 128);
      obj.load();
      const counts = obj.map('getpid_counts');
      assert.equal(counts.maxEntries, 128);
      assert.equal(counts.type, MapType.PERCPU_HASH);
      assert.equal(counts.perCpu, true);
      assert.equal(counts.keySize, 4);
      assert.equal(counts.valueSize, 8);
      assert.equal(obj.map('events').type, MapType.RINGBUF);
      assert.equal(obj.map('watched').perCpu, false);
      assertBpfError(() => obj.program('nope'), 'ENOENT', /nope.*count_getpid/);
      assertBpfError(() => obj.map('nope'), 'ENOENT', /nope.*watched/);
    } finally {
      obj.close();
    }
  });
});

describe('attach and drain', () => {
  let obj: BpfObject;
  before(() => {
    obj = BpfObject.open(OBJ);
    obj.setRodata({ increment: 3, parent_tgid: process.pid });
    obj.load();
  });
  after(() => obj.close());

  test('tracepoint counts drain exactly once from a per-CPU hash, and stop after detach', async () => {
    const link = obj.program('count_getpid').attachTracepoint('syscalls', 'sys_enter_getpid');
    assert.ok(existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events'));
    const counts = obj.map('getpid_counts');
    const watched = obj.map('watched');
    counts.drain(); // start from empty

    const a = startHelper(1000, 0);
    const b = startHelper(250, 0);
    watched.update(u32(a.pid), Buffer.from([1]));
    watched.update(u32(b.pid), Buffer.from([1]));
    await Promise.all([a.go(), b.go()]);

    const first = counts.drain();
    // Every value has one 8-byte slot per possible CPU.
    for (const v of first.values) assert.equal(v.length, 8 * possibleCpus());
    assert.deepEqual(
      countsByPid(first),
      new Map([
        [a.pid, 3000n],
        [b.pid, 750n],
      ]),
    );
    assert.deepEqual(counts.drain(), { keys: [], values: [] }, 'a second drain must find nothing');

    const c = startHelper(10, 0);
    watched.update(u32(c.pid), Buffer.from([1]));
    await c.go();
    assert.deepEqual(countsByPid(counts.drain()), new Map([[c.pid, 30n]]));

    link.detach();
    link.detach(); // idempotent
    const d = startHelper(100, 0);
    watched.update(u32(d.pid), Buffer.from([1]));
    await d.go();
    assert.deepEqual(counts.drain(), { keys: [], values: [] }, 'a detached tracepoint still counted');
  });

  test('uprobe at a file offset: the pid filter and the cookie hold', async () => {
    const prog = obj.program('count_uprobe');
    const hits = obj.map('uprobe_hits');
    const a = startHelper(0, 500);
    const b = startHelper(0, 300);
    const onlyA = prog.attachUprobe({ binaryPath: helper, fileOffset: probedOffset, pid: a.pid, cookie: 42n });
    await Promise.all([a.go(), b.go()]);

    const key = (pid: number, cookie: bigint) => {
      const k = Buffer.alloc(16);
      k.writeUInt32LE(pid, 0);
      k.writeBigUInt64LE(cookie, 8);
      return k.toString('hex');
    };
    const drained = (): Map<string, bigint> => {
      const d = hits.drain();
      return new Map(d.keys.map((k, i) => [k.toString('hex'), d.values[i].readBigUInt64LE(0)]));
    };
    assert.deepEqual(drained(), new Map([[key(a.pid, 42n), 500n]]));

    // pid -1: every process running the binary; the pid-filtered link stays quiet.
    const everyone = prog.attachUprobe({ binaryPath: helper, fileOffset: probedOffset, cookie: 7n });
    const c = startHelper(0, 123);
    await c.go();
    assert.deepEqual(drained(), new Map([[key(c.pid, 7n), 123n]]));
    onlyA.detach();
    everyone.detach();
  });

  test('auto-attach from SEC(tp_btf/...) and a raw tracepoint by name', () => {
    const auto = obj.program('exec_btf').attach();
    const raw = obj.program('exec_raw').attachRawTracepoint('sched_process_exec');
    const slot = (i: number) => obj.map('exec_counts').lookup(u32(i))?.readBigUInt64LE(0);
    const before0 = slot(0) ?? 0n;
    const before1 = slot(1) ?? 0n;
    // parent_tgid = this process: only execs of our own children count.
    for (let i = 0; i < 3; i++) assert.equal(spawnSync('/bin/true').status, 0);
    assert.equal(slot(0), before0 + 3n);
    assert.equal(slot(1), before1 + 3n);
    auto.detach();
    raw.detach();
    spawnSync('/bin/true');
    assert.equal(slot(0), before0 + 3n);
    assert.equal(slot(1), before1 + 3n);
  });

  test('drains more entries than one batch holds, batched and per key alike', () => {
    const big = BpfObject.open(OBJ);
    try {
      big.setMapMaxEntries('getpid_counts', 5000);
      big.load();
      const counts = big.map('getpid_counts');
      const cpus = possibleCpus();
      const fill = (n: number) => {
        for (let k = 1; k <= n; k++) {
          const v = Buffer.alloc(8 * cpus);
          for (let cpu = 0; cpu < cpus; cpu++) v.writeBigUInt64LE(BigInt(k * 10 + cpu), cpu * 8);
          counts.update(u32(k), v);
        }
      };
      const expected = (n: number) =>
        new Map(Array.from({ length: n }, (_, i) => [i + 1, BigInt(cpus * (i + 1) * 10 + (cpus * (cpus - 1)) / 2)]));
      for (const batch of [true, false]) {
        fill(3000);
        const drained = counts.drain({ batch });
        assert.equal(drained.keys.length, 3000, `batch=${batch}`);
        assert.deepEqual(countsByPid(drained), expected(3000), `batch=${batch}`);
        assert.equal(counts.drain({ batch }).keys.length, 0, `batch=${batch}: second drain`);
      }
    } finally {
      big.close();
    }
  });

  test('map lookup, update and delete; bad keys are errors', () => {
    const watched = obj.map('watched');
    assert.equal(watched.lookup(u32(999999)), undefined);
    watched.update(u32(999999), Buffer.from([5]));
    assert.deepEqual(watched.lookup(u32(999999)), Buffer.from([5]));
    assertBpfError(() => watched.update(u32(999999), Buffer.from([6]), 1 /* NOEXIST */), 'EEXIST', /watched/);
    assert.equal(watched.delete(u32(999999)), true);
    assert.equal(watched.delete(u32(999999)), false);
    assertBpfError(() => watched.lookup(Buffer.alloc(3)), 'EINVAL', /key must be 4 bytes, got 3/);
    assertBpfError(() => obj.map('getpid_counts').update(u32(1), Buffer.alloc(8)), 'EINVAL', /value must be/);
    assertBpfError(() => obj.map('exec_counts').drain(), 'EINVAL', /not a hash map/);
    assertBpfError(
      () => obj.program('count_uprobe').attachUprobe({ binaryPath: join(work, 'missing'), fileOffset: 0 }),
      'ENOENT',
      /uprobe/,
    );
    assert.throws(() => obj.program('count_uprobe').attachUprobe({ binaryPath: helper, fileOffset: -1 }), RangeError);
    assertBpfError(() => obj.program('emit_events').testRun({ ctxIn: Buffer.alloc(24), repeat: 5 }), 'EINVAL', /syscall/);
    assert.throws(() => new RingBufferReader(obj.map('watched'), () => {}), /not a ring buffer/);
  });
});

describe('ring buffer', () => {
  test('a burst arrives complete, in order, in batches; nothing after close', async () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.load();
      const records: Buffer[] = [];
      const batches: number[] = [];
      let notify = () => {};
      const reader = new RingBufferReader(
        obj.map('events'),
        (batch) => {
          batches.push(batch.length);
          records.push(...batch);
          notify();
        },
        { pollMs: 20 },
      );
      const emit = (n: number, base: number, flags: number) => {
        const ctx = Buffer.alloc(24);
        ctx.writeUInt32LE(n, 0);
        ctx.writeUInt32LE(flags, 4);
        ctx.writeBigUInt64LE(BigInt(base), 8);
        const run = obj.program('emit_events').testRun({ ctxIn: ctx });
        assert.equal(run.retval, n);
        assert.equal(run.ctxOut?.readUInt32LE(16), n, 'emitted');
        assert.equal(run.ctxOut?.readUInt32LE(20), 0, 'dropped');
      };
      const waitFor = async (n: number) => {
        const deadline = setTimeout(() => {}, 5000); // keeps the loop alive while waiting
        try {
          while (records.length < n) await new Promise<void>((r) => (notify = r));
        } finally {
          clearTimeout(deadline);
        }
      };

      emit(1000, 0, 0); // wakes the reader on the last record
      emit(500, 1000, 1); // never wakes it: found by the periodic poll
      await waitFor(1500);
      assert.equal(records.length, 1500);
      records.forEach((r, i) => {
        assert.equal(r.length, 16);
        assert.equal(r.readBigUInt64LE(0), BigInt(i));
        assert.equal(r.readBigUInt64LE(8), BigInt(i) * 3n + 1n);
      });
      assert.ok(batches.length < records.length, `one callback per record: ${batches.length}`);
      assert.ok(Math.max(...batches) > 1, `no batch held more than one record: ${batches.join(',')}`);

      reader.close();
      reader.close();
      emit(10, 5000, 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(records.length, 1500, 'a closed reader delivered records');
    } finally {
      obj.close();
    }
  });

  test('a reader may close itself from its callback', async () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.load();
      const seen: number[] = [];
      let done = () => {};
      const finished = new Promise<void>((r) => (done = r));
      const reader = new RingBufferReader(obj.map('events'), (batch) => {
        seen.push(batch.length);
        reader.close();
        done();
      });
      const ctx = Buffer.alloc(24);
      ctx.writeUInt32LE(5, 0);
      obj.program('emit_events').testRun({ ctxIn: ctx });
      const keepAlive = setTimeout(() => {}, 5000);
      await finished;
      clearTimeout(keepAlive);
      obj.program('emit_events').testRun({ ctxIn: ctx });
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen, [5]);
    } finally {
      obj.close();
    }
  });

  test('closing the object stops its readers', async () => {
    const obj = BpfObject.open(OBJ);
    obj.load();
    let delivered = 0;
    const reader = new RingBufferReader(obj.map('events'), (b) => (delivered += b.length), { pollMs: 10 });
    obj.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(delivered, 0);
    reader.close(); // after the object closed it: still fine
  });
});

describe('close', () => {
  test('close() destroys links, readers and the object; idempotent; later use is an error', () => {
    const baseline = bpfFds();
    const obj = BpfObject.open(OBJ);
    obj.load();
    const links = [
      obj.program('count_getpid').attachTracepoint('syscalls', 'sys_enter_getpid'),
      obj.program('count_uprobe').attachUprobe({ binaryPath: helper, fileOffset: probedOffset }),
      obj.program('exec_btf').attach(),
    ];
    const reader = new RingBufferReader(obj.map('events'), () => {});
    assert.ok(bpfFds() > baseline + 3);
    obj.close();
    assert.equal(bpfFds(), baseline, 'BPF or perf fds left open after close()');
    obj.close();
    for (const l of links) l.detach();
    reader.close();
    assert.equal(obj.closed, true);
    assertBpfError(() => obj.map('watched').lookup(u32(1)), 'EBADF', /closed/);
    assertBpfError(() => obj.program('count_getpid').attach(), 'EBADF', /closed/);
    assertBpfError(() => obj.load(), 'EBADF', /closed/);
  });

  test('missing or malformed object files are BpfErrors', () => {
    assertBpfError(() => BpfObject.open(join(work, 'missing.bpf.o')), 'ENOENT', /missing\.bpf\.o/);
    const junk = join(work, 'junk.bpf.o');
    writeFileSync(junk, 'not an ELF file');
    assert.throws(() => BpfObject.open(junk), BpfError);
  });
});

describe('dwarfMemberOffsets', () => {
  test('Go fixture: net/http offsets from compressed DWARF; unknowns are null', () => {
    const got = dwarfMemberOffsets(GO_FIXTURE, [
      { struct: 'net/http.Request', member: 'Method' },
      { struct: 'net/http.Request', member: 'URL' },
      { struct: 'net/http.Request', member: 'NoSuchMember' },
      { struct: 'net/http.NoSuchStruct', member: 'Method' },
    ]);
    assert.deepEqual(got, [0, 16, null, null]);
  });

  test('C binary: offsets follow the C layout rules', () => {
    assert.deepEqual(
      dwarfMemberOffsets(helper, [
        { struct: 'probe_layout', member: 'a' },
        { struct: 'probe_layout', member: 'b' },
        { struct: 'probe_layout', member: 'c' },
      ]),
      [0, 8, 16],
    );
  });

  test('no DWARF gives nulls; unreadable or non-ELF files are errors', () => {
    const stripped = join(work, 'helper-stripped');
    execFileSync('strip', ['-o', stripped, helper]);
    assert.deepEqual(dwarfMemberOffsets(stripped, [{ struct: 'probe_layout', member: 'b' }]), [null]);
    assertBpfError(() => dwarfMemberOffsets(join(work, 'missing'), []), 'ENOENT', /missing/);
    assertBpfError(() => dwarfMemberOffsets(join(work, 'helper.c'), []), 'ENOEXEC', /not an ELF/);
  });
});

describe('map-in-map and the generation scheme', () => {
  test('setInner swaps the inner map of a map-in-map and refuses other maps', async () => {
    const obj = BpfObject.open(join(ROOT, 'bpf/build/memory.bpf.o'));
    try {
      obj.load();
      const control = obj.map('memory_control');
      assert.equal(control.type, MapType.ARRAY_OF_MAPS);
      const slot = Buffer.alloc(4);
      // The slot holds the id of its inner map: tag 0 at load, tag 1 after the swap.
      const idOf = () => control.lookup(slot)?.readUInt32LE(0);
      const first = idOf();
      await control.setInner(slot, obj.map('memory_control_tag_1'));
      assert.notEqual(idOf(), first);
      await control.setInner(slot, obj.map('memory_control_tag_0'));
      assert.equal(idOf(), first);
      await assert.rejects(obj.map('memory_control_tag_0').setInner(slot, obj.map('memory_control_tag_1')), /not a map-in-map/);
    } finally {
      obj.close();
    }
  });

  test('an object with sleepable programs cannot use the generation scheme', async () => {
    const { Generations } = await import('./collectors/kernel-maps.ts');
    const obj = BpfObject.open(OBJ);
    try {
      obj.load();
      assert.ok(obj.programs.some((p) => obj.program(p).sleepable));
      assert.throws(() => new Generations(obj, 'watched'), /sleepable programs .* cannot share the generation scheme/);
    } finally {
      obj.close();
    }
  });
});
