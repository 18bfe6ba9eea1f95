import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CidrIdentities, policyPrefixes } from './cidr.ts';
import { desiredIpcache, lookupIpcache } from './ipcache.ts';
import { resolvePolicies } from './resolve.ts';
import { RuleIds } from './rule-ids.ts';
import { cidr, endpoint, endpointIdentity, entity, part, podSel, pods, policy, reserved, rule } from './testing.ts';
import { tracePolicy, type TracePeer } from './trace.ts';

const WEB = 256;
const CLIENT = 258;
const web1 = endpoint(11, WEB, 'prod', 'web-1', '10.216.0.11', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
const client1 = endpoint(14, CLIENT, 'dev', 'client-1', '10.216.0.14');
const policies = [
  policy('NetworkPolicy', 'prod', 'allow-dev', part(podSel('prod'), { ingress: true }, [rule('ingress', [pods('dev')], [{ protocol: 'TCP', port: 'http' }, { protocol: 'TCP', port: 80 }])])),
  policy('CiliumNetworkPolicy', 'prod', 'egress', part(podSel('prod', { app: 'web' }), { egress: true }, [
    rule('egress', [cidr('198.18.17.0/24', '198.18.17.128/25')], [{ protocol: 'TCP', port: 443 }]),
    rule('egress', [pods('dev')]),
    rule('egress', [entity('world')], [{ protocol: 'TCP', port: 25 }], { deny: true }),
  ])),
];
const cidrs = new CidrIdentities().sync(policyPrefixes(policies));
const resolution = resolvePolicies({
  policies,
  identities: [...reserved, endpointIdentity(WEB, 'prod', { app: 'web' }), endpointIdentity(CLIENT, 'dev', { app: 'client' }), ...cidrs],
  endpoints: [web1, client1],
  peerPorts: new Map(),
  ruleIds: new RuleIds(),
});
const ipcache = desiredIpcache({ endpoints: [web1, client1], hostAddresses: ['10.216.0.1'], remoteNodes: [], cidrIdentities: cidrs });
const local = (ep: typeof web1, audit = false): TracePeer => ({ ip: ep.ip, identity: ep.identity, cidrIdentity: lookupIpcache(ipcache, ep.ip).cidr_identity, lxcId: ep.lxcId, audit });
const addr = (ip: string): TracePeer => {
  const e = lookupIpcache(ipcache, ip);
  return { ip, identity: e.identity, cidrIdentity: e.cidr_identity };
};

test('pod to pod: egress not enforced, ingress allowed by a named-port rule', () => {
  const r = tracePolicy({ resolution, src: local(client1), dst: local(web1), protocol: 'TCP', dport: 8080 });
  assert.equal(r.verdict, 'allowed');
  assert.equal(r.egress!.judgement.enforced, false);
  assert.equal(r.ingress!.rule!.name, 'NetworkPolicy prod/allow-dev spec.ingress[0]');
  assert.deepEqual(r.explanation, [
    'egress of dev/client-1 to prod/web-1 (identity 256) TCP/8080: allowed — no policy enforces egress on dev/client-1',
    'ingress of prod/web-1 from dev/client-1 (identity 258) TCP/8080: allowed by NetworkPolicy prod/allow-dev spec.ingress[0] (L3-L4, via identity 258)',
    'verdict: ALLOWED',
  ]);
  // survives JSON
  assert.equal(JSON.parse(JSON.stringify(r)).ingress.judgement.ruleId, r.ingress!.judgement.ruleId);
});

test('default deny names the enforcing policies; audit lets it pass', () => {
  const r = tracePolicy({ resolution, src: local(client1), dst: local(web1), protocol: 'TCP', dport: 81, identityName: (id) => (id === CLIENT ? 'k8s:app=client' : String(id)) });
  assert.equal(r.verdict, 'denied');
  assert.equal(r.ingress!.judgement.ruleId, 0);
  assert.equal(
    r.ingress!.explanation,
    'ingress of prod/web-1 from dev/client-1 (k8s:app=client) TCP/81: no rule allows it: default deny since NetworkPolicy prod/allow-dev selects prod/web-1 for ingress',
  );
  const a = tracePolicy({ resolution, src: local(client1), dst: local(web1, true), protocol: 'TCP', dport: 81 });
  assert.equal(a.verdict, 'audit');
  assert.match(a.ingress!.explanation, /audit mode: the packet passes$/);
  assert.equal(tracePolicy({ resolution, src: local(client1), dst: local(web1), protocol: 6, dport: 81, nodeAudit: true }).verdict, 'audit');
});

test('egress to world through CIDR identities, deny rules', () => {
  const ok = tracePolicy({ resolution, src: local(web1), dst: addr('198.18.17.5'), protocol: 'TCP', dport: 443 });
  assert.equal(ok.verdict, 'allowed');
  assert.equal(ok.egress!.judgement.via, 'cidr');
  assert.equal(ok.ingress, undefined);
  const excepted = tracePolicy({ resolution, src: local(web1), dst: addr('198.18.17.200'), protocol: 'TCP', dport: 443 });
  assert.equal(excepted.verdict, 'denied');
  assert.match(excepted.egress!.explanation, /default deny since CiliumNetworkPolicy prod\/egress selects prod\/web-1 for egress$/);
  const smtp = tracePolicy({ resolution, src: local(web1), dst: addr('8.8.8.8'), protocol: 'TCP', dport: 25 });
  assert.equal(smtp.verdict, 'denied');
  assert.equal(smtp.egress!.rule!.name, 'CiliumNetworkPolicy prod/egress spec.egressDeny[0]');
  assert.match(smtp.egress!.explanation, /denied by CiliumNetworkPolicy prod\/egress spec\.egressDeny\[0\] \(deny rule, L3-L4, via reserved:world\)/);
  // both sides local and both enforce: web-1 → client-1 passes egress; client has no ingress policy
  const both = tracePolicy({ resolution, src: local(web1), dst: local(client1), protocol: 'UDP', dport: 53 });
  assert.equal(both.verdict, 'allowed');
  assert.equal(both.egress!.judgement.matchName, 'L3-Only');
});

test('host traffic is judged only with host policy; neither side local', () => {
  const host: TracePeer = { ...addr('10.216.0.1'), name: 'node' };
  const r = tracePolicy({ resolution, src: host, dst: local(web1), protocol: 'TCP', dport: 81 });
  assert.equal(r.verdict, 'allowed');
  assert.match(r.ingress!.skipped!, /host policy is off/);
  const hp = tracePolicy({ resolution, src: host, dst: local(web1), protocol: 'TCP', dport: 81, hostPolicy: true });
  assert.equal(hp.verdict, 'denied');
  const none = tracePolicy({ resolution, src: addr('1.1.1.1'), dst: addr('8.8.8.8'), protocol: 'TCP', dport: 1 });
  assert.equal(none.verdict, 'allowed');
  assert.deepEqual(none.explanation, ['neither 1.1.1.1 nor 8.8.8.8 is an endpoint of this node: no policy of this node judges it', 'verdict: ALLOWED']);
  assert.throws(() => tracePolicy({ resolution, src: { ...addr('1.1.1.1'), lxcId: 99 }, dst: local(web1), protocol: 'TCP', dport: 1 }), { code: 'NOT_FOUND' });
});
