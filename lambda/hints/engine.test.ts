// The hints engine over a real DuckDB store, fed what the agent exports (through its OTLP
// encoder and the gateway's decoder): a frontend calling a backend that calls PostgreSQL and
// Redis, 15 minutes healthy, then one fault per test inside the 10-minute window asked about.
// Each detector kind must rank first when its fault is present; the clean control gets `none`.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../storage/duckdb.ts';
import { computeHints } from './engine.ts';
import { conditions, healthy, INTERVAL_MS, REDIS, writeWorld, type Topology } from './testkit.ts';
import type { HintsReport } from './types.ts';

const TENANT = 't1';
const END = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
const WINDOW_MS = 10 * 60_000;
const FAULT_AT = END - 7 * 60_000;
const INTERVALS = (25 * 60_000) / INTERVAL_MS;
async function scenario(fault?: (t: Topology, sinceFaultMs: number) => void, service = 'frontend', always?: (t: Topology) => void): Promise<HintsReport> {
  const store = await DuckDbStore.open({ path: ':memory:' });
  try {
    await writeWorld(store, TENANT, {
      endMs: END,
      intervals: INTERVALS,
      at: (_i, endMs) => {
        const t = healthy();
        always?.(t);
        if (fault && endMs > FAULT_AT) fault(t, endMs - FAULT_AT);
        return conditions(t);
      },
    });
    return await computeHints({ metricStore: store }, TENANT, service, END - WINDOW_MS, END, END + 1000);
  } finally {
    await store.close();
  }
}

function top(r: HintsReport) {
  const h = r.hints[0];
  return { kind: h.kind, service: h.service, peer: h.peer, chain: h.chain };
}

