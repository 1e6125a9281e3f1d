// The overhead benchmark's arithmetic (bench/stats.ts) and its reading of the kernel's BPF
// run-time accounting (bench/bpf-run-time.ts): what its reported figures rest on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatInterval, intervalVerdict, logSpread, withNoiseFloor, median, medianInterval, pairedRatios, quantile, roundRatios, spread, targetCheck, type Interval } from '../bench/stats.ts';
import { rng } from '../common/seeded-random.ts';
import { parseProgFdinfo, runTimeByName } from '../bench/bpf-run-time.ts';
import { cyclesOf, runAlternating, type Arm } from '../bench/alternating-windows.ts';
import { countForeign, cpuShares, parseProcStat } from '../bench/machine-state.ts';
import { childrenCpuSeconds } from '../bench/lib.ts';

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

test('paired ratios put window i of the measured block over window i of its neighbouring baseline block', () => {
  assert.deepEqual(pairedRatios({ measured: [90, 40, 30], baseline: [100, 50, 60] }), [0.9, 0.8, 0.5]);
  // a block cut short: its unpartnered windows are dropped, not paired with a stranger
  assert.deepEqual(pairedRatios({ measured: [90, 40], baseline: [100, 50, 60] }), [0.9, 0.8]);
  assert.deepEqual(pairedRatios({ measured: [], baseline: [100] }), []);
});

test('quantiles interpolate between neighbours', () => {
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([10, 20], 0.25), 12.5);
  assert.equal(quantile([7], 0.975), 7);
  assert.throws(() => quantile([], 0.5), /no values/);
});

