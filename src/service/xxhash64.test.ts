import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { xxh64 } from './xxhash64.ts';

describe('xxh64', () => {
  it('matches the published XXH64 vectors (seed 0)', () => {
    assert.equal(xxh64(''), 0xef46db3751d8e999n);
    assert.equal(xxh64('a'), 0xd24ec4f1a98c6e5bn);
    assert.equal(xxh64('abc'), 0x44bc2cf5ad770999n);
    // 32 bytes: exactly one stripe; 39 and 43 bytes: stripe + 8/4/1-byte tails; 64 bytes: two stripes.
    assert.equal(xxh64('0123456789abcdef0123456789abcdef'), 0x642a94958e71e6c5n);
    assert.equal(xxh64('a'.repeat(32)), 0x856e843298f99ad7n);
    assert.equal(xxh64('Nobody inspects the spammish repetition'), 0xfbcea83c8a378bf1n);
    assert.equal(xxh64('The quick brown fox jumps over the lazy dog'), 0x0b242d361fda71bcn);
    assert.equal(xxh64('b'.repeat(64)), 0xecbaf4bdf26b6349n);
  });

  it('uses the seed', () => {
    assert.equal(xxh64('abc', 12345n), 0x01700e64f6f23509n);
    assert.equal(xxh64('Nobody inspects the spammish repetition', 1234n), 0x55e30cd248a5419fn);
    assert.notEqual(xxh64('abc', 1n), xxh64('abc', 2n));
  });

  it('hashes strings as UTF-8 and bytes as given, honouring subarray offsets', () => {
    assert.equal(xxh64('é'), xxh64(new Uint8Array([0xc3, 0xa9])));
    const buf = new Uint8Array([0xff, 0x61, 0x62, 0x63, 0xff]);
    assert.equal(xxh64(buf.subarray(1, 4)), 0x44bc2cf5ad770999n);
  });

  it('reduces seeds to 64 bits', () => {
    assert.equal(xxh64('abc', -1n), xxh64('abc', 0xffff_ffff_ffff_ffffn));
  });
});
