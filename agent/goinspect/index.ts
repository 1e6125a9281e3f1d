/**
 * Everything the agent needs to know about a Go binary before it attaches uprobes, in one
 * call: Go version, architecture, build id, and for each probe set in probe-sets.ts the
 * probe file offsets and struct offsets — or why it cannot be probed. A binary (or probe
 * set) that does not resolve completely is reported and skipped, never probed blindly.
 */
import { stat } from 'node:fs/promises';
import { registerAbiProblem } from './abi.ts';
import { GO_BUILD_ID_NOTE, UnsupportedBuildInfoError, isGccgoElf, isGoElf, readGoBuildInfo, type GoBuildInfo } from './buildinfo.ts';
import { EM_AARCH64, EM_X86_64, ElfFile, ElfFormatError, fileKeyOf } from './elf.ts';
import { functionCallSites, functionEntryProbe, functionReturnOffsets } from './instructions.ts';
import { lookupMemberOffsets, unresolvedOffsetsMessage, type GoArch, type OffsetContext } from './offsets.ts';
import { findGoFunctions, type GoFunction } from './pclntab.ts';
import { SERVER_PROTOCOL_SYMBOLS, serverProtocolsOf, type ServerProtocols } from './server-protocols.ts';
import {
  GO_PROBE_SETS,
  allProbeFields,
  fieldKey,
  type ProbeSetName,
  type ProbeSetSpec,
  type ResolvedProbeSets,
} from './probe-sets.ts';

export type { GoArch } from './offsets.ts';
export type { EntryProbe, EntryProbeKind } from './instructions.ts';
export type { GoBuildInfo, GoModule } from './buildinfo.ts';
export { GO_PROBE_SETS, type CallSiteProbes, type ProbeSetName, type ResolvedProbeSet, type ResolvedProbeSets, type ReturnProbes } from './probe-sets.ts';
export { isGoBinary } from './buildinfo.ts';

const NT_GNU_BUILD_ID = 3;

export interface GoBinaryInfo {
  path: string;
  /** "dev:inode:mtimeNs" of the file inspected; uprobes are per inode, so attach once per key. */
  fileKey: string;
  /** e.g. "go1.19.8" */
  goVersion: string;
  arch: GoArch;
  /**
   * `process.executable.build_id`: the GNU build-id (hex) when the linker wrote one, else
   * the Go build id; absent when the binary has neither.
   */
  buildId?: string;
  gnuBuildId?: string;
  goBuildId?: string;
  buildInfo: GoBuildInfo;
  /** The probe sets that resolved completely. */
  probeSets: ResolvedProbeSets;
  /** The probe sets that did not, and why. */
  skipped: { probeSet: ProbeSetName; reason: string }[];
  /** Whether it can serve TLS or cleartext HTTP/2 (server-protocols.ts: picks the server's RED path). */
  serverProtocols: ServerProtocols;
}

export interface NotInstrumentable {
  path: string;
  reason: string;
}

/**
 * Why a gccgo build gets no Go uprobes: every probe reads arguments from gc's register ABI
 * and finds functions through gc's .gopclntab; gccgo has neither (and its net/http is usually
 * in libgo.so, not the executable). The syscall path still measures its HTTP/1, Redis and
 * PostgreSQL traffic.
 */
export const GCCGO_REASON =
  'built by gccgo: not instrumentable with Go uprobes (C calling convention, no .gopclntab or .go.buildinfo); ' +
  'its HTTP/1, Redis and PostgreSQL traffic is measured from syscalls';

/** Results per file version; a binary is inspected once however many processes run it. */
const CACHE_MAX = 512;
const cache = new Map<string, Promise<GoBinaryInfo | NotInstrumentable>>();

/**
 * Inspects the executable at `path` (e.g. `/proc/PID/exe`, which works for deleted files and
 * other mount namespaces). Never rejects: every failure is a NotInstrumentable with a reason.
 */
export async function inspectGoBinary(path: string): Promise<GoBinaryInfo | NotInstrumentable> {
  let key: string;
  try {
    key = fileKeyOf(await stat(path, { bigint: true }));
  } catch (err) {
    return { path, reason: `cannot read ${path}: ${(err as Error).message}` };
  }
  const hit = cache.get(key);
  if (hit) return hit.then((r) => ({ ...r, path }));
  const pending = inspectUncached(path).catch((err: Error): NotInstrumentable => ({ path, reason: err.message }));
  cache.set(key, pending);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!);
  const result = await pending;
  // I/O failures (the process exited, EACCES) say nothing lasting about the file.
  if ('reason' in result && result.reason.startsWith('cannot read')) cache.delete(key);
  return result;
}

async function inspectUncached(path: string): Promise<GoBinaryInfo | NotInstrumentable> {
  let elf: ElfFile;
  try {
    elf = await ElfFile.open(path);
  } catch (err) {
    if (err instanceof ElfFormatError) return { path, reason: `not instrumentable: ${err.message}` };
    return { path, reason: `cannot read ${path}: ${(err as Error).message}` };
  }
  try {
    return await inspectElf(elf);
  } catch (err) {
    if (err instanceof ElfFormatError || err instanceof UnsupportedBuildInfoError) return { path, reason: err.message };
    throw err;
  } finally {
    await elf.close();
  }
}