test('the seeded generator repeats itself for a seed, differs across seeds, and stays in [0, 1)', () => {
  const a = rng(42);
  const b = rng(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(Array.from({ length: 1000 }, () => b()), xs);
  assert.notDeepEqual(Array.from({ length: 1000 }, rng(43)), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.ok(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 0.5) < 0.05, 'roughly uniform');
});

test('identical ratios give a zero-width interval at their value', () => {
  const i = medianInterval([[0.9, 0.9], [0.9, 0.9, 0.9]]);
  assert.deepEqual(i, { median: 0.9, low: 0.9, high: 0.9, confidence: 0.95, pairs: 5, cycles: 2 });
});

test('the interval brackets the median of all pairs and narrows as cycles agree', () => {
  const noisy = [[0.7, 1.1], [0.95, 0.8], [1.2, 0.75], [0.85, 1.0], [0.9, 0.6], [1.15, 0.92]];
  const tight = noisy.map((c) => c.map((r) => 0.9 + (r - 0.9) / 10));
  const a = medianInterval(noisy);
  const b = medianInterval(tight);
  assert.equal(a.median, median(noisy.flat()));
  assert.ok(a.low <= a.median && a.median <= a.high, `${a.low} ≤ ${a.median} ≤ ${a.high}`);
  assert.ok(a.high - a.low > 0.05, 'noisy pairs draw a wide interval');
  assert.ok(b.high - b.low < (a.high - a.low) / 5, 'ten times less spread, a far narrower interval');
  assert.deepEqual(medianInterval(noisy), a, 'seeded: the same windows, the same interval');
});

test('the interval resamples whole cycles: windows of one block do not count as independent', () => {
  // Two cycles, each internally consistent but far apart: as 20 independent pairs the median
  // would look pinned; as two clusters, either level is as likely as the other.
  const cycles = [Array(10).fill(0.6), Array(10).fill(1.0)];
  const i = medianInterval(cycles);
  assert.equal(i.low, 0.6);
  assert.equal(i.high, 1.0);
  assert.throws(() => medianInterval([[], []]), /no paired ratios/);
});

test('the verdict is met only when the interval clears the target, not shown when it straddles it', () => {
  const at = (low: number, high: number, cycles = 8): Interval => ({ median: (low + high) / 2, low, high, confidence: 0.95, pairs: 3 * cycles, cycles });
  assert.equal(intervalVerdict(at(0.82, 0.9), 0.8, 'atLeast', 2), '≥ 0.80 met');
  assert.equal(intervalVerdict(at(0.78, 0.9), 0.8, 'atLeast', 2), '≥ 0.80 not shown (the interval straddles it)');
  assert.equal(intervalVerdict(at(0.6, 0.79), 0.8, 'atLeast', 2), '≥ 0.80 MISSED (the whole interval is on the wrong side)');
  assert.equal(intervalVerdict(at(1.2, 1.9), 2, 'atMost', 1), '≤ 2.0 met');
  assert.equal(intervalVerdict(at(1.5, 2.5), 2, 'atMost', 1), '≤ 2.0 not shown (the interval straddles it)');
  assert.equal(intervalVerdict(at(2.1, 2.5), 2, 'atMost', 1), '≤ 2.0 MISSED (the whole interval is on the wrong side)');
  // too few cycles for the bootstrap to mean what it says: no verdict, however tight
  assert.equal(intervalVerdict(at(0.9, 0.91, 5), 0.8, 'atLeast', 2), '≥ 0.80 not shown (5 cycles; an interval needs at least 6)');
  assert.equal(intervalVerdict(at(0.9, 0.91, 6), 0.8, 'atLeast', 2), '≥ 0.80 met');
  assert.equal(formatInterval({ median: 0.9123, low: 0.88, high: 0.9411, confidence: 0.95, pairs: 24, cycles: 8 }, 3), '0.912 [95% CI 0.880–0.941, 24 pairs in 8 cycles]');
});

test('the schedule alternates blocks, flips their order every cycle, keeps an arm running through its block and sets the warm-up apart', async () => {
  const log: string[] = [];
  const arm = (name: string): Arm => ({ name, start: async () => void log.push(`start ${name}`), stop: async () => void log.push(`stop ${name}`) });
  let n = 0;
  const blocks = await runAlternating(
    [
      { name: 'AB', measured: arm('agent'), baseline: arm('none') },
      { name: 'AA', measured: arm('a'), baseline: arm('b') },
    ],
    { cycles: 2, windowsPerBlock: 3, measure: (a) => (log.push(`window ${a.name}`), ++n) },
  );
  const block = (name: string) => [`start ${name}`, `window ${name}`, `window ${name}`, `window ${name}`, `stop ${name}`];
  assert.deepEqual(log, [...block('agent'), ...block('none'), ...block('a'), ...block('b'), ...block('b'), ...block('a'), ...block('none'), ...block('agent')]);
  assert.deepEqual(
    blocks.map((b) => [b.comparison, b.arm, b.cycle, b.warmUp, b.kept]),
    [
      ['AB', 'measured', 0, 1, [2, 3]],
      ['AB', 'baseline', 0, 4, [5, 6]],
      ['AA', 'measured', 0, 7, [8, 9]],
      ['AA', 'baseline', 0, 10, [11, 12]],
      ['AA', 'baseline', 1, 13, [14, 15]],
      ['AA', 'measured', 1, 16, [17, 18]],
      ['AB', 'baseline', 1, 19, [20, 21]],
      ['AB', 'measured', 1, 22, [23, 24]],
    ],
  );
  // Each cycle's kept windows, measured beside baseline; the warm-ups never reach a ratio.
  assert.deepEqual(cyclesOf(blocks, 'AB', (w) => w * 10), [
    { measured: [20, 30], baseline: [50, 60] },
    { measured: [230, 240], baseline: [200, 210] },
  ]);
  await assert.rejects(runAlternating([], { cycles: 1, windowsPerBlock: 1, measure: () => 0 }), /warm-up window and at least one kept/);
});

test('an arm that fails in its block is stopped all the same', async () => {
  let stopped = false;
  const arm: Arm = { name: 'agent', start: async () => {}, stop: async () => void (stopped = true) };
  await assert.rejects(
    runAlternating([{ name: 'AB', measured: arm, baseline: arm }], { cycles: 1, windowsPerBlock: 2, measure: () => { throw new Error('wrk saw errors'); } }),
    /wrk saw errors/,
  );
  assert.ok(stopped);
});

test('per-CPU idle, steal and softirq shares come from the difference of two /proc/stat readings', () => {
  const before = parseProcStat('cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 100 0 50 1000 10 0 20 5 0 0\ncpu1 1 2 3 4 5 6 7 8 9 10\nintr 1 2\n');
  const after = parseProcStat('cpu  20 0 20 200 0 0 0 0 0 0\ncpu0 160 0 70 1100 10 0 30 15 0 0\ncpu1 1 2 3 4 5 6 7 8 9 10\n');
  assert.deepEqual([...before.keys()], ['cpu0', 'cpu1']);
  // 200 jiffies: user 60, system 20, idle 100, softirq 10, steal 10 (iowait counts as idle)
  assert.deepEqual(cpuShares(before, after, 'cpu0'), { idle: 0.5, steal: 0.05, softirq: 0.05 });
  assert.deepEqual(cpuShares(before, after, 'cpu1'), { idle: 0, steal: 0, softirq: 0 });
  assert.throws(() => cpuShares(before, after, 'cpu7'), /no cpu7/);
});

test('foreign tracing programs: tracing types only, the agent under test\'s own left out', () => {
  const list = [
    { id: 1, type: 'tracepoint' },
    { id: 2, type: 'kprobe' },
    { id: 3, type: 'cgroup_skb' },
    { id: 4, type: 'tracing' },
    { id: 5, type: 'raw_tracepoint' },
  ];
  assert.equal(countForeign(list, new Set()), 4);
  assert.equal(countForeign(list, new Set([1, 4])), 2);
});

test("wrk's own CPU time is the children's line of bash's times", () => {
  assert.equal(childrenCpuSeconds('Running 2s test\n Requests/sec: 1\n0m0.001s 0m0.002s\n0m1.250s 0m0.500s\n'), 1.75);
  assert.equal(childrenCpuSeconds('0m0.000s 0m0.000s\n1m2.000s 0m0.500s'), 62.5);
  assert.ok(Number.isNaN(childrenCpuSeconds('no times here')));
});

test('the log spread is a relative spread: scale-free, zero for a constant', () => {
  assert.equal(logSpread([5, 5, 5]), 0);
  assert.equal(logSpread([7]), 0);
  assert.ok(Math.abs(logSpread([1, Math.E]) - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(logSpread([10, 20, 40]) - logSpread([1000, 2000, 4000])) < 1e-12);
});

test('the verdict interval widens to the A/A noise floor around the median, both ways, never narrows', () => {
  const ab: Interval = { median: 0.84, low: 0.818, high: 0.944, confidence: 0.95, pairs: 24, cycles: 8 };
  const noisyAA: Interval = { median: 0.93, low: 0.75, high: 1.2, confidence: 0.95, pairs: 24, cycles: 8 };
  const wide = withNoiseFloor(ab, noisyAA);
  assert.equal(wide.median, 0.84);
  // the A/A's widest departure from 1 is 1/0.75 = 1.333…, applied both ways around 0.84
  assert.ok(Math.abs(wide.low - 0.63) < 1e-12);
  assert.ok(Math.abs(wide.high - 1.12) < 1e-12);
  // an A/A entirely on one side of 1 still widens both sides
  const lopsided = withNoiseFloor(ab, { ...noisyAA, low: 0.7, high: 0.8 });
  assert.ok(Math.abs(lopsided.low - 0.588) < 1e-12);
  assert.ok(Math.abs(lopsided.high - 1.2) < 1e-12);
  // the same comparison is met on its own interval, not shown once the machine's noise floor is counted
  assert.equal(intervalVerdict(ab, 0.8, 'atLeast', 2), '≥ 0.80 met');
  assert.equal(intervalVerdict(wide, 0.8, 'atLeast', 2), '≥ 0.80 not shown (the interval straddles it)');
  // a quiet machine's tight A/A leaves the comparison's own interval as it is
  const quietAA: Interval = { median: 1.0, low: 0.99, high: 1.01, confidence: 0.95, pairs: 24, cycles: 8 };
  assert.deepEqual(withNoiseFloor(ab, quietAA), ab);
  assert.equal(withNoiseFloor(ab, { ...quietAA, cycles: 4 }).cycles, 4, 'the fewer cycles of the two');
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
