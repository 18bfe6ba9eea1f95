// HOST:PORT of a listener (the agent's metrics and UI, `membrane ui`).
import { InputError } from '../errors.ts';

/** Parses HOST:PORT (IPv6 in brackets; port 0: any free port); errors name `field`. */
export function parseListenAddr(field: string, addr: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new InputError(field, `'${addr}' is not HOST:PORT (e.g. 127.0.0.1:12000)`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}
