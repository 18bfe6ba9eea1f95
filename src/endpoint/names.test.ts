import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_IF_RE, hostIfName, hostMac, podMac, validIfName } from './names.ts';

test('host interface names are stable, short and distinct per attachment', () => {
  const a = hostIfName('c1', 'eth0');
  assert.match(a, HOST_IF_RE);
  assert.equal(a.length, 14);
  assert.equal(hostIfName('c1', 'eth0'), a);
  assert.notEqual(hostIfName('c1', 'eth1'), a);
  assert.notEqual(hostIfName('c2', 'eth0'), a);
});

test('MACs are locally administered unicast', () => {
  for (const mac of [podMac('10.200.0.5'), hostMac('lxc0123456789a')]) {
    const first = parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0b11, 0b10, mac);
    assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  }
  assert.equal(podMac('10.200.0.5'), '0a:58:0a:c8:00:05');
});

test('interface name validation follows the kernel', () => {
  assert.equal(validIfName('eth0'), true);
  assert.equal(validIfName('a'.repeat(16)), false);
  assert.equal(validIfName('a/b'), false);
  assert.equal(validIfName(''), false);
});
