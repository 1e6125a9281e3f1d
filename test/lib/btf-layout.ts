// Struct layouts read from a BPF object's BTF, so tests that hand-build a program's context
// follow the C headers instead of restating their offsets.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/** Member byte offsets and size of `struct` in `object`'s BTF (bpftool's raw dump). */
export function btfLayout(object: string, struct: string): { size: number; at: Record<string, number> } {
  const raw = execFileSync('bpftool', ['btf', 'dump', 'file', object, 'format', 'raw'], { encoding: 'utf8' });
  const lines = raw.split('\n');
  const start = lines.findIndex((l) => l.includes(`STRUCT '${struct}' `));
  assert.ok(start >= 0, `struct ${struct} in ${object}'s BTF`);
  const size = Number(/size=(\d+)/.exec(lines[start])![1]);
  const at: Record<string, number> = {};
  for (let i = start + 1; i < lines.length && lines[i].startsWith('\t'); i++) {
    const m = /'(\w+)' type_id=\d+ bits_offset=(\d+)/.exec(lines[i]);
    if (m) at[m[1]] = Number(m[2]) / 8;
  }
  return { size, at };
}
