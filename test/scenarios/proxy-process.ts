// The delaying TCP proxy's process (started by DelayProxy in faults.ts): listens on a free
// loopback port, forwards to the target port given as argument, and holds each chunk of the
// target's answers back by the delay its parent sets over IPC ({ delayMs }), keeping order.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const targetPort = Number(process.argv[2]);
let delayMs = 0;

const server = net.createServer((client) => {
  const upstream = net.connect(targetPort, '127.0.0.1');
  for (const s of [client, upstream]) s.on('error', () => undefined);
  client.pipe(upstream);
  let chain = Promise.resolve();
  upstream.on('data', (chunk) => {
    const due = performance.now() + delayMs;
    chain = chain.then(async () => {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (!client.destroyed) client.write(chunk);
    });
  });
  upstream.on('close', () => void chain.then(() => client.destroy()));
  client.on('close', () => upstream.destroy());
});

process.on('message', (m: { delayMs: number }) => {
  delayMs = m.delayMs;
  process.send!({ ok: true });
});
process.on('disconnect', () => process.exit(0));
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
