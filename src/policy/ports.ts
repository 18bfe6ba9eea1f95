// Protocol/port → mb_policy key prefixes.
import type { PortProtocol } from './types.ts';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

export const PROTOCOL_NUMBERS: Readonly<Record<'TCP' | 'UDP' | 'SCTP', number>> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };

const ANY = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP];

/** The IP protocol numbers a PortProtocol stands for (ANY: TCP, UDP, SCTP). */
export function protocolNumbers(p: PortProtocol): number[] {
  return p === 'ANY' ? [...ANY] : [PROTOCOL_NUMBERS[p]];
}

/** `TCP`, `UDP`, `SCTP`, `ICMP`, else the number. */
export function protocolName(proto: number): string {
  switch (proto) {
    case IPPROTO_TCP:
      return 'TCP';
    case IPPROTO_UDP:
      return 'UDP';
    case IPPROTO_SCTP:
      return 'SCTP';
    case IPPROTO_ICMP:
      return 'ICMP';
    default:
      return String(proto);
  }
}

/** A dport prefix: the first `bits` (0..16) bits of `port`; the other bits are 0. */
export interface PortPrefix {
  port: number;
  bits: number;
}

/** The mask of the first `bits` of a 16-bit port. */
export function portMask(bits: number): number {
  return bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
}

/** The minimal set of prefixes covering exactly from..to (0 ≤ from ≤ to ≤ 65535), ascending. */
export function portRangePrefixes(from: number, to: number): PortPrefix[] {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > 0xffff || from > to) {
    throw new RangeError(`bad port range ${from}..${to}`);
  }
  const out: PortPrefix[] = [];
  let p = from;
  while (p <= to) {
    // the largest aligned block starting at p that stays within to
    let size = 1;
    let bits = 16;
    while (bits > 0 && p % (size * 2) === 0 && p + size * 2 - 1 <= to) {
      size *= 2;
      bits--;
    }
    out.push({ port: p, bits });
    p += size;
  }
  return out;
}
