// Frames for BPF_PROG_TEST_RUN of the per-packet LB, and checks of what the
// programs make of them: full checksum verification in userspace, so the
// incremental updates (by hand in XDP, by helpers at tc) are checked bit
// for bit.

export interface Tuple {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: 6 | 17;
}

const ip4 = (a: string) => Buffer.from(a.split('.').map(Number));
const ip4Text = (b: Buffer, off: number) => [...b.subarray(off, off + 4)].join('.');

/** One's complement sum of 16-bit big-endian words (an odd tail padded with 0). */
export function onesSum(b: Buffer, start = 0, end = b.length, init = 0): number {
  let sum = init;
  for (let i = start; i < end; i += 2) sum += i + 1 < end ? b.readUInt16BE(i) : b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** A checksum field that verifies sums to 0xffff over its span. */
const verifies = (sum: number) => sum === 0xffff;

function pseudo(b: Buffer, ipOff: number, l4Len: number, proto: number): number {
  return onesSum(b, ipOff + 12, ipOff + 20, proto + l4Len);
}

/** Ethernet + IPv4 (TTL 64) + TCP SYN or UDP with `payload`; checksums complete (UDP: 0 when `udpCsum` is false). */
export function frame(t: Tuple, opts: { payload?: Buffer; udpCsum?: boolean; flags?: number } = {}): Buffer {
  const payload = opts.payload ?? Buffer.alloc(0);
  const l4Len = (t.proto === 6 ? 20 : 8) + payload.length;
  const b = Buffer.alloc(14 + 20 + l4Len);
  Buffer.from([2, 0, 0, 0, 0, 1]).copy(b, 0); // dst MAC
  Buffer.from([2, 0, 0, 0, 0, 2]).copy(b, 6); // src MAC
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(20 + l4Len, 16);
  b.writeUInt16BE(0x1234, 18);
  b.writeUInt16BE(0x4000, 20); // DF
  b[22] = 64;
  b[23] = t.proto;
  ip4(t.saddr).copy(b, 26);
  ip4(t.daddr).copy(b, 30);
  b.writeUInt16BE(~onesSum(b, 14, 34) & 0xffff, 24);
  const l4 = 34;
  b.writeUInt16BE(t.sport, l4);
  b.writeUInt16BE(t.dport, l4 + 2);
  if (t.proto === 6) {
    b.writeUInt32BE(0x01020304, l4 + 4); // seq
    b[l4 + 12] = 5 << 4;
    b[l4 + 13] = opts.flags ?? 0x02; // SYN
    b.writeUInt16BE(0xffff, l4 + 14); // window
    payload.copy(b, l4 + 20);
    b.writeUInt16BE(~onesSum(b, l4, b.length, pseudo(b, 14, l4Len, 6)) & 0xffff, l4 + 16);
  } else {
    b.writeUInt16BE(l4Len, l4 + 4);
    payload.copy(b, l4 + 8);
    if (opts.udpCsum !== false) b.writeUInt16BE(~onesSum(b, l4, b.length, pseudo(b, 14, l4Len, 17)) & 0xffff || 0xffff, l4 + 6);
  }
  return b;
}

export interface Parsed {
  saddr: string;
  daddr: string;
  ttl: number;
  proto: number;
  sport: number;
  dport: number;
  ipCsumOk: boolean;
  /** true when the L4 checksum verifies; 'none' for a UDP checksum of 0. */
  l4CsumOk: boolean | 'none';
  dstMac: string;
  srcMac: string;
}

const mac = (b: Buffer, off: number) => [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Reads back a translated TCP/UDP frame and verifies its checksums. */
export function parse(b: Buffer): Parsed {
  const ihl = (b[14]! & 0xf) * 4;
  const totLen = b.readUInt16BE(16);
  const l4 = 14 + ihl;
  const proto = b[23]!;
  const l4Len = totLen - ihl;
  const end = 14 + totLen;
  let l4CsumOk: boolean | 'none';
  if (proto === 17 && b.readUInt16BE(l4 + 6) === 0) l4CsumOk = 'none';
  else l4CsumOk = verifies(onesSum(b, l4, end, pseudo(b, 14, l4Len, proto)));
  return {
    saddr: ip4Text(b, 26),
    daddr: ip4Text(b, 30),
    ttl: b[22]!,
    proto,
    sport: b.readUInt16BE(l4),
    dport: b.readUInt16BE(l4 + 2),
    ipCsumOk: verifies(onesSum(b, 14, 14 + ihl)),
    l4CsumOk,
    dstMac: mac(b, 0),
    srcMac: mac(b, 6),
  };
}

export interface ParsedIcmp {
  saddr: string;
  daddr: string;
  type: number;
  code: number;
  ipCsumOk: boolean;
  icmpCsumOk: boolean;
  /** The ICMP payload: the original IP header and 8 bytes. */
  inner: Buffer;
  dstMac: string;
  srcMac: string;
  length: number;
}

export function parseIcmp(b: Buffer): ParsedIcmp {
  const totLen = b.readUInt16BE(16);
  return {
    saddr: ip4Text(b, 26),
    daddr: ip4Text(b, 30),
    type: b[34]!,
    code: b[35]!,
    ipCsumOk: verifies(onesSum(b, 14, 34)) && b[23] === 1,
    icmpCsumOk: verifies(onesSum(b, 34, 14 + totLen)),
    inner: b.subarray(42, 14 + totLen),
    dstMac: mac(b, 0),
    srcMac: mac(b, 6),
    length: b.length,
  };
}
