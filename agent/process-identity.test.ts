// Resources for any process on the host (kernel signals are not only about Go services):
// service.name from the environment or the executable, the container id from the cgroup
// path, the build id from the executable — read from real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ATTR } from '../common/catalogue.ts';
import { identifyProcess, ProcessResources } from './process-identity.ts';
import { plainCgroup } from '../test/helpers/kernel-faults.ts';

function sleeper(env: NodeJS.ProcessEnv) {
  const child = spawn('sleep', ['30'], { env, stdio: 'ignore' });
  return child;
}

test('a non-Go process in a container-like cgroup: OTEL_SERVICE_NAME, container id, build id', async (t) => {
  const containerId = randomBytes(32).toString('hex');
  const cg = plainCgroup(`docker-${containerId}.scope`);
  const child = sleeper({ ...process.env, OTEL_SERVICE_NAME: 'bw-kernel-test' });
  t.after(async () => {
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    cg.remove();
  });
  cg.add(child.pid!);
  const id = await identifyProcess(child.pid!);
  const expectedBuildId = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', '/proc/' + child.pid + '/exe'], { encoding: 'utf8' }))![1];
  assert.equal(id?.serviceName, 'bw-kernel-test');
  assert.equal(id?.containerId, containerId);
  assert.equal(id?.comm, 'sleep');
  assert.equal(id?.buildId, expectedBuildId);

  const resource = await new ProcessResources('host-a').resourceOf(child.pid!);
  assert.equal(resource[ATTR.serviceName], 'bw-kernel-test');
  assert.equal(resource[ATTR.containerId], containerId);
  assert.equal(resource[ATTR.processPid], child.pid);
  assert.equal(resource[ATTR.hostName], 'host-a');
  assert.equal(resource[ATTR.buildId], expectedBuildId);
});

test('without OTEL_SERVICE_NAME the executable names the service; a gone process keeps what was remembered', async () => {
  const env = { ...process.env };
  delete env.OTEL_SERVICE_NAME;
  delete env.OTEL_RESOURCE_ATTRIBUTES;
  const child = sleeper(env);
  const resources = new ProcessResources('host-a');
  const before = await resources.resourceOf(child.pid!);
  assert.equal(before[ATTR.serviceName], 'sleep');
  assert.equal(before[ATTR.containerId], undefined);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  // Reaped: /proc no longer has it, the cached identity answers.
  assert.equal(await identifyProcess(child.pid!), undefined);
  assert.equal((await resources.resourceOf(child.pid!))[ATTR.serviceName], 'sleep');
  // Never seen and gone: only the pid is known.
  assert.equal((await new ProcessResources('host-a').resourceOf(child.pid!))[ATTR.serviceName], `pid-${child.pid}`);
});
