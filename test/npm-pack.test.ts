// The package as users get it: `npm pack` of this checkout, installed from the tarball into a
// temporary prefix the way `npm install -g` does (dependencies from the registry), then the
// installed `burnwatch` run for real — gateway and agent from the installed copy, counting a Go
// service's requests. Once with the prebuilt BPF objects and addon, once with prebuilts that do
// not fit this machine, which the install must build.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, freePort, getJson, manage, sendRequests, tempDir, waitFor, type Managed } from './lib/processes.ts';

const run = promisify(execFile);
const KEY = 'npm-pack-test-key-0123456789';
const ADDON = 'agent/native/build/Release/burnwatch_bpf.node';

/** npm's environment without what an enclosing `npm test` would leak into it (prefix, scripts). */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

interface Packed {
  tarball: string;
  files: string[];
}

let packed: Promise<Packed> | undefined;

/** `npm pack` once for the whole file (prepack builds what is out of date). */
function pack(): Promise<Packed> {
  packed ??= (async () => {
    const dest = tempDir('bw-pack');
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: ROOT, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 });
    const [info] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path) };
  })();
  return packed;
}

/** Installs `tarball` under a fresh prefix; returns the prefix and the install's output (postinstall's lines included). */
async function installGlobally(tarball: string): Promise<{ prefix: string; packageDir: string; output: string }> {
  const prefix = tempDir('bw-prefix');
  const { stdout, stderr } = await run(
    'npm',
    ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball],
    { cwd: prefix, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 },
  );
  return { prefix, packageDir: path.join(prefix, 'lib/node_modules/burnwatch'), output: stdout + stderr };
}

