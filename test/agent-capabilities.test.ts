// The systemd unit's capability list, proven for real: the agent run as a non-root uid with
// exactly those capabilities (ambient, inheritable and bounding set, no_new_privs — what
// DynamicUser + AmbientCapabilities + CapabilityBoundingSet + NoNewPrivileges give it) by
// util-linux's setpriv loads its BPF programs, counts a root-owned Go service's requests exactly,
// and reads its kernel signals and goroutine count; and without each one of them something the
// agent needs fails (uprobes refused, a service's name lost, other users' processes unwatched).
// systemd itself cannot run the unit here (PID 1 is not systemd), so setpriv stands in for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_CAPABILITIES } from '../cli/agent-unit.ts';
import { ROOT, freePort, getJson, manage, sendRequests, startFixture, startGatewayProcess, tempDir, waitFor, type Managed } from './lib/processes.ts';

const KEY = 'caps-test-key-0123456789';
const NOBODY = 65534;
const METRIC = 'http.server.request.duration';

/** Capability numbers as systemd names them (`systemd-analyze capability`), not a table of ours. */
function capabilityNumbers(): Map<string, number> {
  const out = execFileSync('systemd-analyze', ['capability'], { encoding: 'utf8' });
  return new Map([...out.matchAll(/^(cap_\w+)\s+(\d+)$/gm)].map((m) => [m[1].toUpperCase(), Number(m[2])]));
}

/** The agent as uid/gid 65534 holding exactly `caps`, with its key file and spool owned by that uid. */
function agentWithCapabilities(caps: readonly string[], endpoint: string, extraArgs: readonly string[] = []): Managed {
  const dir = tempDir('bw-caps');
  fs.chownSync(dir, NOBODY, NOBODY);
  const keyFile = path.join(dir, 'api-key');
  fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  fs.chownSync(keyFile, NOBODY, NOBODY);
  const set = ['-all', ...caps.map((c) => `+${c.toLowerCase().replace(/^cap_/, '')}`)].join(',');
  const child = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--no-new-privs',
      `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`,
      '--', process.execPath, path.join(ROOT, 'bin/burnwatch.js'),
      'agent', '--endpoint', endpoint, '--api-key-file', keyFile, '--spool-dir', path.join(dir, 'spool'), '--interval', '1s', ...extraArgs,
    ],
    { cwd: dir, env: { ...process.env, HOME: dir, BURNWATCH_API_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return manage(child);
}

function capabilitySet(pid: number, field: 'CapEff' | 'CapBnd' | 'CapAmb'): bigint {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return BigInt(`0x${new RegExp(`^${field}:\\s+([0-9a-f]+)$`, 'm').exec(status)![1]}`);
}

async function scalar(base: string, service: string, metric: string, agg: string): Promise<number> {
  const r = await getJson(`${base}/v1/query?service=${service}&metric=${metric}&agg=${agg}&from=-30m&to=now`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const series = (r.body as { series: { points: [number, number][] }[] }).series;
  return series.length ? series[0].points[0][1] : 0;
}

test('the agent with exactly the unit\'s capabilities, as a non-root uid, counts a Go service\'s requests and reads its kernel signals', { timeout: 180_000 }, async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gateway = await startGatewayProcess(port, tempDir('bw-caps-gw'), KEY);
  t.after(() => gateway.stop());
  const service = `caps-${process.pid}`;
  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  t.after(() => fixture.stop());

  const agent = agentWithCapabilities(AGENT_CAPABILITIES, base);
  t.after(() => agent.stop());
  const line = await waitFor(`the agent to instrument pid ${fixture.pid}`, () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().split('\n').find((l) => l.includes(`instrumenting pid ${fixture.pid} `));
  }, 60_000, 100);
  assert.match(line, /: http-server, go-calls, go-waits$/, 'every Go probe set attached');

  // What the process holds is exactly the list: nothing more in effect, ambient or bounding.
  const numbers = capabilityNumbers();
  const mask = AGENT_CAPABILITIES.reduce((m, c) => m | (1n << BigInt(numbers.get(c)!)), 0n);
  const agentPid = agent.child.pid!;
  assert.equal(fs.statSync(`/proc/${agentPid}`).uid, NOBODY);
  assert.equal(capabilitySet(agentPid, 'CapEff'), mask);
  assert.equal(capabilitySet(agentPid, 'CapAmb'), mask);
  assert.equal(capabilitySet(agentPid, 'CapBnd'), mask);

  const urls = [
    ...Array.from({ length: 30 }, (_, i) => `${fixture.url}/users/${i}`),
    ...Array.from({ length: 7 }, () => `${fixture.url}/fail`),
  ];
  const statuses = await sendRequests(urls);
  assert.deepEqual(Object.fromEntries(statuses), { 200: 30, 500: 7 });
  await waitFor('37 requests to be counted', async () => ((await scalar(base, service, METRIC, 'count')) === 37 ? true : undefined), 60_000, 500).catch(async (err) => {
    throw new Error(`${(err as Error).message}; counted ${await scalar(base, service, METRIC, 'count')}; agent:\n${agent.output()}`);
  });
  assert.equal(await scalar(base, service, METRIC, 'errors'), 7);
  // /proc/PID/mem of a root-owned process (CAP_SYS_PTRACE): the goroutine count arrives.
  await waitFor('the goroutine count', async () => ((await scalar(base, service, 'go.goroutine.count', 'max')) > 0 ? true : undefined), 30_000, 500);
  // Kernel signals (tracepoints): the service's CPU time is measured.
  await waitFor('the service\'s CPU time', async () => {
    const r = await getJson(`${base}/v1/processes?from=-30m&to=now&service=${service}`, KEY);
    const row = (r.body as { processes: { pid: number; cpu_cores: number }[] }).processes.find((p) => p.pid === fixture.pid);
    return row && row.cpu_cores > 0 ? true : undefined;
  }, 30_000, 500);
  // Every collector loaded, and nothing about this service failed (other processes on the host
  // are not ours to judge: a binary only its owner may read is another matter).
  assert.doesNotMatch(agent.output(), /unavailable on this kernel/);
  const aboutFixture = agent.output().split('\n').filter((l) => l.includes(`pid ${fixture.pid} `));
  assert.deepEqual(aboutFixture.filter((l) => /fail|denied|not attaching|skipped|EACCES|EPERM/i.test(l)), []);
});

