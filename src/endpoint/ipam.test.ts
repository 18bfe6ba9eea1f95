import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam } from './ipam.ts';
import { MembraneError } from '../errors.ts';

test('allocates after the gateway, skips network and broadcast', () => {
  const ipam = new Ipam('10.9.0.0/29');
  assert.equal(ipam.gateway, '10.9.0.1');
  assert.equal(ipam.capacity, 5);
  const got = [1, 2, 3, 4, 5].map(() => ipam.allocate());
  assert.deepEqual(got, ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
  assert.throws(() => ipam.allocate(), (e: unknown) => e instanceof MembraneError && e.code === 'IPAM_EXHAUSTED');
});

test('a released address is not handed out again at once', () => {
  const ipam = new Ipam('10.9.0.0/28');
  const a = ipam.allocate();
  ipam.allocate();
  ipam.release(a);
  assert.notEqual(ipam.allocate(), a);
  assert.equal(ipam.allocated, 2);
});

test('claim restores state and refuses outsiders and duplicates', () => {
  const ipam = new Ipam('10.9.0.0/24');
  assert.equal(ipam.claim('10.9.0.7'), true);
  assert.equal(ipam.claim('10.9.0.7'), false);
  assert.equal(ipam.claim('10.9.1.7'), false);
  assert.equal(ipam.claim('10.9.0.1'), false, 'gateway is never an endpoint address');
  assert.deepEqual(ipam.inUse(), ['10.9.0.7']);
});

test('rejects a bad CIDR with a sentence', () => {
  assert.throws(() => new Ipam('10.9.0.1/24'), /host bits set/);
  assert.throws(() => new Ipam('10.9.0.0/31'), /too small/);
  assert.throws(() => new Ipam('nonsense'), /not an IPv4 CIDR/);
});
