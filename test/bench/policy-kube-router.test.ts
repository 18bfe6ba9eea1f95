// The policy benchmark's iptables/ipset generator (bench/policy/kube-router.ts)
// checked against kube-router's own expectations: chain and ipset names
// (its hash scheme, the names in its ipset fixture testdata/ipset_test_1 and
// in TestNetworkPolicyBuilder), the policy-chain rules line for line
// (TestNetworkPolicyBuilder's expectedRule), the top-level jumps' UUIDs as a
// live kube-router node shows them, and the ipsets of its fixture. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseTable, egressRules, fullSync, ingressRules, names, policyInfos, ruleUuid, type SetTable } from '../../bench/policy/kube-router.ts';
import type { BenchPolicy, PlacedPod } from '../../bench/policy/workload.ts';

const KR = names('KUBE-', '1');

test("chain and ipset names are kube-router's hashes", () => {
  // TestNetworkPolicyBuilder (sync version "1", IPv4)
  assert.equal(KR.policy('nsA', 'simple-egress'), 'KUBE-NWPLCY-C23KD7UE4TAT3Y5M');
  assert.equal(KR.policy('nsA', 'simple-ingress-egress'), 'KUBE-NWPLCY-IDIX352DRLNY3D23');
  // testdata/ipset_test_1/ipset_save.txt
  assert.equal(KR.dstSet('default', 'whoami'), 'KUBE-DST-IZ5JGF4W6BKI7CEV');
  assert.equal(KR.srcSet('default', 'debug'), 'KUBE-SRC-C2EUPKL23CCP4COF');
  assert.equal(KR.ingressIpBlockSet('default', 'whoami', 0), 'KUBE-SRC-KLLOHJLFVAV654Z2');
  assert.equal(KR.egressPodSet('default', 'debug', 0), 'KUBE-DST-P226T6HGLTLDGDLC');
  // pod chains: KUBE-POD-FW- and 16 base32 characters; the benchmark's prefix keeps names within iptables' 28
  assert.match(KR.podFw('default', 'whoami-nflzk'), /^KUBE-POD-FW-[A-Z2-7]{16}$/);
  const mbw = names('MBW-', '1763787000000000000');
  for (const n of [mbw.podFw('bench', 'server'), mbw.policy('bench', 'allow-999'), mbw.input, mbw.forward, mbw.output, mbw.defaultChain]) {
    assert.ok(n.startsWith('MBW-') && n.length <= 28, n);
  }
  for (const n of [mbw.dstSet('bench', 'x'), mbw.ingressPodSet('bench', 'x', 0), mbw.tmpSet('hash:ip timeout 0')]) assert.ok(n.startsWith('MBW-') && n.length <= 31, n);
  assert.match(KR.tmpSet('hash:ip timeout 0'), /^TMP-[A-Z2-7]{16}$/);
});

test("the top-level jumps carry the UUIDs a live kube-router node shows", () => {
  const spec = (c: string) => ['-m', 'comment', '--comment', 'kube-router netpol', '-j', `KUBE-ROUTER-${c}`];
  assert.equal(ruleUuid('INPUT', spec('INPUT')), '4IA2OSFRMVNDXBVV');
  assert.equal(ruleUuid('FORWARD', spec('FORWARD')), 'TEMCG2JMHZYE7H7T');
  assert.equal(ruleUuid('OUTPUT', spec('OUTPUT')), 'VEAAIY32XVBHCSCY');
  const base = baseTable({ prefix: 'KUBE-', version: '1', serviceCidrs: ['10.96.0.0/16'] });
  assert.ok(base.rules.includes('-A FORWARD -m comment --comment "kube-router netpol - TEMCG2JMHZYE7H7T" -j KUBE-ROUTER-FORWARD'));
  assert.ok(base.rules.includes('-A KUBE-NWPLCY-DEFAULT -m comment --comment "rule to mark traffic matching a network policy" -j MARK --set-xmark 0x10000/0x10000'));
});

// TestNetworkPolicyBuilder: the policies, their rules processed with empty set names as the test does.
function builderRules(p: BenchPolicy): string {
  const [info] = policyInfos([], [p]);
  const sets: SetTable = new Map();
  const chain = KR.policy(p.namespace, p.name);
  let out = '';
  if (info!.type !== 'ingress') out += egressRules(KR, info!, chain, '', sets);
  if (info!.type !== 'egress') out += ingressRules(KR, info!, chain, '', sets);
  return out;
}

