// Real faults for the scenario suite, each with its remover: a delaying TCP proxy, CPU hogs
// pinned to one core, a write-throttled disk under a service's files, slower and failing
// builds of a fixture. (Packet loss and memory limits come from test/helpers/kernel-faults.ts.)
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGoSource, GO_FIXTURES_DIR } from '../helpers/go.ts';

/**
 * A TCP proxy on loopback whose answers (target → client) can be held back: a dependency made
 * slow without touching it. It runs as a process of its own (`proxy-process.ts`, its own
 * OTEL_SERVICE_NAME) as a real proxy would, so its kernel signals are its own and not those of
 * the process that runs the suite.
 */
export class DelayProxy {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(targetPort: number, serviceName: string): Promise<DelayProxy> {
    const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'proxy-process.ts'), [String(targetPort)], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, OTEL_SERVICE_NAME: serviceName },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`the proxy exited with code ${code}`)));
    });
    return new DelayProxy(child, port);
  }

  setDelay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('message', () => resolve());
      this.child.send({ delayMs: ms });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** The highest CPU number this process may run on: the core faults pin to. */
export function lastCpu(): number {
  return os.availableParallelism() - 1;
}

/** Pins every thread of `pid` to `cpu` (taskset -a). */
export function pinProcess(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

/**
 * `n` busy loops pinned to `cpu` at `nice` (negative: more CPU shares than the service, as a
 * batch job given a bigger weight would have): a noisy neighbour on that core.
 */
export function cpuHogs(cpu: number, n: number, nice = 0): { remove(): Promise<void> } {
  const hogs: ChildProcess[] = Array.from({ length: n }, () =>
    spawn('nice', ['-n', String(nice), 'taskset', '-c', String(cpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }),
  );
  return {
    async remove() {
      await Promise.all(
        hogs.map(
          (h) =>
            new Promise<void>((resolve) => {
              if (h.exitCode !== null || h.signalCode !== null) return resolve();
              h.once('exit', () => resolve());
              h.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}

/** The block device (major:minor) a path's filesystem lives on, as the kernel numbers it. */
export function deviceOf(file: string): string {
  const dev = fs.statSync(file).dev;
  // Linux's encoding of dev_t (new_decode_dev): minor spreads over the low and high bits.
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/**
 * A small ext4 filesystem on a loop device whose backing file sits on the host's disk, with
 * direct I/O: the loop worker's writes go to the real device in the writer's blkio cgroup.
 * Throttling that cgroup's writes on the real device (like a cloud volume out of IOPS credit)
 * then makes the service's own block requests on the loop device slow, as the kernel sees them.
 */
export function loopDisk(sizeMb = 128): { mountPoint: string; backingDevice: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'bw-scenario-disk-'));
  const image = path.join(dir, 'disk.img');
  const mountPoint = path.join(dir, 'mnt');
  fs.mkdirSync(mountPoint);
  execFileSync('truncate', ['-s', `${sizeMb}M`, image]);
  const loop = execFileSync('losetup', ['--direct-io=on', '-f', '--show', image], { encoding: 'utf8' }).trim();
  const remove = () => {
    for (const cmd of [['umount', '-l', mountPoint], ['losetup', '-d', loop]]) {
      try {
        execFileSync(cmd[0], cmd.slice(1), { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    execFileSync('mkfs.ext4', ['-q', loop]);
    execFileSync('mount', [loop, mountPoint]);
    fs.chmodSync(mountPoint, 0o777);
  } catch (err) {
    remove();
    throw err;
  }
  return { mountPoint, backingDevice: deviceOf(image), remove };
}

/** A blkio cgroup (v2 io.max, or v1 blkio.throttle) whose write IOPS on one device can be capped. */
export function blkioCgroup(name: string): { add(pid: number): void; throttleWrites(device: string, iops: number): void; remove(): void } {
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/blkio';
  const isV1 = fs.existsSync(path.join(v1, 'blkio.throttle.write_iops_device'));
  const dir = isV1 ? path.join(v1, name) : path.join(v2, name);
  if (!isV1) {
    const sub = fs.readFileSync(path.join(v2, 'cgroup.subtree_control'), 'utf8');
    if (!sub.split(/\s+/).includes('io')) fs.writeFileSync(path.join(v2, 'cgroup.subtree_control'), '+io');
  }
  fs.mkdirSync(dir);
  return {
    add(pid) {
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    },
    throttleWrites(device, iops) {
      if (isV1) fs.writeFileSync(path.join(dir, 'blkio.throttle.write_iops_device'), `${device} ${iops}`);
      else fs.writeFileSync(path.join(dir, 'io.max'), `${device} wiops=${iops}`);
    },
    remove() {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          execFileSync('sleep', ['0.1']);
        }
      }
    },
  };
}

/**
 * The backend fixture built with behaviour baked in at link time (-X main.name=value): a new
 * build id running the same code, slower or failing as a bad release would.
 */
export function backendBuild(vars: Record<string, string | number>): Promise<string> {
  const source = fs.readFileSync(path.join(GO_FIXTURES_DIR, 'topo-backend/main.go'), 'utf8');
  const ldflags = Object.entries(vars)
    .map(([k, v]) => `-X main.${k}=${v}`)
    .join(' ');
  return buildGoSource(source, { ldflags });
}
