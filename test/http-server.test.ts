// The HTTP server probe against a real Go net/http fixture: drains that are exact while
// requests keep arriving, in-flight state that is counted when it cannot be kept, and
// kernel maps that stay bounded whatever paths clients send.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { HttpServerCollector, type HttpServerPoint } from '../agent/collectors/http-server.ts';
import { OVERFLOW_ROUTE, normalisePath } from '../agent/collectors/route.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { FIXTURE_BIN, sendRequests, startFixture, tempDir, waitFor, type Fixture } from './lib/processes.ts';

const OBJECT = path.join(BPF_OBJECT_DIR, 'http_server.bpf.o');
const BINARY = path.join(FIXTURE_BIN, 'httpserver');

type Options = Omit<ConstructorParameters<typeof HttpServerCollector>[0], 'objectPath'>;

/** A collector attached to a freshly started fixture; both closed by `close`. */
async function probed(opts: Options = {}): Promise<{ fixture: Fixture; collector: HttpServerCollector; close(): Promise<void> }> {
  const info = await inspectGoBinary(BINARY);
  if (!('probeSets' in info) || !info.probeSets.httpServer) throw new Error(`fixture not instrumentable: ${JSON.stringify(info)}`);
  const fixture = await startFixture('httpserver');
  const collector = new HttpServerCollector({ objectPath: OBJECT, ...opts });
  collector.attach({ pid: fixture.pid, binaryPath: BINARY, binaryKey: info.fileKey, probes: info.probeSets.httpServer });
  return {
    fixture,
    collector,
    async close() {
      collector.close();
      await fixture.stop();
    },
  };
}

/** Request counts by "METHOD route status" over points. */
function countsOf(points: HttpServerPoint[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of points) {
    const id = `${p.attributes['http.request.method']} ${p.attributes['http.route']} ${p.attributes['http.response.status_code']}`;
    out.set(id, (out.get(id) ?? 0) + p.histogram.count);
  }
  return out;
}

