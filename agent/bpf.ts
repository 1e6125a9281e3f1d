/**
 * Typed API over the libbpf addon (agent/native). The addon exposes primitives; this
 * module owns argument validation, value encoding and the small policies (tracefs
 * mounting, drain fallback). Build the addon with `bash scripts/build-addon`.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';

/** A failure from libbpf, the kernel or a bad argument: `errno` and its symbolic `code`. */
export class BpfError extends Error {
  readonly errno: number;
  readonly code: string;
  /** The kernel verifier's log when a program failed to load. */
  readonly verifierLog?: string;

  constructor(message: string, errno: number, code: string, verifierLog?: string) {
    super(message);
    this.name = 'BpfError';
    this.errno = errno;
    this.code = code;
    if (verifierLog !== undefined) this.verifierLog = verifierLog;
  }
}

/** Map types this API treats specially (values of `enum bpf_map_type`). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  RINGBUF: 27,
} as const;

/** Program types this API treats specially (values of `enum bpf_prog_type`). */
export const ProgramType = {
  TRACEPOINT: 5,
  RAW_TRACEPOINT: 17,
  TRACING: 26,
  SYSCALL: 31,
} as const;

/** bpf_map_update_elem flags. */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

// ---- the addon -------------------------------------------------------------------

interface NativeMapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  perCpu: boolean;
  valueBufSize: number;
}

interface NativeDatasecVar {
  section: string;
  name: string;
  offset: number;
  size: number;
  kind: 'int' | 'bool' | 'enum' | 'other';
  signed: boolean;
}

interface NativeObjectHandle {
  programNames(): string[];
  mapNames(): string[];
  programInfo(name: string): { name: string; type: number; section: string; autoload: boolean };
  mapInfo(name: string): NativeMapInfo;
  datasecVars(): NativeDatasecVar[];
  writeInitialValue(section: string, offset: number, value: Buffer): void;
  setMapMaxEntries(map: string, n: number): void;
  reuseMap(map: string, other: NativeObjectHandle, otherMap: string): void;
  setAutoload(program: string, on: boolean): void;
  load(): void;
  attachTracepoint(program: string, category: string, name: string): number;
  attachRawTracepoint(program: string, name: string): number;
  attachUprobe(program: string, binaryPath: string, fileOffset: number, pid: number, cookie: bigint): number;
  attach(program: string): number;
  detach(linkId: number): boolean;
  testRun(
    program: string,
    ctxIn: Buffer | undefined,
    dataIn: Buffer | undefined,
    repeat: number,
  ): { retval: number; durationNs: number; ctxOut?: Buffer; dataOut?: Buffer };
  mapLookup(map: string, key: Buffer): Buffer | undefined;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapGetNextKey(map: string, key: Buffer | undefined): Buffer | undefined;
  mapLookupAndDeleteBatch(map: string): { count: number; keys: Buffer; values: Buffer; errno: number; code?: string };
  mapSetInner(outer: string, key: Buffer, inner: string): Promise<void>;
  close(): void;
  isClosed(): boolean;
}

interface NativeRingReader {
  close(): void;
}

interface NativeAddon {
  ObjectHandle: new (path: string) => NativeObjectHandle;
  RingReader: new (
    object: NativeObjectHandle,
    map: string,
    onBatch: (records: Buffer[]) => void,
    pollMs: number,
    keepAlive: boolean,
  ) => NativeRingReader;
  setErrorClass(ctor: typeof BpfError): void;
  possibleCpus(): number;
  mountTracefs(path: string): void;
  dwarfMemberOffsets(path: string, structs: string[], members: string[]): (number | null)[];
  replaceProcess(path: string, argv: string[], env: string[]): never;
}

const ADDON_PATH = './native/build/Release/burnwatch_bpf.node';
let addon: NativeAddon | undefined;

function native(): NativeAddon {
  if (addon) return addon;
  let loaded: NativeAddon;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (err) {
    throw new Error(
      `cannot load the libbpf addon agent/native/build/Release/burnwatch_bpf.node (build it with \`bash scripts/build-addon\`): ${(err as Error).message}`,
    );
  }
  loaded.setErrorClass(BpfError);
  addon = loaded;
  return loaded;
}

// ---- errors from this module -----------------------------------------------------

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
const ENOTSUPP = 524; // kernel-internal "not supported", seen from batch map ops

function bpfError(errno: number, message: string): BpfError {
  return new BpfError(message, errno, ERRNO_NAMES.get(errno) ?? `E${errno}`);
}

