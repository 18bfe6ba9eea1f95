// The services benchmark's generators (bench/lib/kube-*.ts): kube-proxy's
// iptables and nftables rules checked line by line against kube-proxy's own
// expected output for the same services (pkg/proxy/{iptables,nftables}
// tests: chain names, hashes, probabilities, rule text), and the Membrane
// manifests against Membrane's own validation. Pure: no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests } from '../../src/k8s/documents.ts';
import { base32, type BenchService, endpointCount, makeServiceSet, manifests, servicePortName } from '../../bench/lib/kube-services.ts';
import { countRules, jumpsRestore, probability, sepChain, svcChain, syncRestore } from '../../bench/lib/kube-proxy-iptables.ts';
import { baseRules, endpointChain, serviceChain, serviceRules, syncScript } from '../../bench/lib/kube-proxy-nftables.ts';

// The services of kube-proxy's TestOverallIPTablesRules / TestOverallNFTablesRules.
const svc = (n: number, endpoints: string[], nodePort?: number): BenchService => ({
  namespace: `ns${n}`,
  name: `svc${n}`,
  portName: 'p80',
  protocol: 'tcp',
  clusterIP: `172.30.0.4${n}`,
  port: 80,
  targetPort: 80,
  endpoints,
  ...(nodePort !== undefined ? { nodePort } : {}),
});
const svc1 = svc(1, ['10.180.0.1']);
const svc3 = svc(3, ['10.180.0.3'], 3003);
const svc4 = svc(4, ['10.180.0.4', '10.180.0.5']);

test('base32 is RFC 4648 (Go StdEncoding), padding included', () => {
  const b = (s: string) => base32(Buffer.from(s));
  assert.equal(b(''), '');
  assert.equal(b('f'), 'MY======');
  assert.equal(b('fo'), 'MZXQ====');
  assert.equal(b('foob'), 'MZXW6YQ=');
  assert.equal(b('foobar'), 'MZXW6YTBOI======');
});

test("iptables chain names are kube-proxy's hashes", () => {
  assert.equal(servicePortName(svc1), 'ns1/svc1:p80');
  assert.equal(svcChain(svc1), 'KUBE-SVC-XPGD46QRK7WJZT7O');
  assert.equal(sepChain(svc1, '10.180.0.1:80'), 'KUBE-SEP-SXIVWICOYRO3J4NJ');
  assert.equal(svcChain(svc4), 'KUBE-SVC-4SW47YFZTEDKD3PK');
  assert.equal(sepChain(svc4, '10.180.0.4:80'), 'KUBE-SEP-UKSFD7AGPMPPLUHC');
  assert.equal(sepChain(svc4, '10.180.0.5:80'), 'KUBE-SEP-C6EBXVWJJZMIWKLZ');
  assert.equal(svcChain(svc3), 'KUBE-SVC-X27LE4BHSL4DOUIK');
  assert.equal(sepChain(svc3, '10.180.0.3:80'), 'KUBE-SEP-OYPFS5VJICHGATKP');
});

test("iptables rules match kube-proxy's expected restore input line for line", () => {
  const out = syncRestore([svc1, svc3, svc4], { clusterCidr: '10.0.0.0/8', randomFully: false });
  const lines = new Set(out.split('\n'));
  const expected = [
    '*filter',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-EXTERNAL-SERVICES - [0:0]',
    ':KUBE-FORWARD - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]',
    ':KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]',
    ':KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK',
    '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O',
    '-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK',
    '-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK',
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    '-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ',
    '-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK',
    '-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80',
    '-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80',
    '-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80',
    '-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80',
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC',
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
    '-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP',
    '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ',
    'COMMIT',
  ];
  for (const l of expected) assert.ok(lines.has(l), `missing: ${l}`);
  // Nothing else per service: 5 rules + 2 per endpoint + 3 per NodePort, plus the fixed ones.
  const { rules } = countRules(out);
  assert.equal(rules, 1 + 3 + 4 + 1 + (3 + 3 + 4) * 1 + 2 * 4 + 3);
  // KUBE-SERVICES keeps the services' order, and the NodePort tail rule is last.
  const svcRules = out.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES'));
  assert.deepEqual(svcRules.map((l) => /-d (\S+)/.exec(l)?.[1] ?? 'tail'), ['172.30.0.41', '172.30.0.43', '172.30.0.44', 'tail']);
  // --random-fully when iptables has it (it does here).
  assert.match(syncRestore([svc1], { clusterCidr: '10.0.0.0/8' }), /-j MASQUERADE --random-fully\n/);
});

