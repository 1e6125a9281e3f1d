import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildGoFixture, buildGoSource, GO_FIXTURES_BIN } from '../../test/helpers/go.ts';
import { inspectGoBinary, type GoBinaryInfo, type NotInstrumentable } from './index.ts';
import { servesPlaintextHttp1Only, serverProtocolsOf } from './server-protocols.ts';

function instrumentable(r: GoBinaryInfo | NotInstrumentable): GoBinaryInfo {
  if ('reason' in r) assert.fail(`not instrumentable: ${r.reason}`);
  return r;
}

async function protocolsOf(bin: string) {
  return instrumentable(await inspectGoBinary(bin)).serverProtocols;
}

const server = (serve: string, imports: string[] = []) => `package main

import (
${['net/http', ...imports].map((i) => `\t"${i}"`).join('\n')}
)

func main() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	${serve}
}
`;

test('the rule: plaintext HTTP/1 only unless a TLS server or a cleartext HTTP/2 server is linked', () => {
  const with_ = (...names: string[]) => serverProtocolsOf((s) => names.includes(s));
  assert.equal(servesPlaintextHttp1Only(with_()), true);
  assert.deepEqual(with_('crypto/tls.(*Conn).serverHandshake'), { tls: true, cleartextHttp2: false, evidence: ['crypto/tls.(*Conn).serverHandshake'] });
  assert.equal(servesPlaintextHttp1Only(with_('golang.org/x/net/http2.(*Server).ServeConn')), false);
  assert.equal(servesPlaintextHttp1Only(with_('golang.org/x/net/http2/h2c.h2cHandler.ServeHTTP')), false);
  // A TLS client (clientHandshake) or net/http's bundled HTTP/2 server (TLS only) decide nothing.
  assert.equal(servesPlaintextHttp1Only(with_('crypto/tls.(*Conn).clientHandshake', 'net/http.(*http2Server).ServeConn')), true);
});

test('built programs: ListenAndServe is plaintext only; an HTTPS client too; ListenAndServeTLS and h2c are not', async () => {
  const cases: [string, string, string[], { tls: boolean; cleartextHttp2: boolean }][] = [
    ['plaintext', 'http.ListenAndServe(":0", h)', [], { tls: false, cleartextHttp2: false }],
    ['https client beside a plaintext server', 'http.Get("https://127.0.0.1:1/"); http.ListenAndServe(":0", h)', [], { tls: false, cleartextHttp2: false }],
    ['TLS', 'http.ListenAndServeTLS(":0", "c.pem", "k.pem", h)', [], { tls: true, cleartextHttp2: false }],
    ['h2c', 'http.ListenAndServe(":0", h2c.NewHandler(h, &http2.Server{}))', ['golang.org/x/net/http2', 'golang.org/x/net/http2/h2c'], { tls: false, cleartextHttp2: true }],
  ];
  for (const [name, serve, imports, want] of cases) {
    for (const stripped of [false, true]) {
      const p = await protocolsOf(await buildGoSource(server(serve, imports), { stripped }));
      assert.deepEqual({ tls: p.tls, cleartextHttp2: p.cleartextHttp2 }, want, `${name}${stripped ? ' (stripped)' : ''}`);
    }
  }
});

test('every fixture binary: the rule agrees with the function names its .gopclntab holds', async () => {
  for (const f of ['httpserver', 'lockserver', 'h2server', 'topo-frontend', 'topo-backend', 'httpserver-promhttp']) await buildGoFixture(f);
  const bins = (await readdir(GO_FIXTURES_BIN)).filter((n) => !n.endsWith('-arm64')).sort();
  const plaintextOnly = new Set<string>();
  for (const name of bins) {
    const bin = path.join(GO_FIXTURES_BIN, name);
    const info = await inspectGoBinary(bin);
    if ('reason' in info) continue; // not a Go binary the agent instruments
    // Independent of the ELF parsing: each name is stored NUL-terminated in .gopclntab.
    const bytes = await readFile(bin);
    const expected = serverProtocolsOf((s) => bytes.includes(Buffer.from(`${s}\0`)));
    assert.deepEqual(info.serverProtocols, expected, name);
    if (servesPlaintextHttp1Only(info.serverProtocols)) plaintextOnly.add(name.replace(/(-pie)?(-stripped)?$/, ''));
  }
  for (const f of ['httpserver', 'lockserver']) assert.ok(plaintextOnly.has(f), `${f} serves plaintext HTTP/1 only`);
  for (const f of ['h2server', 'topo-frontend', 'topo-backend', 'httpserver-promhttp']) assert.ok(!plaintextOnly.has(f), `${f} can serve TLS or HTTP/2`);
});
