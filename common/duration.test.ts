import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from './duration.ts';

test('durations parse to milliseconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('30d'), 2_592_000_000);
  assert.equal(parseDuration('1.5s'), 1_500);
});

test('malformed durations name the input', () => {
  for (const bad of ['', '10', 's', '10x', '-5m', '5 m']) {
    assert.throws(() => parseDuration(bad), (e: Error) => e instanceof RangeError && (bad === '' || e.message.includes(`"${bad}"`)));
  }
});

test('format picks the largest whole unit', () => {
  assert.equal(formatDuration(10_000), '10s');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(1_500), '1500ms');
});