const sel = { app: 'a' };
test("policy chain rules match kube-router's TestNetworkPolicyBuilder line for line", () => {
  const c = (chain: string, what: string, name: string, port: string) =>
    `-A ${chain} -m comment --comment "rule to ACCEPT traffic from ${what} selected by policy name: ${name} namespace nsA" --dport ${port} -j MARK --set-xmark 0x10000/0x10000 \n` +
    `-A ${chain} -m comment --comment "rule to ACCEPT traffic from ${what} selected by policy name: ${name} namespace nsA" --dport ${port} -m mark --mark 0x10000/0x10000 -j RETURN \n`;
  const egressTo = 'source pods to all destinations';
  assert.equal(
    builderRules({ namespace: 'nsA', name: 'simple-egress', podSelector: sel, policyTypes: ['Egress'], egress: [{ peers: [], ports: [{ port: 30000 }] }] }),
    c('KUBE-NWPLCY-C23KD7UE4TAT3Y5M', egressTo, 'simple-egress', '30000'),
  );
  assert.equal(
    builderRules({ namespace: 'nsA', name: 'simple-ingress-egress', podSelector: sel, policyTypes: ['Ingress', 'Egress'], egress: [{ peers: [], ports: [{ port: 30000 }] }], ingress: [{ peers: [], ports: [{ port: 37000 }] }] }),
    c('KUBE-NWPLCY-IDIX352DRLNY3D23', egressTo, 'simple-ingress-egress', '30000') + c('KUBE-NWPLCY-IDIX352DRLNY3D23', 'all sources to dest pods', 'simple-ingress-egress', '37000'),
  );
  const pr = KR.policy('nsA', 'simple-egress-pr');
  assert.equal(pr, 'KUBE-NWPLCY-2UTXQIFBI5TAPUCL');
  assert.equal(
    builderRules({ namespace: 'nsA', name: 'simple-egress-pr', podSelector: sel, policyTypes: ['Egress'], egress: [{ peers: [], ports: [{ port: 30000, endPort: 31000 }, { port: 34000, endPort: 35000 }] }] }),
    c(pr, egressTo, 'simple-egress-pr', '30000:31000') + c(pr, egressTo, 'simple-egress-pr', '34000:35000'),
  );
  const inv = KR.policy('nsA', 'invalid-endport');
  assert.equal(inv, 'KUBE-NWPLCY-N5DQE4SCQ56JEMH7');
  assert.equal(
    builderRules({ namespace: 'nsA', name: 'invalid-endport', podSelector: sel, policyTypes: ['Egress'], egress: [{ peers: [], ports: [{ port: 34000, endPort: 31000 }] }] }),
    c(inv, egressTo, 'invalid-endport', '34000'),
  );
});

test("the ipsets of kube-router's fixture testdata/ipset_test_1 (IPv4)", () => {
  const pods: PlacedPod[] = [
    { namespace: 'default', name: 'whoami-nflzk', labels: { name: 'whoami' }, ip: '10.242.1.4' },
    { namespace: 'default', name: 'whoami-s72mp', labels: { name: 'whoami' }, ip: '10.242.0.5' },
  ];
  const policies: BenchPolicy[] = [
    { namespace: 'default', name: 'debug', podSelector: { name: 'debug-toolbox' }, policyTypes: ['Egress'], egress: [{ peers: [{ podSelector: { name: 'whoami' } }], ports: [] }] },
    {
      namespace: 'default',
      name: 'whoami',
      podSelector: { name: 'whoami' },
      policyTypes: ['Ingress'],
      ingress: [{ peers: [{ podSelector: { name: 'debug-toolbox' } }, { ipBlock: { cidr: '10.95.0.239/32' } }], ports: [{ protocol: 'TCP', port: 5000 }] }],
    },
  ];
  const sync = fullSync([pods[0]!], pods, policies, { prefix: 'KUBE-', version: 'fixture', serviceCidrs: ['10.96.0.0/16'] });
  // as `ipset save` lists them: hash:net /32 entries without the length; entries as sets
  const got = Object.fromEntries([...sync.sets].map(([name, s]) => [name, { type: s.type, entries: s.entries.map((e) => e[0]!.replace(/\/32$/, '')).sort() }]));
  assert.deepEqual(got, {
    'KUBE-DST-IZ5JGF4W6BKI7CEV': { type: 'hash:ip', entries: ['10.242.0.5', '10.242.1.4'] },
    'KUBE-DST-P226T6HGLTLDGDLC': { type: 'hash:ip', entries: ['10.242.0.5', '10.242.1.4'] },
    'KUBE-SRC-C2EUPKL23CCP4COF': { type: 'hash:ip', entries: [] },
    'KUBE-SRC-KLLOHJLFVAV654Z2': { type: 'hash:net', entries: ['10.95.0.239'] },
  });
  // the ipBlock rule of whoami: source set, destination set, protocol and port
  const chain = names('KUBE-', 'fixture').policy('default', 'whoami');
  assert.ok(
    sync.filter.includes(
      `-A ${chain} -m comment --comment "rule to ACCEPT traffic from specified ipBlocks to dest pods selected by policy name: whoami namespace default" -m set --match-set KUBE-SRC-KLLOHJLFVAV654Z2 src -m set --match-set KUBE-DST-IZ5JGF4W6BKI7CEV dst -p TCP --dport 5000 -j MARK --set-xmark 0x10000/0x10000 `,
    ),
  );
  // ipset restore: through temporary sets, swapped in, sorted by name, temporaries destroyed at the end
  const lines = sync.ipset.trim().split('\n');
  const tmpIp = KR.tmpSet('hash:ip timeout 0');
  assert.deepEqual(lines.slice(0, 7), [`create ${tmpIp} hash:ip timeout 0`, `flush ${tmpIp}`, `add ${tmpIp} 10.242.1.4 timeout 0`, `add ${tmpIp} 10.242.0.5 timeout 0`, 'create KUBE-DST-IZ5JGF4W6BKI7CEV hash:ip timeout 0', `swap ${tmpIp} KUBE-DST-IZ5JGF4W6BKI7CEV`, `flush ${tmpIp}`]);
  assert.equal(lines.filter((l) => l.startsWith('destroy ')).length, 2);
  assert.ok(lines.at(-1)!.startsWith('destroy '));
});

