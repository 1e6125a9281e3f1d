// The overhead benchmark's arithmetic (bench/stats.ts) and its reading of the kernel's BPF
// run-time accounting (bench/bpf-run-time.ts): what its reported figures rest on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, roundRatios, spread, targetCheck } from '../bench/stats.ts';
import { parseProgFdinfo, runTimeByName } from '../bench/bpf-run-time.ts';

test('median of odd and even counts, whatever the order', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /median of no values/);
});

test('spread prints the median with the range beside it', () => {
  assert.equal(spread([0.91, 0.8, 0.87], 2), '0.87 (0.80–0.91)');
});

test('ratios pair each round with its own baseline', () => {
  assert.deepEqual(roundRatios([90, 50], [100, 40]), [0.9, 1.25]);
  assert.throws(() => roundRatios([1, 2], [1]), /2 measured rounds against 1 baseline/);
});

test('a target check says met, or by how much it is missed, in the right direction', () => {
  assert.equal(targetCheck(0.85, 0.8, 'atLeast', 2), '≥ 0.80 met');
  assert.equal(targetCheck(0.73, 0.8, 'atLeast', 2), '≥ 0.80 MISSED by 0.07');
  assert.equal(targetCheck(1.5, 2, 'atMost', 1), '≤ 2.0 met');
  assert.equal(targetCheck(6.3, 2, 'atMost', 1), '≤ 2.0 MISSED by 4.3');
});

test('a BPF program fd gives its run time and run count; other fds give nothing', () => {
  const prog = 'pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t2072\nlink:\t1\nprog_type:\t2\nprog_jited:\t1\nprog_tag:\tab12\nmemlock:\t4096\nprog_id:\t77\nrun_time_ns:\t123456789012\nrun_cnt:\t4321\nrecursion_misses:\t0\nverified_insns:\t90\n';
  assert.deepEqual(parseProgFdinfo(prog), { progId: 77, runTimeNs: 123456789012n, runCount: 4321n });
  const map = 'pos:\t0\nflags:\t02000002\nmap_type:\t1\nkey_size:\t4\nvalue_size:\t8\nmax_entries:\t1\n';
  assert.equal(parseProgFdinfo(map), undefined);
  assert.equal(parseProgFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t15\n'), undefined);
});

test('run time per program name is the difference of two readings, programs of one name summed, largest first', () => {
  const before = new Map([
    [1, { progId: 1, runTimeNs: 1_000n, runCount: 10n }],
    [2, { progId: 2, runTimeNs: 5_000n, runCount: 50n }],
  ]);
  const after = new Map([
    [1, { progId: 1, runTimeNs: 1_500n, runCount: 15n }],
    [2, { progId: 2, runTimeNs: 9_000n, runCount: 90n }],
    [3, { progId: 3, runTimeNs: 700n, runCount: 7n }], // loaded between the readings
  ]);
  const names = new Map([
    [1, 'go_http_entry'],
    [2, 'sys_exit'],
    [3, 'go_http_entry'],
  ]);
  assert.deepEqual(runTimeByName(before, after, names), [
    { name: 'sys_exit', runTimeNs: 4_000, runCount: 40 },
    { name: 'go_http_entry', runTimeNs: 1_200, runCount: 12 },
  ]);
});
