// A non-Go service for the overhead benchmark: Node's own `http` module answering /hello with
// 6 bytes, keep-alive, nothing else. Writes its port to the file named by argv[2].
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const portFile = process.argv[2];
if (!portFile) throw new Error('usage: node-http-server.ts PORT_FILE');
const server = http.createServer((req, res) => {
  if (req.url === '/hello') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' });
    res.end('hello\n');
  } else {
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String((server.address() as AddressInfo).port)));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
