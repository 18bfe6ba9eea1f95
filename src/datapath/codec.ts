import { intToIp4, ip4ToInt } from '../net/ip4.ts';

// Binary codecs for the structs in bpf/include/abi.h. A codec is declared
// field by field; offsets follow the C alignment rules, so the declaration
// reads like the C struct and the layout test can compare both.

export type FieldType =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64' // bigint
  | 'be16' // a port in network byte order, decoded to a host number
  | 'ip4' // an IPv4 address in network byte order, decoded to dotted quad
  | 'mac' // 6 bytes, decoded to aa:bb:cc:dd:ee:ff
  | { pad: number }; // explicit padding bytes (always written as zero)

interface FieldInfo {
  name: string;
  type: FieldType;
  offset: number;
  size: number;
}

const SIZE: Record<string, [size: number, align: number]> = {
  u8: [1, 1],
  u16: [2, 2],
  u32: [4, 4],
  u64: [8, 8],
  be16: [2, 2],
  ip4: [4, 4],
  mac: [6, 1],
};

export interface Codec<T> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldInfo[];
  encode(value: T, into?: Buffer, offset?: number): Buffer;
  decode(buf: Buffer, offset?: number): T;
}

export function struct<T extends object>(name: string, decl: ReadonlyArray<readonly [string, FieldType]>): Codec<T> {
  const fields: FieldInfo[] = [];
  let off = 0;
  let maxAlign = 1;
  for (const [fname, type] of decl) {
    const [size, align] = typeof type === 'object' ? [type.pad, 1] : SIZE[type]!;
    off = Math.ceil(off / align) * align;
    fields.push({ name: fname, type, offset: off, size });
    off += size;
    maxAlign = Math.max(maxAlign, align);
  }
  const size = Math.ceil(off / maxAlign) * maxAlign;

  return {
    name,
    size,
    fields,
    encode(value: T, into?: Buffer, base = 0): Buffer {
      const buf = into ?? Buffer.alloc(size);
      if (into) buf.fill(0, base, base + size);
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        if (typeof f.type === 'object') continue;
        writeField(buf, base + f.offset, f.type, v[f.name], `${name}.${f.name}`);
      }
      return buf;
    },
    decode(buf: Buffer, base = 0): T {
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        if (typeof f.type === 'object') continue;
        out[f.name] = readField(buf, base + f.offset, f.type);
      }
      return out as T;
    },
  };
}

function writeField(buf: Buffer, off: number, type: Exclude<FieldType, { pad: number }>, value: unknown, where: string) {
  switch (type) {
    case 'u8':
      buf.writeUInt8(Number(value ?? 0), off);
      return;
    case 'u16':
      buf.writeUInt16LE(Number(value ?? 0), off);
      return;
    case 'u32':
      buf.writeUInt32LE(Number(value ?? 0), off);
      return;
    case 'u64':
      buf.writeBigUInt64LE(BigInt((value as bigint | number | undefined) ?? 0), off);
      return;
    case 'be16':
      buf.writeUInt16BE(Number(value ?? 0), off);
      return;
    case 'ip4':
      buf.writeUInt32BE(ip4ToInt(String(value ?? '0.0.0.0'), where), off);
      return;
    case 'mac':
      macToBytes(String(value ?? '00:00:00:00:00:00'), where).copy(buf, off);
      return;
  }
}

function readField(buf: Buffer, off: number, type: Exclude<FieldType, { pad: number }>): unknown {
  switch (type) {
    case 'u8':
      return buf.readUInt8(off);
    case 'u16':
      return buf.readUInt16LE(off);
    case 'u32':
      return buf.readUInt32LE(off);
    case 'u64':
      return buf.readBigUInt64LE(off);
    case 'be16':
      return buf.readUInt16BE(off);
    case 'ip4':
      return intToIp4(buf.readUInt32BE(off));
    case 'mac':
      return [...buf.subarray(off, off + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  }
}

export function macToBytes(mac: string, where = 'mac'): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`${where}: '${mac}' is not a MAC address`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}
