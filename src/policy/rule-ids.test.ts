import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuleIds } from './rule-ids.ts';

test('RuleIds: stable per name, swept when not acquired, not reused at once', () => {
  const r = new RuleIds(1, 4);
  assert.equal(r.acquire('NetworkPolicy a/x spec.ingress[0]'), 1);
  assert.equal(r.acquire('NetworkPolicy a/x spec.ingress[1]'), 2);
  assert.equal(r.acquire('NetworkPolicy a/x spec.ingress[0]'), 1);
  assert.equal(r.sweep(), 0);
  r.acquire('NetworkPolicy a/x spec.ingress[1]');
  assert.equal(r.sweep(), 1);
  assert.equal(r.get('NetworkPolicy a/x spec.ingress[0]'), undefined);
  assert.equal(r.acquire('b'), 3);
  assert.equal(r.acquire('c'), 4);
  assert.equal(r.acquire('d'), 1);
  assert.throws(() => r.acquire('e'), { code: 'IPAM_EXHAUSTED' });
  assert.equal(r.nameOf(3), 'b');
  assert.deepEqual(r.export().map((x) => x.id), [1, 2, 3, 4]);
});

test('RuleIds: restore, then keep what is acquired before the next sweep', () => {
  const r = new RuleIds();
  assert.deepEqual(r.restore([{ id: 7, name: 'a' }, { id: 9, name: 'b' }, { id: 7, name: 'c' }, { id: 0, name: 'd' }]).map((x) => x.name), ['c', 'd']);
  assert.equal(r.acquire('a'), 7);
  assert.equal(r.acquire('new'), 10);
  assert.equal(r.sweep(), 1);
  assert.deepEqual(r.export(), [{ id: 7, name: 'a' }, { id: 10, name: 'new' }]);
});
