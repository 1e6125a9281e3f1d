// Futex wait time for any process (issue 22 item 4): a C program whose threads queue on one
// pthread mutex waits, in futex(2), the critical sections it queued behind; a Python program
// whose threads queue on a threading.Lock is measured the same way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { FutexCollector } from '../agent/collectors/futex.ts';
import { KERNEL_ATTR, KERNEL_METRIC } from '../common/catalogue.ts';
import { compileC } from './helpers/cc.ts';
import { manage } from './lib/processes.ts';

let futex: FutexCollector;

before(() => {
  futex = new FutexCollector({ objectDir: BPF_OBJECT_DIR, log: () => undefined });
});

after(() => futex?.close());

type Point = { attributes: Record<string, unknown>; value: ExponentialHistogram };

/** Runs `cmd` to its end and returns its futex waits (op 'wait') from a clean interval. */
async function futexWaitsOf(cmd: string, args: string[]): Promise<{ count: number; sum: number }> {
  await futex.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined });
  const p = manage(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const pid = p.child.pid!;
  assert.equal(await new Promise((resolve) => p.child.once('exit', resolve)), 0, p.output());
  const points = (await futex.collect({ startNs: 1n, endNs: 2n, serviceOf: () => undefined }))
    .filter((c) => c.pid === pid)
    .flatMap((c) => (c.metrics as MetricData[]).filter((m) => m.descriptor.name === KERNEL_METRIC.futexWait).flatMap((m) => m.dataPoints as Point[]))
    .filter((pt) => pt.attributes[KERNEL_ATTR.futexOp] === 'wait');
  return { count: points.reduce((n, pt) => n + pt.value.count, 0), sum: points.reduce((n, pt) => n + (pt.value.sum ?? 0), 0) };
}

test('a C program queued on a pthread mutex: its futex waits are the critical sections it queued behind', async () => {
  const bin = await compileC('mutex-queue');
  const N = 5;
  const HOLD = 0.06;
  const w = await futexWaitsOf(bin, [String(N), String(HOLD * 1000)]);
  const expected = (HOLD * N * (N - 1)) / 2;
  assert.ok(w.count >= N - 1, `${w.count} futex waits, at least one per waiting thread`);
  assert.ok(Math.abs(w.sum - expected) < 0.15 * expected, `futex wait ${w.sum.toFixed(3)} s ≈ ${expected} s`);
});

test('the same program with one thread: no futex wait', async () => {
  const bin = await compileC('mutex-queue');
  const w = await futexWaitsOf(bin, ['1', '60']);
  assert.ok(w.sum < 0.001, `futex wait ${w.sum} s (${w.count} waits)`);
});

test('a Python program queued on a threading.Lock waits in futex too', async () => {
  const N = 4;
  const HOLD = 0.08;
  const script = [
    'import threading, time',
    'lock = threading.Lock()',
    'start = threading.Barrier(' + N + ')',
    'def work():',
    '    start.wait()',
    '    with lock:',
    '        time.sleep(' + HOLD + ')',
    'ts = [threading.Thread(target=work) for _ in range(' + N + ')]',
    '[t.start() for t in ts]',
    '[t.join() for t in ts]',
  ].join('\n');
  const w = await futexWaitsOf('python3', ['-c', script]);
  // The lock waits add up to HOLD·N(N-1)/2; the main thread's joins and the barrier wait in
  // futex as well (at most the whole run, N·HOLD, plus start-up).
  const lockWaits = (HOLD * N * (N - 1)) / 2;
  assert.ok(w.sum >= 0.9 * lockWaits, `futex wait ${w.sum.toFixed(3)} s ≥ the lock's ${lockWaits} s`);
  assert.ok(w.sum <= lockWaits + N * HOLD + 0.3, `futex wait ${w.sum.toFixed(3)} s: the lock's, the joins' and the barrier's only`);
});
