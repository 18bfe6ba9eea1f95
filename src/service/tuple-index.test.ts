import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TupleIndex } from './tuple-index.ts';

test('behaves like a Map under random inserts, updates and deletes (growth and tombstones included)', () => {
  const t = new TupleIndex(4);
  const model = new Map<string, number>();
  let seed = 42;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 50_000; i++) {
    const ip = 0x0a000000 + rnd(3000);
    const port = rnd(4);
    const proto = rnd(2) ? 6 : 17;
    const k = `${ip}/${port}/${proto}`;
    const op = rnd(3);
    if (op === 0) {
      assert.equal(t.delete(ip, port, proto), model.delete(k));
    } else {
      const v = 1 + rnd(1000);
      t.set(ip, port, proto, v);
      model.set(k, v);
    }
    if (i % 997 === 0) assert.equal(t.size, model.size);
  }
  for (const [k, v] of model) {
    const [ip, port, proto] = k.split('/').map(Number);
    assert.equal(t.get(ip!, port!, proto!), v);
  }
  assert.equal(t.get(0xffffffff, 65535, 17), 0);
  assert.equal(t.size, model.size);
});
