// An accepted connection names its listening process at once (one srtt sample at accept), not
// only when it closes: callers keep gRPC channels and pools open for hours, and the hints
// engine follows a caller's dependency to the watched service behind its port by this signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { ExponentialHistogram } from '@opentelemetry/sdk-metrics';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { epochNowNs } from '../agent/clock.ts';
import { TcpCollector } from '../agent/collectors/tcp.ts';
import { KERNEL_ATTR, KERNEL_METRIC } from '../common/catalogue.ts';
import { manage, waitFor } from './lib/processes.ts';

test('a long-lived accepted connection shows the listener process and port before it closes', async (t) => {
  const tcp = new TcpCollector({ objectDir: BPF_OBJECT_DIR, log: () => {} });
  t.after(() => tcp.close());
  // The listener starts after the collector loaded (it must see LISTEN), in a process of its own.
  const server = manage(
    spawn(process.execPath, ['-e', "const s=require('net').createServer(()=>{}).listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  t.after(() => server.stop('SIGKILL'));
  const port = await waitFor('the listener', () => Number(server.output().trim()) || undefined, 10_000, 20);
  const conn = net.connect(port, '127.0.0.1');
  t.after(() => conn.destroy());
  await new Promise((resolve) => conn.once('connect', resolve));

  const startNs = epochNowNs();
  const got = await waitFor('an srtt sample for the open connection', async () => {
    const collected = await tcp.collect({ startNs, endNs: epochNowNs(), serviceOf: () => undefined });
    const points = collected
      .filter((c) => c.pid === server.child.pid)
      .flatMap((c) => c.metrics.filter((m) => m.descriptor.name === KERNEL_METRIC.tcpSmoothedRtt).flatMap((m) => m.dataPoints as unknown[]));
    return points.length ? points : undefined;
  }, 5_000, 100);
  assert.equal(conn.destroyed, false, 'the connection is still open');
  const p = got[0] as { attributes: Record<string, unknown>; value: ExponentialHistogram };
  assert.equal(p.attributes[KERNEL_ATTR.serverPort], port);
  assert.equal(p.attributes[KERNEL_ATTR.clientAddress], '127.0.0.1');
  assert.equal(p.value.count, 1);
});
