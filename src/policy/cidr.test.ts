import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MB_ID_CIDR_MIN } from '../datapath/abi.ts';
import { CidrIdentities, cidrIdentity, policyPrefixes, prefixWithin, selectCidrIdentities } from './cidr.ts';
import type { Peer, PolicySpec } from './types.ts';

function policy(name: string, ...peers: Peer[]): PolicySpec {
  return {
    kind: 'CiliumNetworkPolicy',
    namespace: 'default',
    name,
    parts: [
      {
        subject: { requirements: [] },
        defaultDeny: { ingress: false, egress: true },
        rules: [{ direction: 'egress', deny: false, peers, ports: [], path: 'spec.egress[0]' }],
        path: 'spec',
      },
    ],
  };
}

test('policyPrefixes: cidr and except of every cidr peer, deduplicated, ordered', () => {
  const ps = [
    policy('a', { type: 'cidr', cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.0/24'] }, { type: 'entity', entity: 'world' }),
    policy('b', { type: 'cidr', cidr: '10.1.0.0/16', except: [] }, { type: 'cidr', cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }),
  ];
  assert.deepEqual(policyPrefixes(ps), ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.2.3.0/24']);
});

test('prefixWithin', () => {
  assert.equal(prefixWithin('10.1.0.0/16', '10.0.0.0/8'), true);
  assert.equal(prefixWithin('10.0.0.0/8', '10.0.0.0/8'), true);
  assert.equal(prefixWithin('10.0.0.0/8', '10.1.0.0/16'), false);
  assert.equal(prefixWithin('11.0.0.0/8', '10.0.0.0/8'), false);
  assert.equal(prefixWithin('10.0.0.0/8', '0.0.0.0/0'), true);
  assert.equal(prefixWithin('255.255.255.255/32', '0.0.0.0/0'), true);
});

test('CidrIdentities: stable numbers, freed when no longer mentioned, not reused at once', () => {
  const c = new CidrIdentities();
  const first = c.sync(['10.0.0.0/8', '10.1.0.0/16']);
  assert.deepEqual(first.map((i) => [i.cidr, i.id, i.kind]), [
    ['10.0.0.0/8', MB_ID_CIDR_MIN, 'cidr'],
    ['10.1.0.0/16', MB_ID_CIDR_MIN + 1, 'cidr'],
  ]);
  assert.deepEqual(first[0]!.labels, { 'cidr:10.0.0.0/8': '' });
  const second = c.sync(['192.168.0.0/16', '10.1.0.0/16']);
  assert.deepEqual(second.map((i) => [i.cidr, i.id]), [
    ['10.1.0.0/16', MB_ID_CIDR_MIN + 1],
    ['192.168.0.0/16', MB_ID_CIDR_MIN + 2],
  ]);
  assert.equal(c.get('10.0.0.0/8'), undefined);
  assert.equal(c.get('10.1.0.0/16')?.id, MB_ID_CIDR_MIN + 1);
  assert.equal(c.byId(MB_ID_CIDR_MIN + 2)?.cidr, '192.168.0.0/16');
  assert.deepEqual(c.list().map((i) => i.cidr), ['10.1.0.0/16', '192.168.0.0/16']);
  assert.equal(c.sync(['10.0.0.0/8'])[0]!.id, MB_ID_CIDR_MIN + 3);
});

test('CidrIdentities: restore keeps numbers the next sync still wants', () => {
  const c = new CidrIdentities();
  assert.deepEqual(c.restore([{ id: MB_ID_CIDR_MIN + 7, cidr: '10.0.0.0/8' }, { id: MB_ID_CIDR_MIN + 8, cidr: '11.0.0.0/8' }, { id: 5, cidr: '12.0.0.0/8' }]), [{ id: 5, cidr: '12.0.0.0/8' }]);
  assert.equal(c.list().length, 2);
  const ids = c.sync(['10.0.0.0/8', '13.0.0.0/8']);
  assert.deepEqual(ids.map((i) => [i.cidr, i.id]), [
    ['10.0.0.0/8', MB_ID_CIDR_MIN + 7],
    ['13.0.0.0/8', MB_ID_CIDR_MIN + 9],
  ]);
  assert.equal(c.get('11.0.0.0/8'), undefined);
});

test('selectCidrIdentities: nested and disjoint prefixes, excepts', () => {
  const prefixes = ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.2.0.0/16', '192.168.0.0/16'];
  const ids = prefixes.map((p, i) => cidrIdentity(100 + i, p));
  const sel = (cidr: string, ...except: string[]) => selectCidrIdentities({ cidr, except }, ids).map((id) => prefixes[id - 100]);
  assert.deepEqual(sel('10.0.0.0/8'), ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.2.0.0/16']);
  assert.deepEqual(sel('10.0.0.0/8', '10.1.0.0/16'), ['10.0.0.0/8', '10.2.0.0/16']);
  // an except nested in another except, and the cidr itself inside an outer prefix
  assert.deepEqual(sel('10.1.0.0/16', '10.1.2.0/24'), ['10.1.0.0/16']);
  assert.deepEqual(sel('0.0.0.0/0', '10.0.0.0/8'), ['0.0.0.0/0', '192.168.0.0/16']);
  assert.deepEqual(sel('0.0.0.0/0', '10.1.0.0/16', '192.168.0.0/16'), ['0.0.0.0/0', '10.0.0.0/8', '10.2.0.0/16']);
  assert.deepEqual(sel('172.16.0.0/12'), []);
  // identities of other kinds are ignored
  assert.deepEqual(selectCidrIdentities({ cidr: '0.0.0.0/0', except: [] }, [{ id: 2, kind: 'reserved', labels: {} }]), []);
});