async function inspectElf(elf: ElfFile): Promise<GoBinaryInfo | NotInstrumentable> {
  const path = elf.path;
  if (!(await isGoElf(elf))) return { path, reason: `${path}: not a Go binary (no .go.buildinfo, .gopclntab or Go build id)` };
  if (await isGccgoElf(elf)) return { path, reason: `${path}: ${GCCGO_REASON}` };
  const arch: GoArch | undefined = elf.machine === EM_X86_64 ? 'amd64' : elf.machine === EM_AARCH64 ? 'arm64' : undefined;
  if (!arch) return { path, reason: `${path}: unsupported architecture (ELF machine ${elf.machine}; only x86-64 and arm64)` };
  const buildInfo = await readGoBuildInfo(elf);
  const abiProblem = registerAbiProblem(buildInfo, arch);
  if (abiProblem) return { path, reason: `${path}: not instrumentable: ${abiProblem}` };
  const ids = await buildIds(elf);
  const ctx: OffsetContext = { path, arch, buildInfo };

  const sets = GO_PROBE_SETS as Record<ProbeSetName, ProbeSetSpec>;
  const symbols = [
    ...new Set(Object.values(sets).flatMap((s) => Object.values(s.points).flatMap((p) => ('callee' in p ? [p.symbol, p.callee] : [p.symbol])))),
  ];
  const functions = await findGoFunctions(elf, [...symbols, ...SERVER_PROTOCOL_SYMBOLS]);
  const fields = allProbeFields(sets);
  const { results, dwarfProblem } = lookupMemberOffsets(ctx, fields);
  const offsetByField = new Map(fields.map((f, i) => [fieldKey(f), results[i]]));

  const probeSets: Record<string, unknown> = {};
  const skipped: GoBinaryInfo['skipped'] = [];
  for (const [name, spec] of Object.entries(sets) as [ProbeSetName, ProbeSetSpec][]) {
    try {
      probeSets[name] = await resolveProbeSet(elf, spec, functions, offsetByField, ctx, dwarfProblem);
    } catch (err) {
      skipped.push({ probeSet: name, reason: (err as Error).message });
    }
  }
  if (skipped.length === Object.keys(sets).length) {
    return { path, reason: skipped.map((s) => `${s.probeSet}: ${s.reason}`).join('; ') };
  }
  return {
    path,
    fileKey: await elf.fileKey(),
    goVersion: buildInfo.goVersion,
    arch,
    ...ids,
    buildInfo,
    probeSets: probeSets as ResolvedProbeSets,
    skipped,
    serverProtocols: serverProtocolsOf((s) => functions.has(s)),
  };
}

async function resolveProbeSet(
  elf: ElfFile,
  spec: ProbeSetSpec,
  functions: Map<string, GoFunction>,
  offsetByField: Map<string, { offset: number; source: 'dwarf' | 'table' } | undefined>,
  ctx: OffsetContext,
  dwarfProblem: string | undefined,
): Promise<unknown> {
  const points: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(spec.points)) {
    const fn = functions.get(p.symbol);
    if (!fn) throw new Error(`${elf.path}: function ${p.symbol} not found (in .symtab or .gopclntab)`);
    if (p.at === 'entry') points[key] = await functionEntryProbe(elf, fn);
    else if (p.at === 'returns') points[key] = { symbol: p.symbol, fileOffsets: await functionReturnOffsets(elf, fn) };
    else {
      const callee = functions.get(p.callee);
      if (!callee) throw new Error(`${elf.path}: function ${p.callee} not found (in .symtab or .gopclntab)`);
      points[key] = { symbol: p.symbol, callee: p.callee, ...(await functionCallSites(elf, fn, callee, p.at)) };
    }
  }
  const offsets: Record<string, number> = {};
  const offsetSources: Record<string, string> = {};
  const missing = Object.values(spec.fields).filter((f) => offsetByField.get(fieldKey(f)) === undefined);
  if (missing.length > 0) throw new Error(unresolvedOffsetsMessage(ctx, missing, dwarfProblem));
  for (const [key, f] of Object.entries(spec.fields)) {
    const r = offsetByField.get(fieldKey(f))!;
    offsets[key] = r.offset;
    offsetSources[key] = r.source;
  }
  return { points, offsets, offsetSources };
}

export async function buildIds(elf: ElfFile): Promise<Pick<GoBinaryInfo, 'buildId' | 'gnuBuildId' | 'goBuildId'>> {
  const notes = await elf.notes();
  const gnu = notes.find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID)?.desc.toString('hex');
  const go = notes.find((n) => n.name === 'Go' && n.type === GO_BUILD_ID_NOTE)?.desc.toString('utf8');
  const buildId = gnu ?? go;
  return {
    ...(buildId ? { buildId } : {}),
    ...(gnu ? { gnuBuildId: gnu } : {}),
    ...(go ? { goBuildId: go } : {}),
  };
}
