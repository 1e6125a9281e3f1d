// The in-kernel bucket index (bpf/lib/exphist.bpf.h), run for real through
// BPF_PROG_TEST_RUN on bpf/exphist_test.bpf.c, against TypeScript's
// bucketIndexForNanos and an exact reference, over millions of values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../agent/bpf.ts';
import { boundaryTableNs, bucketIndexForNanos, KERNEL_MAX_SCALE, MIN_SCALE } from '../common/exphist.ts';
import { edgeValuesNs, randomU64, refIndexNs, rng } from './lib/exphist-reference.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/exphist_test.bpf.o', import.meta.url));
/** EXPHIST_TEST_N in exphist_test.bpf.c: values per run. */
const CHUNK = 4096;
/** struct exphist_test_io: __u64 in[CHUNK]; __s32 out[CHUNK]. */
const IO_SIZE = CHUNK * 8 + CHUNK * 4;
const U64 = 1n << 64n;

/** Runs the kernel's exphist_index over `values` at `scale`, CHUNK values per test run. */
function kernelIndices(obj: BpfObject, values: BigUint64Array, scale: number): Int32Array {
  const io = obj.map('exphist_test_io');
  const prog = obj.program('exphist_test');
  const out = new Int32Array(values.length);
  const buf = Buffer.alloc(IO_SIZE);
  for (let at = 0; at < values.length; at += CHUNK) {
    const n = Math.min(CHUNK, values.length - at);
    const chunk = values.subarray(at, at + n);
    Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).copy(buf, 0);
    io.writeValue(buf);
    const args = Buffer.alloc(8);
    args.writeInt32LE(scale, 0);
    args.writeUInt32LE(n, 4);
    const run = prog.testRun({ ctxIn: args });
    assert.equal(run.retval, n, `test run of ${n} values at scale ${scale}`);
    const result = io.readValue();
    for (let k = 0; k < n; k++) out[at + k] = result.readInt32LE(CHUNK * 8 + k * 4);
  }
  return out;
}

/** bucketIndexForNanos with a number where it is exact (faster), a bigint beyond. */
function tsIndex(v: bigint, scale: number): number {
  return bucketIndexForNanos(v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v, scale);
}

test('exphist_index in the kernel matches TypeScript and the exact reference', (t) => {
  assert.ok(existsSync(OBJECT), `${OBJECT} is missing: build it with make -C bpf`);
  const obj = BpfObject.open(OBJECT);
  t.after(() => obj.close());
  obj.load();

  const edges = BigUint64Array.from(edgeValuesNs(boundaryTableNs(KERNEL_MAX_SCALE).bounds));
  const r = rng(11);
  const random = BigUint64Array.from({ length: 1_000_000 }, () => randomU64(r));
  // A slice of realistic latencies (1 µs .. 100 s) on top of the whole u64 range.
  const latencies = BigUint64Array.from({ length: 250_000 }, () => BigInt(Math.floor(1e3 * 10 ** (r() * 8))));

  let compared = 0;
  for (let scale = KERNEL_MAX_SCALE; scale >= MIN_SCALE; scale--) {
    // Every scale sees the edge values; the finest and a few coarse ones see the bulk.
    const bulk = scale === KERNEL_MAX_SCALE ? random : random.subarray(0, 60_000);
    const values = new BigUint64Array([...edges, ...bulk, ...(scale === 5 || scale === 0 ? latencies : [])]);
    const got = kernelIndices(obj, values, scale);
    for (let k = 0; k < values.length; k++) {
      const want = tsIndex(values[k], scale);
      if (got[k] !== want) assert.equal(got[k], want, `ns=${values[k]} scale ${scale}: kernel vs TypeScript`);
    }
    // The exact reference decides the edges and a sample of the rest.
    for (let k = 0; k < values.length; k += k < edges.length ? 1 : 37) {
      assert.equal(got[k], refIndexNs(values[k], scale), `ns=${values[k]} scale ${scale}: kernel vs exact`);
    }
    compared += values.length;
  }
  assert.ok(compared > 2_000_000, `compared ${compared}`);
});

test('exphist_index clamps: 0 ns to the 1 ns bucket, out-of-range scales to the supported ones', (t) => {
  const obj = BpfObject.open(OBJECT);
  t.after(() => obj.close());
  obj.load();
  const values = BigUint64Array.from([0n, 1n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, U64 - 1n]);
  assert.deepEqual([...kernelIndices(obj, values, 5)], [-957, -957, -1, -1, 0, 1091]);
  // Callers validate scales; the kernel clamps so that a bad one cannot shift by ≥ 64.
  assert.deepEqual([...kernelIndices(obj, values, 9)], [...kernelIndices(obj, values, KERNEL_MAX_SCALE)]);
  assert.deepEqual([...kernelIndices(obj, values, -40)], [...kernelIndices(obj, values, MIN_SCALE)]);
  // The harness itself refuses more values than it holds.
  const args = Buffer.alloc(8);
  args.writeUInt32LE(CHUNK + 1, 4);
  assert.equal(obj.program('exphist_test').testRun({ ctxIn: args }).retval, -1);
});
