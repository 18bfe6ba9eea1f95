import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, intToIp4, ip4ToInt, isIp4, parseCidr4 } from './ip4.ts';

test('addresses round-trip through numbers', () => {
  for (const ip of ['0.0.0.0', '10.200.0.1', '255.255.255.255', '192.0.2.100']) assert.equal(intToIp4(ip4ToInt(ip)), ip);
  assert.equal(ip4ToInt('10.0.0.1'), 0x0a000001);
});

test('bad addresses are refused with the value named', () => {
  for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.x', '01234.1.1.1', '']) {
    assert.equal(isIp4(bad), false, bad);
  }
  assert.throws(() => ip4ToInt('1.2.3', 'spec.clusterIP'), /spec\.clusterIP: '1\.2\.3' is not an IPv4 address/);
});

test('CIDRs: base, size, containment, host bits', () => {
  const c = parseCidr4('10.200.0.0/24');
  assert.equal(c.size, 256);
  assert.equal(cidrContains(c, '10.200.0.255'), true);
  assert.equal(cidrContains(c, '10.200.1.0'), false);
  assert.equal(parseCidr4('0.0.0.0/0').size, 2 ** 32);
  assert.throws(() => parseCidr4('10.200.0.1/24'), /host bits set \(did you mean 10\.200\.0\.0\/24\?\)/);
  assert.equal(parseCidr4('10.200.0.1/24', { lenient: true }).text, '10.200.0.0/24');
  assert.throws(() => parseCidr4('10.0.0.0/33'), /larger than 32/);
});
