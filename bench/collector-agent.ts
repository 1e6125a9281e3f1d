// The agent with some of its default collectors only, for the benchmarks that take it apart:
// `node --import tsx bench/collector-agent.ts NAME[,NAME…]|none|all ENDPOINT API_KEY SPOOL_DIR`
// (names as the collectors call themselves: http-server, syscall-l7, sched, …). Every default
// collector is built as the agent builds it and the others are closed before the agent starts,
// so each runs exactly as at default settings. Prints "ready"; SIGINT stops it.
//
// BURNWATCH_CPU_PROFILE=FILE: a node:inspector CPU profile of the main thread, started
// BURNWATCH_CPU_PROFILE_DELAY_MS (default 12 s) after "ready" — after the first attaches, since
// `node --cpu-prof` from the start makes BPF loads fail with EAGAIN — and written to FILE on SIGINT.
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Agent, defaultCollectors } from '../agent/agent.ts';
import { runV8SingleThreaded } from '../agent/v8-threads.ts';

// As `burnwatch agent` runs (agent/v8-threads.ts).
runV8SingleThreaded((l) => console.error(`[agent] ${l}`));

const [names, endpoint, apiKey, spoolDir] = process.argv.slice(2);
const wanted = names === 'all' ? undefined : new Set(names === 'none' ? [] : names.split(','));
const agent = new Agent({
  endpoint,
  apiKey,
  spoolDir,
  log: (l) => console.error(`[agent] ${l}`),
  collectors: (log) => {
    const all = defaultCollectors(log);
    if (!wanted) return all;
    const unknown = [...wanted].filter((n) => !all.some((c) => c.name === n));
    if (unknown.length) throw new Error(`no default collector named ${unknown.join(', ')}; have ${all.map((c) => c.name).join(', ')}`);
    for (const c of all) if (!wanted.has(c.name)) c.close();
    return all.filter((c) => wanted.has(c.name));
  },
});
await agent.start();
console.log('ready');

const profileFile = process.env.BURNWATCH_CPU_PROFILE;
let profiler: Promise<Session> | undefined;
if (profileFile) {
  const delayMs = Number(process.env.BURNWATCH_CPU_PROFILE_DELAY_MS ?? 12_000);
  setTimeout(() => {
    profiler = (async () => {
      const session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      console.log('profiling');
      return session;
    })();
  }, delayMs).unref();
}

process.once('SIGINT', () => {
  void (async () => {
    if (profiler && profileFile) {
      const session = await profiler;
      const { profile } = await session.post('Profiler.stop');
      fs.writeFileSync(profileFile, JSON.stringify(profile));
    }
    await agent.stop(1_000);
    process.exit(0);
  })();
});
