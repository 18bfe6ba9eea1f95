import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MB_ID_CIDR_MIN, policyKey } from '../datapath/abi.ts';
import { CidrIdentities, policyPrefixes } from './cidr.ts';
import { comparePolicyKeys, policyKeyString, resolvePolicies, type LocalEndpoint, type Resolution, type ResolveInput } from './resolve.ts';
import { RuleIds } from './rule-ids.ts';
import { cidr, endpoint, endpointIdentity, entity, part, podSel, pods, policy, reserved, rule } from './testing.ts';
import type { PolicySpec } from './types.ts';

// identities: web and db in prod, client in dev
const WEB = 256;
const DB = 257;
const CLIENT = 258;
const identities = [
  ...reserved,
  endpointIdentity(WEB, 'prod', { app: 'web' }, { env: 'prod' }),
  endpointIdentity(DB, 'prod', { app: 'db' }, { env: 'prod' }),
  endpointIdentity(CLIENT, 'dev', { app: 'client' }, { env: 'dev' }),
];
const web1 = endpoint(11, WEB, 'prod', 'web-1', '10.216.0.11', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }]);
const web2 = endpoint(12, WEB, 'prod', 'web-2', '10.216.0.12', [{ name: 'http', containerPort: 9090, protocol: 'TCP' }]);
const db1 = endpoint(13, DB, 'prod', 'db-1', '10.216.0.13');
const client1 = endpoint(14, CLIENT, 'dev', 'client-1', '10.216.0.14');
const ALL_EPS = [web1, web2, db1, client1];

function resolve(policies: PolicySpec[], over: Partial<ResolveInput> = {}): Resolution {
  const cidrs = new CidrIdentities().sync(policyPrefixes(policies));
  return resolvePolicies({
    policies,
    identities: [...identities, ...cidrs],
    endpoints: ALL_EPS,
    peerPorts: new Map(),
    ruleIds: new RuleIds(),
    ...over,
  });
}

const PROTO: Record<number, string> = { 0: 'any', 6: 'tcp', 17: 'udp', 132: 'sctp' };
/** One line per entry: `in 256 tcp:80/96 allow spec.ingress[0]`. */
function show(r: Resolution, ep: LocalEndpoint): string[] {
  const e = r.endpoints.get(ep.lxcId)!;
  return e.entries.map(({ key, entry }) => {
    const id = key.identity >= MB_ID_CIDR_MIN ? `cidr+${key.identity - MB_ID_CIDR_MIN}` : String(key.identity);
    const port = key.prefixlen === 64 ? 'any' : key.prefixlen === 80 ? `${PROTO[key.proto]}` : `${PROTO[key.proto]}:${key.dport}/${key.prefixlen}`;
    const rr = r.rules.get(entry.rule_id);
    return `${key.dir === 2 ? 'in' : 'out'} ${id} ${port} ${entry.flags & 1 ? 'deny' : 'allow'} ${rr?.path ?? entry.rule_id}`;
  });
}

test('NetworkPolicy default-deny ingress with no rules: enforced, no entries', () => {
  const r = resolve([policy('NetworkPolicy', 'prod', 'deny-all', part(podSel('prod'), { ingress: true }, []))]);
  const w = r.endpoints.get(web1.lxcId)!;
  assert.equal(w.ingressEnforced, true);
  assert.equal(w.egressEnforced, false);
  assert.deepEqual(w.entries, []);
  assert.deepEqual(w.policies, [{ kind: 'NetworkPolicy', namespace: 'prod', name: 'deny-all', parts: ['spec'], ingress: true, egress: false }]);
  assert.equal(r.endpoints.get(db1.lxcId)!.ingressEnforced, true);
  const c = r.endpoints.get(client1.lxcId)!;
  assert.equal(c.ingressEnforced, false);
  assert.deepEqual(c.policies, []);
});

test('CNP ingress: [{}] enforces and allows nothing; a deny-only CNP enforces', () => {
  const r = resolve([
    policy('CiliumNetworkPolicy', 'prod', 'empty', part(podSel('prod', { app: 'web' }), { ingress: true }, [rule('ingress', [])])),
    policy('CiliumNetworkPolicy', 'prod', 'deny-world', part(podSel('prod', { app: 'db' }), { egress: true }, [rule('egress', [entity('world')], [], { deny: true })])),
  ]);
  assert.equal(r.endpoints.get(web1.lxcId)!.ingressEnforced, true);
  assert.deepEqual(show(r, web1), []);
  const d = r.endpoints.get(db1.lxcId)!;
  assert.equal(d.egressEnforced, true);
  assert.equal(d.ingressEnforced, false);
  assert.deepEqual(show(r, db1), ['out 2 any deny spec.egressDeny[0]']);
});

