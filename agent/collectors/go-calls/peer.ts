/**
 * The peer as host and port: from a client's "host:port" string (an HTTP URL host, a gRPC
 * target such as "dns:///h:p" or etcd's "endpoint://client-…/h:p") or else from the socket.
 */
export function peerOf(peer: string, ip4: Buffer, port: number): { address?: string; port?: number } {
  if (peer) {
    const last = peer.slice(peer.lastIndexOf('/') + 1);
    const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(last);
    if (m && m[1]) return { address: m[1].replace(/^\[|\]$/g, ''), ...(m[2] ? { port: Number(m[2]) } : {}) };
  }
  if (port || ip4.readUInt32LE(0)) return { address: `${ip4[0]}.${ip4[1]}.${ip4[2]}.${ip4[3]}`, port };
  return {};
}
