/**
 * Struct member offsets for BPF programs that read Go structs. The binary's DWARF is the
 * truth when present; a stripped binary falls back to `offsets-table.json`, measured from
 * binaries that had DWARF (see gen-offsets-table.ts) and keyed by Go (or module) version
 * range and architecture. When neither knows a field the answer is an error naming the
 * binary, the version and the field — never a guessed offset, which would make the BPF side
 * read garbage silently.
 */
import { readFileSync } from 'node:fs';
import { dwarfMemberOffsets } from '../bpf.ts';
import type { GoBuildInfo } from './buildinfo.ts';
import type { FieldSpec } from './probe-sets.ts';

export type GoArch = 'amd64' | 'arm64';
export type OffsetSource = 'dwarf' | 'table';

/** One measured range: every version in [from, to] has these offsets. */
export interface OffsetsTableEntry {
  /** "std" for the standard library (keyed by Go version), else a Go module path. */
  module: string;
  arch: GoArch;
  /** Inclusive, "1.19.8" style (no "go"/"v" prefix). */
  from: string;
  to: string;
  /** struct → member → byte offset */
  structs: Record<string, Record<string, number>>;
}

export interface OffsetsTable {
  $comment?: string;
  entries: OffsetsTableEntry[];
}

export const OFFSETS_TABLE_PATH = new URL('./offsets-table.json', import.meta.url);

/** Neither DWARF nor the table resolved some fields. */
export class OffsetsUnresolvedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OffsetsUnresolvedError';
  }
}

export interface MemberOffset {
  offset: number;
  source: OffsetSource;
}

export interface OffsetContext {
  /** The binary (read for DWARF). */
  path: string;
  arch: GoArch;
  buildInfo: GoBuildInfo;
}

export interface OffsetLookup {
  /** One per field, in order; undefined where neither DWARF nor the table knows it. */
  results: (MemberOffset | undefined)[];
  /** Set when the DWARF could not be read at all (as opposed to: has no such member). */
  dwarfProblem?: string;
}

/** Offsets of `fields` (in order): DWARF first, then the table. Does not throw for unknown fields. */
export function lookupMemberOffsets(ctx: OffsetContext, fields: readonly FieldSpec[], table: OffsetsTable = loadOffsetsTable()): OffsetLookup {
  let fromDwarf: (number | null)[];
  let dwarfProblem: string | undefined;
  try {
    fromDwarf = fields.length ? dwarfMemberOffsets(ctx.path, fields.map((f) => ({ struct: f.struct, member: f.member }))) : [];
  } catch (err) {
    // The table may still know; the reason is kept for the error if it does not.
    fromDwarf = fields.map(() => null);
    dwarfProblem = (err as Error).message;
  }
  const results = fields.map((f, i): MemberOffset | undefined => {
    const d = fromDwarf[i];
    if (d !== null && d !== undefined) return { offset: d, source: 'dwarf' };
    const module = f.module ?? 'std';
    const version = moduleVersion(ctx.buildInfo, module);
    const t = version === undefined ? undefined : tableMemberOffset(table, module, version, ctx.arch, f.struct, f.member);
    return t === undefined ? undefined : { offset: t, source: 'table' };
  });
  return dwarfProblem === undefined ? { results } : { results, dwarfProblem };
}

/** The error text for fields nobody knows: names the binary, the versions and each field. */
export function unresolvedOffsetsMessage(ctx: OffsetContext, missing: readonly FieldSpec[], dwarfProblem?: string): string {
  const names = missing.map((f) => {
    const module = f.module ?? 'std';
    const which = module === 'std' ? ctx.buildInfo.goVersion : `${module} ${moduleVersion(ctx.buildInfo, module) ?? '(not in build info)'}`;
    return `${f.struct}.${f.member} (${which} ${ctx.arch})`;
  });
  return (
    `${ctx.path} (${ctx.buildInfo.goVersion}): no DWARF offset and no offsets-table entry for ${names.join(', ')}` +
    (dwarfProblem ? ` (DWARF unreadable: ${dwarfProblem})` : '')
  );
}