function add(into: Map<string, number>, from: Map<string, number>): void {
  for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('http server probe: exactly-once drains', () => {
  test('every request is counted exactly once while drains run back to back under load', async () => {
    const { fixture, collector, close } = await probed();
    try {
      const urls: string[] = [];
      for (let i = 0; i < 6000; i++) urls.push(`${fixture.url}/${i % 5 === 0 ? 'fail' : 'hello'}`);
      const counted = new Map<string, number>();
      let drains = 0;
      let sending = true;
      const drainer = (async () => {
        while (sending) {
          add(counted, countsOf(await collector.drainPoints(() => 'svc')));
          drains++;
        }
      })();
      const statuses = await sendRequests(urls, 16);
      sending = false;
      await drainer;
      add(counted, countsOf(await collector.drainPoints(() => 'svc')));
      assert.deepEqual([...statuses].sort(), [[200, 4800], [500, 1200]]);
      assert.ok(drains >= 5, `only ${drains} drains ran while requests were sent`);
      assert.equal(counted.get('GET /hello 200'), 4800);
      assert.equal(counted.get('GET /fail 500'), 1200);
      assert.equal(total(counted), 6000);
      // Nothing is left for a later drain to count again.
      assert.equal(total(countsOf(await collector.drainPoints(() => 'svc'))), 0);
      assert.deepEqual([...collector.takeDrops()], []);
    } finally {
      await close();
    }
  });
});

describe('http server probe: per-binary offsets slots', () => {
  test('a binary\'s slot is freed with its last process: more distinct binaries than slots, one after another, each counted exactly', async () => {
    const slots = 2;
    const collector = new HttpServerCollector({ objectPath: OBJECT, maxEntries: { go_http_offsets: slots } });
    const dir = tempDir('bw-http-slots');
    try {
      for (let i = 0; i < slots + 2; i++) {
        // A copy is another file (another inode): a distinct binary with a slot of its own.
        const bin = path.join(dir, `httpserver-${i}`);
        fs.copyFileSync(BINARY, bin);
        fs.chmodSync(bin, 0o755);
        const info = await inspectGoBinary(bin);
        if (!('probeSets' in info) || !info.probeSets.httpServer) throw new Error(`copy not instrumentable: ${JSON.stringify(info)}`);
        const fixture = await startFixture('httpserver', {}, bin);
        try {
          collector.attach({ pid: fixture.pid, binaryPath: bin, binaryKey: info.fileKey, probes: info.probeSets.httpServer });
          const n = 40 + i;
          const statuses = await sendRequests(Array.from({ length: n }, () => `${fixture.url}/hello`), 4);
          assert.equal(statuses.get(200), n);
          assert.equal(countsOf(await collector.drainPoints(() => 'svc')).get('GET /hello 200'), n, `binary ${i}`);
        } finally {
          await fixture.stop();
          collector.processExited(fixture.pid);
        }
      }
      assert.deepEqual([...collector.takeDrops()], []);
    } finally {
      collector.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('http server probe: in-flight requests are bounded and counted', () => {
  test('a full in-flight map refuses starts and counts each one', async () => {
    const { fixture, collector, close } = await probed({ maxEntries: { http_inflight: 4 } });
    try {
      // 10 requests held open at once: 4 fit, 6 starts are refused.
      const statuses = await sendRequests(Array.from({ length: 10 }, () => `${fixture.url}/sleep?ms=600`), 10);
      assert.equal(statuses.get(200), 10);
      const counted = countsOf(await collector.drainPoints(() => 'svc'));
      const drops = collector.takeDrops();
      assert.equal(drops.get('inflight_full'), 6);
      assert.equal(counted.get('GET /sleep 200'), 4);
      assert.equal(total(counted) + (drops.get('inflight_full') ?? 0), 10);
    } finally {
      await close();
    }
  });

  test('requests that never end are swept and counted: older than the limit, or of an exited process', async () => {
    const { fixture, collector, close } = await probed({ inflightMaxAgeNs: 300_000_000n });
    try {
      const slow = sendRequests([`${fixture.url}/sleep?ms=1500`], 1);
      await waitFor('the request to be in flight', () => (collector.inflightCount() === 1 ? true : undefined), 5_000, 20);
      await new Promise((r) => setTimeout(r, 500));
      await collector.drainPoints(() => 'svc');
      assert.equal(collector.takeDrops().get('inflight_stale'), 1);
      await slow;
      // Its end finds no start: not counted as a request, it was counted as stale.
      assert.equal(total(countsOf(await collector.drainPoints(() => 'svc'))), 0);

      const orphan = sendRequests([`${fixture.url}/sleep?ms=5000`], 1).catch(() => undefined);
      await waitFor('the request to be in flight', () => (collector.inflightCount() === 1 ? true : undefined), 5_000, 20);
      await fixture.stop('SIGKILL');
      await orphan;
      await collector.drainPoints(() => 'svc');
      assert.equal(collector.takeDrops().get('inflight_exited'), 1);
      assert.equal(collector.inflightCount(), 0);
    } finally {
      await close();
    }
  });
});

describe('http server probe: bounded cardinality in the kernel', () => {
  test('a scanner with random URLs cannot crowd out real routes; overflow is counted, maps never fill', async () => {
    const cap = 32;
    const { fixture, collector, close } = await probed({ maxSeriesPerProcess: cap });
    try {
      const real = (n: number) => [
        ...Array.from({ length: n }, () => `${fixture.url}/hello`),
        ...Array.from({ length: n }, (_, i) => `${fixture.url}/users/${100000 + i}`),
        ...Array.from({ length: n / 2 }, () => `${fixture.url}/fail`),
      ];
      // The service's real routes, seen before the scan starts.
      await sendRequests(real(10), 4);
      const first = countsOf(await collector.drainPoints(() => 'svc'));
      assert.equal(first.get('GET /users/{id} 200'), 10);

      // Then real traffic and a scan of 3000 never-seen paths (404s), interleaved.
      const scan = Array.from({ length: 3000 }, () => `${fixture.url}/scan/${randomBytes(6).toString('base64url').replace(/[0-9]/g, 'x')}`);
      const realUrls = real(200);
      const mixed: string[] = [];
      for (let i = 0; i < scan.length; i++) {
        mixed.push(scan[i]);
        if (i % 6 === 0 && realUrls.length) mixed.push(realUrls.pop()!);
      }
      mixed.push(...realUrls);
      await sendRequests(mixed, 8);
      const counted = countsOf(await collector.drainPoints(() => 'svc'));
      const drops = collector.takeDrops();

      assert.equal(counted.get('GET /hello 200'), 200);
      assert.equal(counted.get('GET /users/{id} 200'), 200);
      assert.equal(counted.get('GET /fail 500'), 100);
      const overflow = counted.get(`GET ${OVERFLOW_ROUTE} 404`) ?? 0;
      const scanCounted = [...counted].filter(([k]) => k.startsWith('GET /scan/')).reduce((n, [, c]) => n + c, 0);
      // At most `cap` new series (a few more if CPUs raced at the limit) got their own entry.
      assert.ok(scanCounted >= cap && scanCounted <= cap + 4, `scan paths with their own series: ${scanCounted}`);
      assert.equal(scanCounted + overflow, 3000);
      assert.equal(drops.get('series_overflow'), overflow);
      for (const full of ['bucket_map_full', 'stats_map_full', 'series_counter_full']) assert.equal(drops.get(full), undefined, full);
      assert.equal(total(counted), 3000 + 500);
    } finally {
      await close();
    }
  });

  test('a route over the per-service cap counts one route_overflow per series, whatever maps it is in', async () => {
    const { fixture, collector, close } = await probed({ maxRoutesPerService: 2 });
    try {
      await sendRequests([...Array(5).fill(`${fixture.url}/hello`), ...Array(5).fill(`${fixture.url}/fail`)], 4);
      assert.equal(total(countsOf(await collector.drainPoints(() => 'svc'))), 10);
      assert.equal(collector.takeDrops().get('route_overflow'), undefined);
      // Three new paths once the service's two routes are taken: three series, each with a stats
      // entry and at least one bucket entry in the kernel, all named /{overflow}.
      const paths = ['alpha', 'bravo', 'charlie'];
      await sendRequests(paths.flatMap((p) => Array(4).fill(`${fixture.url}/scan/${p}`)), 4);
      const counted = countsOf(await collector.drainPoints(() => 'svc'));
      assert.deepEqual([...counted], [[`GET ${OVERFLOW_ROUTE} 404`, 12]]);
      assert.equal(collector.takeDrops().get('route_overflow'), paths.length);
      assert.equal(collector.takeDrops().get('route_overflow'), undefined); // reported once
    } finally {
      await close();
    }
  });

  test('id segments are masked in the kernel, so id-bearing routes do not use up the cap', async () => {
    const { fixture, collector, close } = await probed({ maxSeriesPerProcess: 8 });
    try {
      const ids = [
        ...Array.from({ length: 100 }, (_, i) => String(7000 + i)),
        ...Array.from({ length: 50 }, () => crypto.randomUUID()),
        ...Array.from({ length: 50 }, () => randomBytes(10).toString('hex')),
        ...Array.from({ length: 50 }, (_, i) => `2026-11-${String(1 + (i % 28)).padStart(2, '0')}`),
      ];
      // Segments that are not ids keep their name: the kernel masks no more than route.ts would.
      const words = ['alice', 'v2', 'deadbeef', 'a1b2', 'x_1-2', '123abc'];
      await sendRequests([...ids, ...words].map((id) => `${fixture.url}/users/${id}`), 8);
      const counted = countsOf(await collector.drainPoints(() => 'svc'));
      const expected = new Map<string, number>([['GET /users/{id} 200', ids.length]]);
      for (const w of words) expected.set(`GET ${normalisePath(`/users/${w}`)} 200`, 1);
      assert.deepEqual(new Map([...counted].sort()), new Map([...expected].sort()));
      assert.equal(collector.takeDrops().get('series_overflow'), undefined);
    } finally {
      await close();
    }
  });
});
