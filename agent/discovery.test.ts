import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildGoFixture } from '../test/helpers/go.ts';
import { inspectGoBinary } from './goinspect/index.ts';
import {
  ProcessDiscovery,
  containerIdFromCgroup,
  parseProcStat,
  serviceNameFromEnviron,
  type DiscoveredProcess,
} from './discovery.ts';

async function startProcess(file: string, args: string[], env: Record<string, string> = {}): Promise<ChildProcess & { pid: number }> {
  const child = spawn(file, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: 'ignore' });
  await once(child, 'spawn'); // after exec
  return child as ChildProcess & { pid: number };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/** Records events; the host runs other processes, so tests look only at their own pids. */
function record(d: ProcessDiscovery) {
  const started: DiscoveredProcess[] = [];
  const exited: DiscoveredProcess[] = [];
  d.on('started', (p) => started.push(p));
  d.on('exited', (p) => exited.push(p));
  return {
    started: (pid: number) => started.filter((p) => p.pid === pid),
    exited: (pid: number) => exited.filter((p) => p.pid === pid),
  };
}

const fixtureArgs = ['-addr', '127.0.0.1:0'];

test('a Go process with OTEL_SERVICE_NAME is started within one scan, and exited after it dies', async () => {
  const bin = await buildGoFixture('httpserver');
  const d = new ProcessDiscovery();
  const ev = record(d);
  await d.scan();
  const child = await startProcess(bin, fixtureArgs, { OTEL_SERVICE_NAME: 'checkout-api' });
  try {
    await d.scan();
    const [p] = ev.started(child.pid);
    assert.ok(p, 'started after one scan');
    assert.equal(p.serviceName, 'checkout-api');
    assert.equal(p.serviceNameSource, 'OTEL_SERVICE_NAME');
    assert.equal(p.exePath, `/proc/${child.pid}/exe`);
    assert.equal(p.exeTarget, bin);
    assert.equal(p.exeDeleted, false);
    const stat = parseProcStat(await readFile(`/proc/${child.pid}/stat`, 'utf8'))!;
    assert.equal(p.startTime, stat.startTime);
    assert.ok(Math.abs(p.startTimeUnixMs - Date.now()) < 60_000, `start time ${new Date(p.startTimeUnixMs).toISOString()}`);
    assert.equal(p.containerId, undefined);
    assert.deepEqual(d.processes().filter((x) => x.pid === child.pid), [p]);
    // The path handed to the agent is one the inspector (and libbpf) can open.
    const info = await inspectGoBinary(p.exePath);
    assert.ok(!('reason' in info));
    assert.equal(info.fileKey, p.fileKey);
    assert.equal(info.probeSets.httpServer?.offsetSources.requestMethod, 'dwarf');

    await d.scan();
    assert.equal(ev.started(child.pid).length, 1, 'no second started for a known process');
    await stopProcess(child);
    await d.scan();
    assert.deepEqual(ev.exited(child.pid), [p]);
    assert.equal(d.processes().some((x) => x.pid === child.pid), false);
  } finally {
    await stopProcess(child);
  }
});

test('without OTEL_SERVICE_NAME the executable name is the service name; OTEL_RESOURCE_ATTRIBUTES is honoured', async () => {
  const bin = await buildGoFixture('httpserver');
  const d = new ProcessDiscovery();
  const ev = record(d);
  const plain = await startProcess(bin, fixtureArgs);
  const attrs = await startProcess(bin, fixtureArgs, { OTEL_RESOURCE_ATTRIBUTES: 'team=pay,service.name=checkout%20api' });
  try {
    await d.scan();
    assert.equal(ev.started(plain.pid)[0]?.serviceName, 'httpserver');
    assert.equal(ev.started(plain.pid)[0]?.serviceNameSource, 'executable');
    assert.equal(ev.started(attrs.pid)[0]?.serviceName, 'checkout api');
    assert.equal(ev.started(attrs.pid)[0]?.serviceNameSource, 'OTEL_RESOURCE_ATTRIBUTES');
  } finally {
    await Promise.all([stopProcess(plain), stopProcess(attrs)]);
  }
});

test('non-Go processes are not reported', async () => {
  const d = new ProcessDiscovery();
  const ev = record(d);
  const child = await startProcess('/bin/sleep', ['30']);
  try {
    await d.scan();
    assert.deepEqual(ev.started(child.pid), []);
    assert.ok(d.processes().every((p) => p.pid !== process.pid && p.pid !== child.pid));
  } finally {
    await stopProcess(child);
  }
});

test('a shell that execs a Go server later is reported once the exec happened (same pid, same start time)', async () => {
  const bin = await buildGoFixture('httpserver');
  const d = new ProcessDiscovery();
  const ev = record(d);
  const child = await startProcess('/bin/sh', ['-c', `sleep 0.4; exec ${bin} -addr 127.0.0.1:0`], { OTEL_SERVICE_NAME: 'late' });
  try {
    await d.scan();
    assert.deepEqual(ev.started(child.pid), [], 'the shell is not Go');
    for (let i = 0; i < 50 && ev.started(child.pid).length === 0; i++) {
      await sleep(100);
      await d.scan();
    }
    assert.equal(ev.started(child.pid)[0]?.serviceName, 'late');
    assert.equal(ev.exited(child.pid).length, 0);
  } finally {
    await stopProcess(child);
  }
});

