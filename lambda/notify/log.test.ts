// The alert line `burnwatch up` prints for each transition (LogNotifier).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hintedTransition, transition } from '../../test/lib/alert-fixtures.ts';
import { alertLine, LogNotifier } from './log.ts';

test('the alert line ends with the top hint: kind and summary', async () => {
  const base = 'alert 2026-11-23T14:00:00.000Z checkout: availability SLO burning 16.2× over 1h (5m: 19.8×); page (checkout:availability/page-1h-5m#1: pending → firing)';
  assert.equal(alertLine(transition), base);
  assert.equal(alertLine(hintedTransition), `${base} — slow_dependency: redis GET on 10.0.3.7:6379 from stock: p99 2.1 s, was 4 ms; 73% of the extra request time`);
  assert.equal(
    alertLine({ ...transition, hints: [], hints_meta: { status: 'failed', from: 1, to: 2, message: 'hints not computed: no answer within 30 s' } }),
    `${base} — no hints: hints not computed: no answer within 30 s`,
  );
  const lines: string[] = [];
  await new LogNotifier((l) => lines.push(l)).notify(hintedTransition);
  assert.deepEqual(lines, [alertLine(hintedTransition)]);
});
