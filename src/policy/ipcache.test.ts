import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrIdentity } from './cidr.ts';
import { desiredIpcache, ipcacheKeyOf, ipcachePrefixOf, lookupIpcache } from './ipcache.ts';

const C = (n: number) => (1 << 24) + n;
const cidrs = [
  cidrIdentity(C(0), '10.0.0.0/8'),
  cidrIdentity(C(1), '10.216.0.0/16'),
  cidrIdentity(C(2), '10.216.1.0/24'),
  cidrIdentity(C(3), '198.18.17.0/24'),
  cidrIdentity(C(4), '10.216.1.7/32'),
];

test('desiredIpcache: world default, policy prefixes, endpoints and hosts with their longest policy prefix', () => {
  const m = desiredIpcache({
    endpoints: [
      { ip: '10.216.1.5', identity: 300 },
      { ip: '10.216.2.9', identity: 301 },
      { ip: '10.217.0.1', identity: 302 },
      { ip: '10.216.1.7', identity: 303 },
    ],
    hostAddresses: ['10.216.0.1', '172.31.0.1'],
    remoteNodes: ['10.216.0.2', '10.216.0.1'],
    cidrIdentities: cidrs,
  });
  assert.deepEqual([...m], [
    ['0.0.0.0/0', { identity: 2, cidr_identity: 0 }],
    ['10.0.0.0/8', { identity: 2, cidr_identity: C(0) }],
    ['10.216.0.0/16', { identity: 2, cidr_identity: C(1) }],
    ['10.216.0.1/32', { identity: 1, cidr_identity: C(1) }], // host wins over remote node
    ['10.216.0.2/32', { identity: 6, cidr_identity: C(1) }],
    ['10.216.1.0/24', { identity: 2, cidr_identity: C(2) }],
    ['10.216.1.5/32', { identity: 300, cidr_identity: C(2) }],
    ['10.216.1.7/32', { identity: 303, cidr_identity: C(4) }], // endpoint wins over the policy /32, keeps its CIDR identity
    ['10.216.2.9/32', { identity: 301, cidr_identity: C(1) }],
    ['10.217.0.1/32', { identity: 302, cidr_identity: C(0) }],
    ['172.31.0.1/32', { identity: 1, cidr_identity: 0 }],
    ['198.18.17.0/24', { identity: 2, cidr_identity: C(3) }],
  ]);
  // lookups as the datapath does them
  assert.deepEqual(lookupIpcache(m, '198.18.17.44'), { identity: 2, cidr_identity: C(3), prefix: '198.18.17.0/24' });
  assert.deepEqual(lookupIpcache(m, '10.216.1.200'), { identity: 2, cidr_identity: C(2), prefix: '10.216.1.0/24' });
  assert.deepEqual(lookupIpcache(m, '10.216.1.5'), { identity: 300, cidr_identity: C(2), prefix: '10.216.1.5/32' });
  assert.deepEqual(lookupIpcache(m, '8.8.8.8'), { identity: 2, cidr_identity: 0, prefix: '0.0.0.0/0' });
  assert.deepEqual(lookupIpcache(new Map(), '8.8.8.8'), { identity: 2, cidr_identity: 0 });
});

test('desiredIpcache: a policy 0.0.0.0/0 gives the default entry its CIDR identity', () => {
  const m = desiredIpcache({ endpoints: [{ ip: '10.1.1.1', identity: 256 }], hostAddresses: [], remoteNodes: [], cidrIdentities: [cidrIdentity(C(9), '0.0.0.0/0')] });
  assert.deepEqual([...m], [
    ['0.0.0.0/0', { identity: 2, cidr_identity: C(9) }],
    ['10.1.1.1/32', { identity: 256, cidr_identity: C(9) }],
  ]);
});

test('ipcache keys', () => {
  assert.deepEqual(ipcacheKeyOf('10.216.0.0/16'), { prefixlen: 16, ip4: '10.216.0.0' });
  assert.equal(ipcachePrefixOf({ prefixlen: 16, ip4: '10.216.3.4' }), '10.216.0.0/16');
  assert.equal(ipcachePrefixOf({ prefixlen: 0, ip4: '0.0.0.0' }), '0.0.0.0/0');
});