test('a deleted executable is still found and inspectable through /proc/PID/exe', async () => {
  const bin = await buildGoFixture('httpserver');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'discovery-'));
  const copy = path.join(dir, 'orders-svc');
  await copyFile(bin, copy);
  const child = await startProcess(copy, fixtureArgs);
  try {
    await unlink(copy);
    const d = new ProcessDiscovery();
    const ev = record(d);
    await d.scan();
    const [p] = ev.started(child.pid);
    assert.ok(p);
    assert.equal(p.exeDeleted, true);
    assert.equal(p.exeTarget, copy);
    assert.equal(p.serviceName, 'orders-svc');
    const info = await inspectGoBinary(p.exePath);
    assert.ok(!('reason' in info), 'reason' in info ? info.reason : '');
    assert.equal(info.probeSets.httpServer?.points.serveHttp.kind, 'stack-check-jbe');
  } finally {
    await stopProcess(child);
    await rm(dir, { recursive: true, force: true });
  }
});

/** The cgroup2 mount point, from mountinfo. */
async function cgroup2Mount(): Promise<string> {
  const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => / - cgroup2 /.test(l));
  assert.ok(line, 'a cgroup2 hierarchy is mounted');
  return line.split(' ')[4]!;
}

test('the container id comes from a 64-hex cgroup path (a real cgroup, named as Docker names them)', async () => {
  const bin = await buildGoFixture('httpserver');
  const id = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)).toString('hex');
  const cg = path.join(await cgroup2Mount(), `docker-${id}.scope`);
  await mkdir(cg, { recursive: true }); // tolerates a leftover from an interrupted run
  const child = await startProcess(bin, fixtureArgs);
  try {
    await writeFile(path.join(cg, 'cgroup.procs'), String(child.pid));
    const d = new ProcessDiscovery();
    const ev = record(d);
    await d.scan();
    assert.equal(ev.started(child.pid)[0]?.containerId, id);
  } finally {
    await stopProcess(child);
    await rmdir(cg);
  }
});

test('start() scans on a timer: a process started later is reported, stop() ends it', async () => {
  const bin = await buildGoFixture('httpserver');
  const d = new ProcessDiscovery({ intervalMs: 100 });
  const ev = record(d);
  await d.start();
  const child = await startProcess(bin, fixtureArgs, { OTEL_SERVICE_NAME: 'timer' });
  try {
    for (let i = 0; i < 100 && ev.started(child.pid).length === 0; i++) await sleep(50);
    assert.equal(ev.started(child.pid)[0]?.serviceName, 'timer');
    await stopProcess(child);
    for (let i = 0; i < 100 && ev.exited(child.pid).length === 0; i++) await sleep(50);
    assert.equal(ev.exited(child.pid).length, 1);
  } finally {
    d.stop();
    await stopProcess(child);
  }
});

test('parseProcStat counts fields from the last parenthesis (comm may hold spaces and parens)', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  fields[19] = '123456';
  const stat = parseProcStat(`4242 (we (ird) name) ${fields.join(' ')}\n`);
  assert.deepEqual(stat, { comm: 'we (ird) name', startTime: 123456 });
  assert.equal(parseProcStat('garbage'), undefined);
});

test('serviceNameFromEnviron: OTEL_SERVICE_NAME wins, empty values are unset', () => {
  const env = (...kv: string[]) => Buffer.from(kv.join('\0') + '\0');
  assert.deepEqual(serviceNameFromEnviron(env('A=1', 'OTEL_SERVICE_NAME=api', 'OTEL_RESOURCE_ATTRIBUTES=service.name=other')), {
    name: 'api',
    source: 'OTEL_SERVICE_NAME',
  });
  assert.deepEqual(serviceNameFromEnviron(env('OTEL_SERVICE_NAME=', 'OTEL_RESOURCE_ATTRIBUTES=a=b, service.name = x%2Cy ')), {
    name: 'x,y',
    source: 'OTEL_RESOURCE_ATTRIBUTES',
  });
  assert.equal(serviceNameFromEnviron(env('PATH=/bin')), undefined);
  assert.equal(serviceNameFromEnviron(undefined), undefined);
});

test('containerIdFromCgroup: Docker, containerd, CRI-O, cgroup v1 and v2 forms; none on the host', () => {
  const id = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
  assert.equal(containerIdFromCgroup(`0::/system.slice/docker-${id}.scope\n`), id);
  assert.equal(containerIdFromCgroup(`12:memory:/docker/${id}\n11:cpu:/docker/${id}\n`), id);
  assert.equal(containerIdFromCgroup(`0::/kubepods.slice/kubepods-pod1234_5678.slice/cri-containerd-${id}.scope\n`), id);
  assert.equal(containerIdFromCgroup(`0::/kubepods/burstable/pod0b0c-11/${id}\n`), id);
  assert.equal(containerIdFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), undefined);
  // 65 hex digits is not an id.
  assert.equal(containerIdFromCgroup(`0::/x/${id}f\n`), undefined);
});
