import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nftScript } from './node-network.ts';

test('the nft script replaces the table atomically and masquerades only traffic leaving the pod CIDR', () => {
  const s = nftScript({ podCidr: '10.200.0.0/24', gateway: '10.200.0.1', masquerade: true });
  const lines = s.split('\n');
  assert.equal(lines[0], 'add table ip membrane');
  assert.equal(lines[1], 'delete table ip membrane');
  assert.match(s, /ip saddr 10\.200\.0\.0\/24 ip daddr != 10\.200\.0\.0\/24 .* masquerade/);
});

test('without masquerading the table is empty', () => {
  const s = nftScript({ podCidr: '10.200.0.0/24', gateway: '10.200.0.1', masquerade: false });
  assert.doesNotMatch(s, /masquerade/);
});
