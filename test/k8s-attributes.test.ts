// k8s.* resource attributes without the Kubernetes API (agent/kubernetes.ts): a real Go process
// moved into real cgroups named the way the kubelet names them (cgroupfs driver on this
// machine's cgroup v1 hierarchies, systemd driver on its cgroup v2 one), a kubelet-style log
// directory for the pods, and the attributes the agent's process identity and discovery give it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { K8S_ATTR, podFromCgroup, podMetadata } from '../agent/kubernetes.ts';
import { identifyProcess, resourceOfIdentity } from '../agent/process-identity.ts';
import { ProcessDiscovery, type DiscoveredProcess } from '../agent/discovery.ts';
import { ATTR } from '../common/catalogue.ts';
import { burnwatch, freePort, getJson, sendRequests, startFixture, startGatewayProcess, tempDir, waitFor, type Fixture } from './lib/processes.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
const name = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;
const containerId = () => randomBytes(32).toString('hex');

test('pod UID and container id from the cgroup paths of both kubelet drivers, runtimes and cgroup namespaces', () => {
  const uid = randomUUID();
  const id = containerId();
  const u = uid.replace(/-/g, '_');
  const cases: [string, string, string | undefined][] = [
    ['cgroupfs v1, containerd', `12:pids:/kubepods/burstable/pod${uid}/${id}\n11:memory:/kubepods/burstable/pod${uid}/${id}\n0::/\n`, id],
    ['cgroupfs, guaranteed, CRI-O', `0::/kubepods/pod${uid}/crio-${id}\n`, id],
    ['systemd v2, containerd', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u}.slice/cri-containerd-${id}.scope\n`, id],
    ['systemd, guaranteed, Docker', `1:name=systemd:/kubepods.slice/kubepods-pod${u}.slice/docker-${id}.scope\n`, id],
    ['inside the agent\'s cgroup namespace', `0::/../../kubepods-besteffort-pod${u}.slice/cri-containerd-${id}.scope\n`, id],
    ['kind (kubelet under its own slice)', `0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${u}.slice/cri-containerd-${id}.scope\n`, id],
    ['CRI-O\'s monitor, not the container', `0::/kubepods.slice/kubepods-pod${u}.slice/crio-conmon-${id}.scope\n`, undefined],
    ['the pod\'s own cgroup', `0::/kubepods/besteffort/pod${uid}\n`, undefined],
  ];
  for (const [what, text, expectedId] of cases) {
    const pod = podFromCgroup(text);
    assert.ok(pod, what);
    assert.equal(pod.podUid, uid, what);
    assert.equal(pod.containerId, expectedId, what);
  }
  assert.equal(podFromCgroup(`0::/system.slice/docker-${id}.scope\n`), undefined, 'a container outside Kubernetes');
  assert.equal(podFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), undefined);
});

interface KubeletLogs {
  dir: string;
  /** Adds a pod's directory with its containers, and a containers/ symlink for each one with an id. */
  addPod(p: { namespace: string; pod: string; uid: string; containers: { name: string; id?: string }[] }): void;
}

/** /var/log/pods and /var/log/containers as the kubelet lays them out. */
function kubeletLogs(): KubeletLogs {
  const dir = tempDir('bw-kubelet-logs');
  fs.mkdirSync(path.join(dir, 'pods'));
  fs.mkdirSync(path.join(dir, 'containers'));
  return {
    dir,
    addPod({ namespace, pod, uid, containers }) {
      const podDir = path.join(dir, 'pods', `${namespace}_${pod}_${uid}`);
      for (const c of containers) {
        fs.mkdirSync(path.join(podDir, c.name), { recursive: true });
        fs.writeFileSync(path.join(podDir, c.name, '0.log'), '');
        if (c.id) fs.symlinkSync(path.join(podDir, c.name, '0.log'), path.join(dir, 'containers', `${pod}_${namespace}_${c.name}-${c.id}.log`));
      }
    },
  };
}

test('pod metadata from the kubelet\'s log directories: by container id, else by pod UID', () => {
  const logs = kubeletLogs();
  const [uid1, uid2, uid3] = [randomUUID(), randomUUID(), randomUUID()];
  const [id1, id2, sidecar] = [containerId(), containerId(), containerId()];
  const [ns, pod1, pod2, pod3, app] = [name('ns'), name('checkout-7d9f8b6c5d'), name('cart'), name('batch'), name('app')];
  logs.addPod({ namespace: ns, pod: pod1, uid: uid1, containers: [{ name: app, id: id1 }, { name: 'istio-proxy', id: sidecar }] });
  logs.addPod({ namespace: ns, pod: pod2, uid: uid2, containers: [{ name: app }] });
  logs.addPod({ namespace: ns, pod: pod3, uid: uid3, containers: [{ name: 'a' }, { name: 'b' }] });

  assert.deepEqual(podMetadata({ podUid: uid1, containerId: id1 }, logs.dir), { podName: pod1, namespace: ns, containerName: app });
  assert.deepEqual(podMetadata({ podUid: uid1, containerId: sidecar }, logs.dir), { podName: pod1, namespace: ns, containerName: 'istio-proxy' });
  // No symlink yet (the kubelet makes it after the container starts): the pod's directory; one container, so its name.
  assert.deepEqual(podMetadata({ podUid: uid2, containerId: id2 }, logs.dir), { podName: pod2, namespace: ns, containerName: app });
  // Two containers and no id to tell them apart: no container name rather than a guess.
  assert.deepEqual(podMetadata({ podUid: uid3 }, logs.dir), { podName: pod3, namespace: ns });
  assert.equal(podMetadata({ podUid: randomUUID() }, logs.dir), undefined);
  assert.equal(podMetadata({ podUid: uid1, containerId: id1 }, path.join(logs.dir, 'absent')), undefined, 'not a node');
});

/** A cgroup made for the test under `hierarchy`, removed (after its processes left) by the returned function. */
function makeCgroup(hierarchy: string, relative: string): { dir: string; remove: () => Promise<void> } {
  const dir = path.join(CGROUP_ROOT, hierarchy, relative);
  fs.mkdirSync(dir, { recursive: true });
  return {
    dir,
    async remove() {
      // Innermost first; a cgroup whose last process just exited may stay busy for a moment.
      let d = dir;
      while (d !== path.join(CGROUP_ROOT, hierarchy)) {
        for (let i = 0; i < 50; i++) {
          try {
            fs.rmdirSync(d);
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
            if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') return; // another test's cgroup below a shared parent
            await sleep(100);
          }
        }
        d = path.dirname(d);
      }
    },
  };
}

async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

async function discovered(pid: number): Promise<DiscoveredProcess | undefined> {
  const d = new ProcessDiscovery();
  const found: DiscoveredProcess[] = [];
  d.on('started', (p) => p.pid === pid && found.push(p));
  await d.scan();
  d.stop();
  return found[0];
}

const DRIVERS = [
  {
    driver: 'cgroupfs driver on cgroup v1',
    hierarchies: ['pids', 'systemd'],
    path: (uid: string, id: string) => `kubepods/burstable/pod${uid}/${id}`,
  },
  {
    driver: 'systemd driver on cgroup v2',
    hierarchies: ['unified'],
    path: (uid: string, id: string) =>
      `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`,
  },
];

for (const { driver, hierarchies, path: cgroupPath } of DRIVERS) {
  test(`a Go process in a pod's container cgroup (${driver}) gets its k8s.* attributes and its container's name as service.name`, async (t) => {
    for (const h of hierarchies) assert.ok(fs.existsSync(path.join(CGROUP_ROOT, h, 'cgroup.procs')), `this machine mounts the ${h} hierarchy at ${CGROUP_ROOT}/${h}`);
    const logs = kubeletLogs();
    const [uid, id] = [randomUUID(), containerId()];
    const [ns, pod, container, node] = [name('shop'), name('checkout-5c7b9d8f4-x2k9p'), name('checkout'), name('node')];
    logs.addPod({ namespace: ns, pod, uid, containers: [{ name: container, id }, { name: 'log-shipper', id: containerId() }] });

    const fixture: Fixture = await startFixture('httpserver'); // no OTEL_SERVICE_NAME: the name must come from the pod
    t.after(() => fixture.stop());
    const cgroups = hierarchies.map((h) => makeCgroup(h, cgroupPath(uid, id)));
    t.after(async () => {
      await fixture.stop();
      for (const c of cgroups) await c.remove();
    });
    for (const c of cgroups) fs.writeFileSync(path.join(c.dir, 'cgroup.procs'), String(fixture.pid));

    const cgroupText = fs.readFileSync(`/proc/${fixture.pid}/cgroup`, 'utf8');
    assert.match(cgroupText, new RegExp(`/${cgroupPath(uid, id).replace(/[.]/g, '\\.')}$`, 'm'), 'the kernel shows the process in the kubelet-named cgroup');

    const expected = {
      [K8S_ATTR.podUid]: uid,
      [K8S_ATTR.podName]: pod,
      [K8S_ATTR.namespace]: ns,
      [K8S_ATTR.containerName]: container,
      [K8S_ATTR.nodeName]: node,
    };
    await withEnv({ BURNWATCH_KUBELET_LOG_DIR: logs.dir, K8S_NODE_NAME: node }, async () => {
      const identity = await identifyProcess(fixture.pid);
      assert.ok(identity);
      assert.equal(identity.containerId, id);
      assert.deepEqual(identity.k8s, expected);
      assert.equal(identity.serviceName, container);
      const resource = resourceOfIdentity(identity, 'host-a');
      assert.deepEqual(
        Object.fromEntries(Object.entries(resource).filter(([k]) => k.startsWith('k8s.') || k === ATTR.containerId || k === ATTR.serviceName)),
        { ...expected, [ATTR.containerId]: id, [ATTR.serviceName]: container },
      );

      const proc = await discovered(fixture.pid);
      assert.ok(proc, 'discovery reports the Go process');
      assert.deepEqual(proc.k8s, expected);
      assert.equal(proc.containerId, id);
      assert.equal(proc.serviceName, container);
      assert.equal(proc.serviceNameSource, 'k8s.container.name');
    });

    // Without the kubelet's directories (not mounted into the agent): the UID and node still, names not.
    await withEnv({ BURNWATCH_KUBELET_LOG_DIR: path.join(logs.dir, 'absent'), K8S_NODE_NAME: node }, async () => {
      const identity = await identifyProcess(fixture.pid);
      assert.deepEqual(identity?.k8s, { [K8S_ATTR.podUid]: uid, [K8S_ATTR.nodeName]: node });
      assert.equal(identity?.serviceName, 'httpserver');
    });
  });
}

test('OTEL_SERVICE_NAME still wins over the container\'s name, and a process outside any pod gets no k8s.* attributes', async (t) => {
  const logs = kubeletLogs();
  const [uid, id] = [randomUUID(), containerId()];
  const [ns, pod, container, service] = [name('ns'), name('pod'), name('ctr'), name('svc')];
  logs.addPod({ namespace: ns, pod, uid, containers: [{ name: container, id }] });
  const named = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  const outside = await startFixture('httpserver');
  const cgroup = makeCgroup('unified', `kubepods.slice/kubepods-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`);
  t.after(async () => {
    await named.stop();
    await outside.stop();
    await cgroup.remove();
  });
  fs.writeFileSync(path.join(cgroup.dir, 'cgroup.procs'), String(named.pid));
  await withEnv({ BURNWATCH_KUBELET_LOG_DIR: logs.dir }, async () => {
    const a = await identifyProcess(named.pid);
    assert.equal(a?.serviceName, service);
    assert.equal(a?.k8s?.[K8S_ATTR.containerName], container);
    const b = await identifyProcess(outside.pid);
    assert.equal(b?.k8s, undefined);
    assert.equal(b?.serviceName, 'httpserver');
    const proc = await discovered(named.pid);
    assert.equal(proc?.serviceNameSource, 'OTEL_SERVICE_NAME');
  });
});

test('end to end: the agent ships a pod\'s Go service under its container\'s name, its requests groupable by k8s.* attributes', { timeout: 120_000 }, async (t) => {
  const KEY = 'k8s-attributes-key-0123456789';
  const logs = kubeletLogs();
  const [uid, id] = [randomUUID(), containerId()];
  const [ns, pod, container, node] = [name('shop'), name('cart-6f9c8d7b5-q8w2z'), name('cart'), name('node')];
  logs.addPod({ namespace: ns, pod, uid, containers: [{ name: container, id }] });

  // In its pod's cgroup before the agent starts, as a container is before a DaemonSet's agent.
  const fixture = await startFixture('httpserver');
  const cgroup = makeCgroup('unified', `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`);
  t.after(async () => {
    await fixture.stop();
    await cgroup.remove();
  });
  fs.writeFileSync(path.join(cgroup.dir, 'cgroup.procs'), String(fixture.pid));

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gateway = await startGatewayProcess(port, tempDir('bw-k8s-data'), KEY);
  t.after(() => gateway.stop());
  const agent = burnwatch(['agent', '--endpoint', base, '--interval', '1s', '--spool-dir', tempDir('bw-k8s-spool')], {
    BURNWATCH_API_KEY: KEY,
    BURNWATCH_KUBELET_LOG_DIR: logs.dir,
    K8S_NODE_NAME: node,
  });
  t.after(() => agent.stop());
  await waitFor(`the agent to instrument pid ${fixture.pid}`, () => (agent.output().includes(`instrumenting pid ${fixture.pid} (${container},`) ? true : undefined), 30_000, 100);

  const urls = Array.from({ length: 20 }, (_, i) => `${fixture.url}/users/${i}`);
  assert.deepEqual(Object.fromEntries(await sendRequests(urls)), { 200: 20 });
  const by = [K8S_ATTR.podName, K8S_ATTR.namespace, K8S_ATTR.containerName, K8S_ATTR.podUid, K8S_ATTR.nodeName, ATTR.containerId].join(',');
  const series = await waitFor('the requests, grouped by pod, in the gateway', async () => {
    const r = await getJson(`${base}/v1/query?service=${container}&metric=http.server.request.duration&agg=count&from=-10m&to=now&by=${by}`, KEY);
    const all = r.body.series as { labels: Record<string, string>; points: [number, number][] }[] | undefined;
    return all?.length === 1 && all[0]!.points[0]![1] === urls.length ? all : undefined;
  }, 40_000, 500);
  assert.deepEqual(series[0]!.labels, {
    [K8S_ATTR.podName]: pod,
    [K8S_ATTR.namespace]: ns,
    [K8S_ATTR.containerName]: container,
    [K8S_ATTR.podUid]: uid,
    [K8S_ATTR.nodeName]: node,
    [ATTR.containerId]: id,
  });
});
