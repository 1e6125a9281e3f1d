import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';
import { buildGoFixture } from '../../test/helpers/go.ts';
import { manage, tempDir, waitFor } from '../../test/lib/processes.ts';
import { readGoBuildInfoFromPath } from './buildinfo.ts';
import { withElfFile } from './elf.ts';
import { biasFromMaps, parseMaps, processLoadBias } from './load-bias.ts';
import path from 'node:path';
import fs from 'node:fs';

/** Reads the Go string whose header is at run-time address `addr` of process `pid`. */
function readGoString(pid: number, addr: bigint): string {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const header = Buffer.alloc(16);
    readSync(fd, header, 0, 16, Number(addr));
    const len = Number(header.readBigUInt64LE(8));
    const body = Buffer.alloc(Math.min(len, 64));
    readSync(fd, body, 0, body.length, Number(header.readBigUInt64LE(0)));
    return body.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** `runtime.buildVersion` read from a running fixture through its load bias. */
async function buildVersionOfRunning(bin: string): Promise<{ bias: bigint; version: string }> {
  const portFile = path.join(tempDir('bw-load-bias'), 'port');
  const m = manage(spawn(bin, ['-addr', '127.0.0.1:0', '-port-file', portFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    await waitFor('the fixture to listen', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8') ? true : undefined), 10_000, 20);
    const pid = m.child.pid!;
    return await withElfFile(`/proc/${pid}/exe`, async (elf) => {
      const bias = await processLoadBias(pid, elf);
      const sym = (await elf.symbols()).get('runtime.buildVersion');
      assert.ok(sym, 'runtime.buildVersion in .symtab');
      return { bias, version: readGoString(pid, BigInt(sym.value) + bias) };
    });
  } finally {
    await m.stop();
  }
}

test('a PIE process: variables are read at their link address plus the load bias from /proc/PID/maps', async () => {
  const bin = await buildGoFixture('httpserver', { pie: true });
  const { goVersion } = await readGoBuildInfoFromPath(bin);
  const { bias, version } = await buildVersionOfRunning(bin);
  assert.notEqual(bias, 0n, 'the kernel placed the PIE away from its link addresses');
  assert.equal(bias % 4096n, 0n);
  assert.equal(version, goVersion);
});

test('an ET_EXEC process runs at its link addresses: bias 0', async () => {
  const bin = await buildGoFixture('httpserver');
  const { goVersion } = await readGoBuildInfoFromPath(bin);
  assert.deepEqual(await buildVersionOfRunning(bin), { bias: 0n, version: goVersion });
});

test('biasFromMaps: the segment holding the mapped offset decides, whatever order the lines come in', () => {
  const maps = parseMaps([
    '7f0000214000-7f00002ee000 r--p 00214000 fd:01 1234 /srv/app',
    '7f0000000000-7f0000214000 r-xp 00000000 fd:01 1234 /srv/app',
    '7fff00000000-7fff00021000 rw-p 00000000 00:00 0 [stack]',
  ].join('\n'));
  assert.equal(maps.length, 2, 'anonymous mappings are left out');
  const programs = [
    { type: 1, flags: 5, offset: 0, vaddr: 0x400000, filesz: 0x213390, memsz: 0x213390 },
    { type: 1, flags: 4, offset: 0x214000, vaddr: 0x614000, filesz: 0xd9137, memsz: 0xd9137 },
  ];
  assert.equal(biasFromMaps(3, programs, maps), 0x7f0000000000n - 0x400000n);
  assert.equal(biasFromMaps(3, programs, [maps[0]]), 0x7f0000000000n - 0x400000n);
  assert.equal(biasFromMaps(2, programs, []), 0n);
  assert.throws(() => biasFromMaps(3, programs, parseMaps('7f0000000000-7f0000001000 r--p 10000000 fd:01 1 /srv/app')), /no mapping/);
});
