// Reading the kernel's BTF as far as the agent needs to: which tracepoints tp_btf programs can
// attach to. Shared by the collectors' loader and the kernel check (agent/kernel-support.ts).

/** Where the running kernel exposes its own BTF (CONFIG_DEBUG_INFO_BTF). */
export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';

const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_SIZE = 24;

/**
 * The string section of a BTF blob (struct btf_header: magic, version, flags, hdr_len, type_off,
 * type_len, str_off, str_len; offsets from the end of the header). Throws on what is not BTF.
 */
export function btfStrings(btf: Buffer): Buffer {
  if (btf.length < BTF_HEADER_SIZE || btf.readUInt16LE(0) !== BTF_MAGIC) throw new Error('not BTF (bad magic)');
  const hdrLen = btf.readUInt32LE(4);
  const strOff = btf.readUInt32LE(16);
  const strLen = btf.readUInt32LE(20);
  const start = hdrLen + strOff;
  if (start + strLen > btf.length) throw new Error('truncated BTF (string section past the end)');
  return btf.subarray(start, start + strLen);
}

/**
 * Whether BTF strings name the typedef a `tp_btf/<name>` program attaches through,
 * btf_trace_<name> (the kernel emits one per tracepoint). The name alone is enough: only that
 * typedef is called so, and the first string is the empty one, so every name sits between NULs.
 */
export function btfHasTracepoint(strings: Buffer, name: string): boolean {
  return strings.includes(Buffer.from(`\0btf_trace_${name}\0`));
}
