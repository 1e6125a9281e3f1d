// go_calls.bpf.o is split one probe family per header, and the collector one family per module
// (agent/collectors/go-calls/): every program of the object belongs to exactly one family, and
// the families of the topology's binaries (between them every library the probes know) name
// only programs the object has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { BpfObject } from '../agent/bpf.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { GO_CALL_FAMILIES } from '../agent/collectors/go-calls/families.ts';
import { FIXTURE_BIN } from './lib/processes.ts';

test('every go_calls program is attached by exactly one family, and every family program exists', async () => {
  const obj = BpfObject.open(path.join(BPF_OBJECT_DIR, 'go_calls.bpf.o'));
  const programs = new Set(obj.programs);
  obj.close();
  const owner = new Map<string, string>();
  for (const bin of ['topo-frontend', 'topo-backend', 'probebench']) {
    const info = await inspectGoBinary(path.join(FIXTURE_BIN, bin));
    if ('reason' in info) throw new Error(`${bin}: ${info.reason}`);
    for (const family of GO_CALL_FAMILIES) {
      for (const p of family.points(info.probeSets)) {
        assert.ok(programs.has(p.program), `${family.name}: ${p.program} is not in go_calls.bpf.o`);
        assert.equal(owner.get(p.program) ?? family.name, family.name, `${p.program} in two families`);
        owner.set(p.program, family.name);
      }
    }
  }
  assert.deepEqual([...programs].filter((p) => !owner.has(p)).sort(), [], 'programs no family attaches');
});
