// Numeric keys for the hot paths of a sync (tens of thousands of services):
// an address, port, protocol and scope packed into one safe integer, so maps
// are keyed by numbers instead of freshly built strings.

/**
 * An IPv4 address in dotted-quad form (already validated) as a host-order
 * number, without regular expressions or allocations.
 */
export function ip4Num(s: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return n * 256 + part;
}

/** address:port (48 bits). */
export function addrPortKey(ip: number, port: number): number {
  return ip * 65536 + port;
}

/** address:port/protocol, TCP or UDP (49 bits): backends and rev-NAT ids. */
export function tupleNum(ip: number, port: number, proto: number): number {
  return (ip * 65536 + port) * 2 + (proto === 17 ? 1 : 0);
}

/** address:port/protocol in a scope (50 bits): one frontend entry of mb_lb4_svc. */
export function feNum(ip: number, port: number, proto: number, scope: number): number {
  return tupleNum(ip, port, proto) * 2 + (scope & 1);
}
