// Option parsing shared by the commands: node's parseArgs plus the checks every
// command needs (ports, durations), with errors that name the option.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../common/duration.ts';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function portOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number 0..65535, got "${value}"`);
  return n;
}

export function countOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number ≥ 1, got "${value}"`);
  return n;
}

export function durationOption(value: string | undefined, name: string, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  try {
    const ms = parseDuration(value);
    if (ms <= 0) throw new RangeError('must be positive');
    return ms;
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`);
  }
}
