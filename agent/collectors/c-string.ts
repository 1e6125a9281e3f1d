/** A NUL-terminated string in a fixed-size field of a kernel record (latin1: bytes as they are). */
export function cString(b: Buffer, start: number, max: number): string {
  const end = b.indexOf(0, start);
  return b.toString('latin1', start, end < 0 || end > start + max ? start + max : end);
}
