import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrContains, parsePolicyCidr } from './cidr.ts';

function cidr(text: string, bareAddress = false): string {
  const r = parsePolicyCidr(text, { bareAddress });
  return 'ok' in r ? r.ok.cidr : `error: ${r.error}`;
}

describe('policy CIDRs', () => {
  it('canonicalises: host bits cleared, bare addresses only where allowed', () => {
    assert.equal(cidr('10.0.0.0/8'), '10.0.0.0/8');
    assert.equal(cidr('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(cidr('192.168.1.77/32'), '192.168.1.77/32');
    assert.equal(cidr('255.255.255.255/0'), '0.0.0.0/0');
    assert.equal(cidr('10.1.2.3', true), '10.1.2.3/32');
    assert.equal(cidr('10.1.2.3'), 'error: must be an IPv4 CIDR: address/prefix length (e.g. 10.0.0.0/8)');
  });

  it('refuses malformed text, IPv6, leading zeros', () => {
    assert.equal(cidr('10.0.0.0/33'), 'error: prefix length must be a number from 0 to 32');
    assert.equal(cidr('10.0.0.0/08'), 'error: prefix length must be a number from 0 to 32');
    assert.equal(cidr('10.0.0.0/'), 'error: prefix length must be a number from 0 to 32');
    assert.equal(cidr('10.0.0/8'), 'error: must be a valid IPv4 address (e.g. 10.9.8.7)');
    assert.equal(cidr('256.0.0.0/8'), 'error: must be a valid IPv4 address (e.g. 10.9.8.7): each part is 0-255');
    assert.equal(cidr('abc'), 'error: must be an IPv4 CIDR: address/prefix length (e.g. 10.0.0.0/8)');
    assert.equal(cidr('abc', true), 'error: must be a valid IPv4 address (e.g. 10.9.8.7)');
    assert.equal(cidr('::/0'), 'error: IPv6 is not supported (Membrane is IPv4 only)');
    assert.equal(cidr('010.0.0.0/8'), 'error: must be a valid IPv4 address without leading zeros (e.g. 10.9.8.7)');
  });

  it('containment', () => {
    const p = (t: string) => {
      const r = parsePolicyCidr(t);
      assert.ok('ok' in r);
      return r.ok;
    };
    assert.equal(cidrContains(p('10.0.0.0/8'), p('10.255.0.0/16')), true);
    assert.equal(cidrContains(p('10.0.0.0/8'), p('10.0.0.0/8')), true);
    assert.equal(cidrContains(p('10.0.0.0/8'), p('11.0.0.0/16')), false);
    assert.equal(cidrContains(p('10.0.0.0/16'), p('10.0.0.0/8')), false);
    assert.equal(cidrContains(p('0.0.0.0/0'), p('255.255.255.255/32')), true);
  });
});
