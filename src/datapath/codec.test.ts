import { test } from 'node:test';
import assert from 'node:assert/strict';
import { struct } from './codec.ts';

test('offsets follow C alignment and the size is padded to the largest alignment', () => {
  const c = struct<{ a: number; b: bigint; c: number }>('t', [['a', 'u8'], ['b', 'u64'], ['c', 'u16']]);
  assert.deepEqual(c.fields.map((f) => f.offset), [0, 8, 16]);
  assert.equal(c.size, 24);
});

test('values round-trip, addresses and ports in network order', () => {
  const c = struct<{ ip: string; port: number; mac: string; n: number }>('t', [['ip', 'ip4'], ['port', 'be16'], ['mac', 'mac'], ['n', 'u32']]);
  const v = { ip: '10.1.2.3', port: 8080, mac: '0a:58:0a:01:02:03', n: 7 };
  const buf = c.encode(v);
  assert.deepEqual([...buf.subarray(0, 6)], [10, 1, 2, 3, 0x1f, 0x90]);
  assert.deepEqual(c.decode(buf), v);
});

test('encoding into a shared buffer clears padding and bad values are named', () => {
  const c = struct<{ a: number }>('t', [['a', 'u8'], ['p', { pad: 3 }]]);
  const buf = Buffer.alloc(8, 0xff);
  c.encode({ a: 1 }, buf, 4);
  assert.deepEqual([...buf], [0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
  const d = struct<{ ip: string }>('mb_x', [['ip', 'ip4']]);
  assert.throws(() => d.encode({ ip: 'nope' }), /mb_x\.ip: 'nope' is not an IPv4 address/);
});