/** Relative imports of the packed TypeScript, as written (`from '…'`, `import('…')`). */
function relativeImports(source: string): string[] {
  return [...source.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
}

function managedBin(prefix: string, args: string[], env: Record<string, string> = {}): Managed {
  return manage(
    spawn(path.join(prefix, 'bin/burnwatch'), args, { cwd: prefix, env: { ...npmEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

/**
 * The installed copy at work: its gateway, its agent (the key from a 0600 file), and the demo Go
 * service it ships, whose requests must arrive counted exactly.
 */
async function installedAgentCountsRequests(prefix: string, packageDir: string, stops: (() => Promise<unknown>)[]): Promise<void> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gateway = managedBin(prefix, ['gateway', '--port', String(port), '--data-dir', tempDir('bw-pack-data')], { BURNWATCH_API_KEY: KEY });
  stops.push(() => gateway.stop());
  await waitFor('the installed gateway to serve', async () => {
    if (gateway.child.exitCode !== null) throw new Error(`gateway exited: ${gateway.output()}`);
    return (await getJson(`${base}/healthz`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined;
  }, 60_000);

  const keyFile = path.join(tempDir('bw-pack-key'), 'api-key');
  fs.writeFileSync(keyFile, KEY, { mode: 0o600 });
  const agent = managedBin(prefix, ['agent', '--endpoint', base, '--api-key-file', keyFile, '--interval', '1s', '--spool-dir', tempDir('bw-pack-spool')]);
  stops.push(() => agent.stop());
  await waitFor('the installed agent to start', () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().includes(`shipping to ${base}`) ? true : undefined;
  }, 60_000);

  const service = `npm-pack-${process.pid}-${Date.now() % 100_000}`;
  const portFile = path.join(tempDir('bw-pack-demo'), 'port');
  const demoBin = path.join(packageDir, 'test/fixtures/go/bin/httpserver');
  const demo = manage(spawn(demoBin, ['-addr', '127.0.0.1:0', '-port-file', portFile], { env: { ...process.env, OTEL_SERVICE_NAME: service }, stdio: ['ignore', 'pipe', 'pipe'] }));
  stops.push(() => demo.stop());
  const demoPort = await waitFor('the demo service to listen', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8')) || undefined, 10_000, 20);
  await waitFor(`the agent to instrument pid ${demo.child.pid}`, () => (agent.output().includes(`instrumenting pid ${demo.child.pid} `) ? true : undefined), 20_000, 100);

  const urls = [...Array.from({ length: 25 }, (_, i) => `http://127.0.0.1:${demoPort}/users/${i}`), ...Array.from({ length: 5 }, () => `http://127.0.0.1:${demoPort}/fail`)];
  assert.deepEqual(Object.fromEntries(await sendRequests(urls)), { 200: 25, 500: 5 });
  const row = await waitFor('the requests to reach the installed gateway', async () => {
    const r = await getJson(`${base}/v1/services`, KEY);
    const s = r.body.services?.find((x: { name: string }) => x.name === service);
    return s && s.requests === urls.length ? s : undefined;
  }, 60_000, 500);
  assert.equal(row.errors, 5);
  assert.doesNotMatch(agent.output(), /unavailable on this kernel|cannot load the libbpf addon/);
  // A clean exit after the flush (generous: a loaded machine's gateway may take its time to answer).
  assert.equal(await agent.stop('SIGINT', 60_000), 0, agent.output());
}

// The three share one `npm pack` and otherwise only the npm cache (safe for concurrent installs):
// they run side by side, so the addon and BPF build of the last overlaps the others' installs and agents.
describe('the npm package', { concurrency: true }, () => {
  test('npm pack: a publishable tarball with the CLI, its prebuilt BPF objects and addon, and every file its code imports', { timeout: 300_000 }, async () => {
    const { tarball, files } = await pack();
    const has = new Set(files);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.private, undefined, 'a private package cannot be published');
    for (const f of ['bin/burnwatch.js', ADDON, 'bpf/build/TARGET_ARCH', 'scripts/postinstall', 'scripts/build-addon', 'bpf/Makefile', 'lambda/dashboard/dist/assets.js', 'docs/agent-service.md', 'docs/install.md', 'docs/kubernetes.md', 'deploy/Containerfile', 'deploy/kubernetes/burnwatch-agent.yaml', 'README.md']) {
      assert.ok(has.has(f), `${f} is not in the package`);
    }
    // Every program the agent loads, prebuilt, with the sources to rebuild it; test programs neither.
    const programs = fs.readdirSync(path.join(ROOT, 'bpf')).filter((f) => f.endsWith('.bpf.c') && !f.endsWith('_test.bpf.c'));
    assert.ok(programs.includes('http_server.bpf.c'));
    for (const c of programs) {
      assert.ok(has.has(`bpf/${c}`), `bpf/${c} missing`);
      assert.ok(has.has(`bpf/build/${c.replace(/\.c$/, '.o')}`), `bpf/build/${c.replace(/\.c$/, '.o')} missing`);
    }
    assert.deepEqual(files.filter((f) => /_test\.bpf\.[co]$|\.test\.ts$|^(bench|infra)\//.test(f) || (f.startsWith('test/') && !f.startsWith('test/fixtures/go/'))), []);
    // The CLI is TypeScript run from source: each relative import must be in the package.
    const unresolved: string[] = [];
    for (const f of files.filter((x) => x.endsWith('.ts'))) {
      for (const spec of relativeImports(fs.readFileSync(path.join(ROOT, f), 'utf8'))) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), spec));
        if (!has.has(target)) unresolved.push(`${f} → ${spec}`);
      }
    }
    assert.deepEqual(unresolved, []);
    assert.equal(fs.readFileSync(path.join(ROOT, 'bpf/build/TARGET_ARCH'), 'utf8').trim(), (await run('uname', ['-m'])).stdout.trim());

    const { stdout, stderr } = await run('npm', ['publish', '--dry-run', tarball], { cwd: path.dirname(tarball), env: npmEnv() });
    assert.match(stdout + stderr, new RegExp(`\\+ burnwatch@${pkg.version.replace(/\./g, '\\.')}`));
  });

  test('installed from the tarball: the prebuilt objects and addon are kept, and the installed agent counts a Go service\'s requests', { timeout: 300_000 }, async (t) => {
    const { tarball } = await pack();
    const { prefix, packageDir, output } = await installGlobally(tarball);
    t.after(() => fs.rmSync(prefix, { recursive: true, force: true }));
    assert.match(output, /burnwatch postinstall: prebuilt BPF objects fit /);
    assert.match(output, /burnwatch postinstall: prebuilt libbpf addon loads/);
    assert.deepEqual(fs.readFileSync(path.join(packageDir, ADDON)), fs.readFileSync(path.join(ROOT, ADDON)), 'the prebuilt addon was replaced');
    assert.deepEqual(fs.readFileSync(path.join(packageDir, 'bpf/build/http_server.bpf.o')), fs.readFileSync(path.join(ROOT, 'bpf/build/http_server.bpf.o')));

    const help = await run(path.join(prefix, 'bin/burnwatch'), ['--help'], { env: npmEnv() });
    for (const command of ['up', 'agent', 'gateway', 'doctor']) assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'));
    const doctor = await run(path.join(prefix, 'bin/burnwatch'), ['doctor'], { env: npmEnv() });
    assert.match(doctor.stdout, /^  http-server +works /m);

    const stops: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const stop of stops.reverse()) await stop();
    });
    await installedAgentCountsRequests(prefix, packageDir, stops);
  });

  test('installed where the prebuilts do not fit: the install builds the BPF objects and the addon, and the agent runs on them', { timeout: 900_000 }, async (t) => {
    const { tarball } = await pack();
    // The same package, as if built on another architecture: the objects stamped for it and an
    // addon this machine cannot load.
    const work = tempDir('bw-pack-foreign');
    t.after(() => fs.rmSync(work, { recursive: true, force: true }));
    await run('tar', ['-xzf', tarball, '-C', work]);
    const arch = (await run('uname', ['-m'])).stdout.trim();
    fs.writeFileSync(path.join(work, 'package/bpf/build/TARGET_ARCH'), arch === 'aarch64' ? 'x86_64\n' : 'aarch64\n');
    fs.writeFileSync(path.join(work, 'package', ADDON), 'not a shared object');
    const foreign = path.join(work, 'burnwatch-foreign.tgz');
    await run('tar', ['-czf', foreign, '-C', work, 'package']);

    const installStarted = Date.now();
    const { prefix, packageDir, output } = await installGlobally(foreign);
    t.after(() => fs.rmSync(prefix, { recursive: true, force: true }));
    assert.match(output, /prebuilt BPF objects are for aarch64|prebuilt BPF objects are for x86_64/);
    assert.match(output, new RegExp(`built the BPF objects for ${arch}`));
    assert.match(output, /prebuilt libbpf addon does not load here: building it/);
    assert.match(output, /built the libbpf addon/);
    assert.equal(fs.readFileSync(path.join(packageDir, 'bpf/build/TARGET_ARCH'), 'utf8').trim(), arch);
    for (const o of fs.readdirSync(path.join(packageDir, 'bpf/build')).filter((f) => f.endsWith('.bpf.o'))) {
      assert.ok(fs.statSync(path.join(packageDir, 'bpf/build', o)).mtimeMs >= installStarted, `${o} was not rebuilt`);
    }
    await run(process.execPath, ['-e', 'require(process.argv[1])', path.join(packageDir, ADDON)]);

    const stops: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const stop of stops.reverse()) await stop();
    });
    await installedAgentCountsRequests(prefix, packageDir, stops);
  });
});
