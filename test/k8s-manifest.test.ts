// deploy/kubernetes/burnwatch-agent.yaml and deploy/Containerfile, checked against what the agent
// really needs and accepts: the Kubernetes schema (kubernetes-models), hostPID, the mounts, the
// systemd unit's capabilities, the agent's flags (parsed by the real CLI), the environment the
// k8s attributes read, and the image's commands against docs/install.md. No container engine or
// cluster runs here: the image is not built and the manifest not applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { AGENT_CAPABILITIES } from '../cli/agent-unit.ts';
import { HOST_KERNEL_PATHS, SIGNAL_REQUIREMENTS } from '../agent/kernel-support.ts';
import { K8S_ATTR, kubeletLogDir, kubernetesAttributes } from '../agent/kubernetes.ts';
import { ROOT } from './lib/processes.ts';

const run = promisify(execFile);
const MANIFEST = path.join(ROOT, 'deploy/kubernetes/burnwatch-agent.yaml');
const CONTAINERFILE = path.join(ROOT, 'deploy/Containerfile');
const DOCS = ['docs/install.md', 'docs/kubernetes.md'].map((d) => path.join(ROOT, d));

interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  emptyDir?: object;
}

function daemonSet() {
  const docs = YAML.parseAllDocuments(fs.readFileSync(MANIFEST, 'utf8')).map((d) => d.toJS());
  const ds = docs.find((d) => d?.kind === 'DaemonSet');
  assert.ok(ds, 'the manifest holds a DaemonSet');
  const pod = ds.spec.template.spec;
  const [container] = pod.containers;
  return { ds, pod, container, mounts: container.volumeMounts as VolumeMount[], volumes: pod.volumes as Volume[] };
}

/** Containerfile instructions, continuation lines joined. */
function containerfile(): { instruction: string; args: string }[] {
  return fs
    .readFileSync(CONTAINERFILE, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
    .map((l) => {
      const [instruction, ...rest] = l.trim().split(/\s+/);
      return { instruction: instruction!.toUpperCase(), args: rest.join(' ') };
    });
}

/** Where in the container `file` comes from: the mount holding it, and that mount's volume. */
function mountOf(file: string, mounts: VolumeMount[], volumes: Volume[]): { mount: VolumeMount; volume: Volume } | undefined {
  const mount = mounts
    .filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  return mount && { mount, volume: volumes.find((v) => v.name === mount.name)! };
}

test('the DaemonSet is valid against the Kubernetes schema, and a broken copy is not', () => {
  const { ds } = daemonSet();
  new DaemonSet(ds).validate();
  const broken = structuredClone(ds);
  broken.spec.template.spec.hostPID = 'true';
  assert.throws(() => new DaemonSet(broken).validate(), /hostPID must be boolean/);
});

test('hostPID, no API access, and the systemd unit\'s capabilities, nothing more', () => {
  const { pod, container } = daemonSet();
  assert.equal(pod.hostPID, true, 'discovery scans every process of the node in /proc');
  assert.equal(pod.automountServiceAccountToken, false);
  const sc = container.securityContext;
  assert.notEqual(sc.privileged, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.runAsUser, 0, 'Kubernetes gives added capabilities to uid 0 only');
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].sort(), AGENT_CAPABILITIES.map((c) => c.replace(/^CAP_/, '')).sort());
});