describe('hints engine', () => {
  after(() => undefined);

  test('control: no fault, no cause — `none` with confidence 0 and the baseline before the window', async () => {
    const r = await scenario();
    assert.equal(r.hints.length, 1);
    assert.deepEqual(top(r), { kind: 'none', service: 'frontend', peer: null, chain: ['frontend'] });
    assert.equal(r.hints[0].confidence, 0);
    assert.equal(r.to - r.from, WINDOW_MS / 1000);
    assert.equal(r.baseline.to, r.from);
    // 15 minutes of data before the window: the baseline takes all of it (≤ 1 h).
    assert.equal(r.baseline.from, r.from - 15 * 60);
  });

  test('slow_dependency: Redis made slow behind the backend — the Redis peer ranks first, chain frontend → backend', async () => {
    const r = await scenario((t) => (t.redisLatency = 0.3));
    assert.deepEqual(top(r), { kind: 'slow_dependency', service: 'backend', peer: '127.0.0.1:6379', chain: ['frontend', 'backend'] });
    assert.ok(r.hints[0].confidence >= 0.5, JSON.stringify(r.hints[0]));
    assert.ok(r.hints[0].explained_share > 0.8);
    const redis = r.hints[0].evidence[0];
    assert.equal(redis.metric, 'db.client.operation.duration');
    assert.ok(redis.baseline! < 0.002 && redis.incident! > 0.2, JSON.stringify(redis));
    assert.ok(Math.abs(redis.changed_at! - FAULT_AT / 1000) <= 30, `changed_at ${redis.changed_at} vs fault ${FAULT_AT / 1000}`);
    // The frontend's own view (its calls to the backend got slow) follows the deeper cause.
    assert.ok(r.hints.some((h) => h.kind === 'slow_dependency' && h.service === 'frontend' && h.peer === '127.0.0.1:9090' && h.rank > 1));
  });

  test('slow_dependency: every command to a slow Redis — one hint for the peer with their shares added; the call leading there is the path, not a confident cause', async () => {
    const store = await DuckDbStore.open({ path: ':memory:' });
    try {
      await writeWorld(store, TENANT, {
        endMs: END,
        intervals: INTERVALS,
        at: (_i, endMs) => {
          const t = healthy();
          if (endMs > FAULT_AT) t.redisLatency = 0.04;
          const cs = conditions(t);
          // SET before GET, as slow as it: each command alone is half of the extra time.
          const back = cs.find((c) => c.service === 'backend')!;
          back.calls = [...back.calls!, { kind: 'redis', ...REDIS, operation: 'SET', latency: t.redisLatency }];
          const front = cs.find((c) => c.service === 'frontend')!;
          front.calls = front.calls!.map((c) => ({ ...c, latency: c.latency + t.redisLatency }));
          return cs;
        },
      });
      const r = await computeHints({ metricStore: store }, TENANT, 'frontend', END - WINDOW_MS, END, END + 1000);
      assert.deepEqual(top(r), { kind: 'slow_dependency', service: 'backend', peer: '127.0.0.1:6379', chain: ['frontend', 'backend'] });
      assert.equal(r.hints.filter((h) => h.peer === '127.0.0.1:6379').length, 1, 'one hint for the peer');
      assert.ok(r.hints[0].explained_share > 0.8, JSON.stringify(r.hints[0]));
      assert.ok(r.hints[0].confidence >= 0.5, JSON.stringify(r.hints[0]));
      const ops = new Set(r.hints[0].evidence.map((e) => e.labels.operation).filter(Boolean));
      assert.deepEqual([...ops].sort(), ['redis GET', 'redis SET']);
      const path = r.hints.find((h) => h.service === 'frontend' && h.kind === 'slow_dependency');
      assert.ok(path && path.rank > 1 && path.confidence < 0.5, JSON.stringify(path));
    } finally {
      await store.close();
    }
  });

  test('dependency_errors: PostgreSQL failing behind the backend', async () => {
    const r = await scenario((t) => (t.postgresErrors = 0.3));
    assert.deepEqual(top(r), { kind: 'dependency_errors', service: 'backend', peer: '127.0.0.1:5432', chain: ['frontend', 'backend'] });
    assert.ok(r.hints[0].confidence >= 0.5, JSON.stringify(r.hints[0]));
  });

  test('network: retransmits on the link to the backend, the backend itself unchanged', async () => {
    const r = await scenario((t) => {
      t.linkDelay = 0.2;
      t.linkRetransmits = 150;
    });
    assert.deepEqual(top(r), { kind: 'network', service: 'frontend', peer: '127.0.0.1:9090', chain: ['frontend'] });
    assert.ok(r.hints[0].confidence >= 0.5, JSON.stringify(r.hints[0]));
  });

  test('cpu: the backend waits for a CPU', async () => {
    const r = await scenario((t) => {
      t.back!.runqueueWait = 0.004;
      t.back!.ownLatency = 0.02;
    });
    assert.deepEqual(top(r), { kind: 'cpu', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
  });

  test('cpu: each wait stays short (a scheduler favouring short wakers) but the waits add up', async () => {
    const r = await scenario((t) => {
      t.back!.runqueueWait = 0.0003; // p90 under the 0.5 ms that matters for one wakeup
      t.back!.wakeupsPerRequest = 40;
      t.back!.ownLatency = 0.02;
    });
    assert.deepEqual(top(r), { kind: 'cpu', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.equal(r.hints[0].evidence[0].labels.aggregation, 'sum_rate');
  });

  test('gc: the backend collects garbage far more often', async () => {
    const r = await scenario((t) => {
      t.back!.gcCycles = 40;
      t.back!.gcPause = 0.0004;
      t.back!.cpuSeconds = 2;
      t.back!.ownLatency = 0.015;
    });
    assert.deepEqual(top(r), { kind: 'gc', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
  });

  test('gc: allocating requests stall in GC assist before cycles or pauses change', async () => {
    const r = await scenario((t) => (t.back!.gcAssist = 0.012));
    assert.deepEqual(top(r), { kind: 'gc', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.equal(r.hints[0].evidence[0].metric, 'burnwatch.go.gc.assist');
    assert.match(r.hints[0].summary, /GC assist/);
  });

  test('lock: the backend\'s requests queue on a lock — the waiting function is named', async () => {
    const r = await scenario((t) => {
      t.back!.lockWait = 0.02;
      t.back!.lockFunction = 'main.(*inventory).reserve';
    });
    assert.deepEqual(top(r), { kind: 'lock', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.ok(r.hints[0].confidence >= 0.5, JSON.stringify(r.hints[0]));
    assert.match(r.hints[0].summary, /main\.\(\*inventory\)\.reserve/);
    assert.equal(r.hints[0].evidence[0].metric, 'burnwatch.go.lock.wait');
  });

  test('lock: a non-Go backend judged on its futex waits', async () => {
    const r = await scenario(
      (t) => {
        t.back!.ownLatency = 0.012;
        t.back!.futexWait = 120;
      },
      'frontend',
      (t) => (t.back!.notGo = true),
    );
    assert.deepEqual(top(r), { kind: 'lock', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.equal(r.hints[0].evidence[0].metric, 'burnwatch.futex.wait');
  });

  test('gc: a heap collected and grown again faults its pages back in — the faults are gc evidence, not a memory hint', async () => {
    const r = await scenario((t) => {
      t.back!.gcCycles = 40;
      t.back!.gcPause = 0.0004;
      t.back!.minorFaults = 20000;
      t.back!.ownLatency = 0.015;
    });
    assert.deepEqual(top(r), { kind: 'gc', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.ok(!r.hints.some((h) => h.kind === 'memory'), JSON.stringify(r.hints.map((h) => [h.kind, h.confidence])));
    assert.ok(r.hints[0].evidence.some((e) => e.metric === 'burnwatch.page_faults'), 'the faults are in the gc hint');
  });

  test('memory: a page-fault storm in the backend', async () => {
    const r = await scenario((t) => {
      t.back!.majorFaults = 400;
      t.back!.minorFaults = 20000;
      t.back!.ownLatency = 0.02;
    });
    assert.deepEqual(top(r), { kind: 'memory', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
  });

  test('memory: the backend OOM-killed and restarted, again and again — one memory hint, the faults before the kills in its evidence', async () => {
    const r = await scenario((t, since) => {
      const phase = Math.floor(since / INTERVAL_MS) % 9;
      t.back!.minorFaults = 20000; // the leak faults its pages in
      if (phase === 0) {
        t.back = { ...t.back!, oomKilled: true, exited: { signal: 'SIGKILL', code: 137 }, requestsPerSecond: 0 };
        t.backendDown = true;
      } else if (phase === 1) t.back = { ...t.back!, started: true };
    });
    assert.deepEqual(top(r), { kind: 'memory', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.ok(!r.hints.some((h) => h.kind === 'crash'), 'the OOM kill explains the exits');
    assert.equal(r.hints.filter((h) => h.kind === 'memory').length, 1, JSON.stringify(r.hints.map((h) => [h.kind, h.summary])));
    assert.ok(r.hints[0].evidence.some((e) => e.metric === 'burnwatch.page_faults'));
  });

  test('memory, not cpu: a page-fault storm makes the backend wait for the CPU it burns itself', async () => {
    const r = await scenario((t) => {
      t.back!.minorFaults = 20000;
      t.back!.cpuSeconds = 6;
      t.back!.runqueueWait = 0.004;
      t.back!.ownLatency = 0.02;
    });
    assert.deepEqual(top(r), { kind: 'memory', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.ok(!r.hints.some((h) => h.kind === 'cpu'), JSON.stringify(r.hints.map((h) => [h.kind, h.confidence])));
    assert.ok(r.hints[0].evidence.some((e) => e.metric === 'burnwatch.sched.runqueue.latency'), 'the wait is in the memory hint');
  });

  test('disk: the backend\'s writes got slow', async () => {
    const r = await scenario((t) => {
      t.back!.blockLatency = 0.08;
      t.back!.ownLatency = 0.03;
    });
    assert.deepEqual(top(r), { kind: 'disk', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
  });

  test('crash: the backend exits with a failure code and restarts, again and again', async () => {
    const r = await scenario((t, since) => {
      const phase = Math.floor(since / INTERVAL_MS) % 9;
      if (phase === 0) {
        t.back = { ...t.back!, exited: { code: 2 }, requestsPerSecond: 0 };
        t.backendDown = true;
      } else if (phase === 1) t.back = { ...t.back!, started: true };
    });
    assert.deepEqual(top(r), { kind: 'crash', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
  });

  test('deploy (recursive): the frontend slowed by a backend redeployed with a slower build — deploy on the backend ranks 1', async () => {
    const r = await scenario((t, since) => {
      t.back = { ...t.back!, buildId: 'b2b2b2b2b2b2b2b2', ownLatency: 0.04, started: since <= INTERVAL_MS };
    });
    assert.deepEqual(top(r), { kind: 'deploy', service: 'backend', peer: null, chain: ['frontend', 'backend'] });
    assert.ok(r.hints[0].confidence >= 0.5, JSON.stringify(r.hints[0]));
    assert.equal(r.hints[0].evidence[0].labels['process.executable.build_id'], 'b2b2b2b2b2b2b2b2');
    const frontCall = r.hints.find((h) => h.kind === 'slow_dependency' && h.service === 'frontend');
    assert.ok(frontCall && frontCall.rank > 1 && frontCall.peer === '127.0.0.1:9090', JSON.stringify(r.hints));
  });

  test('traffic: a surge of requests to the frontend', async () => {
    const r = await scenario((t) => {
      t.front.requestsPerSecond = 80;
      t.front.ownLatency = 0.02;
    });
    assert.deepEqual(top(r), { kind: 'traffic', service: 'frontend', peer: null, chain: ['frontend'] });
  });

  test('traffic: GC cycles rising with the request rate are the surge\'s, not a gc hint', async () => {
    const r = await scenario((t) => {
      t.front.requestsPerSecond = 160;
      t.front.ownLatency = 0.02;
      t.front.gcCycles = 15; // 1.5/s: ×10, as the requests (×8) allocate
    });
    assert.deepEqual(top(r), { kind: 'traffic', service: 'frontend', peer: null, chain: ['frontend'] });
    assert.ok(!r.hints.some((h) => h.kind === 'gc' || h.kind === 'memory'), JSON.stringify(r.hints.map((h) => [h.kind, h.confidence])));
    assert.ok(r.hints[0].evidence.some((e) => e.metric === 'burnwatch.go.gc.cycles'), 'the GC cycles are traffic evidence');
  });

  test('an unknown service is a 404; a window ending before it starts a 400', async () => {
    const store = await DuckDbStore.open({ path: ':memory:' });
    try {
      await assert.rejects(computeHints({ metricStore: store }, TENANT, 'nobody', END - WINDOW_MS, END, END), (e: Error & { status?: number }) => e.status === 404 && /service "nobody"/.test(e.message));
      await assert.rejects(computeHints({ metricStore: store }, TENANT, 'nobody', END, END - 1, END), (e: Error & { status?: number }) => e.status === 400 && /^from: /.test(e.message));
    } finally {
      await store.close();
    }
  });
});