test('without CAP_SYS_ADMIN the uprobes are refused (CAP_BPF and CAP_PERFMON do not stand in for it)', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gateway = await startGatewayProcess(port, tempDir('bw-caps-gw'), KEY);
  t.after(() => gateway.stop());
  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: `caps-nosysadmin-${process.pid}` });
  t.after(() => fixture.stop());
  const caps = [...AGENT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'), 'CAP_BPF', 'CAP_PERFMON'];
  // --probes always: the plaintext-only fixture's server requests would otherwise go to the
  // syscall path, with no HTTP server uprobe to refuse.
  const agent = agentWithCapabilities(caps, base, ['--probes', 'always']);
  t.after(() => agent.stop());
  const refused = await waitFor(`pid ${fixture.pid}'s uprobe to be refused`, () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().split('\n').find((l) => l.includes(`not attaching to pid ${fixture.pid} `));
  }, 60_000, 100);
  assert.match(refused, /failed to create uprobe .* perf event: Permission denied/);
});

test('without CAP_DAC_READ_SEARCH a root-owned service\'s environment is unreadable (0400): its OTEL_SERVICE_NAME is lost', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const gateway = await startGatewayProcess(port, tempDir('bw-caps-gw'), KEY);
  t.after(() => gateway.stop());
  const service = `caps-nodac-${process.pid}`;
  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  t.after(() => fixture.stop());
  const agent = agentWithCapabilities(AGENT_CAPABILITIES.filter((c) => c !== 'CAP_DAC_READ_SEARCH'), `http://127.0.0.1:${port}`);
  t.after(() => agent.stop());
  const line = await waitFor(`the agent to instrument pid ${fixture.pid}`, () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().split('\n').find((l) => l.includes(`instrumenting pid ${fixture.pid} `));
  }, 60_000, 100);
  assert.match(line, /\(httpserver, go/, 'named after its executable');
  assert.ok(!line.includes(service));
});

test('without CAP_SYS_PTRACE only the agent\'s own user\'s processes are watched', { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const gateway = await startGatewayProcess(port, tempDir('bw-caps-gw'), KEY);
  t.after(() => gateway.stop());
  const rootOwned = await startFixture('httpserver', { OTEL_SERVICE_NAME: `caps-root-${process.pid}` });
  t.after(() => rootOwned.stop());
  const agent = agentWithCapabilities(AGENT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_PTRACE'), `http://127.0.0.1:${port}`);
  t.after(() => agent.stop());
  // A Go process of the agent's own uid, started after the root-owned one: once it is
  // instrumented, discovery has passed over the root-owned one too.
  const dir = tempDir('bw-caps-own');
  fs.chownSync(dir, NOBODY, NOBODY);
  const own = manage(spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', path.join(ROOT, 'test/fixtures/go/bin/httpserver'), '-addr', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
  t.after(() => own.stop());
  await waitFor(`the agent to instrument its own user's pid ${own.child.pid}`, () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().includes(`instrumenting pid ${own.child.pid} `) ? true : undefined;
  }, 60_000, 100);
  assert.ok(!agent.output().includes(`instrumenting pid ${rootOwned.pid} `), agent.output());
});