test('iptables: 1/(n-i) probabilities, and no per-endpoint comments past 1000 endpoints', () => {
  assert.deepEqual([10, 9, 8, 7, 3, 2].map(probability), ['0.1000000000', '0.1111111111', '0.1250000000', '0.1428571429', '0.3333333333', '0.5000000000']);
  const set = makeServiceSet({ count: 101, backends: 10, serviceCidr: '10.112.0.0/12', fillerCidr: '10.120.0.0/13', nodePortEvery: 10, nodePortBase: 30000, port: 80, targetPort: 7101, measuredEndpoints: ['10.214.0.2', '10.214.0.3'] });
  assert.ok(endpointCount(set.services) > 1000);
  const out = syncRestore(set.services, { clusterCidr: '10.214.0.0/24' });
  const chain = svcChain(set.services[0]!);
  const toSeps = out.split('\n').filter((l) => l.startsWith(`-A ${chain} `) && l.includes('KUBE-SEP-'));
  assert.equal(toSeps.length, 10);
  toSeps.forEach((l, i) => {
    assert.doesNotMatch(l, /--comment/);
    if (i < 9) assert.match(l, new RegExp(`--probability ${probability(10 - i)} -j KUBE-SEP-`));
    else assert.doesNotMatch(l, /statistic/);
  });
  assert.match(out, /-A KUBE-SERVICES -m comment --comment "bench\/svc-00000:p80 cluster IP"/);
  assert.match(jumpsRestore(), /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
});

test("nftables chain names are kube-proxy's hashes", () => {
  assert.equal(serviceChain(svc1), 'service-ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(endpointChain(svc1, '10.180.0.1', 80), 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
  assert.equal(serviceChain(svc4), 'service-LAUZTJTB-ns4/svc4/tcp/p80');
  assert.equal(endpointChain(svc4, '10.180.0.4', 80), 'endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80');
  assert.equal(endpointChain(svc4, '10.180.0.5', 80), 'endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80');
  assert.equal(serviceChain(svc3), 'service-4AT6LBPK-ns3/svc3/tcp/p80');
  assert.equal(endpointChain(svc3, '10.180.0.3', 80), 'endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80');
});

test("nftables ruleset matches kube-proxy's expected transaction line for line", () => {
  const t = 'ip kube-proxy';
  const base = baseRules({ clusterCidr: '10.0.0.0/8', serviceCidrs: ['172.30.0.0/16'], nodePortIps: ['192.168.0.2'] });
  for (const l of [
    `add table ${t} { comment "rules for kube-proxy" ; }`,
    `add map ${t} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add map ${t} service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`,
    `add chain ${t} nat-prerouting { type nat hook prerouting priority -100 ; }`,
    `add rule ${t} cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"`,
    `add rule ${t} masquerading masquerade fully-random`,
    `add rule ${t} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${t} services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`,
    `add element ${t} nodeport-ips { 192.168.0.2 }`,
  ]) assert.ok(base.includes(l), `missing: ${l}`);
  assert.equal(base.length, 48); // as many lines as the fixture
  const sorted = (ls: string[]) => [...ls].sort();
  assert.deepEqual(sorted(serviceRules(svc1, { clusterCidr: '10.0.0.0/8' })), sorted([
    `add chain ${t} service-ULMVA6XW-ns1/svc1/tcp/p80`,
    `add rule ${t} service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade`,
    `add rule ${t} service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }`,
    `add chain ${t} endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80`,
    `add rule ${t} endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade`,
    `add rule ${t} endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80`,
    `add element ${t} cluster-ips { 172.30.0.41 }`,
    `add element ${t} service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }`,
  ]));
  assert.deepEqual(sorted(serviceRules(svc3, { clusterCidr: '10.0.0.0/8' })), sorted([
    `add chain ${t} service-4AT6LBPK-ns3/svc3/tcp/p80`,
    `add rule ${t} service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade`,
    `add rule ${t} service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }`,
    `add chain ${t} external-4AT6LBPK-ns3/svc3/tcp/p80`,
    `add rule ${t} external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade`,
    `add rule ${t} external-4AT6LBPK-ns3/svc3/tcp/p80 goto service-4AT6LBPK-ns3/svc3/tcp/p80`,
    `add chain ${t} endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80`,
    `add rule ${t} endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade`,
    `add rule ${t} endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80`,
    `add element ${t} cluster-ips { 172.30.0.43 }`,
    `add element ${t} service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }`,
    `add element ${t} service-nodeports { tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80 }`,
  ]));
  const four = serviceRules(svc4, { clusterCidr: '10.0.0.0/8' });
  assert.ok(four.includes(`add rule ${t} service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }`));
  // Chains come before anything that refers to them (nft -f resolves in order).
  const script = syncScript([svc1, svc3, svc4], { clusterCidr: '10.0.0.0/8', serviceCidrs: ['172.30.0.0/16'], nodePortIps: ['192.168.0.2'] }).split('\n');
  const firstUse = (name: string) => script.findIndex((l) => l.startsWith(`add rule ${t} ${name} `) || l.includes(`goto ${name} `) || l.includes(`jump ${name}`));
  for (const l of script.filter((x) => x.startsWith('add chain'))) {
    const name = l.split(' ')[4]!;
    const use = firstUse(name);
    if (use >= 0) assert.ok(script.indexOf(l) < use, `${name} used before it is added`);
  }
});

test('the service set: measured service in the middle, ClusterIPs and node ports in order, filler disjoint', () => {
  const spec = { count: 1000, backends: 10, serviceCidr: '10.112.0.0/12', fillerCidr: '10.120.0.0/13', nodePortEvery: 10, nodePortBase: 30000, port: 80, targetPort: 7101, measuredEndpoints: ['10.213.0.5', '10.213.0.6'], udp: { port: 9, targetPort: 7109 } };
  const set = makeServiceSet(spec);
  assert.equal(set.services.length, 1001);
  assert.equal(set.services.indexOf(set.measured), 499);
  assert.equal(set.services[500], set.measuredUdp);
  assert.deepEqual(set.measured.endpoints, ['10.213.0.5', '10.213.0.6']);
  assert.equal(set.measured.clusterIP, '10.112.1.244');
  assert.equal(set.services[0]!.clusterIP, '10.112.0.1');
  assert.equal(new Set(set.services.map((s) => s.clusterIP)).size, 1001);
  const nodePorts = set.services.flatMap((s) => (s.nodePort === undefined ? [] : [s.nodePort]));
  assert.equal(new Set(nodePorts).size, nodePorts.length);
  assert.ok(nodePorts.every((p) => p >= 30000 && p < 32768));
  assert.equal(set.measuredUdp?.protocol, 'udp');
  assert.equal(set.services[1]!.endpoints[0], '10.120.0.11');
  assert.equal(endpointCount(set.services), 999 * 10 + 2 * 2);
  assert.equal(makeServiceSet({ ...spec, count: 1, udp: undefined }).services.length, 1);
  assert.deepEqual(makeServiceSet(spec), set);
});

test('the Membrane manifests validate as Kubernetes Service and EndpointSlice objects', () => {
  const set = makeServiceSet({ count: 20, backends: 3, serviceCidr: '10.112.0.0/12', fillerCidr: '10.120.0.0/13', nodePortEvery: 5, nodePortBase: 30000, port: 80, targetPort: 7101, measuredEndpoints: ['10.213.0.5'], udp: { port: 9, targetPort: 7109 } });
  const { objects } = parseManifests(manifests(set.services), 'bench');
  assert.equal(objects.length, 42);
  assert.deepEqual(new Set(objects.map((o) => o.kind)), new Set(['Service', 'EndpointSlice']));
  const m = objects.find((o) => o.kind === 'Service' && o.name === 'measured-udp')!;
  assert.equal(m.namespace, 'bench');
  assert.match(JSON.stringify(m.spec), /"nodePort":\d+/);
  // The same objects as one JSON List (kubectl get -o json).
  const fromJson = parseManifests(manifests(set.services, 'json'), 'bench').objects;
  assert.deepEqual(fromJson.map((o) => [o.kind, o.namespace, o.name, o.spec]), objects.map((o) => [o.kind, o.namespace, o.name, o.spec]));
});