test('the mounts: BTF, tracefs, the spool, the kubelet\'s log directories, the key; each where the agent looks', () => {
  const { container, mounts, volumes } = daemonSet();
  const args: string[] = container.args;
  const flag = (name: string) => {
    const i = args.indexOf(name);
    assert.ok(i >= 0 && i + 1 < args.length, `${name} in the args`);
    return args[i + 1]!;
  };

  const btf = mountOf(HOST_KERNEL_PATHS.btf, mounts, volumes);
  assert.ok(btf, `${HOST_KERNEL_PATHS.btf} is mounted`);
  assert.equal(btf.volume.hostPath?.path, btf.mount.mountPath, 'the host\'s BTF at the same path');
  assert.equal(btf.mount.readOnly, true);

  // tracefs, for the signals attached as perf-event tracepoints: the host's, where the agent looks first.
  assert.ok(SIGNAL_REQUIREMENTS.some((r) => r.needs.includes('tracefs')));
  const tracefs = mountOf(HOST_KERNEL_PATHS.tracefs[0]!, mounts, volumes);
  assert.ok(tracefs, `${HOST_KERNEL_PATHS.tracefs[0]} is mounted`);
  assert.equal(tracefs.volume.hostPath?.path, tracefs.mount.mountPath);

  const spoolDir = flag('--spool-dir');
  const spool = mountOf(spoolDir, mounts, volumes);
  assert.ok(spool?.volume.hostPath, `--spool-dir ${spoolDir} is on a hostPath (batches outlive the pod)`);
  assert.notEqual(spool.mount.readOnly, true);
  assert.equal(spool.volume.hostPath.type, 'DirectoryOrCreate');

  for (const dir of ['pods', 'containers']) {
    const where = path.join(kubeletLogDir({}), dir);
    const m = mountOf(where, mounts, volumes);
    assert.ok(m, `${where} is mounted`);
    assert.equal(m.volume.hostPath?.path, where);
    assert.equal(m.mount.readOnly, true);
  }

  const keyFile = flag('--api-key-file');
  const key = mountOf(keyFile, mounts, volumes);
  assert.ok(key?.volume.secret, '--api-key-file comes from a Secret');
  assert.equal(key.volume.secret.defaultMode, 0o400, 'the agent warns about a key file others can read');
  assert.deepEqual(
    key.volume.secret.items?.map((i) => path.join(key.mount.mountPath, i.path)),
    [keyFile],
  );

  if (container.securityContext.readOnlyRootFilesystem) {
    const tmp = mountOf('/tmp/x', mounts, volumes);
    assert.ok(tmp?.volume.emptyDir, 'a writable /tmp for tsx\'s cache');
  }
});

test('the container\'s command is one the agent accepts: the image\'s entrypoint and the args, parsed by the real CLI', async () => {
  const { container } = daemonSet();
  const entrypoint = containerfile().find((i) => i.instruction === 'ENTRYPOINT');
  assert.ok(entrypoint);
  assert.deepEqual(JSON.parse(entrypoint.args), ['burnwatch']);
  const args: string[] = container.args;
  assert.equal(args[0], 'agent');
  // parseArgs is strict: an unknown flag or a missing value exits 2; --help then exits 0 before anything starts.
  const r = await run(process.execPath, [path.join(ROOT, 'bin/burnwatch.js'), ...args, '--help']);
  assert.match(r.stdout, /^Usage: burnwatch agent/);
  const bad = await run(process.execPath, [path.join(ROOT, 'bin/burnwatch.js'), ...args, '--spool-directory', '/x', '--help']).catch((e) => e);
  assert.equal(bad.code, 2, 'the same check refuses a flag the agent does not have');

  // Every $(VAR) in the args is defined in the container's env (Kubernetes leaves unknown ones as written).
  const env = new Map((container.env as { name: string }[]).map((e) => [e.name, e]));
  for (const a of args) for (const m of a.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) assert.ok(env.has(m[1]!), `$(${m[1]}) is not in env`);
});

test('the node\'s name reaches k8s.node.name: the downward API sets the variable the agent reads', () => {
  const { container } = daemonSet();
  const fromNodeName = (container.env as { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]).filter(
    (e) => e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName',
  );
  assert.equal(fromNodeName.length, 1);
  const env = { [fromNodeName[0]!.name]: 'node-7' };
  const attrs = kubernetesAttributes(`0::/kubepods/besteffort/pod${'0'.repeat(8)}-1111-2222-3333-${'4'.repeat(12)}/${'a'.repeat(64)}\n`, env);
  assert.equal(attrs?.[K8S_ATTR.nodeName], 'node-7');
});

