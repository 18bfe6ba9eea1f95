import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ip4ToInt } from '../net/ip4.ts';
import { addrPortKey, feNum, ip4Num, tupleNum } from './keys.ts';

test('ip4Num agrees with ip4ToInt', () => {
  for (const a of ['0.0.0.0', '10.96.7.17', '255.255.255.255', '198.18.7.1', '1.2.3.4']) assert.equal(ip4Num(a), ip4ToInt(a));
});

test('packed keys are distinct and exact at the extremes', () => {
  const max = ip4Num('255.255.255.255');
  assert.ok(Number.isSafeInteger(feNum(max, 65535, 17, 1)));
  const seen = new Set<number>();
  for (const ip of [0, 1, max]) for (const port of [0, 1, 65535]) for (const proto of [6, 17]) for (const scope of [0, 1]) seen.add(feNum(ip, port, proto, scope));
  assert.equal(seen.size, 3 * 3 * 2 * 2);
  assert.notEqual(tupleNum(1, 80, 6), tupleNum(1, 80, 17));
  assert.notEqual(addrPortKey(1, 0), addrPortKey(0, 1));
});
