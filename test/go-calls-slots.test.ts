// go-calls' per-binary offsets slots are freed with a binary's last process: an agent that
// sees more distinct Go binaries over its life than it has slots still instruments the next one.
// The probebench fixture serves gRPC in-process (an always-on family), so its calls count exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { ExponentialHistogram, MetricData } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { GoCallsCollector } from '../agent/collectors/go-calls.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { GO_METRIC } from '../common/catalogue.ts';
import { FIXTURE_BIN, manage, tempDir, waitFor } from './lib/processes.ts';
import { buildGoFixture } from './helpers/go.ts';

type Point = { value: ExponentialHistogram };

test('go-calls frees a binary\'s slot with its last process: more distinct binaries than slots, one after another, each counted exactly', async () => {
  await buildGoFixture('probebench');
  const slots = 2;
  const collector = new GoCallsCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'), deepProbes: false, maxEntries: { go_calls_offsets: slots }, log: () => undefined });
  const dir = tempDir('bw-go-calls-slots');
  try {
    for (let i = 0; i < slots + 2; i++) {
      // A copy is another file (another inode): a distinct binary with a slot of its own.
      const bin = path.join(dir, `probebench-${i}`);
      fs.copyFileSync(path.join(FIXTURE_BIN, 'probebench'), bin);
      fs.chmodSync(bin, 0o755);
      const info = await inspectGoBinary(bin);
      if (!('probeSets' in info)) throw new Error(`copy not instrumentable: ${JSON.stringify(info)}`);
      const portFile = path.join(dir, `port-${i}`);
      const fixture = manage(spawn(bin, ['-port-file', portFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const pid = fixture.child.pid!;
      try {
        const port = await waitFor('probebench to listen', () => (fs.existsSync(portFile) ? Number(fs.readFileSync(portFile, 'utf8')) || undefined : undefined), 10_000, 20);
        await collector.attach(pid, bin, info, 'svc');
        assert.equal(collector.slotOf(pid), 0, `binary ${i} takes the slot its predecessor freed`);
        const n = 30 + i;
        const res = await fetch(`http://127.0.0.1:${port}/bench?kind=grpc&n=${n}`);
        assert.equal(res.status, 200, await res.text());
        const out = (await collector.collect({ startNs: 1n, endNs: 2n, serviceOf: () => 'svc' })) as { pid: number; metrics: MetricData[] }[];
        const calls = out
          .filter((m) => m.pid === pid)
          .flatMap((m) => m.metrics.filter((d) => d.descriptor.name === GO_METRIC.rpcServerDuration))
          .flatMap((d) => d.dataPoints as Point[])
          .reduce((sum, p) => sum + p.value.count, 0);
        assert.equal(calls, n, `binary ${i}`);
      } finally {
        await fixture.stop();
        collector.processExited(pid);
        await collector.collect({ startNs: 2n, endNs: 3n, serviceOf: () => 'svc' }); // its last data: then the slot is free
      }
    }
  } finally {
    collector.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
