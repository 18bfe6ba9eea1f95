// XXH64, the 64-bit xxHash of Yann Collet (specification:
// github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), implemented here
// so that every agent, on every machine and in every release, computes the
// same value for the same bytes: Maglev tables built on different nodes must
// agree slot for slot. Input is read little-endian as the specification says;
// strings are hashed as their UTF-8 bytes.
//
// BigInt arithmetic keeps the code close to the specification. It is slow
// compared with native code, but Maglev only hashes each backend name twice
// per table build, so this is never on a hot path.

const MASK64 = 0xffff_ffff_ffff_ffffn;

const PRIME64_1 = 0x9e3779b185ebca87n;
const PRIME64_2 = 0xc2b2ae3d27d4eb4fn;
const PRIME64_3 = 0x165667b19e3779f9n;
const PRIME64_4 = 0x85ebca77c2b2ae63n;
const PRIME64_5 = 0x27d4eb2f165667c5n;

const utf8 = new TextEncoder();

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK64;
}

function mul(a: bigint, b: bigint): bigint {
  return (a * b) & MASK64;
}

function add(a: bigint, b: bigint): bigint {
  return (a + b) & MASK64;
}

function round(acc: bigint, lane: bigint): bigint {
  return mul(rotl(add(acc, mul(lane, PRIME64_2)), 31n), PRIME64_1);
}

function mergeRound(acc: bigint, v: bigint): bigint {
  return add(mul(acc ^ round(0n, v), PRIME64_1), PRIME64_4);
}

/**
 * XXH64 of `input` (a string is hashed as UTF-8) with a 64-bit `seed`.
 * Returns an unsigned 64-bit BigInt.
 */
export function xxh64(input: Uint8Array | string, seed = 0n): bigint {
  const data = typeof input === 'string' ? utf8.encode(input) : input;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = data.byteLength;
  const s = BigInt.asUintN(64, seed);
  let p = 0;
  let h: bigint;

  if (len >= 32) {
    let v1 = add(add(s, PRIME64_1), PRIME64_2);
    let v2 = add(s, PRIME64_2);
    let v3 = s;
    let v4 = (s - PRIME64_1) & MASK64;
    const limit = len - 32;
    while (p <= limit) {
      v1 = round(v1, view.getBigUint64(p, true));
      v2 = round(v2, view.getBigUint64(p + 8, true));
      v3 = round(v3, view.getBigUint64(p + 16, true));
      v4 = round(v4, view.getBigUint64(p + 24, true));
      p += 32;
    }
    h = add(add(rotl(v1, 1n), rotl(v2, 7n)), add(rotl(v3, 12n), rotl(v4, 18n)));
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = add(s, PRIME64_5);
  }

  h = add(h, BigInt(len));

  while (p + 8 <= len) {
    h ^= round(0n, view.getBigUint64(p, true));
    h = add(mul(rotl(h, 27n), PRIME64_1), PRIME64_4);
    p += 8;
  }
  if (p + 4 <= len) {
    h ^= mul(BigInt(view.getUint32(p, true)), PRIME64_1);
    h = add(mul(rotl(h, 23n), PRIME64_2), PRIME64_3);
    p += 4;
  }
  while (p < len) {
    h ^= mul(BigInt(data[p] ?? 0), PRIME64_5);
    h = mul(rotl(h, 11n), PRIME64_1);
    p += 1;
  }

  // Avalanche.
  h ^= h >> 33n;
  h = mul(h, PRIME64_2);
  h ^= h >> 29n;
  h = mul(h, PRIME64_3);
  h ^= h >> 32n;
  return h;
}
