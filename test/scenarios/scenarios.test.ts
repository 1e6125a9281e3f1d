// The CI subset of the fault-injection suite (the full suite: `npm run scenarios`): real
// services under random names, a clean baseline, then a real fault; the frontend's first hint
// must name the cause. Two of the issue's own examples: a slow Redis two hops down (the
// deepest cause first, through the chain), and a slower build deployed on the backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from './runner.ts';
import { SCENARIOS } from './scenarios.ts';

const CI_SUBSET = ['redis-slow', 'slower-build'];

for (const name of CI_SUBSET) {
  test(`scenario ${name}: the frontend's top hint names the injected cause`, { timeout: 240_000 }, async () => {
    const scenario = SCENARIOS.find((s) => s.name === name)!;
    const lines: string[] = [];
    const o = await runScenario(scenario, { baselineS: 60, faultS: 60, stopWhenRight: true, log: (l) => lines.push(l) });
    const progress = lines.filter((l) => l.startsWith(name)).join('\n');
    assert.equal(o.error, undefined, o.error);
    assert.ok(o.load.ok > 0, 'the load reached the frontend');
    assert.ok(o.top1Right, `expected ${o.expected}, got ${o.top1?.text ?? 'no hint'}\n${progress}`);
    assert.ok(o.firstRightS !== undefined && o.firstRightS <= 120, `first right hint after ${o.firstRightS} s`);
  });
}