test('rules of a part without defaultDeny apply only where another part enforces', () => {
  const lenient = policy('CiliumNetworkPolicy', 'prod', 'lenient', part(podSel('prod'), {}, [rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 80 }])]));
  let r = resolve([lenient]);
  assert.equal(r.endpoints.get(web1.lxcId)!.ingressEnforced, false);
  assert.deepEqual(show(r, web1), []);
  assert.equal(r.endpoints.get(web1.lxcId)!.policies[0]!.ingress, false);
  r = resolve([lenient, policy('NetworkPolicy', 'prod', 'web-only', part(podSel('prod', { app: 'web' }), { ingress: true }, [rule('ingress', [pods('prod')])]))]);
  assert.deepEqual(show(r, web1), ['in 256 any allow spec.ingress[0]', 'in 257 any allow spec.ingress[0]', 'in 258 tcp:80/96 allow spec.ingress[0]']);
  assert.deepEqual(r.endpoints.get(web1.lxcId)!.policies.map((p) => [p.name, p.ingress]), [['lenient', false], ['web-only', true]]);
  assert.deepEqual(show(r, db1), []);
});

test('deny rules without default deny (enableDefaultDeny: false) still apply: enforced, with an allow for the rest', () => {
  const denyOnly = policy('CiliumNetworkPolicy', 'prod', 'deny-dev', part(podSel('prod'), {}, [
    rule('ingress', [pods('dev')], [], { deny: true }),
    rule('egress', [entity('world')], [{ protocol: 'TCP', port: 25 }], { deny: true }),
  ]));
  let r = resolve([denyOnly]);
  const w = r.endpoints.get(web1.lxcId)!;
  assert.equal(w.ingressEnforced, true);
  assert.equal(w.egressEnforced, true);
  assert.deepEqual(show(r, web1), [
    'out 0 any allow spec.enableDefaultDeny.egress',
    'out 2 tcp:25/96 deny spec.egressDeny[0]',
    'in 0 any allow spec.enableDefaultDeny.ingress',
    'in 258 any deny spec.ingressDeny[0]',
  ]);
  assert.equal(r.endpoints.get(client1.lxcId)!.ingressEnforced, false, 'not selected: untouched');
  // Another policy that enforces default deny: no blanket allow, its own rules decide.
  r = resolve([denyOnly, policy('NetworkPolicy', 'prod', 'strict', part(podSel('prod', { app: 'web' }), { ingress: true }, [rule('ingress', [pods('prod')])]))]);
  assert.ok(!show(r, web1).some((l) => l.startsWith('in 0 any allow')), show(r, web1).join('\n'));
  assert.ok(show(r, web1).some((l) => l.startsWith('out 0 any allow')), 'egress: still only the deny-only policy');
});

test('entities and peers all', () => {
  const r = resolve([
    policy('CiliumNetworkPolicy', 'prod', 'e', part(podSel('prod', { app: 'web' }), { ingress: true, egress: true }, [
      rule('ingress', [entity('cluster')]),
      rule('ingress', [entity('host'), entity('remote-node'), entity('kube-apiserver')], [{ protocol: 'TCP', port: 443 }]),
      rule('egress', [entity('world')], [{ protocol: 'UDP' }]),
      rule('egress', 'all', [{ protocol: 'TCP', port: 53 }]),
      rule('egress', [entity('all'), entity('health')], [{ protocol: 'SCTP', port: 9 }]),
    ])),
  ]);
  assert.deepEqual(show(r, web1), [
    'out 0 tcp:53/96 allow spec.egress[1]',
    'out 0 sctp:9/96 allow spec.egress[2]',
    'out 2 udp allow spec.egress[0]',
    'out 4 sctp:9/96 allow spec.egress[2]',
    'in 1 any allow spec.ingress[0]',
    'in 1 tcp:443/96 allow spec.ingress[1]',
    'in 3 any allow spec.ingress[0]',
    'in 4 any allow spec.ingress[0]',
    'in 5 any allow spec.ingress[0]',
    'in 6 any allow spec.ingress[0]',
    'in 6 tcp:443/96 allow spec.ingress[1]',
    'in 7 any allow spec.ingress[0]',
    'in 7 tcp:443/96 allow spec.ingress[1]',
    'in 256 any allow spec.ingress[0]',
    'in 257 any allow spec.ingress[0]',
    'in 258 any allow spec.ingress[0]',
  ]);
});

