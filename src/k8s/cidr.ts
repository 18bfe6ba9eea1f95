// IPv4 CIDRs in policies (NetworkPolicy ipBlock, CiliumNetworkPolicy
// fromCIDR/toCIDR/CIDRSet): parsed strictly, returned in canonical form.
//
// Both upstreams accept a CIDR whose address has host bits set
// ("10.0.0.1/8" means 10.0.0.0/8; Go's ParseCIDR and netip.ParsePrefix both
// do) and so does Membrane: the canonical form is the network address.
// Leading zeros are refused ("010.0.0.0/8" is 10.0.0.0/8 to Go but 8.0.0.0/8
// to inet_aton), as for every other address Membrane reads.

import { ipv4Problems } from './service.ts';

export interface PolicyCidr {
  /** Canonical text: network address / prefix length. */
  cidr: string;
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export type CidrResult = { ok: PolicyCidr } | { error: string };

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function toNumber(addr: string): number {
  return addr.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0;
}

function toText(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Parses an IPv4 CIDR ("10.0.0.0/8"). With `bareAddress`, a plain address
 * is a /32 (Cilium's fromCIDR/toCIDR accept one). The error is a reason
 * that follows `invalid CIDR "x": `.
 */
export function parsePolicyCidr(text: string, opts: { bareAddress?: boolean } = {}): CidrResult {
  if (text.includes(':')) return { error: 'IPv6 is not supported (Membrane is IPv4 only)' };
  const slash = text.indexOf('/');
  if (slash < 0 && !opts.bareAddress) return { error: 'must be an IPv4 CIDR: address/prefix length (e.g. 10.0.0.0/8)' };
  const addr = slash < 0 ? text : text.slice(0, slash);
  const errs = ipv4Problems(addr);
  if (errs.length > 0) return { error: errs.join('; ') };
  let prefix = 32;
  if (slash >= 0) {
    const len = text.slice(slash + 1);
    if (!/^(0|[1-9]\d?)$/.test(len) || Number(len) > 32) return { error: 'prefix length must be a number from 0 to 32' };
    prefix = Number(len);
  }
  const base = (toNumber(addr) & mask(prefix)) >>> 0;
  return { ok: { cidr: `${toText(base)}/${prefix}`, base, prefix } };
}

/** Whether `inner` lies inside `outer` (equal counts as inside). */
export function cidrContains(outer: PolicyCidr, inner: PolicyCidr): boolean {
  return inner.prefix >= outer.prefix && ((inner.base & mask(outer.prefix)) >>> 0) === outer.base;
}
