/**
 * Real faults for kernel-signal tests: packet loss to one port (nftables), memory-limited
 * cgroups (v2 memory.max, or v1 memory.limit_in_bytes on a hybrid hierarchy) and plain
 * cgroups. Each returns a remover; tests call it from t.after so nothing stays behind when
 * an assertion fails.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Drops a random 1-in-`mod` share of TCP segments arriving for local `port` over loopback.
 * On input, not output: a segment dropped on output fails the sender's transmit locally,
 * which TCP retries as a new send, not as a retransmit of a lost segment.
 */
export function dropPacketsToPort(port: number, mod: number): { remove(): void } {
  const table = `bwtest_${process.pid}_${port}`;
  const script = `table inet ${table} {
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "lo" tcp dport ${port} numgen random mod ${mod} == 0 drop
  }
}
`;
  execFileSync('nft', ['-f', '-'], { input: script });
  return {
    remove() {
      try {
        execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    },
  };
}

export interface TestCgroup {
  /** Directory of the cgroup. */
  dir: string;
  /** Moves a process into it. */
  add(pid: number): void;
  /** Removes the cgroup (its processes must have exited). */
  remove(): void;
}

function makeCgroup(dir: string): TestCgroup {
  fs.mkdirSync(dir);
  return {
    dir,
    add(pid) {
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    },
    remove() {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          // EBUSY while the last process is being reaped
          execFileSync('sleep', ['0.1']);
        }
      }
    },
  };
}

function cgroup2Root(): string | undefined {
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  return mounts.find((m) => m[2] === 'cgroup2')?.[1];
}

/** A cgroup whose memory is capped at `bytes` (swap too, where the kernel lets us). */
export function memoryLimitedCgroup(name: string, bytes: number): TestCgroup {
  const v2 = cgroup2Root();
  if (v2 && fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) {
    const sub = fs.readFileSync(path.join(v2, 'cgroup.subtree_control'), 'utf8');
    if (!sub.split(/\s+/).includes('memory')) fs.writeFileSync(path.join(v2, 'cgroup.subtree_control'), '+memory');
    const cg = makeCgroup(path.join(v2, name));
    fs.writeFileSync(path.join(cg.dir, 'memory.max'), String(bytes));
    if (fs.existsSync(path.join(cg.dir, 'memory.swap.max'))) fs.writeFileSync(path.join(cg.dir, 'memory.swap.max'), '0');
    return cg;
  }
  const v1 = '/sys/fs/cgroup/memory';
  if (!fs.existsSync(path.join(v1, 'memory.limit_in_bytes'))) throw new Error('no memory cgroup controller (v2 or v1) on this machine');
  const cg = makeCgroup(path.join(v1, name));
  fs.writeFileSync(path.join(cg.dir, 'memory.limit_in_bytes'), String(bytes));
  return cg;
}

/** A cgroup v2 cgroup (any controllers): a process in it shows the path in /proc/PID/cgroup. */
export function plainCgroup(name: string): TestCgroup {
  const v2 = cgroup2Root();
  if (!v2) throw new Error('no cgroup2 hierarchy mounted');
  return makeCgroup(path.join(v2, name));
}
