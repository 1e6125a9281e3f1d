// The deep-probe controller against the real gateway (local server, DuckDB): it follows the
// gateway's answers, keeps the last one while the gateway is down, still ends manual requests on
// time, and reports coverage before an attach and after a detach. The collector here records what
// it is asked (the BPF side is test/deep-probes.test.ts and test/e2e/adaptive-probes.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, LOCAL_TENANT, type RunningGateway } from '../lambda/local/server.ts';
import { tempDir } from '../test/lib/processes.ts';
import type { Collector } from './collectors/types.ts';
import { DeepProbeController, fetchDesiredProbes } from './deep-probes.ts';
import { DeepProbePolicy } from './probe-mode.ts';

const KEY = 'deep-probes-controller-key';
let gateway: RunningGateway;
const events: string[] = [];

const recording: Collector = {
  name: 'recording',
  collect: async () => [],
  close: () => undefined,
  setDeepProbes: async (pid, on) => void events.push(`${on ? 'attach' : 'detach'} ${pid}`),
};

before(async () => {
  gateway = await startGateway({ port: 0, dataDir: tempDir('bw-deep-ctl'), apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
});

after(async () => {
  await gateway.close().catch(() => undefined);
});

test('follows the gateway, keeps the last answer through an outage, and ends a manual request on its own clock', async () => {
  const logs: string[] = [];
  const ctl = new DeepProbeController({
    policy: new DeepProbePolicy('adaptive', 60_000),
    fetchDesired: () => fetchDesiredProbes(gateway.url, KEY, 500),
    pollMs: 100,
    log: (l) => logs.push(l),
    onCoverage: (pid, deep) => events.push(`coverage ${pid} ${deep}`),
  });
  await ctl.track(7, 'svc-a', [recording]);
  await ctl.track(8, 'svc-b', [recording]);
  assert.deepEqual(events, []);
  const now = Date.now();
  await gateway.slo.requestProbes(LOCAL_TENANT, { service: 'svc-a', requested_ms: now, until_ms: now + 6_000 });
  await sleep(1_100); // the gateway shares an answer for up to a second
  await ctl.pollOnce();
  assert.deepEqual(events, ['coverage 7 true', 'attach 7'], 'coverage first, then the probes');
  assert.deepEqual(ctl.state(), [{ pid: 7, service: 'svc-a', deep: true, reason: 'manual' }, { pid: 8, service: 'svc-b', deep: false }]);

  await gateway.close(); // the gateway goes away
  await ctl.pollOnce();
  assert.equal(ctl.state()[0].deep, true, 'the last answer stands');
  assert.match(logs.join('\n'), /probe requests: cannot ask the gateway .*keeping the last answer/);
  await sleep(now + 6_100 - Date.now());
  await ctl.pollOnce();
  assert.deepEqual(events.slice(2), ['detach 7', 'coverage 7 false'], 'the request ended without the gateway: probes first, then coverage');
  assert.equal(ctl.state()[0].deep, false);
  assert.equal(logs.filter((l) => l.startsWith('probe requests: cannot')).length, 1, 'one line per outage');
  await ctl.stop();
});

test('a process without collectors of costly probes is not tracked; one that exits is forgotten', async () => {
  const ctl = new DeepProbeController({ policy: new DeepProbePolicy('always'), fetchDesired: async () => ({ services: [] }), log: () => undefined });
  const plain: Collector = { name: 'plain', collect: async () => [], close: () => undefined };
  await ctl.track(9, 'svc', [plain]);
  assert.deepEqual(ctl.state(), []);
  await ctl.track(10, 'svc', [recording]);
  assert.deepEqual(ctl.state(), [{ pid: 10, service: 'svc', deep: true, reason: 'always' }]);
  ctl.forget(10);
  assert.deepEqual(ctl.state(), []);
});
