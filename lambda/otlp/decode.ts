// OTLP/HTTP request bodies (protobuf or JSON) → one plain-object shape, whatever the encoding.
//
// Both encodings end in `toObject({longs: String, enums: String, bytes: String})` of the same
// protobufjs message, so everything downstream reads one shape: 64-bit integers as decimal
// strings (no precision lost), enums as their names, bytes as base64.
//
// JSON needs work before protobufjs' `fromObject`, which coerces rather than validates
// (`verify()` cannot be used instead: it rejects the string int64s OTLP/JSON requires):
// - integers beyond 2^53 lose precision in JSON.parse, so long integer literals are quoted first;
// - traceId/spanId are hex in OTLP/JSON, not proto3-JSON's base64;
// - each value is checked against the schema with its path, so a wrong type is reported as
//   `resourceMetrics[0].scopeMetrics[1].metrics[3].sum.dataPoints[0].timeUnixNano: …`.

import protobuf from 'protobufjs';
import { ApiError } from '../errors.ts';
import { HEX_ID_FIELDS } from './schema.ts';

export type OtlpEncoding = 'protobuf' | 'json';

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, arrays: true };

/** Nesting deeper than this (AnyValue arrays/kvlists within each other) is refused, not recursed into. */
const MAX_DEPTH = 64;

/** Decodes an OTLP request message; throws ApiError 400 naming what is wrong. */
export function decodeOtlp(type: protobuf.Type, body: Uint8Array, encoding: OtlpEncoding): Record<string, unknown> {
  if (encoding === 'protobuf') {
    try {
      return type.toObject(type.decode(body), TO_OBJECT);
    } catch (err) {
      // Includes RangeError from absurdly deep nesting: the wire format allows any depth.
      throw new ApiError(400, 'invalid_protobuf', `body is not a valid protobuf ${type.name}: ${(err as Error).message}`);
    }
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ApiError(400, 'invalid_json', 'body is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(quoteLongIntegers(text));
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `body is not valid JSON: ${(err as Error).message}`);
  }
  const prepared = prepareMessage(type, parsed, '', 0);
  try {
    return type.toObject(type.fromObject(prepared), TO_OBJECT);
  } catch (err) {
    // prepareMessage checked every value against the schema, so this is a case it missed.
    throw new ApiError(400, 'invalid_otlp', `body does not convert to ${type.name}: ${(err as Error).message}`);
  }
}

/**
 * Wraps integer literals of 16 or more digits in quotes, outside strings, so JSON.parse keeps
 * them exact (every protobufjs numeric field accepts a decimal string). One linear pass.
 */
export function quoteLongIntegers(text: string): string {
  let out = '';
  let copiedTo = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n && isNumberChar(text.charCodeAt(i))) i++;
      const token = text.slice(start, i);
      if (/^-?\d{16,}$/.test(token)) {
        out += `${text.slice(copiedTo, start)}"${token}"`;
        copiedTo = i;
      }
      continue;
    }
    i++;
  }
  return copiedTo === 0 ? text : out + text.slice(copiedTo);
}

function isNumberChar(c: number): boolean {
  // digits . e E + -
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

function invalid(path: string, reason: string): ApiError {
  return new ApiError(400, 'invalid_otlp', `${path || '(body)'}: ${reason}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a JSON value against a message type and returns what `fromObject` should get.
 * Unknown keys are dropped (OTLP/JSON receivers must ignore them); null means "not set".
 */
function prepareMessage(type: protobuf.Type, value: unknown, path: string, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw invalid(path, `nested more than ${MAX_DEPTH} levels deep`);
  if (!isObject(value)) throw invalid(path, `expected an object (${type.name}), got ${describe(value)}`);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // Own fields only: a JSON key such as "constructor" is an unknown field (ignored), not Object's.
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    if (!field || v === null) continue;
    const at = path ? `${path}.${key}` : key;
    if (field.repeated) {
      if (!Array.isArray(v)) throw invalid(at, `expected an array, got ${describe(v)}`);
      out[key] = v.map((e, i) => prepareValue(field, e, `${at}[${i}]`, depth + 1));
    } else {
      out[key] = prepareValue(field, v, at, depth + 1);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.filter((f) => out[f.name] !== undefined).map((f) => f.name);
    if (set.length > 1) throw invalid(path, `only one of ${set.join(', ')} may be set`);
  }
  return out;
}

const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64_TYPES = new Set(['uint64', 'fixed64']);

function prepareValue(field: protobuf.Field, v: unknown, path: string, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return prepareMessage(resolved, v, path, depth);
  if (resolved instanceof protobuf.Enum) {
    // OTLP/JSON sends enums as integers; the names are accepted too (proto3 JSON).
    const known = typeof v === 'number' ? Object.values(resolved.values).includes(v) : typeof v === 'string' && v in resolved.values;
    if (!known) throw invalid(path, `expected a ${resolved.name} value (${Object.entries(resolved.values).map(([k, n]) => `${n}=${k}`).join(', ')}), got ${describe(v)}`);
    return v;
  }
  const t = field.type;
  if (t === 'string') {
    if (typeof v !== 'string') throw invalid(path, `expected a string, got ${describe(v)}`);
    return v;
  }
  if (t === 'bool') {
    if (typeof v !== 'boolean') throw invalid(path, `expected true or false, got ${describe(v)}`);
    return v;
  }
  if (t === 'double' || t === 'float') {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && (v === 'NaN' || v === 'Infinity' || v === '-Infinity' || /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v))) {
      return Number(v);
    }
    throw invalid(path, `expected a number, got ${describe(v)}`);
  }
  if (INT32_TYPES.has(t) || UINT32_TYPES.has(t)) {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    const [lo, hi] = UINT32_TYPES.has(t) ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) {
      throw invalid(path, `expected an integer in [${lo}, ${hi}], got ${describe(v)}`);
    }
    return n;
  }
  if (INT64_TYPES.has(t) || UINT64_TYPES.has(t)) {
    const unsigned = UINT64_TYPES.has(t);
    const ok = typeof v === 'number' ? Number.isInteger(v) && (!unsigned || v >= 0) : typeof v === 'string' && (unsigned ? /^\d+$/ : /^-?\d+$/).test(v);
    const limit = unsigned ? (1n << 64n) - 1n : (1n << 63n) - 1n;
    if (!ok || BigInt(v as string | number) > limit || BigInt(v as string | number) < -limit - 1n) {
      throw invalid(path, `expected ${unsigned ? 'an unsigned' : 'a'} 64-bit integer (a decimal string or an integer), got ${describe(v)}`);
    }
    return typeof v === 'number' ? String(v) : v;
  }
  if (t === 'bytes') {
    if (typeof v !== 'string') throw invalid(path, `expected a string of bytes, got ${describe(v)}`);
    if (HEX_ID_FIELDS.has(field.name)) {
      if (!/^([0-9a-fA-F]{2})*$/.test(v)) throw invalid(path, `expected a hex-encoded id, got ${describe(v)}`);
      return Uint8Array.from(Buffer.from(v, 'hex'));
    }
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw invalid(path, `expected base64, got ${describe(v)}`);
    return v;
  }
  throw invalid(path, `unsupported field type ${t}`);
}