test('ports: protocol only, port, range, ANY', () => {
  const r = resolve([
    policy('CiliumNetworkPolicy', 'prod', 'p', part(podSel('prod', { app: 'db' }), { ingress: true }, [
      rule('ingress', [pods('prod', { app: 'web' })], [{ protocol: 'TCP', port: 80, endPort: 90 }, { protocol: 'UDP' }]),
      rule('ingress', [pods('dev')], [{ protocol: 'ANY', port: 5432 }]),
      rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 32000, endPort: 32768 }, { protocol: 'SCTP', port: 7, endPort: 7 }]),
    ])),
  ]);
  assert.deepEqual(show(r, db1), [
    'in 256 tcp:80/93 allow spec.ingress[0]',
    'in 256 tcp:88/95 allow spec.ingress[0]',
    'in 256 tcp:90/96 allow spec.ingress[0]',
    'in 256 udp allow spec.ingress[0]',
    'in 258 tcp:5432/96 allow spec.ingress[1]',
    'in 258 tcp:32000/88 allow spec.ingress[2]',
    'in 258 tcp:32256/87 allow spec.ingress[2]',
    'in 258 tcp:32768/96 allow spec.ingress[2]',
    'in 258 udp:5432/96 allow spec.ingress[1]',
    'in 258 sctp:7/96 allow spec.ingress[2]',
    'in 258 sctp:5432/96 allow spec.ingress[1]',
  ]);
  // keys encode with the codec (dport in network order)
  for (const e of r.endpoints.get(db1.lxcId)!.entries) assert.deepEqual(policyKey.decode(policyKey.encode(e.key)), e.key);
});

test('named ports, ingress: resolved against each endpoint\'s own Pod', () => {
  const r = resolve([
    policy('NetworkPolicy', 'prod', 'named', part(podSel('prod'), { ingress: true }, [
      rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 'http' }, { protocol: 'UDP', port: 'http' }, { protocol: 'ANY', port: 'dns' }]),
    ])),
  ]);
  assert.deepEqual(show(r, web1), ['in 258 tcp:8080/96 allow spec.ingress[0]', 'in 258 udp:53/96 allow spec.ingress[0]']);
  assert.deepEqual(show(r, web2), ['in 258 tcp:9090/96 allow spec.ingress[0]']);
  assert.deepEqual(show(r, db1), []);
  assert.equal(r.endpoints.get(db1.lxcId)!.ingressEnforced, true);
});

test('named ports, egress: per peer identity, the union over its pods; none for entity and CIDR peers', () => {
  const peerPorts = new Map([
    [WEB, [web1.ports, web2.ports]],
    [DB, [[{ name: 'pg', containerPort: 5432, protocol: 'TCP' as const }]]],
  ]);
  const r = resolve(
    [
      policy('CiliumNetworkPolicy', 'dev', 'to-http', part(podSel('dev'), { egress: true }, [
        rule('egress', [pods('prod'), entity('world'), cidr('10.0.0.0/8')], [{ protocol: 'TCP', port: 'http' }]),
        rule('egress', 'all', [{ protocol: 'TCP', port: 'pg' }]),
      ])),
    ],
    { peerPorts },
  );
  assert.deepEqual(show(r, client1), [
    'out 256 tcp:8080/96 allow spec.egress[0]',
    'out 256 tcp:9090/96 allow spec.egress[0]',
    'out 257 tcp:5432/96 allow spec.egress[1]',
  ]);
});

test('deny precedence: an allow covered by a deny of the same identity is left out', () => {
  const r = resolve([
    policy('CiliumNetworkPolicy', 'prod', 'mix', part(podSel('prod', { app: 'db' }), { ingress: true }, [
      rule('ingress', [pods('prod', { app: 'web' })], [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 100, endPort: 200 }, { protocol: 'UDP', port: 53 }]),
      rule('ingress', [pods('dev')]),
      rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 5432 }]),
      rule('ingress', [pods('prod', { app: 'web' })], [{ protocol: 'TCP', port: 64, endPort: 127 }], { deny: true }),
      rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 5432 }], { deny: true }),
      rule('ingress', 'all', [{ protocol: 'UDP' }], { deny: true }),
    ])),
  ]);
  assert.deepEqual(show(r, db1), [
    'in 0 udp deny spec.ingressDeny[2]',
    // the UDP 53 allow of web stays: it is another identity, and the datapath checks ANY too
    'in 256 tcp:64/90 deny spec.ingressDeny[0]',
    'in 256 tcp:128/90 allow spec.ingress[0]', // 128..191 of 100..200: not covered
    'in 256 tcp:192/93 allow spec.ingress[0]',
    'in 256 tcp:200/96 allow spec.ingress[0]',
    'in 256 udp:53/96 allow spec.ingress[0]',
    // a broader allow stays beside a narrower deny (the LPM finds the deny)
    'in 258 any allow spec.ingress[1]',
    'in 258 tcp:5432/96 deny spec.ingressDeny[1]',
  ]);
});

