// The kernel-signal collectors (issue 4), in the order the agent loads them. Each loads its
// own BPF object; a signal that cannot load on this kernel is reported by the agent and the
// others keep working, and within one, each tracepoint that cannot attach is reported once.
import type { Collector } from './types.ts';
import { SchedCollector, type KernelCollectorOptions } from './sched.ts';
import { TcpCollector } from './tcp.ts';
import { MemoryCollector } from './memory.ts';
import { BlockCollector } from './block.ts';
import { LifecycleCollector } from './lifecycle.ts';
import { FutexCollector } from './futex.ts';

export type { KernelCollectorOptions };

export const KERNEL_COLLECTOR_FACTORIES: readonly [name: string, make: (opts: KernelCollectorOptions) => Collector][] = [
  ['tcp', (o) => new TcpCollector(o)],
  ['sched', (o) => new SchedCollector(o)],
  ['memory', (o) => new MemoryCollector(o)],
  ['block', (o) => new BlockCollector(o)],
  ['lifecycle', (o) => new LifecycleCollector(o)],
  ['futex', (o) => new FutexCollector(o)],
];