test('a full sync: a chain per local pod and per policy, four jumps per pod from KUBE-ROUTER-FORWARD', () => {
  const pods: PlacedPod[] = [
    { namespace: 'bench', name: 'client', labels: { role: 'client' }, ip: '10.219.0.2' },
    { namespace: 'bench', name: 'server', labels: { role: 'server' }, ip: '10.219.0.3' },
    { namespace: 'bench', name: 'other', labels: { app: 'a0' }, ip: '10.219.0.4' },
  ];
  const policies: BenchPolicy[] = [
    { namespace: 'bench', name: 'allow-0', podSelector: { role: 'server' }, policyTypes: ['Ingress'], ingress: [{ peers: [{ podSelector: { app: 'a0' } }], ports: [{ protocol: 'TCP', port: 10000 }] }] },
    { namespace: 'bench', name: 'allow-1', podSelector: { role: 'server' }, policyTypes: ['Ingress'], ingress: [{ peers: [{ podSelector: { role: 'client' } }], ports: [{ protocol: 'TCP', port: 7101 }] }] },
  ];
  const n = names('MBW-', '7');
  const s = fullSync(pods, pods, policies, { prefix: 'MBW-', version: '7', serviceCidrs: ['10.96.18.0/24'] });
  const lines = s.filter.split('\n');
  assert.equal(lines[0], '*filter');
  assert.equal(lines.at(-2), 'COMMIT');
  assert.equal(s.chains, 5);
  assert.equal(lines.filter((l) => l.startsWith(`-A ${n.forward} `) && l.includes('-j MBW-POD-FW-')).length, 4 * pods.length);
  // the server's chain: stateful accept first (inserted last), then both policies, no default ingress
  const srv = n.podFw('bench', 'server');
  const inserts = lines.filter((l) => l.startsWith(`-I ${srv} 1 `));
  assert.match(inserts.at(-1)!, /RELATED,ESTABLISHED -j ACCEPT/);
  assert.equal(inserts.filter((l) => l.includes('run through nw policy')).length, 2);
  assert.ok(!inserts.some((l) => l.includes('default ingress')));
  assert.ok(inserts.some((l) => l.includes('default egress')));
  // the client's chain runs through the default chain both ways
  assert.equal(lines.filter((l) => l.startsWith(`-I ${n.podFw('bench', 'client')} 1 `) && l.includes(n.defaultChain)).length, 2);
  // sets: the server (DST of each policy) and each rule's peers
  assert.deepEqual([...s.sets.values()].map((x) => x.entries.map((e) => e[0])), [['10.219.0.3'], ['10.219.0.4'], ['10.219.0.3'], ['10.219.0.2']]);
  assert.ok(s.filter.includes(`-m set --match-set ${n.ingressPodSet('bench', 'allow-1', 0)} src -m set --match-set ${n.dstSet('bench', 'allow-1')} dst -p TCP --dport 7101 -j MARK`));
  // every name is the benchmark's own
  for (const l of lines) for (const m of l.matchAll(/(?:-j|-N|:|--match-set) ([A-Z][A-Z0-9-]+)/g)) if (!['INPUT', 'FORWARD', 'OUTPUT', 'ACCEPT', 'DROP', 'REJECT', 'RETURN', 'MARK', 'NFLOG'].includes(m[1]!)) assert.ok(m[1]!.startsWith('MBW-'), m[1]);
});