/** The Debian package owning a library, under any of its names (usrmerge registers some under /lib, some under /usr/lib). */
async function packageOwning(lib: string): Promise<string> {
  const names = new Set<string>();
  for (const p of [lib, fs.realpathSync(lib)]) {
    names.add(p);
    names.add(p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
  }
  for (const name of names) {
    const r = await run('dpkg', ['-S', name]).catch(() => undefined);
    if (r) return r.stdout.split(':')[0]!;
  }
  throw new Error(`no package owns ${lib}`);
}

test('the Containerfile installs the package with the docs\' commands, and the libraries it adds are the addon\'s', async () => {
  const steps = containerfile();
  const doc = DOCS.map((d) => fs.readFileSync(d, 'utf8')).join('\n');
  const docCommands = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')).map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  const runCommands = steps.filter((s) => s.instruction === 'RUN').flatMap((s) => s.args.split('&&').map((c) => c.trim()));

  // The npm install is the documented one, the tarball's path aside.
  const npmInstall = runCommands.find((c) => c.startsWith('npm install -g'));
  assert.ok(npmInstall);
  const withoutTarball = (c: string) => c.split(/\s+/).filter((w) => !w.endsWith('.tgz')).join(' ');
  assert.ok(
    docCommands.some((c) => c.startsWith('npm install -g') && withoutTarball(c) === withoutTarball(npmInstall)),
    `"${npmInstall}" is not docs/install.md's install command`,
  );
  // The system packages are the documented runtime libraries.
  const aptInstall = runCommands.find((c) => c.startsWith('apt-get install'));
  assert.ok(aptInstall);
  const packages = (c: string) => c.split(/\s+/).slice(2).filter((w) => !w.startsWith('-')).sort();
  const docApt = docCommands.find((c) => c.startsWith('apt-get install') && packages(c).includes('libelf1'));
  assert.ok(docApt, 'docs/install.md names the runtime libraries');
  assert.deepEqual(packages(aptInstall), packages(docApt));
  // The image builds from `npm pack`'s tarball, as docs/install.md says to make it.
  assert.ok(steps.some((s) => s.instruction === 'COPY' && /^burnwatch-\*\.tgz\s/.test(s.args)));
  assert.ok(docCommands.includes('npm pack'));
  // The image the documented build makes is the one the DaemonSet runs.
  const build = docCommands.find((c) => /^(podman|docker) build /.test(c) && c.includes('-f deploy/Containerfile'));
  assert.ok(build, 'the docs say how to build the image');
  assert.equal(/-t (\S+)/.exec(build)?.[1], daemonSet().container.image);

  // Each shared library the addon loads comes from those packages (or their dependencies), or from
  // the C and C++ runtimes every Node image has.
  const ldd = (await run('ldd', [path.join(ROOT, 'agent/native/build/Release/burnwatch_bpf.node')])).stdout;
  const libs = [...ldd.matchAll(/=> (\/\S+)/g)].map((m) => m[1]!);
  assert.ok(libs.some((l) => l.includes('libelf')));
  const listed = packages(aptInstall);
  const deps = new Set(listed);
  for (const p of listed) {
    const { stdout } = await run('dpkg-query', ['-W', '-f=${Depends}', p]);
    for (const d of stdout.split(/[,|]/)) deps.add(d.trim().split(/[\s:]/)[0]!);
  }
  const nodeRuntime = new Set(['libc6', 'libstdc++6', 'libgcc-s1']);
  for (const lib of libs) {
    const pkg = await packageOwning(lib);
    assert.ok(deps.has(pkg) || nodeRuntime.has(pkg), `${lib} (${pkg}) is neither installed by the Containerfile nor in a Node image`);
  }
});