function checkName(what: string, v: unknown): asserts v is string {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${what} must be a non-empty string`);
}

function checkInteger(what: string, v: unknown, min: number, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${String(v)}`);
  }
}

// ---- tracefs ---------------------------------------------------------------------

const TRACEFS = '/sys/kernel/tracing';
let tracefsReady = false;

/**
 * Perf-event tracepoints look their ids up in tracefs, which a fresh machine may not
 * have mounted (design §4). Mounts it at /sys/kernel/tracing when neither it nor the
 * debugfs copy is there. Needs root, like everything else here.
 */
export function ensureTracefs(): void {
  if (tracefsReady) return;
  const mounted = () => pathVisible(`${TRACEFS}/events`) || pathVisible('/sys/kernel/debug/tracing/events');
  if (!mounted()) {
    try {
      native().mountTracefs(TRACEFS);
    } catch (err) {
      if (!mounted()) throw err; // else another process mounted it first
    }
  }
  tracefsReady = true;
}

/**
 * Whether `path` exists as this process sees it with its capabilities. existsSync asks
 * access(2), which checks the real uid with no capabilities unless it is root: the agent's
 * unit runs as an unprivileged user with CAP_DAC_READ_SEARCH, for which /sys/kernel/tracing
 * (0700 root) looks absent to access(2) but not to stat(2).
 */
