// The probe policy over a fake clock: modes, alert → cool-down, manual requests ending on their own, gateway outages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeepProbePolicy, chooseServerRedPath, parseProbeMode } from './probe-mode.ts';

function clock(start = 1_000_000) {
  const c = { ms: start, now: () => c.ms };
  return c;
}

test('minimal never goes deep and always always does, whatever the gateway says', () => {
  const alerting = { services: [{ service: 'a', reason: 'alert' as const, since_ms: 1 }] };
  const minimal = new DeepProbePolicy('minimal');
  minimal.update(alerting);
  assert.deepEqual(minimal.decide('a'), { deep: false });
  const always = new DeepProbePolicy('always');
  assert.deepEqual(always.decide('b'), { deep: true, reason: 'always' });
});

test('adaptive: deep while alerting, then for the cool-down after the alert leaves the answer', () => {
  const c = clock();
  const p = new DeepProbePolicy('adaptive', 60_000, c.now);
  assert.deepEqual(p.decide('a'), { deep: false });
  p.update({ services: [{ service: 'a', reason: 'alert', since_ms: 42 }] });
  assert.deepEqual(p.decide('a'), { deep: true, reason: 'alert', sinceMs: 42 });
  assert.deepEqual(p.decide('b'), { deep: false });
  c.ms += 5_000;
  p.update({ services: [] }); // resolved
  assert.deepEqual(p.decide('a'), { deep: true, reason: 'cooldown', untilMs: c.ms + 60_000 });
  c.ms += 59_999;
  assert.equal(p.decide('a').deep, true);
  c.ms += 1;
  assert.deepEqual(p.decide('a'), { deep: false });
  // Back during a cool-down: alerting again, and a later resolve starts a new cool-down.
  p.update({ services: [{ service: 'a', reason: 'alert', since_ms: 99 }] });
  assert.equal(p.decide('a').reason, 'alert');
});

test('a manual request lasts its time from the answer, even with the gateway gone, and a withdrawn one ends', () => {
  const c = clock();
  const p = new DeepProbePolicy('adaptive', 60_000, c.now);
  p.update({ services: [{ service: 'a', reason: 'manual', remaining_ms: 600_000, until_ms: 1 }] });
  assert.deepEqual(p.decide('a'), { deep: true, reason: 'manual', untilMs: c.ms + 600_000 });
  const until = c.ms + 600_000;
  c.ms = until - 1; // no answers meanwhile (gateway down)
  assert.equal(p.decide('a').deep, true);
  c.ms = until;
  assert.deepEqual(p.decide('a'), { deep: false });

  p.update({ services: [{ service: 'b', reason: 'manual', remaining_ms: 600_000 }] });
  p.update({ services: [] });
  assert.deepEqual(p.decide('b'), { deep: false });
});

test('while the gateway cannot answer, an alerting service stays deep (no update, no cool-down)', () => {
  const c = clock();
  const p = new DeepProbePolicy('adaptive', 1_000, c.now);
  p.update({ services: [{ service: 'a', reason: 'alert' }] });
  c.ms += 3_600_000;
  assert.equal(p.decide('a').reason, 'alert');
});

test('--probes values', () => {
  assert.equal(parseProbeMode('adaptive'), 'adaptive');
  assert.throws(() => parseProbeMode('sometimes'), /--probes must be one of always, adaptive, minimal, got "sometimes"/);
});

test('server RED path: syscalls for a plaintext HTTP/1-only binary unless --probes always or no syscall path; uprobes for TLS/h2c-capable ones', () => {
  const plain = { tls: false, cleartextHttp2: false, evidence: [] };
  const tls = { tls: true, cleartextHttp2: false, evidence: ['crypto/tls.(*Conn).serverHandshake'] };
  const h2c = { tls: false, cleartextHttp2: true, evidence: ['golang.org/x/net/http2.(*Server).ServeConn'] };
  assert.equal(chooseServerRedPath('adaptive', plain, true).path, 'syscalls');
  assert.equal(chooseServerRedPath('minimal', plain, true).path, 'syscalls');
  assert.deepEqual(chooseServerRedPath('always', plain, true), { path: 'uprobes', why: '--probes always' });
  assert.equal(chooseServerRedPath('adaptive', plain, false).path, 'uprobes');
  assert.deepEqual(chooseServerRedPath('adaptive', tls, true), { path: 'uprobes', why: 'it can serve TLS (crypto/tls.(*Conn).serverHandshake linked)' });
  assert.deepEqual(chooseServerRedPath('minimal', h2c, true), { path: 'uprobes', why: 'it can serve cleartext HTTP/2 (golang.org/x/net/http2.(*Server).ServeConn linked)' });
});