/** Like lookupMemberOffsets, but all or nothing: throws OffsetsUnresolvedError naming what is missing. */
export function resolveMemberOffsets(ctx: OffsetContext, fields: readonly FieldSpec[], table?: OffsetsTable): MemberOffset[] {
  const { results, dwarfProblem } = lookupMemberOffsets(ctx, fields, table);
  const missing = fields.filter((_, i) => results[i] === undefined);
  if (missing.length > 0) throw new OffsetsUnresolvedError(unresolvedOffsetsMessage(ctx, missing, dwarfProblem));
  return results as MemberOffset[];
}

/** The version that keys a module's table entries: the Go version for "std". */
export function moduleVersion(info: GoBuildInfo, module: string): string | undefined {
  if (module === 'std') return info.goVersion;
  const dep = info.deps.find((d) => d.path === module);
  if (!dep) return undefined;
  // A replacement by a local directory has no version: nothing in the table can match it.
  return dep.replace ? dep.replace.version || undefined : dep.version;
}

/** [major, minor, patch] of "go1.19.8", "1.19", "v1.60.1"; undefined for anything else (rc, devel, +incompatible …). */
export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(?:go|v)?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: [number, number, number], b: [number, number, number]): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** The table's offset for one member at one version, or undefined. */
export function tableMemberOffset(
  table: OffsetsTable,
  module: string,
  version: string,
  arch: GoArch,
  struct: string,
  member: string,
): number | undefined {
  const v = parseVersion(version);
  if (!v) return undefined;
  for (const e of table.entries) {
    if (e.module !== module || e.arch !== arch) continue;
    const from = parseVersion(e.from);
    const to = parseVersion(e.to);
    if (!from || !to || compareVersions(v, from) < 0 || compareVersions(v, to) > 0) continue;
    const off = e.structs[struct]?.[member];
    if (off !== undefined) return off;
  }
  return undefined;
}

let cachedTable: OffsetsTable | undefined;

/** The checked-in table, validated once. */
export function loadOffsetsTable(): OffsetsTable {
  cachedTable ??= parseOffsetsTable(readFileSync(OFFSETS_TABLE_PATH, 'utf8'), OFFSETS_TABLE_PATH.pathname);
  return cachedTable;
}

export function parseOffsetsTable(text: string, where: string): OffsetsTable {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not JSON: ${(err as Error).message}`);
  }
  const fail = (path: string, why: string): never => {
    throw new Error(`${where}: ${path}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as OffsetsTable).entries)) fail('entries', 'must be an array');
  const table = raw as OffsetsTable;
  table.entries.forEach((e, i) => {
    const at = `entries[${i}]`;
    if (typeof e.module !== 'string' || !e.module) fail(`${at}.module`, 'must be a non-empty string');
    if (e.arch !== 'amd64' && e.arch !== 'arm64') fail(`${at}.arch`, 'must be "amd64" or "arm64"');
    for (const k of ['from', 'to'] as const) {
      if (typeof e[k] !== 'string' || !parseVersion(e[k])) fail(`${at}.${k}`, `must be a version like "1.19.8", got ${JSON.stringify(e[k])}`);
    }
    if (compareVersions(parseVersion(e.from)!, parseVersion(e.to)!) > 0) fail(at, `from ${e.from} is after to ${e.to}`);
    if (typeof e.structs !== 'object' || e.structs === null) fail(`${at}.structs`, 'must be an object');
    for (const [s, members] of Object.entries(e.structs)) {
      for (const [m, off] of Object.entries(members)) {
        if (!Number.isInteger(off) || off < 0) fail(`${at}.structs["${s}"].${m}`, `must be a non-negative integer, got ${JSON.stringify(off)}`);
      }
    }
  });
  return table;
}
