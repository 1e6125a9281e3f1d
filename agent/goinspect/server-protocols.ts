/**
 * What a Go binary can serve besides plaintext HTTP/1, read from the functions it links (the
 * linker drops what nothing reaches, and `.gopclntab` keeps every function name, so this works
 * on stripped binaries too). The agent needs it to pick a server's RED path: the syscall
 * tracepoints read plaintext HTTP/1 exactly and cost no uprobe trap, but cannot read TLS or
 * HTTP/2 frames, which the Go uprobes can.
 *
 * In Go 1.19's net/http the bundled HTTP/2 server (`http2Server.ServeConn`) is reached only
 * from the `TLSNextProto["h2"]` handler that `(*conn).serve` calls after a TLS handshake whose
 * ALPN chose h2; a plaintext "PRI * HTTP/2.0" preface is handed to the Handler as an HTTP/1
 * request, so serving h2c takes golang.org/x/net/http2 (`h2c.NewHandler` or `ServeConn`).
 * A `*tls.Conn` in the server's connection needs `tls.Server`, which alone makes the linker
 * keep `(*Conn).serverHandshake` (a client keeps only `clientHandshake`).
 */

/** The function whose presence says the binary can accept TLS connections. */
export const TLS_SERVER_SYMBOL = 'crypto/tls.(*Conn).serverHandshake';

/** Functions whose presence says the binary can serve HTTP/2 without TLS (h2c, prior knowledge). */
export const CLEARTEXT_HTTP2_SYMBOLS = [
  'golang.org/x/net/http2/h2c.h2cHandler.ServeHTTP',
  'golang.org/x/net/http2.(*Server).ServeConn',
] as const;

/** Every function name the rule looks up (for one lookup together with the probe sets' names). */
export const SERVER_PROTOCOL_SYMBOLS: readonly string[] = [TLS_SERVER_SYMBOL, ...CLEARTEXT_HTTP2_SYMBOLS];

export interface ServerProtocols {
  /** Can accept TLS (and so HTTP/2 over TLS through net/http's ALPN). */
  tls: boolean;
  /** Can serve HTTP/2 over plaintext (h2c upgrade or prior knowledge). */
  cleartextHttp2: boolean;
  /** The linked functions that decided it (empty: plaintext HTTP/1 only). */
  evidence: string[];
}

/** The rule, over "does the binary link this function". */
export function serverProtocolsOf(links: (symbol: string) => boolean): ServerProtocols {
  const tls = links(TLS_SERVER_SYMBOL);
  const h2 = CLEARTEXT_HTTP2_SYMBOLS.filter((s) => links(s));
  return { tls, cleartextHttp2: h2.length > 0, evidence: [...(tls ? [TLS_SERVER_SYMBOL] : []), ...h2] };
}

/** True when every request the binary can serve is plaintext HTTP/1, which syscalls read exactly. */
export function servesPlaintextHttp1Only(p: ServerProtocols): boolean {
  return !p.tls && !p.cleartextHttp2;
}