test('the same key from several rules: deny over allow, else the lowest rule id', () => {
  const ruleIds = new RuleIds();
  ruleIds.acquire('CiliumNetworkPolicy prod/b spec.ingress[0]'); // b's rule gets the lower id
  const r = resolve(
    [
      policy('CiliumNetworkPolicy', 'prod', 'a', part(podSel('prod', { app: 'db' }), { ingress: true }, [rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 1 }])])),
      policy('CiliumNetworkPolicy', 'prod', 'b', part(podSel('prod', { app: 'db' }), { ingress: true }, [rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 1 }])])),
      policy('CiliumNetworkPolicy', 'prod', 'c', part(podSel('prod', { app: 'db' }), { egress: true }, [
        rule('egress', [pods('dev')], [{ protocol: 'TCP', port: 2 }]),
        rule('egress', [pods('dev')], [{ protocol: 'TCP', port: 2 }], { deny: true }),
      ])),
    ],
    { ruleIds },
  );
  const rows = r.endpoints.get(db1.lxcId)!.entries.map((e) => `${r.rules.get(e.entry.rule_id)!.name} ${e.entry.flags}`);
  assert.deepEqual(rows, ['CiliumNetworkPolicy prod/c spec.egressDeny[0] 1', 'CiliumNetworkPolicy prod/b spec.ingress[0] 0']);
});

test('CIDR peers select the CIDR identities inside and not excepted', () => {
  const policies = [
    policy('NetworkPolicy', 'prod', 'ipblock', part(podSel('prod', { app: 'web' }), { egress: true }, [
      rule('egress', [cidr('10.0.0.0/8', '10.216.0.0/16')], [{ protocol: 'TCP', port: 443 }]),
      rule('egress', [cidr('10.216.0.0/24')]),
    ])),
  ];
  const cidrs = new CidrIdentities();
  const ids = cidrs.sync(policyPrefixes(policies));
  assert.deepEqual(ids.map((i) => i.cidr), ['10.0.0.0/8', '10.216.0.0/16', '10.216.0.0/24']);
  const r = resolvePolicies({ policies, identities: [...identities, ...ids], endpoints: [web1], peerPorts: new Map(), ruleIds: new RuleIds() });
  assert.deepEqual(show(r, web1), ['out cidr+0 tcp:443/96 allow spec.egress[0]', 'out cidr+2 any allow spec.egress[1]']);
});

test('rule table: every rule of every policy, selecting or not', () => {
  const r = resolve([
    policy('CiliumClusterwideNetworkPolicy', undefined, 'cw', part(podSel(undefined, { app: 'nobody' }), { ingress: true }, [rule('ingress', 'all', [], { deny: true })], 'specs[1]')),
    policy('NetworkPolicy', 'prod', 'np', part(podSel('prod'), { ingress: true, egress: true }, [rule('ingress', 'all'), rule('egress', [])])),
  ]);
  assert.deepEqual([...r.rules.values()], [
    { id: 1, name: 'CiliumClusterwideNetworkPolicy cw specs[1].ingressDeny[0]', kind: 'CiliumClusterwideNetworkPolicy', policy: 'cw', path: 'specs[1].ingressDeny[0]', direction: 'ingress', deny: true },
    { id: 2, name: 'NetworkPolicy prod/np spec.ingress[0]', kind: 'NetworkPolicy', namespace: 'prod', policy: 'np', path: 'spec.ingress[0]', direction: 'ingress', deny: false },
    { id: 3, name: 'NetworkPolicy prod/np spec.egress[0]', kind: 'NetworkPolicy', namespace: 'prod', policy: 'np', path: 'spec.egress[0]', direction: 'egress', deny: false },
  ]);
  assert.deepEqual(show(r, web1), ['in 0 any allow spec.ingress[0]']);
  assert.equal(r.endpoints.get(web1.lxcId)!.egressEnforced, true);
});

