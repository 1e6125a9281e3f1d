// The fault scenarios of issue 15 §5: each prepares its world (a cgroup, a disk, a build),
// then injects one real fault while open-loop load runs. `expected` is what an on-call
// engineer should be told to look at first: a hint kind and the tier where the cause sits
// (for dependency and link kinds, the caller that observed it, and the peer). The engine
// never sees these names: it is asked about the frontend's random service name only.
import { randomBytes } from 'node:crypto';
import { dropPacketsToPort, memoryLimitedCgroup } from '../helpers/kernel-faults.ts';
import type { HintKind } from '../../lambda/hints/types.ts';
import { backendBuild, blkioCgroup, cpuHogs, lastCpu, loopDisk, pinProcess } from './faults.ts';
import type { OpenLoopLoad } from './load.ts';
import type { World, WorldOptions } from './world.ts';

export type Tier = 'frontend' | 'backend';

/** Who is who in one run: the random names and ports (for judging and printing, never for the engine). */
export interface Cast {
  frontend: string;
  backend: string;
  /** The service name of the Redis proxy's process. */
  redisProxy: string;
  redisProxyPort: number;
  redisPort: number;
  pgPort: number;
  etcdPort: number;
  backendGrpcPort: number;
  backendHttpPort: number;
}

export interface Expected {
  kind: HintKind;
  /** Tiers where the cause may be named (a surge passes through both). */
  tiers: Tier[];
  peer?: (c: Cast) => string;
  /** How the table shows it. */
  label: string;
}

export interface Prepared {
  world?: WorldOptions;
  inject(w: World, load: OpenLoopLoad): Promise<void> | void;
  /** Undo what prepare/inject did, after the world stopped. */
  remove?(): Promise<void> | void;
}

export interface Scenario {
  name: string;
  fault: string;
  /** null: the control, where no hint may be confident. */
  expected: Expected | null;
  prepare(): Promise<Prepared> | Prepared;
}

/** Steady load: requests per second to the frontend (each → backend → PostgreSQL + Redis). */
export const BASE_RATE = 15;
const uniq = () => `bw-scn-${process.pid}-${randomBytes(3).toString('hex')}`;

export const SCENARIOS: Scenario[] = [
  {
    name: 'redis-slow',
    fault: 'a proxy in front of Redis holds every answer 40 ms',
    expected: { kind: 'slow_dependency', tiers: ['backend'], peer: (c) => `127.0.0.1:${c.redisProxyPort}`, label: 'slow_dependency @ backend → redis' },
    prepare: () => ({ inject: (w) => w.redisProxy.setDelay(40) }),
  },
  {
    name: 'packet-loss',
    fault: "nft drops 1 in 4 TCP segments arriving for the backend's gRPC port",
    expected: { kind: 'network', tiers: ['frontend'], peer: (c) => `127.0.0.1:${c.backendGrpcPort}`, label: 'network @ frontend → backend' },
    prepare: () => {
      let drop: { remove(): void } | undefined;
      return {
        inject: (w) => void (drop = dropPacketsToPort(w.topo.backendGrpcPort, 4)),
        remove: () => drop?.remove(),
      };
    },
  },
  {
    name: 'cpu-contention',
    fault: "three busy loops at nice −19 pinned to the backend's core",
    expected: { kind: 'cpu', tiers: ['backend'], label: 'cpu @ backend' },
    prepare: () => {
      const cpu = lastCpu();
      let hogs: { remove(): Promise<void> } | undefined;
      return {
        world: { onBackendSpawn: (pid) => pinProcess(pid, cpu) },
        inject: () => void (hogs = cpuHogs(cpu, 3, -19)),
        remove: () => hogs?.remove(),
      };
    },
  },
  {
    name: 'gc-pressure',
    fault: 'requests now make the backend allocate 16 MB of short-lived garbage each',
    expected: { kind: 'gc', tiers: ['backend'], label: 'gc @ backend' },
    prepare: () => ({ inject: (_w, load) => load.setQuery('garbage_kb=16384') }),
  },
  {
    name: 'page-faults',
    fault: 'requests now make the backend map and touch 32 MB of fresh memory each',
    expected: { kind: 'memory', tiers: ['backend'], label: 'memory @ backend' },
    prepare: () => ({ inject: (_w, load) => load.setQuery('touch_mb=32') }),
  },
  {
    name: 'slow-disk',
    fault: "the backend fsyncs a record per request; its cgroup's writes to the disk are capped at 10 IOPS",
    expected: { kind: 'disk', tiers: ['backend'], label: 'disk @ backend' },
    prepare: () => {
      const disk = loopDisk();
      const cg = blkioCgroup(uniq());
      return {
        world: { backendArgs: ['-data-dir', disk.mountPoint], onBackendSpawn: (pid) => cg.add(pid) },
        inject: () => cg.throttleWrites(disk.backingDevice, 10),
        remove: () => {
          disk.remove();
          cg.remove();
        },
      };
    },
  },
  {
    name: 'oom-kill',
    fault: 'requests now leak 384 KB each in the backend, limited to 160 MB: OOM-killed, restarted 3 s later',
    expected: { kind: 'memory', tiers: ['backend'], label: 'memory @ backend' },
    prepare: () => {
      const cg = memoryLimitedCgroup(uniq(), 160 * 1024 * 1024);
      return {
        world: { onBackendSpawn: (pid) => cg.add(pid) },
        inject: (_w, load) => load.setQuery('leak_kb=384'),
        remove: () => cg.remove(),
      };
    },
  },
  {
    name: 'slower-build',
    fault: 'a backend build that sleeps 25 ms more per request is deployed',
    expected: { kind: 'deploy', tiers: ['backend'], label: 'deploy @ backend' },
    prepare: async () => {
      const bin = await backendBuild({ buildDelayMs: 25 });
      return { inject: async (w) => void (await w.topo.restartBackend(bin)) };
    },
  },
  {
    name: 'failing-build',
    fault: 'a backend build that fails 20% of requests is deployed',
    expected: { kind: 'deploy', tiers: ['backend'], label: 'deploy @ backend' },
    prepare: async () => {
      const bin = await backendBuild({ buildFailPermille: 200 });
      return { inject: async (w) => void (await w.topo.restartBackend(bin)) };
    },
  },
  {
    name: 'traffic-surge',
    fault: `the load rises from ${BASE_RATE} to ${BASE_RATE * 20} requests per second`,
    expected: { kind: 'traffic', tiers: ['frontend', 'backend'], label: 'traffic @ frontend (or backend)' },
    prepare: () => ({ inject: (_w, load) => load.setRate(BASE_RATE * 20) }),
  },
  {
    name: 'control',
    fault: 'none',
    expected: null,
    prepare: () => ({ inject: () => undefined }),
  },
];
