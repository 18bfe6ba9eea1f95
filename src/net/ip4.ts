// IPv4 addresses and CIDRs as plain numbers (host order), for IPAM, routes
// and codecs.

export function ip4ToInt(ip: string, where = 'address'): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new TypeError(`${where}: '${ip}' is not an IPv4 address`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new TypeError(`${where}: '${ip}' is not an IPv4 address`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function intToIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function isIp4(s: string): boolean {
  try {
    ip4ToInt(s);
    return true;
  } catch {
    return false;
  }
}

export interface Cidr4 {
  /** Network address (host order), with host bits cleared. */
  base: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
  text: string;
}

/** Parses "a.b.c.d/n"; host bits must be zero unless `lenient`. */
export function parseCidr4(text: string, opts: { lenient?: boolean; where?: string } = {}): Cidr4 {
  const where = opts.where ?? 'CIDR';
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m) throw new TypeError(`${where}: '${text}' is not an IPv4 CIDR (expected a.b.c.d/n)`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new TypeError(`${where}: prefix length ${prefix} is larger than 32`);
  const addr = ip4ToInt(m[1]!, where);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (addr & mask) >>> 0;
  if (base !== addr && !opts.lenient) {
    throw new TypeError(`${where}: '${text}' has host bits set (did you mean ${intToIp4(base)}/${prefix}?)`);
  }
  return { base, prefix, size: 2 ** (32 - prefix), text: `${intToIp4(base)}/${prefix}` };
}

export function cidrContains(c: Cidr4, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : ip4ToInt(ip);
  return n >= c.base && n < c.base + c.size;
}
