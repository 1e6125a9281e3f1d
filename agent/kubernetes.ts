// Which Kubernetes pod and container a process runs in, without the Kubernetes API: the pod's
// UID and the container id from the cgroup path the kubelet gives it, then the pod's name,
// namespace and the container's name from the kubelet's log directories on the node, which
// every CRI runtime gets: /var/log/pods/<namespace>_<pod>_<uid>/<container>/ and the symlinks
// /var/log/containers/<pod>_<namespace>_<container>-<container id>.log. Pod, namespace and
// container names are DNS labels/subdomains, so they hold no '_' and the split is exact.
// What needs the API (labels, annotations, owner names) is not here: docs/kubernetes.md.
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** OpenTelemetry semantic-convention names of the k8s resource attributes set here. */
export const K8S_ATTR = {
  podUid: 'k8s.pod.uid',
  podName: 'k8s.pod.name',
  namespace: 'k8s.namespace.name',
  containerName: 'k8s.container.name',
  nodeName: 'k8s.node.name',
} as const;

export interface PodCgroup {
  podUid: string;
  /** The 64-hex container id in the cgroup below the pod's, when the process is in one (not the pod's own cgroup). */
  containerId?: string;
}

// A pod's cgroup: `pod<uid>` (cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>/<id>) or
// `kubepods[-<qos>]-pod<uid with _ for ->.slice` (systemd driver; under a cgroup root of its own,
// as kind runs kubelet, `kubelet-kubepods-<qos>-pod<uid>.slice`). Matched anywhere in the path:
// read from inside a cgroup namespace (a containerised agent on cgroup v2) the path is relative to
// the reader's cgroup, e.g. /../../kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope.
const POD_SEGMENT = /^(?:[a-z0-9]+-)*pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;
// The container's cgroup below it: the bare id (cgroupfs with containerd or Docker),
// `crio-<id>`, `cri-containerd-<id>.scope`, `docker-<id>.scope`. CRI-O's `crio-conmon-<id>` is its
// monitor process, not the container.
const CONTAINER_SEGMENT = /^(?:(?:cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?$/;

/** The pod (and container) a /proc/PID/cgroup text places the process in; undefined outside any pod. */
export function podFromCgroup(text: string): PodCgroup | undefined {
  // The unified hierarchy's line (0::) first: on cgroup v1 every controller line repeats the path.
  const lines = text.split('\n').filter(Boolean).sort((a, b) => Number(!a.startsWith('0::')) - Number(!b.startsWith('0::')));
  for (const line of lines) {
    const segments = line.split(':').slice(2).join(':').split('/');
    const at = segments.findIndex((s) => POD_SEGMENT.test(s));
    if (at < 0) continue;
    const podUid = POD_SEGMENT.exec(segments[at]!)![1]!.replace(/_/g, '-');
    const containerId = CONTAINER_SEGMENT.exec(segments[at + 1] ?? '')?.[1];
    return containerId ? { podUid, containerId } : { podUid };
  }
  return undefined;
}

export interface PodMetadata {
  podName: string;
  namespace: string;
  containerName?: string;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // not a Kubernetes node, or the directory is not mounted into the agent's container
  }
}

/** Where the kubelet's log directories are: /var/log, or the host's /var/log mounted elsewhere (BURNWATCH_KUBELET_LOG_DIR). */
export function kubeletLogDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BURNWATCH_KUBELET_LOG_DIR || '/var/log';
}

/**
 * Name, namespace and container name of a pod's container from the kubelet's log directories
 * under `logDir`; undefined when they do not know the pod. The container's own symlink in
 * containers/ names it exactly; before the kubelet has made it (or without the container id) the
 * pod's directory in pods/ still names the pod, and the container when the pod has only one.
 */
export function podMetadata(pod: PodCgroup, logDir: string = kubeletLogDir()): PodMetadata | undefined {
  if (pod.containerId) {
    const suffix = `-${pod.containerId}.log`;
    const link = listDir(path.join(logDir, 'containers')).find((f) => f.endsWith(suffix));
    const parts = link?.slice(0, -suffix.length).split('_');
    if (parts?.length === 3) return { podName: parts[0]!, namespace: parts[1]!, containerName: parts[2]! };
  }
  const podsDir = path.join(logDir, 'pods');
  const dir = listDir(podsDir).find((d) => d.endsWith(`_${pod.podUid}`));
  const parts = dir?.split('_');
  if (!dir || parts?.length !== 3) return undefined;
  const containers = listDir(path.join(podsDir, dir));
  return { namespace: parts[0]!, podName: parts[1]!, ...(containers.length === 1 ? { containerName: containers[0]! } : {}) };
}

/**
 * The k8s.* resource attributes of a process in `cgroupText`: the pod UID always, names when
 * the kubelet's directories tell them, the node's name from the agent's own environment
 * (K8S_NODE_NAME, set by the downward API in deploy/kubernetes/burnwatch-agent.yaml).
 */
export function kubernetesAttributes(cgroupText: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  const pod = podFromCgroup(cgroupText);
  if (!pod) return undefined;
  const meta = podMetadata(pod, kubeletLogDir(env));
  const attrs: Record<string, string> = { [K8S_ATTR.podUid]: pod.podUid };
  if (meta) {
    attrs[K8S_ATTR.podName] = meta.podName;
    attrs[K8S_ATTR.namespace] = meta.namespace;
    if (meta.containerName) attrs[K8S_ATTR.containerName] = meta.containerName;
  }
  if (env.K8S_NODE_NAME) attrs[K8S_ATTR.nodeName] = env.K8S_NODE_NAME;
  return attrs;
}
