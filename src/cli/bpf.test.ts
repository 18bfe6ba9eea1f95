import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CtEntryDump, LbDump } from '../service/lbdump.ts';
import { renderCtList, renderLbList } from './bpf.ts';

const be = (id: number, address: string, state = 'active', flags: string[] = []) => ({ id, address, port: 8080, protocol: 'TCP', state, flags });

test('bpf lb list: a frontend per scope, its backends in slot order, idle backends apart, problems shown', () => {
  const d: LbDump = {
    frontends: [
      { address: '10.96.7.17', port: 80, protocol: 'TCP', scope: 'internal', revNatId: 1, flags: ['cluster-ip'], affinityTimeout: 0, backends: [be(1, '10.207.0.5', 'active', ['local']), be(3, '10.207.0.7')] },
      { address: '198.18.7.1', port: 30080, protocol: 'TCP', scope: 'external', revNatId: 2, flags: ['nodeport', 'maglev', 'local'], affinityTimeout: 0, backends: [], maglev: { mapId: 77, name: 'mgabc', entries: 16381 } },
      { address: '198.18.7.1', port: 30081, protocol: 'UDP', scope: 'internal', revNatId: 3, flags: ['nodeport'], affinityTimeout: 0, backends: [{ id: 9, state: 'missing' }], problems: ['slots beyond count 1: 2'] },
    ],
    backends: [be(1, '10.207.0.5', 'active', ['local']), be(2, '10.207.0.6', 'terminating'), be(3, '10.207.0.7')],
    revNat: [],
  };
  assert.equal(renderLbList(d), [
    'FRONTEND               SCOPE   REV-NAT   FLAGS                   MAGLEV          BACKENDS (SLOT ORDER)',
    '10.96.7.17:80/TCP      int     1         cluster-ip              -               10.207.0.5:8080 #1 active local',
    '                                                                                 10.207.0.7:8080 #3 active',
    '198.18.7.1:30080/TCP   ext     2         nodeport,maglev,local   16381 (id 77)   <none: dropped>',
    '198.18.7.1:30081/UDP   int     3         nodeport                -               #9 missing',
    '                                                                                 ! slots beyond count 1: 2',
    '',
    'Backends without new connections (kept for established ones):',
    '  ID   ADDRESS               STATE         FLAGS',
    '  2    10.207.0.6:8080/TCP   terminating   -',
    '',
  ].join('\n'));
  assert.match(renderLbList({ frontends: [], backends: [], revNat: [] }), /No frontends/);
});

test('bpf ct list: both directions with flags, counters and age', () => {
  const e: CtEntryDump = {
    direction: 'fwd', protocol: 'TCP', source: '198.18.7.100:40000', destination: '198.18.7.1:30080', client: '198.18.7.100:40000', frontend: '198.18.7.1:30080',
    backend: '10.207.0.5:8080', backendId: 1, nat: '198.18.7.1:61000', revNatId: 2, flags: ['snat', 'seen-reply'], packets: '12', bytes: '2048', ageSeconds: 3.25, lastSeenNs: '1',
  };
  const out = renderCtList([e, { ...e, direction: 'rev', source: '10.207.0.5:8080', destination: '198.18.7.1:61000', packets: '10', bytes: '100', ageSeconds: 300 }]);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^PROTO +DIR +TUPLE +CLIENT +FRONTEND +BACKEND +NAT +FLAGS +PACKETS +BYTES +AGE$/);
  assert.match(lines[1]!, /^TCP +fwd +198\.18\.7\.100:40000 -> 198\.18\.7\.1:30080 +198\.18\.7\.100:40000 +198\.18\.7\.1:30080 +10\.207\.0\.5:8080 #1 +198\.18\.7\.1:61000 +snat,seen-reply +12 +2\.0 KiB +3\.3s$/);
  assert.match(lines[2]!, /^TCP +rev +10\.207\.0\.5:8080 -> 198\.18\.7\.1:61000 .* 10 +100 B +5m$/);
  assert.match(renderCtList([]), /No connections/);
});
