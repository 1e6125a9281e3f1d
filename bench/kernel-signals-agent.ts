// The agent with only kernel-signal collectors, for bench/kernel-signals.ts:
// `node --import tsx bench/kernel-signals-agent.ts all|NAME[,NAME…] ENDPOINT API_KEY SPOOL_DIR`.
// Prints "ready" once every collector is attached; SIGINT stops it.
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { KERNEL_COLLECTOR_FACTORIES } from '../agent/collectors/kernel.ts';

const [set, endpoint, apiKey, spoolDir] = process.argv.slice(2);
const names = set === 'all' ? KERNEL_COLLECTOR_FACTORIES.map(([n]) => n) : set.split(',');
const agent = new Agent({
  endpoint,
  apiKey,
  spoolDir,
  intervalMs: 1_000,
  log: (l) => console.error(`[agent] ${l}`),
  collectors: (log) => KERNEL_COLLECTOR_FACTORIES.filter(([n]) => names.includes(n)).map(([, make]) => make({ objectDir: BPF_OBJECT_DIR, log })),
});
await agent.start();
console.log('ready');
process.once('SIGINT', () => void agent.stop(1_000).then(() => process.exit(0)));
