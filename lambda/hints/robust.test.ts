import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignment, assess, cooccurrence, median, percentile, strength, sustainedStart } from './robust.ts';
import { makeFrame, stepFor } from './frame.ts';
import { peerKey, resolvePeer } from './peers.ts';

test('median and percentiles interpolate as numpy does; an empty list has none', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(percentile([1, 2, 3, 4, 5], 0.25), 2);
  assert.equal(percentile([1, 2, 3, 4], 0.75), 3.25);
  assert.equal(median([]), undefined);
});

test('assess: robust to odd baseline intervals; a flat baseline needs the smallest increase that matters', () => {
  // One wild baseline interval moves neither median nor IQR much.
  const c = assess({ baseline: [10, 11, 9, 10, 500, 10, 11, 9], incident: [10, 11, 30, 31, 29] }, { floor: 1, relative: 0.2 })!;
  assert.equal(c.baseline, 10);
  assert.deepEqual(c.anomalous, [false, false, true, true, true]);
  assert.equal(c.changedAt, 2);
  assert.equal(c.incident, 30);
  assert.ok(c.z > 10);
  // Zero everywhere before: 0.4 more is below the floor of 1, 5 more is far above it.
  assert.equal(assess({ baseline: [0, 0, 0], incident: [0.4, 0.4] }, { floor: 1, relative: 0 })!.changedAt, undefined);
  assert.equal(assess({ baseline: [0, 0, 0], incident: [5, 5] }, { floor: 1, relative: 0 })!.z, 15);
  assert.equal(assess({ baseline: [], incident: [5] }, { floor: 1, relative: 0 }), undefined);
});

test('sustainedStart: a change that lasts or recurs, not one blip', () => {
  assert.equal(sustainedStart([false, true, false, false, false, false, false, false, false, false]), undefined);
  assert.equal(sustainedStart([false, false, true, true, true]), 2);
  assert.equal(sustainedStart([true, false, false, true, false, false, true, false, false]), 0); // a crash loop
  assert.equal(sustainedStart([true, false, false, false, false, false, false, false, false, true]), 9);
});

test('strength, co-occurrence and alignment stay in [0, 1] and order as intended', () => {
  assert.equal(strength(3), 0);
  assert.ok(strength(10) > 0.6 && strength(10) < strength(20) && strength(1e9) <= 1);
  assert.equal(cooccurrence([true, false, true], [true, true, false]), 0.5);
  assert.equal(cooccurrence([true], [false]), 0);
  assert.equal(alignment(100, 100, 10), 1);
  assert.equal(alignment(108, 100, 10), 1);
  // Changing long after the damage began is less likely a cause than changing long before it.
  assert.ok(alignment(160, 100, 10) < alignment(40, 100, 10));
});

test('frame: 10 s to 1 min steps; a baseline of the data there is, at most 1 h, at least 1 min', () => {
  const S = 1_000_000_000n;
  assert.equal(stepFor(60n * S), 10n * S);
  assert.equal(stepFor(600n * S), 20n * S);
  assert.equal(stepFor(24n * 3600n * S), 60n * S);
  const from = 1_000_000n * S;
  assert.equal(makeFrame('t', from, from + 600n * S, from - 900n * S).baselineIntervals, 45);
  assert.equal(makeFrame('t', from, from + 600n * S, from - 9000n * S).baselineIntervals, 180);
  assert.equal(makeFrame('t', from, from + 600n * S, undefined).baselineIntervals, 3);
});

test('resolvePeer: loopback means the caller\'s host; a port on two services is not guessed', () => {
  const all = [
    { service: 'backend', host: 'a', port: 9090 },
    { service: 'other', host: 'b', port: 9090 },
    { service: 'cache', host: 'b', port: 6379 },
  ];
  assert.equal(resolvePeer(all, 'localhost', 9090, new Set(['a'])), 'backend');
  assert.equal(resolvePeer(all, 'b', 9090, new Set(['a'])), 'other');
  assert.equal(resolvePeer(all, '10.0.0.9', 9090, new Set(['a'])), undefined);
  assert.equal(resolvePeer(all, '10.0.0.9', 6379, new Set(['a'])), 'cache');
  assert.equal(peerKey('::1', 80), '127.0.0.1:80');
  assert.equal(peerKey('::ffff:10.1.2.3', 80), '10.1.2.3:80');
});
