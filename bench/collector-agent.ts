// The agent with some of its default collectors only, for the benchmarks that take it apart:
// `node --import tsx bench/collector-agent.ts NAME[,NAME…]|none ENDPOINT API_KEY SPOOL_DIR`
// (names as the collectors call themselves: http-server, syscall-l7, sched, …). Every default
// collector is built as the agent builds it and the others are closed before the agent starts,
// so each runs exactly as at default settings. Prints "ready"; SIGINT stops it.
import { Agent, defaultCollectors } from '../agent/agent.ts';

const [names, endpoint, apiKey, spoolDir] = process.argv.slice(2);
const wanted = new Set(names === 'none' ? [] : names.split(','));
const agent = new Agent({
  endpoint,
  apiKey,
  spoolDir,
  log: (l) => console.error(`[agent] ${l}`),
  collectors: (log) => {
    const all = defaultCollectors(log);
    const unknown = [...wanted].filter((n) => !all.some((c) => c.name === n));
    if (unknown.length) throw new Error(`no default collector named ${unknown.join(', ')}; have ${all.map((c) => c.name).join(', ')}`);
    for (const c of all) if (!wanted.has(c.name)) c.close();
    return all.filter((c) => wanted.has(c.name));
  },
});
await agent.start();
console.log('ready');
process.once('SIGINT', () => void agent.stop(1_000).then(() => process.exit(0)));