export function pathVisible(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

// ---- objects, programs, maps, links ----------------------------------------------

export class BpfObject {
  readonly path: string;
  readonly #h: NativeObjectHandle;
  readonly #programs = new Map<string, BpfProgram>();
  readonly #maps = new Map<string, BpfMap>();

  private constructor(path: string, handle: NativeObjectHandle) {
    this.path = path;
    this.#h = handle;
  }

  /** Opens a CO-RE object file (bpf_object__open_file); nothing reaches the kernel yet. */
  static open(path: string): BpfObject {
    checkName('path', path);
    return new BpfObject(path, new (native().ObjectHandle)(path));
  }

  get programs(): string[] {
    return this.#h.programNames();
  }

  get maps(): string[] {
    return this.#h.mapNames();
  }

  /**
   * Sets `const volatile` globals (the object's .rodata) before load. Numbers, bigints
   * and booleans are written little-endian at the variable's BTF size; a Buffer must
   * match that size exactly. All values are checked before any is written.
   */
  setRodata(values: Record<string, number | bigint | boolean | Buffer>): void {
    if (typeof values !== 'object' || values === null) throw new TypeError('setRodata: values must be an object');
    const vars = this.#h.datasecVars().filter((v) => v.section === '.rodata' || v.section.startsWith('.rodata.'));
    const writes = Object.entries(values).map(([name, value]) => {
      const v = vars.find((x) => x.name === name);
      if (!v) {
        throw bpfError(
          osConstants.errno.ENOENT,
          `setRodata: ${this.path} has no const volatile global '${name}' (has: ${vars.map((x) => x.name).join(', ') || 'none'})`,
        );
      }
      return { v, bytes: encodeRodata(v, value) };
    });
    for (const { v, bytes } of writes) this.#h.writeInitialValue(v.section, v.offset, bytes);
  }

  /** Resizes a map before load (e.g. an LRU map from configuration). */
  setMapMaxEntries(map: string, n: number): void {
    checkName('map', map);
    checkInteger(`setMapMaxEntries(${map})`, n, 1, 0xffffffff);
    this.#h.setMapMaxEntries(map, n);
  }

  /**
   * Before load: this object's map `map` becomes `from` (a map of another, loaded object), so
   * the two objects' programs share its state. Key, value and type must agree.
   */
  reuseMap(map: string, from: BpfMap): void {
    checkName('map', map);
    const other = from instanceof BpfMap ? mapHandles.get(from) : undefined;
    if (!other) throw new TypeError(`reuseMap(${map}): from must be a BpfMap`);
    this.#h.reuseMap(map, other.handle, other.lookupName);
  }

  /** Includes or leaves out a program at load (SEC("?...") programs start left out). */
  setAutoload(program: string, on: boolean): void {
    checkName('program', program);
    if (typeof on !== 'boolean') throw new TypeError(`setAutoload(${program}): on must be a boolean`);
    this.#h.setAutoload(program, on);
  }

  /**
   * Creates the maps and verifies/loads the programs (CO-RE relocated against this
   * kernel's BTF). On failure throws a BpfError with `verifierLog` when the verifier
   * rejected a program; the object is closed then (libbpf cannot retry a load).
   */
  load(): void {
    this.#h.load();
  }

  program(name: string): BpfProgram {
    checkName('program', name);
    let p = this.#programs.get(name);
    if (!p) {
      const info = this.#h.programInfo(name); // throws for an unknown name
      p = new BpfProgram(this.#h, info.name);
      this.#programs.set(name, p);
    }
    return p;
  }

  map(name: string): BpfMap {
    checkName('map', name);
    let m = this.#maps.get(name);
    if (!m) {
      const info = this.#h.mapInfo(name); // throws for an unknown name
      m = new BpfMap(this.#h, name, info.name);
      this.#maps.set(name, m);
    }
    return m;
  }

  /** Stops ring buffer readers, destroys every link and frees the object; idempotent. */
  close(): void {
    this.#h.close();
  }

  get closed(): boolean {
    return this.#h.isClosed();
  }
}

export interface UprobeOptions {
  binaryPath: string;
  /** Offset of the probed instruction in the file (not a virtual address). */
  fileOffset: number;
  /** Only this process; -1 (the default) for every process running the binary. */
  pid?: number;
  /** Read in the program with bpf_get_attach_cookie(). */
  cookie?: bigint;
}

export interface TestRunOptions {
  ctxIn?: Buffer;
  dataIn?: Buffer;
  repeat?: number;
}

export interface TestRunResult {
  retval: number;
  durationNs: number;
  ctxOut?: Buffer;
  dataOut?: Buffer;
}

export class BpfProgram {
  readonly name: string;
  readonly #h: NativeObjectHandle;

  /** @internal use BpfObject.program() */
  constructor(handle: NativeObjectHandle, name: string) {
    this.#h = handle;
    this.name = name;
  }

  get type(): number {
    return this.#h.programInfo(this.name).type;
  }

  get section(): string {
    return this.#h.programInfo(this.name).section;
  }

  /**
   * Whether the program may sleep (libbpf marks `*.s` sections — uprobe.s, fentry.s/…,
   * lsm.s/… — and SEC("syscall") BPF_F_SLEEPABLE). Such programs run under RCU-tasks-trace,
   * which map-in-map updates do not wait for.
   */
  get sleepable(): boolean {
    const section = this.section;
    return section === 'syscall' || /^[a-z_]+(\.multi)?\.s(\/|$)/.test(section);
  }

  /** Attaches to tracefs tracepoint `category:name` (mounting tracefs if needed). */
  attachTracepoint(category: string, name: string): BpfLink {
    checkName('tracepoint category', category);
    checkName('tracepoint name', name);
    ensureTracefs();
    return new BpfLink(this.#h, this.#h.attachTracepoint(this.name, category, name));
  }

  /** Attaches to a raw tracepoint by name (no tracefs needed). */
  attachRawTracepoint(name: string): BpfLink {
    checkName('raw tracepoint name', name);
    return new BpfLink(this.#h, this.#h.attachRawTracepoint(this.name, name));
  }

  /**
   * Entry uprobe at a file offset. There is no return-probe option on purpose:
   * Return probes crash Go programs (design §4): probe each RET instead.
   */
  attachUprobe(opts: UprobeOptions): BpfLink {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('attachUprobe: opts must be an object');
    checkName('attachUprobe: binaryPath', opts.binaryPath);
    checkInteger('attachUprobe: fileOffset', opts.fileOffset, 0, Number.MAX_SAFE_INTEGER);
    const pid = opts.pid ?? -1;
    checkInteger('attachUprobe: pid', pid, -1, 0x7fffffff);
    const cookie = opts.cookie ?? 0n;
    if (typeof cookie !== 'bigint' || cookie < 0n || cookie > 0xffffffffffffffffn) {
      throw new RangeError('attachUprobe: cookie must be a bigint in 0..2^64-1');
    }
    return new BpfLink(this.#h, this.#h.attachUprobe(this.name, opts.binaryPath, opts.fileOffset, pid, cookie));
  }

  /** Attaches as the program's SEC() name says (tp_btf/…, raw_tp/…, tp/…). */
  attach(): BpfLink {
    const section = this.section;
    if (/^(tp|tracepoint)\//.test(section)) ensureTracefs();
    return new BpfLink(this.#h, this.#h.attach(this.name));
  }

  /**
   * Runs the program once (or `repeat` times) in the kernel with BPF_PROG_TEST_RUN.
   * For SEC("syscall") programs the kernel writes the context back: that is ctxOut.
   */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    const { ctxIn, dataIn, repeat = 0 } = opts;
    if (ctxIn !== undefined && !Buffer.isBuffer(ctxIn)) throw new TypeError('testRun: ctxIn must be a Buffer');
    if (dataIn !== undefined && !Buffer.isBuffer(dataIn)) throw new TypeError('testRun: dataIn must be a Buffer');
    checkInteger('testRun: repeat', repeat, 0, 0xffffffff);
    if (this.type === ProgramType.SYSCALL && (dataIn !== undefined || repeat > 0)) {
      throw bpfError(osConstants.errno.EINVAL, `testRun(${this.name}): SEC("syscall") programs take only ctxIn`);
    }
    const r = this.#h.testRun(this.name, ctxIn, dataIn, repeat);
    const out: TestRunResult = { retval: r.retval, durationNs: r.durationNs };
    if (r.ctxOut) out.ctxOut = r.ctxOut;
    if (r.dataOut) out.dataOut = r.dataOut;
    return out;
  }
}

export class BpfLink {
  readonly #h: NativeObjectHandle;
  readonly #id: number;

  /** @internal returned by BpfProgram.attach*() */
  constructor(handle: NativeObjectHandle, id: number) {
    this.#h = handle;
    this.#id = id;
  }

  /** Destroys the link (the probe stops firing); idempotent, also after close(). */
  detach(): void {
    this.#h.detach(this.#id);
  }
}

const mapHandles = new WeakMap<BpfMap, { handle: NativeObjectHandle; lookupName: string }>();

const DRAINABLE = new Set<number>([MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH]);

export class BpfMap {
  readonly name: string;
  readonly #h: NativeObjectHandle;
  readonly #lookupName: string;

  /** @internal use BpfObject.map() */
  constructor(handle: NativeObjectHandle, lookupName: string, name: string) {
    this.#h = handle;
    this.#lookupName = lookupName;
    this.name = name;
    mapHandles.set(this, { handle, lookupName });
  }

  get keySize(): number {
    return this.#info().keySize;
  }
  get valueSize(): number {
    return this.#info().valueSize;
  }
  get maxEntries(): number {
    return this.#info().maxEntries;
  }
  get type(): number {
    return this.#info().type;
  }
  get perCpu(): boolean {
    return this.#info().perCpu;
  }

  /**
   * Removes and returns every entry, each exactly once (BPF_MAP_LOOKUP_AND_DELETE_BATCH;
   * per-key get_next_key + lookup + delete when the kernel lacks it). Per-CPU maps:
   * each value holds possibleCpus() slots of roundup(valueSize, 8) bytes.
   * `batch: false` takes the per-key path that kernels without batch ops get.
   */
  drain(opts: { batch?: boolean } = {}): { keys: Buffer[]; values: Buffer[] } {
    const info = this.#info();
    if (!DRAINABLE.has(info.type)) {
      throw bpfError(osConstants.errno.EINVAL, `drain: map '${this.name}' is not a hash map (type ${info.type})`);
    }
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    if (opts.batch === false) {
      this.#drainOneByOne(info.maxEntries, keys, values);
      return { keys, values };
    }
    const r = this.#h.mapLookupAndDeleteBatch(this.#lookupName);
    for (let i = 0; i < r.count; i++) {
      keys.push(r.keys.subarray(i * info.keySize, (i + 1) * info.keySize));
      values.push(r.values.subarray(i * info.valueBufSize, (i + 1) * info.valueBufSize));
    }
    const unsupported = r.errno === osConstants.errno.EINVAL || r.errno === ENOTSUPP || r.errno === osConstants.errno.EOPNOTSUPP;
    if (unsupported) {
      this.#drainOneByOne(info.maxEntries, keys, values);
    } else if (r.errno !== 0 && r.count === 0) {
      // With entries in hand, return them (they are already deleted); a persistent
      // failure shows on the next drain, when there is nothing to lose.
      throw bpfError(r.errno, `drain of map '${this.name}' failed (${r.code ?? r.errno})`);
    }
    return { keys, values };
  }

  #drainOneByOne(maxEntries: number, keys: Buffer[], values: Buffer[]): void {
    // Collect keys first: deleting while walking restarts get_next_key from the top.
    const pending: Buffer[] = [];
    for (let k = this.#h.mapGetNextKey(this.#lookupName, undefined); k && pending.length < maxEntries; ) {
      pending.push(k);
      k = this.#h.mapGetNextKey(this.#lookupName, k);
    }
    for (const k of pending) {
      const v = this.#h.mapLookup(this.#lookupName, k);
      if (v && this.#h.mapDelete(this.#lookupName, k)) {
        keys.push(k);
        values.push(v);
      }
    }
  }

  /** Number of entries, by walking the keys (O(entries): for occasional checks, not per interval). */
  count(): number {
    return this.keys().length;
  }

  /**
   * The keys present now, by walking them (O(entries)). Entries may come and go meanwhile;
   * a walk restarted by a concurrent delete never yields more than max_entries keys.
   */
  keys(): Buffer[] {
    const out: Buffer[] = [];
    const max = this.maxEntries;
    for (let k = this.#h.mapGetNextKey(this.#lookupName, undefined); k && out.length < max; k = this.#h.mapGetNextKey(this.#lookupName, k)) {
      out.push(k);
    }
    return out;
  }

  lookup(key: Buffer): Buffer | undefined {
    if (!Buffer.isBuffer(key)) throw new TypeError(`lookup in map '${this.name}': key must be a Buffer`);
    return this.#h.mapLookup(this.#lookupName, key);
  }

  update(key: Buffer, value: Buffer, flags: number = UpdateFlags.ANY): void {
    if (!Buffer.isBuffer(key)) throw new TypeError(`update in map '${this.name}': key must be a Buffer`);
    if (!Buffer.isBuffer(value)) throw new TypeError(`update in map '${this.name}': value must be a Buffer`);
    checkInteger(`update in map '${this.name}': flags`, flags, 0, 0xffffffff);
    this.#h.mapUpdate(this.#lookupName, key, value, flags);
  }

  /**
   * Puts map `inner` (of the same object) into slot `key` of this map-in-map. Resolves
   * once the kernel has waited for every running non-sleepable BPF program
   * (synchronize_rcu in maybe_wait_bpf_programs), so none can still use the slot's
   * previous map; the wait runs off the event loop.
   */
  async setInner(key: Buffer, inner: BpfMap): Promise<void> {
    if (!Buffer.isBuffer(key)) throw new TypeError(`setInner in map '${this.name}': key must be a Buffer`);
    const other = inner instanceof BpfMap ? mapHandles.get(inner) : undefined;
    if (!other || other.handle !== this.#h) throw new TypeError(`setInner in map '${this.name}': inner must be a map of the same object`);
    const type = this.type;
    if (type !== MapType.ARRAY_OF_MAPS && type !== MapType.HASH_OF_MAPS) {
      throw bpfError(osConstants.errno.EINVAL, `setInner: map '${this.name}' is not a map-in-map (type ${type})`);
    }
    await this.#h.mapSetInner(this.#lookupName, key, other.lookupName);
  }

  /** True when the key existed. */
  delete(key: Buffer): boolean {
    if (!Buffer.isBuffer(key)) throw new TypeError(`delete in map '${this.name}': key must be a Buffer`);
    return this.#h.mapDelete(this.#lookupName, key);
  }

  /** For .bss/.data maps (single-entry arrays): the whole section value. */
  readValue(): Buffer {
    const v = this.lookup(this.#singleKey());
    if (!v) throw bpfError(osConstants.errno.ENOENT, `map '${this.name}' has no entry 0`);
    return v;
  }

  /** For .bss/.data maps (single-entry arrays): replaces the whole section value. */
  writeValue(value: Buffer): void {
    this.update(this.#singleKey(), value);
  }

  #singleKey(): Buffer {
    const info = this.#info();
    if (info.type !== MapType.ARRAY || info.keySize !== 4) {
      throw bpfError(osConstants.errno.EINVAL, `map '${this.name}' is not an array map`);
    }
    return Buffer.alloc(4);
  }

  #info(): NativeMapInfo {
    return this.#h.mapInfo(this.#lookupName);
  }
}

/** Number of possible CPUs: the slot count of per-CPU map values. */
export function possibleCpus(): number {
  return native().possibleCpus();
}

// ---- ring buffer -----------------------------------------------------------------

export interface RingBufferReaderOptions {
  /**
   * Longest wait between reads of the ring, in ms (default 100). Records submitted
   * with BPF_RB_NO_WAKEUP are only seen at these reads.
   */
  pollMs?: number;
  /** Keep the process alive while the reader is open (default false). */
  keepAlive?: boolean;
}

/**
 * Reads a BPF ring buffer on a background thread. Records arrive in batches (one
 * event-loop callback per batch, never one per record), as copies the callback may
 * keep. After close() no more batches are delivered.
 */
export class RingBufferReader {
  readonly #r: NativeRingReader;

  constructor(map: BpfMap, onBatch: (records: Buffer[]) => void, opts: RingBufferReaderOptions = {}) {
    const m = map instanceof BpfMap ? mapHandles.get(map) : undefined;
    if (!m) throw new TypeError('RingBufferReader: map must be a BpfMap');
    if (typeof onBatch !== 'function') throw new TypeError('RingBufferReader: onBatch must be a function');
    const pollMs = opts.pollMs ?? 100;
    checkInteger('RingBufferReader: pollMs', pollMs, 1, 60000);
    if (map.type !== MapType.RINGBUF) {
      throw bpfError(osConstants.errno.EINVAL, `RingBufferReader: map '${map.name}' is not a ring buffer`);
    }
    // A throwing callback must behave like any other uncaught exception; thrown back
    // into the addon, Node would only log a deprecation warning and drop it.
    const deliver = (records: Buffer[]) => {
      try {
        onBatch(records);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    };
    this.#r = new (native().RingReader)(m.handle, m.lookupName, deliver, pollMs, opts.keepAlive ?? false);
  }

  /** Stops and joins the thread and frees the ring; idempotent. */
  close(): void {
    this.#r.close();
  }
}

// ---- execve ------------------------------------------------------------------------

/**
 * Runs `path` with `argv` and `env` in place of this process (execve(2)): same pid, same
 * cgroup, same open stdio. Returns only by throwing (a BpfError with the errno).
 */
export function replaceProcess(path: string, argv: readonly string[], env: NodeJS.ProcessEnv): never {
  checkName('replaceProcess: path', path);
  const envList = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  return native().replaceProcess(path, [...argv], envList);
}

// ---- DWARF -----------------------------------------------------------------------

/**
 * Byte offsets of struct members from an ELF file's DWARF (elfutils libdw: handles
 * compressed debug sections and Go's names such as `net/http.Request`). null when the
 * struct or member is not there, or the file has no DWARF — never a guess.
 */
export function dwarfMemberOffsets(binaryPath: string, wanted: { struct: string; member: string }[]): (number | null)[] {
  checkName('dwarfMemberOffsets: binaryPath', binaryPath);
  if (!Array.isArray(wanted)) throw new TypeError('dwarfMemberOffsets: wanted must be an array');
  wanted.forEach((w, i) => {
    checkName(`dwarfMemberOffsets: wanted[${i}].struct`, w?.struct);
    checkName(`dwarfMemberOffsets: wanted[${i}].member`, w?.member);
  });
  return native().dwarfMemberOffsets(
    binaryPath,
    wanted.map((w) => w.struct),
    wanted.map((w) => w.member),
  );
}

// ---- rodata encoding -------------------------------------------------------------

function encodeRodata(v: NativeDatasecVar, value: number | bigint | boolean | Buffer): Buffer {
  const where = `setRodata: '${v.name}' (${v.size} bytes)`;
  if (Buffer.isBuffer(value)) {
    if (value.length !== v.size) {
      throw bpfError(osConstants.errno.EINVAL, `${where}: Buffer has ${value.length} bytes, must have ${v.size}`);
    }
    return value;
  }
  if (v.kind === 'other') {
    throw bpfError(osConstants.errno.EINVAL, `${where}: not an integer type; pass a Buffer of ${v.size} bytes`);
  }
  if (v.size > 8) {
    throw bpfError(osConstants.errno.EINVAL, `${where}: too wide for a number; pass a Buffer`);
  }
  let n: bigint;
  if (typeof value === 'boolean') {
    n = value ? 1n : 0n;
  } else if (typeof value === 'bigint') {
    n = value;
  } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
    n = BigInt(value);
  } else {
    throw new TypeError(`${where}: value must be an integer number, bigint, boolean or Buffer, got ${String(value)}`);
  }
  const bits = BigInt(v.size * 8);
  const min = v.signed ? -(1n << (bits - 1n)) : 0n;
  const max = v.kind === 'bool' ? 1n : v.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (n < min || n > max) {
    throw bpfError(
      osConstants.errno.ERANGE,
      `${where}: ${n} is out of range for a ${v.signed ? 'signed' : 'unsigned'} ${bits}-bit value`,
    );
  }
  const out = Buffer.alloc(v.size);
  let u = BigInt.asUintN(Number(bits), n);
  for (let i = 0; i < v.size; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}
