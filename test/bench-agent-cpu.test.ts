// What the overhead bench reads from the agent's CPU series (bench/cpu-samples.ts, bench/stats.ts
// excessCpu): where the drain burst is, the share between bursts, when to start a new process so
// no burst lands in its one-off span, and that one-off cost. Then the two pieces that run real
// processes: the fixed-rate load's warm-up split (the Go fixture and fixedrate) and nginx.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busiestStep, delayToPhase, halves, sampleCpu, share, shareBetweenBursts, type CpuSample } from '../bench/cpu-samples.ts';
import { excessCpu } from '../bench/stats.ts';
import { startFixedRate, startPinnedFixture } from '../bench/lib.ts';
import { nginxConfig, startNginx } from '../bench/nginx-server.ts';

/** A series at 1-s steps: `base` CPU seconds a step, and `burst` more in the step ending at `burstAt`. */
function series(steps: number, base: number, burst: number, burstAt: number): CpuSample[] {
  const out: CpuSample[] = [{ t: 0, cpu: 0 }];
  for (let i = 1; i <= steps; i++) out.push({ t: i, cpu: out[i - 1].cpu + base + (i === burstAt ? burst : 0) });
  return out;
}

test('the burst is the step with the largest rise, placed at its end', () => {
  assert.equal(busiestStep(series(10, 0.01, 0.15, 7)), 7);
  assert.equal(busiestStep(series(10, 0.01, 0.15, 1)), 1);
  assert.throws(() => busiestStep([{ t: 0, cpu: 0 }]), /two samples/);
  // a burst of 0.12 s split over the steps ending at 4 and 5 outweighs a 0.09-s event in one step,
  // once runs of two steps are compared
  const split = series(10, 0.01, 0.06, 4).map((s, i) => ({ ...s, cpu: s.cpu + (i >= 5 ? 0.06 : 0) + (i >= 8 ? 0.09 : 0) }));
  assert.equal(busiestStep(split), 8);
  assert.equal(busiestStep(split, 2), 5);
  assert.equal(busiestStep(split, 50), 10, 'a run longer than the series is the whole series');
});

test('the share between bursts passes over the burst; the whole share counts it', () => {
  const s = series(10, 0.01, 0.15, 4);
  assert.ok(Math.abs(shareBetweenBursts(s) - 0.01) < 1e-12);
  assert.ok(Math.abs(share(s) - 0.025) < 1e-12);
});

test('halves split the series at its middle time: a cost early in the window shows in the first', () => {
  const s = series(10, 0.01, 0.1, 2);
  const [first, second] = halves(s);
  assert.ok(Math.abs(first - 0.03) < 1e-12, String(first));
  assert.ok(Math.abs(second - 0.01) < 1e-12, String(second));
  assert.throws(() => halves(s.slice(0, 2)), /three samples/);
});

test('the delay to a phase lands `offset` after a burst, the next one if that moment has passed', () => {
  // bursts at 3, 13, 23…; 1 s after one: 4, 14, 24…
  assert.equal(delayToPhase(5, 3, 10, 1), 9);
  assert.equal(delayToPhase(3.5, 3, 10, 1), 0.5);
  assert.equal(delayToPhase(14, 3, 10, 1), 0);
  assert.ok(Math.abs(delayToPhase(100.25, 3, 10, 1) - 3.75) < 1e-9);
  // a burst seen after "now" (the clock of a series read earlier) still gives a delay within one period
  assert.equal(delayToPhase(0, 3, 10, 1), 4);
  assert.throws(() => delayToPhase(0, 0, 0, 1), /period/);
});

test('a one-off cost is the CPU beyond the steady rate over its span, negative when noise says so', () => {
  assert.ok(Math.abs(excessCpu(0.2, 3, 0.02) - 0.14) < 1e-12);
  assert.ok(excessCpu(0.01, 2, 0.02) < 0);
  assert.throws(() => excessCpu(1, 0, 0.1), /span of 0 s/);
});

test('sampling a process ends when the promise settles and brackets it with samples', async () => {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  setTimeout(release, 120);
  const samples = await sampleCpu(process.pid, 20, done);
  assert.ok(samples.length >= 3, `${samples.length} samples`);
  assert.ok(samples.every((s, i) => i === 0 || (s.t > samples[i - 1].t && s.cpu >= samples[i - 1].cpu)));
  assert.ok(samples[samples.length - 1].t - samples[0].t >= 0.1);
});

test('fixed-rate load with a warm-up: "measuring" comes after the warm-up, and the report holds only the measured part', async () => {
  const go = await startPinnedFixture();
  try {
    const t0 = performance.now();
    const run = startFixedRate(`${go.url}/hello`, 500, 1, 1, 4);
    await run.measuring;
    const warm = (performance.now() - t0) / 1000;
    const r = await run.result;
    assert.ok(warm >= 1, `measuring after ${warm.toFixed(2)} s`);
    // 500/s over 1 s measured; the warm-up's 500 are not in it
    assert.ok(r.requests >= 450 && r.requests <= 550, `${r.requests} requests reported`);
    assert.equal(r.errors, 0);
    // without a warm-up the whole run is measured from the start
    const whole = startFixedRate(`${go.url}/hello`, 200, 0, 0.5, 2);
    await whole.measuring;
    const w = await whole.result;
    assert.ok(w.requests >= 80 && w.requests <= 120, `${w.requests} requests without a warm-up`);
    await assert.rejects(startFixedRate('http://127.0.0.1:1/hello', 100, 0, 0.2, 1).result, /errors|exited/);
  } finally {
    await go.stop();
  }
});

test('nginx from its temp-dir config answers /hello on keep-alive connections, and its config writes only under the dir', async () => {
  const conf = nginxConfig('/tmp/x', 8080);
  for (const line of conf.split('\n').filter((l) => /(_path|pid|error_log) /.test(l))) assert.match(line, /\/tmp\/x\//, line);
  const nginx = await startNginx();
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${nginx.url}/hello`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello\n');
    }
    assert.equal((await fetch(`${nginx.url}/other`)).status, 404);
  } finally {
    await nginx.stop();
  }
  assert.ok(nginx.child.exitCode !== null || nginx.child.signalCode !== null, 'nginx stopped');
});
