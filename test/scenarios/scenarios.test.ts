// The CI subset of the fault-injection suite (the full suite: `npm run scenarios`): real
// services under random names, a clean baseline, then a real fault; the frontend's first hint
// must name the cause. Two of the issue's own examples: a slow Redis two hops down (the
// deepest cause first, through the chain), and a slower build deployed on the backend.
//
// The two run side by side, each in its own process (main.ts, as `npm run scenarios` runs it):
// each world has its own gateway, agent and services under random names and is asked about its
// own frontend only, and most of a run is waiting (the baseline minute, the 10 s polls), so this
// halves the file's time.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { manage, ROOT, tempDir } from '../lib/processes.ts';
import type { Outcome } from './runner.ts';

const CI_SUBSET = ['redis-slow', 'slower-build'];

async function runInOwnProcess(name: string, t: TestContext): Promise<{ o: Outcome | undefined; output: string }> {
  const json = path.join(tempDir(`bw-scenario-${name}`), 'outcome.json');
  const args = ['--import', 'tsx', path.join(ROOT, 'test/scenarios/main.ts'), name, '--baseline', '60', '--fault', '60', '--stop-when-right', '--json', json];
  const child = manage(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  // On a timeout too: SIGTERM makes main.ts stop its world (a SIGKILL would leave its services running).
  t.after(() => child.stop('SIGTERM', 30_000));
  await new Promise((resolve) => child.child.once('exit', resolve));
  const outcomes = fs.existsSync(json) ? (JSON.parse(fs.readFileSync(json, 'utf8')) as Outcome[]) : [];
  return { o: outcomes.find((x) => x.scenario === name), output: child.output() };
}

describe('fault scenarios', { concurrency: true }, () => {
  for (const name of CI_SUBSET) {
    test(`scenario ${name}: the frontend's top hint names the injected cause`, { timeout: 300_000 }, async (t) => {
      const { o, output } = await runInOwnProcess(name, t);
      const progress = output.split('\n').filter((l) => l.includes(`] ${name}`)).join('\n');
      t.diagnostic(progress.replaceAll('\n', ' / '));
      assert.ok(o, `no outcome from the scenario's process:\n${output.slice(-4000)}`);
      assert.equal(o.error, undefined, o.error);
      assert.ok(o.load.ok > 0, 'the load reached the frontend');
      assert.ok(o.top1Right, `expected ${o.expected}, got ${o.top1?.text ?? 'no hint'}\n${progress}`);
      assert.ok(o.firstRightS !== undefined && o.firstRightS <= 120, `first right hint after ${o.firstRightS} s`);
    });
  }
});