test('rule ids are stable across resolves', () => {
  const ruleIds = new RuleIds();
  const p1 = policy('NetworkPolicy', 'prod', 'a', part(podSel('prod'), { ingress: true }, [rule('ingress', 'all')]));
  const p2 = policy('NetworkPolicy', 'prod', 'b', part(podSel('prod'), { ingress: true }, [rule('ingress', [pods('dev')])]));
  const first = resolve([p1, p2], { ruleIds });
  ruleIds.sweep();
  const second = resolve([p2], { ruleIds });
  ruleIds.sweep();
  const idOf = (r: Resolution, n: string) => [...r.rules.values()].find((x) => x.policy === n)!.id;
  assert.equal(idOf(first, 'b'), idOf(second, 'b'));
  assert.equal(ruleIds.get('NetworkPolicy prod/a spec.ingress[0]'), undefined);
});

test('policy key helpers', () => {
  const k = { prefixlen: 93, lxc_id: 3, dir: 2, identity: 256, proto: 6, dport: 87 };
  assert.equal(policyKeyString(k), '3/2/256/6/80/93');
  assert.equal(policyKeyString({ ...k, prefixlen: 64 }), '3/2/256/0/0/64');
  assert.ok(comparePolicyKeys(k, { ...k, dir: 1 }) > 0);
});

test('scale: 1 000 policies over 1 000 endpoints', () => {
  // 1 000 pods (one identity each) in 20 namespaces, 5 teams; kube-dns; each
  // policy selects one app (every 50th a whole namespace) with allows from
  // neighbours, the namespace's front tier, the team's pods in the namespace,
  // a CIDR and world, DNS, and a deny.
  const ids = [...reserved, endpointIdentity(900, 'kube-system', { 'k8s-app': 'kube-dns' })];
  const eps: LocalEndpoint[] = [];
  const NS = 20;
  for (let i = 0; i < 1000; i++) {
    const ns = `ns-${i % NS}`;
    ids.push(endpointIdentity(1000 + i, ns, { app: `app-${i}`, tier: i % 3 === 0 ? 'front' : 'back', team: `t-${i % 5}` }, { team: `t-${i % 5}` }));
    eps.push(endpoint(1 + i, 1000 + i, ns, `pod-${i}`, `10.216.${i >> 8}.${i & 255}`, [{ name: 'http', containerPort: 8000 + (i % 7), protocol: 'TCP' }]));
  }
  const policies: PolicySpec[] = [];
  for (let i = 0; i < 1000; i++) {
    const ns = `ns-${i % NS}`;
    const subject = i % 50 === 0 ? podSel(ns) : podSel(ns, { app: `app-${i}` });
    policies.push(
      policy('CiliumNetworkPolicy', ns, `p-${i}`, part(subject, { ingress: true, egress: true }, [
        rule('ingress', [pods(ns, { app: `app-${(i + 1) % 1000}` }), pods(ns, { tier: 'front' })], [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 'http' }]),
        rule('ingress', [{ type: 'endpoints', selector: { requirements: [{ key: 'k8s:io.cilium.k8s.namespace.labels.team', operator: 'In', values: [`t-${i % 5}`] }, { key: 'k8s:io.kubernetes.pod.namespace', operator: 'In', values: [ns] }] } }], [{ protocol: 'TCP', port: 9000, endPort: 9007 }]),
        rule('egress', [cidr(`172.${16 + (i % 16)}.${i % 256}.0/24`), entity('world')], [{ protocol: 'TCP', port: 443 }]),
        rule('egress', [pods('kube-system', { 'k8s-app': 'kube-dns' })], [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]),
        rule('ingress', [pods(ns, { app: `app-${(i + 2) % 1000}` })], [{ protocol: 'TCP', port: 22 }], { deny: true }),
      ])),
    );
  }
  const t0 = performance.now();
  const cidrs = new CidrIdentities().sync(policyPrefixes(policies));
  const r = resolvePolicies({ policies, identities: [...ids, ...cidrs], endpoints: eps, peerPorts: new Map(), ruleIds: new RuleIds() });
  const ms = performance.now() - t0;
  let entries = 0;
  for (const e of r.endpoints.values()) entries += e.entries.length;
  console.log(`scale: ${policies.length} policies, ${eps.length} endpoints, ${ids.length + cidrs.length} identities → ${entries} entries, ${r.rules.size} rules in ${ms.toFixed(0)} ms`);
  assert.equal(r.endpoints.size, 1000);
  assert.ok([...r.endpoints.values()].every((e) => e.ingressEnforced && e.egressEnforced));
});
