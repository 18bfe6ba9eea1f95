// HTTP listeners on HOST:PORT: the agent's metrics and UI, `membrane ui`.
import http from 'node:http';
import net from 'node:net';
import { InputError, MembraneError } from '../errors.ts';

/** Parses HOST:PORT (IPv6 in brackets; port 0: any free port); errors name `field`. */
export function parseListenAddr(field: string, addr: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new InputError(field, `'${addr}' is not HOST:PORT (e.g. 127.0.0.1:12000)`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * A request's Host is localhost or an IP address. A page elsewhere can make a
 * browser send requests to a loopback listener under a DNS name it controls
 * (DNS rebinding); such requests carry that name.
 */
export function hostAllowed(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || net.isIP(host) !== 0;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface Listener {
  /** The bound HOST:PORT (the real port when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/**
 * Serves `handler` on `addr` (the value of flag `field`). On a loopback
 * address, requests for other hosts than localhost or an IP address get 421.
 * A taken address is a CONFLICT naming the flag (`hint`: what to do instead).
 */
export async function listenHttp(field: string, addr: string, handler: http.RequestListener, hint = 'give another HOST:PORT'): Promise<Listener> {
  const { host, port } = parseListenAddr(field, addr);
  const guard = isLoopback(host);
  const server = http.createServer((req, res) => {
    if (guard && !hostAllowed(req.headers.host)) {
      res.writeHead(421, { 'content-type': 'text/plain' });
      res.end('this server answers requests for localhost or an IP address only\n');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new MembraneError('CONFLICT', `${field} ${addr}: cannot listen: ${err.message} — ${hint}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as net.AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
