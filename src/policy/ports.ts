// Protocol/port → mb_policy key prefixes.
import type { PortProtocol } from './types.ts';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

export const PROTOCOL_NUMBERS: Readonly<Record<'TCP' | 'UDP' | 'SCTP', number>> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };

/** The IP protocol numbers a PortProtocol stands for (ANY: TCP, UDP, SCTP). */
export function protocolNumbers(p: PortProtocol): number[] {
  throw new Error('not implemented');
}

/** `TCP`, `UDP`, `SCTP`, `ICMP`, else the number. */
export function protocolName(proto: number): string {
  throw new Error('not implemented');
}

/** A dport prefix: the first `bits` (0..16) bits of `port`; the other bits are 0. */
export interface PortPrefix {
  port: number;
  bits: number;
}

/** The minimal set of prefixes covering exactly from..to (0 ≤ from ≤ to ≤ 65535), ascending. */
export function portRangePrefixes(from: number, to: number): PortPrefix[] {
  throw new Error('not implemented');
}
