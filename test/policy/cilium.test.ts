// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy features, audit mode,
// policy-verdict events and refused input, on the NetworkPolicy conformance
// model (model.ts) plus the node (`host`) and the outside (`world`, the
// topology's world netns). Expected matrices are written by hand from
// Cilium's documented semantics:
//  - a namespaced policy's fromEndpoints/toEndpoints select only endpoints of
//    its own namespace unless the selector names io.kubernetes.pod.namespace;
//    a clusterwide policy is not confined;
//  - any rule (allow or deny) in a direction puts the subject into default
//    deny for that direction; deny rules win over every allow, across kinds;
//  - entities: world (outside the cluster), host (this node), cluster
//    (every endpoint and the node), all;
//  - traffic from the node to its pods is allowed whatever the policy
//    (Cilium's allow-localhost default), unless the agent runs with
//    --allow-localhost policy.
// The world dials pods by pod IP, the pods and the node through ClusterIPs.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { EndpointJSON, PolicyJSON } from '../../src/agent/api-types.ts';
import type { DecodedEvent } from '../../src/observe/events.ts';
import { sleep } from '../../src/sandbox/topology.ts';
import { everyPort, HOST, NetpolModel, reach, reachEveryone, WORLD } from './model.ts';

let m: NetpolModel;

before(async () => {
  m = await NetpolModel.create({ edges: true });
});

afterEach(async () => {
  await m?.reset();
});

after(async () => {
  await m?.destroy();
});

function indent(text: string, by: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `${by}${l}`)
    .join('\n');
}

function cnp(ns: string, name: string, spec: string): string {
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}, namespace: ${JSON.stringify(ns)}}
spec:
${indent(spec, '  ')}
`;
}

function ccnp(name: string, spec: string): string {
  return `apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: ${name}}
spec:
${indent(spec, '  ')}
`;
}

function netpol(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: ${JSON.stringify(ns)}}
spec:
${indent(spec, '  ')}
`;
}

type Event = DecodedEvent & { rule?: string };

async function endpoint(id: string): Promise<EndpointJSON> {
  return m.t.client.get<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(id)}`);
}

/** The endpoint's security identity, as its realized policy states it. */
async function identityOf(id: string): Promise<number> {
  const ep = await endpoint(id);
  const identity = ep.policy?.identity ?? ep.identity;
  assert.ok(identity !== undefined && identity >= 256, `${id} has a label-set identity: ${JSON.stringify(ep.policy ?? ep.identity)}`);
  return identity;
}

/** Policy-verdict events for a tuple, waiting a moment for the ring buffer reader. */
async function verdicts(match: (e: Event) => boolean, want = 1): Promise<Event[]> {
  let found: Event[] = [];
  for (let i = 0; i < 30; i++) {
    found = ((await m.events(4096)) as Event[]).filter((e) => e.type === 'policy-verdict' && match(e));
    if (found.length >= want) return found;
    await sleep(100);
  }
  return found;
}

describe('CiliumNetworkPolicy: endpoints and namespaces', () => {
  test('fromEndpoints is confined to the policy\'s namespace', async () => {
    await m.policy(cnp('x', 'a-from-b', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEndpoints:\n  - matchLabels: {pod: b}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true)));
  });

  test('fromEndpoints naming io.kubernetes.pod.namespace selects in that namespace; namespace labels through io.cilium.k8s.namespace.labels', async () => {
    await m.policy(
      cnp(
        'x',
        'a-from-y-b-and-ns-z',
        'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "y", pod: b}\n  - matchLabels: {"k8s:io.cilium.k8s.namespace.labels.ns": "z", "k8s:io.kubernetes.pod.namespace": "z", pod: c}',
      ),
    );
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/c', 'x/a', true)));
  });

  test('fromEndpoints [{}] is every endpoint of the namespace', async () => {
    await m.policy(cnp('y', 'y-from-y', 'endpointSelector: {}\ningress:\n- fromEndpoints:\n  - {}'));
    await m.check(everyPort(reach().expectPeer({}, { ns: 'y' }, false).expectPeer({ ns: 'y' }, { ns: 'y' }, true)));
  });

  test('toEndpoints on egress with matchExpressions', async () => {
    await m.policy(
      cnp(
        'z',
        'z-b-to-not-c',
        'endpointSelector: {matchLabels: {pod: b}}\negress:\n- toEndpoints:\n  - matchExpressions:\n    - {key: pod, operator: NotIn, values: [c]}\n    - {key: io.kubernetes.pod.namespace, operator: Exists}',
      ),
    );
    // Namespace named → not confined: z/b reaches every a and b, no c.
    await m.check(everyPort(reach().expectPeer({ ns: 'z', pod: 'b' }, { pod: 'c' }, false)));
  });

  test('a clusterwide policy is not confined to a namespace', async () => {
    await m.policy(ccnp('c-from-a', 'endpointSelector: {matchLabels: {pod: c}}\ningress:\n- fromEndpoints:\n  - matchLabels: {pod: a}'));
    const r = reach();
    for (const ns of ['x', 'y', 'z']) r.expectAllIngress(`${ns}/c`, false).expectPeer({ pod: 'a' }, { ns, pod: 'c' }, true);
    await m.check(everyPort(r));
  });

  test('an empty rule puts the direction into default deny and allows nothing', async () => {
    await m.policy(cnp('x', 'deny-all-egress', 'endpointSelector: {matchLabels: {pod: c}}\negress:\n- {}'));
    await m.check(everyPort(reach().expectAllEgress('x/c', false)));
  });
});

describe('CiliumNetworkPolicy: specs, default deny switches, entities with ports', () => {
  test('specs: two rules with their own subjects in one policy', async () => {
    await m.policy(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: two, namespace: "y"}
specs:
- endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: b}}]
- endpointSelector: {matchLabels: {pod: c}}
  egress:
  - toEndpoints: [{}]
`);
    await m.check(everyPort(reach().expectAllIngress('y/a', false).expect('y/b', 'y/a', true).expectAllEgress('y/c', false).expectPeer({ ns: 'y', pod: 'c' }, { ns: 'y' }, true).expect('y/c', 'y/a', false)));
  });

  test('enableDefaultDeny false: a deny-only policy denies what it names and nothing else (ingress and egress)', async () => {
    await m.policy(
      cnp(
        'x',
        'deny-z-in-y-out',
        'endpointSelector: {}\nenableDefaultDeny: {ingress: false, egress: false}\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: z}\negressDeny:\n- toEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "y"}',
      ),
    );
    await m.check(everyPort(reach().expectPeer({ ns: 'z' }, { ns: 'x' }, false).expectPeer({ ns: 'x' }, { ns: 'y' }, false)));
  });

  test('toPorts without a protocol means any protocol (unlike NetworkPolicy, where it means TCP)', async () => {
    await m.policy(cnp('y', 'port-80', 'endpointSelector: {matchLabels: {pod: c}}\ningress:\n- toPorts:\n  - ports: [{port: "80"}]'));
    const denied = reach().expectAllIngress('y/c', false);
    await m.check({ 'tcp/80': reach(), 'udp/80': reach(), 'tcp/81': denied, 'udp/81': denied });
  });

  test('a narrower CIDR in another policy does not take an address out of a broader CIDR rule', async () => {
    // x/a may reach the whole pod CIDR; y/a's policy names x/b's /32 (a deny), which gives x/b's
    // address a CIDR identity of its own: x/a's /16 rule must still cover it.
    await m.policy(
      netpol('x', 'to-pod-cidr', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: 10.217.0.0/16}'),
      cnp('y', 'not-to-x-b', `endpointSelector: {matchLabels: {pod: a}}\negress:\n- toEntities: [all]\negressDeny:\n- toCIDR: [${m.pod('x/b').ip}/32]`),
    );
    await m.check(everyPort(reach().expect('y/a', 'x/b', false)));
  });

  test('fromEntities cluster with toPorts: every pod on that port only; never the world', async () => {
    await m.policy(cnp('x', 'cluster-81', 'endpointSelector: {matchLabels: {pod: b}}\ningress:\n- fromEntities: [cluster]\n  toPorts:\n  - ports: [{port: "81", protocol: TCP}]'));
    await m.check({
      'tcp/81': reachEveryone().expect(WORLD, 'x/b', false),
      'tcp/80': reachEveryone().expectAllIngress('x/b', false).expect(HOST, 'x/b', true),
    });
  });
});

describe('CiliumNetworkPolicy: deny rules', () => {
  test('ingressDeny wins over an allow in the same policy', async () => {
    await m.policy(cnp('x', 'all-but-b', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [cluster]\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {pod: b}'));
    await m.check(everyPort(reach().expect('x/b', 'x/a', false)));
  });

  test('a deny wins over an allow of another kind (NetworkPolicy allows all, CiliumNetworkPolicy denies namespace y)', async () => {
    await m.policy(
      netpol('x', 'allow-all', 'podSelector: {}\ningress:\n- {}'),
      cnp('x', 'deny-y', 'endpointSelector: {}\ningress:\n- fromEntities: [all]\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "y"}'),
    );
    await m.check(everyPort(reach().expectPeer({ ns: 'y' }, { ns: 'x' }, false)));
  });

  test('a policy with only a deny rule still puts its subject into default deny', async () => {
    await m.policy(cnp('x', 'deny-only', 'endpointSelector: {matchLabels: {pod: a}}\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {pod: b}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
  });

  test('ingressDeny on one port leaves the other ports to the allows', async () => {
    await m.policy(
      cnp('x', 'deny-80', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [all]\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "z"}\n  toPorts:\n  - ports: [{port: "80", protocol: TCP}]'),
    );
    await m.check({ 'tcp/80': reach().expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false), 'tcp/81': reach(), 'udp/80': reach() });
  });

  test('egressDeny wins over toEntities all', async () => {
    await m.policy(cnp('x', 'c-not-to-z', 'endpointSelector: {matchLabels: {pod: c}}\negress:\n- toEntities: [all]\negressDeny:\n- toEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "z"}'));
    await m.check(everyPort(reach().expectPeer({ ns: 'x', pod: 'c' }, { ns: 'z' }, false)));
  });
});

describe('CiliumNetworkPolicy: toPorts', () => {
  test('toPorts with a peer: that peer on that port and protocol only', async () => {
    await m.policy(cnp('x', 'udp-81-from-x', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEndpoints:\n  - {}\n  toPorts:\n  - ports: [{port: "81", protocol: UDP}]'));
    const denied = reach().expectAllIngress('x/a', false);
    await m.check({ 'udp/81': reach().expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false), 'udp/80': denied, 'tcp/81': denied, 'tcp/80': denied });
  });

  test('toPorts alone allows the port from anyone; protocol ANY covers TCP and UDP', async () => {
    await m.policy(cnp('y', 'any-80', 'endpointSelector: {matchLabels: {pod: b}}\ningress:\n- toPorts:\n  - ports: [{port: "80", protocol: ANY}]'));
    const denied = reach().expectAllIngress('y/b', false);
    await m.check({ 'tcp/80': reach(), 'udp/80': reach(), 'tcp/81': denied, 'udp/81': denied });
  });

  test('toPorts with a named port and with a range', async () => {
    await m.policy(
      cnp('z', 'named', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- toPorts:\n  - ports: [{port: serve-81-udp, protocol: UDP}]'),
      cnp('z', 'range', 'endpointSelector: {matchLabels: {pod: c}}\ningress:\n- toPorts:\n  - ports: [{port: "1", endPort: 80, protocol: TCP}]'),
    );
    const r = (combo: string) => {
      const e = reach();
      if (combo !== 'udp/81') e.expectAllIngress('z/a', false);
      if (combo !== 'tcp/80') e.expectAllIngress('z/c', false);
      return e;
    };
    await m.check({ 'tcp/80': r('tcp/80'), 'tcp/81': r('tcp/81'), 'udp/80': r('udp/80'), 'udp/81': r('udp/81') });
  });

  test('egress toPorts: port "0" is every port of the protocol', async () => {
    await m.policy(cnp('y', 'egress-udp', 'endpointSelector: {matchLabels: {pod: c}}\negress:\n- toEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "x"}\n  toPorts:\n  - ports: [{port: "0", protocol: UDP}]'));
    const tcp = reach().expectAllEgress('y/c', false);
    const udp = reach().expectAllEgress('y/c', false).expectPeer({ ns: 'y', pod: 'c' }, { ns: 'x' }, true);
    await m.check({ 'tcp/80': tcp, 'tcp/81': tcp, 'udp/80': udp, 'udp/81': udp });
  });
});

describe('CiliumNetworkPolicy: entities', () => {
  test('with no policy the node, the world and every pod reach each other', async () => {
    await m.check(everyPort(reachEveryone()), { deadlineMs: 15_000 });
  });

  test('fromEntities world: the outside reaches x/a, pods do not; the node always does', async () => {
    await m.policy(cnp('x', 'from-world', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [world]'));
    await m.check(everyPort(reachEveryone().expectAllIngress('x/a', false).expect(WORLD, 'x/a', true).expect(HOST, 'x/a', true)));
  });

  test('fromEntities cluster: every pod and the node, not the world', async () => {
    await m.policy(cnp('x', 'from-cluster', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [cluster]'));
    await m.check(everyPort(reachEveryone().expect(WORLD, 'x/a', false)));
  });

  test('toEntities world: the outside only', async () => {
    await m.policy(cnp('x', 'to-world', 'endpointSelector: {matchLabels: {pod: a}}\negress:\n- toEntities: [world]'));
    await m.check(everyPort(reachEveryone().expectAllEgress('x/a', false).expect('x/a', WORLD, true)));
  });

  test('toEntities host: the node only', async () => {
    await m.policy(cnp('x', 'to-host', 'endpointSelector: {matchLabels: {pod: a}}\negress:\n- toEntities: [host]'));
    await m.check(everyPort(reachEveryone().expectAllEgress('x/a', false).expect('x/a', HOST, true)));
  });

  test('toEntities cluster: pods and the node, not the world', async () => {
    await m.policy(cnp('x', 'to-cluster', 'endpointSelector: {matchLabels: {pod: a}}\negress:\n- toEntities: [cluster]'));
    await m.check(everyPort(reachEveryone().expect('x/a', WORLD, false)));
  });

  test('toEntities all and fromEntities all: everything', async () => {
    await m.policy(cnp('x', 'all', 'endpointSelector: {matchLabels: {pod: a}}\negress:\n- toEntities: [all]\ningress:\n- fromEntities: [all]'));
    await m.check(everyPort(reachEveryone()));
  });

  test('egress to a CIDR: toCIDRSet with an except', async () => {
    await m.policy(cnp('y', 'to-uplink', `endpointSelector: {matchLabels: {pod: a}}\negress:\n- toCIDRSet:\n  - {cidr: 198.18.17.0/24, except: [${m.t.nodeIp}/32]}`));
    await m.check(everyPort(reachEveryone().expectAllEgress('y/a', false).expect('y/a', WORLD, true)));
  });
});

describe('CIDR rules on the model with the node and the world', () => {
  test('fromCIDR and fromCIDRSet with an except: the world by its address', async () => {
    await m.policy(cnp('x', 'from-uplink', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromCIDR: [198.18.17.0/24]'));
    await m.check(everyPort(reachEveryone().expectAllIngress('x/a', false).expect(WORLD, 'x/a', true).expect(HOST, 'x/a', true)));
    await m.reset();
    await m.policy(cnp('x', 'from-uplink-but-world', `endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromCIDRSet:\n  - {cidr: 198.18.17.0/24, except: [${m.t.worldIp}/32]}`));
    await m.check(everyPort(reachEveryone().expectAllIngress('x/a', false).expect(HOST, 'x/a', true)));
  });

  test('NetworkPolicy ipBlock 0.0.0.0/0 except the pod CIDR: the world and the node, no pod', async () => {
    await m.policy(netpol('z', 'outside-only', 'podSelector: {matchLabels: {pod: b}}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: 0.0.0.0/0, except: [10.217.0.0/16]}'));
    await m.check(everyPort(reachEveryone().expectAllEgress('z/b', false).expect('z/b', WORLD, true).expect('z/b', HOST, true)));
  });
});

describe('audit mode and verdict events', () => {
  test('policy-verdict events for an allowed and a denied connection name the endpoint, direction, identities, port and rule', async () => {
    await m.policy(netpol('x', 'a-from-b', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b}}\n  ports:\n  - {port: 80, protocol: TCP}'));
    await m.check({ 'tcp/80': reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true) });
    const xa = await endpoint('x/a');
    const [idA, idB, idY] = [await identityOf('x/a'), await identityOf('x/b'), await identityOf('y/a')];
    assert.notEqual(idA, idB);
    const allowed = await verdicts((e) => e.source === xa.id && e.saddr === m.pod('x/b').ip && e.daddr === xa.ipv4 && e.dport === 80 && e.verdict === 'ALLOWED');
    assert.ok(allowed.length > 0, 'an ALLOWED verdict for x/b → x/a:80');
    const a = allowed.at(-1)!;
    assert.equal(a.direction, 'ingress');
    assert.equal(a.proto, 'TCP');
    assert.equal(a.srcIdentity, idB);
    assert.equal(a.dstIdentity, idA);
    assert.ok(a.ruleId && a.ruleId > 0, `a rule id: ${JSON.stringify(a)}`);
    assert.equal(a.rule, 'NetworkPolicy x/a-from-b spec.ingress[0]');
    assert.equal(a.reason, 'L3-L4');
    const denied = await verdicts((e) => e.source === xa.id && e.saddr === m.pod('y/a').ip && e.dport === 80 && e.verdict === 'DENIED');
    assert.ok(denied.length > 0, 'a DENIED verdict for y/a → x/a:80');
    const d = denied.at(-1)!;
    assert.equal(d.direction, 'ingress');
    assert.equal(d.srcIdentity, idY);
    assert.equal(d.dstIdentity, idA);
    assert.equal(d.ruleId, 0, 'denied by default: no rule');
    assert.equal(d.reason, 'none');
    const drops = ((await m.events(4096)) as Event[]).filter((e) => e.type === 'drop' && e.saddr === m.pod('y/a').ip && e.daddr === xa.ipv4);
    assert.ok(drops.some((e) => e.reason === 'POLICY_DENIED'), `a drop event POLICY_DENIED: ${JSON.stringify(drops.slice(-3))}`);
  });

  test('a deny rule\'s verdict names the rule; its drop reason is POLICY_DENY', async () => {
    await m.policy(cnp('z', 'deny-x', 'endpointSelector: {matchLabels: {pod: b}}\ningress:\n- fromEntities: [all]\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "x"}'));
    await m.check({ 'udp/81': reach().expectPeer({ ns: 'x' }, { ns: 'z', pod: 'b' }, false) });
    const zb = await endpoint('z/b');
    const denied = await verdicts((e) => e.source === zb.id && e.saddr === m.pod('x/c').ip && e.verdict === 'DENIED' && e.proto === 'UDP');
    assert.ok(denied.length > 0, 'a DENIED verdict for x/c → z/b');
    assert.equal(denied.at(-1)!.rule, 'CiliumNetworkPolicy z/deny-x spec.ingressDeny[0]');
    assert.ok(denied.at(-1)!.ruleId! > 0);
    const drops = ((await m.events(4096)) as Event[]).filter((e) => e.type === 'drop' && e.saddr === m.pod('x/c').ip && e.daddr === zb.ipv4);
    assert.ok(drops.some((e) => e.reason === 'POLICY_DENY'), `a drop event POLICY_DENY: ${JSON.stringify(drops.slice(-3))}`);
  });

  test('egress verdicts: the client endpoint, direction egress, the server\'s identity; the world\'s identity is 2', async () => {
    await m.policy(
      netpol('x', 'to-y-b', 'podSelector: {matchLabels: {pod: c}}\npolicyTypes: [Egress]\negress:\n- to:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n    podSelector: {matchLabels: {pod: b}}'),
      cnp('y', 'from-world', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [world]'),
    );
    await m.check({ 'tcp/81': reachEveryone().expectAllEgress('x/c', false).expect('x/c', 'y/b', true).expectAllIngress('y/a', false).expect(WORLD, 'y/a', true).expect(HOST, 'y/a', true) });
    const xc = await endpoint('x/c');
    const [idC, idYB, idYC] = [await identityOf('x/c'), await identityOf('y/b'), await identityOf('y/c')];
    const ok = await verdicts((e) => e.source === xc.id && e.daddr === m.pod('y/b').ip && e.dport === 81 && e.verdict === 'ALLOWED');
    assert.ok(ok.length > 0, 'an ALLOWED egress verdict for x/c → y/b:81');
    assert.equal(ok.at(-1)!.direction, 'egress');
    assert.equal(ok.at(-1)!.srcIdentity, idC);
    assert.equal(ok.at(-1)!.dstIdentity, idYB);
    assert.equal(ok.at(-1)!.rule, 'NetworkPolicy x/to-y-b spec.egress[0]');
    assert.equal(ok.at(-1)!.reason, 'L3-Only');
    const no = await verdicts((e) => e.source === xc.id && e.daddr === m.pod('y/c').ip && e.dport === 81 && e.verdict === 'DENIED');
    assert.ok(no.length > 0, 'a DENIED egress verdict for x/c → y/c:81');
    assert.equal(no.at(-1)!.direction, 'egress');
    assert.equal(no.at(-1)!.dstIdentity, idYC);
    const ya = await endpoint('y/a');
    const world = await verdicts((e) => e.source === ya.id && e.saddr === m.t.worldIp && e.verdict === 'ALLOWED');
    assert.ok(world.length > 0, 'an ALLOWED ingress verdict for the world → y/a');
    assert.equal(world.at(-1)!.srcIdentity, 2, 'reserved identity world');
    assert.equal(world.at(-1)!.rule, 'CiliumNetworkPolicy y/from-world spec.ingress[0]');
  });

  test('audit mode reports a deny rule\'s denial as AUDIT with that rule', async () => {
    await m.policy(cnp('z', 'deny-y', 'endpointSelector: {matchLabels: {pod: c}}\ningress:\n- fromEntities: [all]\ningressDeny:\n- fromEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "y"}'));
    await m.check({ 'tcp/80': reach().expectPeer({ ns: 'y' }, { ns: 'z', pod: 'c' }, false) });
    const on = await m.cli('endpoint', 'config', 'z/c', 'PolicyAuditMode=Enabled');
    try {
      assert.equal(on.code, 0, on.stderr);
      await m.check({ 'tcp/80': reach() });
      const zc = await endpoint('z/c');
      const audit = await verdicts((e) => e.source === zc.id && e.saddr === m.pod('y/b').ip && e.verdict === 'AUDIT');
      assert.ok(audit.length > 0, 'AUDIT verdicts for y/b → z/c');
      assert.equal(audit.at(-1)!.rule, 'CiliumNetworkPolicy z/deny-y spec.ingressDeny[0]');
    } finally {
      await m.cli('endpoint', 'config', 'z/c', 'PolicyAuditMode=Disabled');
    }
  });

  test('endpoint audit mode: the denied traffic passes and is reported as AUDIT; disabling it enforces again', async () => {
    await m.policy(netpol('x', 'deny-ingress', 'podSelector: {}\npolicyTypes: [Ingress]'));
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false)));
    const on = await m.cli('endpoint', 'config', 'x/a', 'PolicyAuditMode=Enabled');
    try {
      assert.equal(on.code, 0, on.stderr);
      assert.equal((await endpoint('x/a')).policy?.auditMode, true);
      await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false).expectAllIngress('x/a', true)));
      const xa = await endpoint('x/a');
      const audit = await verdicts((e) => e.source === xa.id && e.saddr === m.pod('z/c').ip && e.verdict === 'AUDIT' && e.direction === 'ingress');
      assert.ok(audit.length > 0, 'AUDIT verdicts for z/c → x/a');
      assert.equal(audit.at(-1)!.ruleId, 0);
    } finally {
      const off = await m.cli('endpoint', 'config', 'x/a', 'PolicyAuditMode=Disabled');
      assert.equal(off.code, 0, off.stderr);
    }
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false)));
  });
});

describe('refused input changes nothing', () => {
  const deny = netpol('x', 'deny-all', 'podSelector: {}\npolicyTypes: [Ingress, Egress]');
  const cases: Array<{ what: string; doc: string; field: RegExp }> = [
    {
      what: 'an unknown operator',
      doc: netpol('x', 'bad-operator', 'podSelector: {matchExpressions: [{key: pod, operator: Equals, values: [a]}]}\ningress:\n- {}'),
      field: /spec\.podSelector\.matchExpressions\[0\]\.operator.*Equals/,
    },
    {
      what: 'a port out of range',
      doc: netpol('x', 'bad-port', 'podSelector: {}\ningress:\n- ports:\n  - {port: 70000, protocol: TCP}'),
      field: /spec\.ingress\[0\]\.ports\[0\]\.port.*70000/,
    },
    {
      what: 'a malformed CIDR',
      doc: netpol('x', 'bad-cidr', 'podSelector: {}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: 10.217.0.0/33}'),
      field: /spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr.*10\.217\.0\.0\/33/,
    },
    {
      what: 'an endPort below its port',
      doc: netpol('x', 'bad-range', 'podSelector: {}\ningress:\n- ports:\n  - {port: 81, endPort: 80}'),
      field: /spec\.ingress\[0\]\.ports\[0\]\.endPort/,
    },
    {
      what: 'an unknown entity (CiliumNetworkPolicy)',
      doc: cnp('x', 'bad-entity', 'endpointSelector: {}\ningress:\n- fromEntities: [galaxy]'),
      field: /spec\.ingress\[0\]\.fromEntities\[0\].*galaxy/,
    },
    {
      what: 'a toPorts port out of range (CiliumNetworkPolicy)',
      doc: cnp('x', 'bad-toports', 'endpointSelector: {}\ningress:\n- toPorts:\n  - ports: [{port: "99999", protocol: TCP}]'),
      field: /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port.*99999/,
    },
  ];
  for (const c of cases) {
    test(`${c.what}: membrane apply fails naming the field, and a valid policy in the same file is not applied`, async () => {
      const file = path.join(m.t.spec.workDir, `bad-${c.what.replace(/\W+/g, '-')}.yaml`);
      fs.writeFileSync(file, `${deny}---\n${c.doc}`);
      const r = await m.cli('apply', '-f', file);
      assert.notEqual(r.code, 0, `apply refused: ${r.stdout}`);
      assert.match(r.stderr, c.field);
      assert.match(r.stderr, /doc 2/, 'the message names the document');
      const policies = await m.t.client.get<PolicyJSON[]>('/v1/policies');
      assert.deepEqual(policies.map((p) => `${p.namespace}/${p.name}`), [], 'nothing stored');
      await m.check(everyPort(reach()), { deadlineMs: 0 });
      // `membrane policy validate` agrees.
      const v = await m.cli('policy', 'validate', '-f', file);
      assert.notEqual(v.code, 0);
      assert.match(v.stderr, c.field);
    });
  }
});

describe('agent-wide settings', () => {
  test('--policy-audit-mode: every denial passes and is reported as AUDIT', async () => {
    await m.t.stopAgent();
    await m.t.startAgent(['--policy-audit-mode']);
    try {
      await m.policy(netpol('y', 'deny-all', 'podSelector: {}\npolicyTypes: [Ingress, Egress]'));
      await m.check(everyPort(reach()));
      const yb = await endpoint('y/b');
      assert.equal(yb.policy?.auditMode, true);
      const audit = await verdicts((e) => e.source === yb.id && e.verdict === 'AUDIT' && e.direction === 'egress');
      assert.ok(audit.length > 0, 'AUDIT verdicts for y/b egress');
    } finally {
      await m.reset();
      await m.t.stopAgent();
      await m.t.startAgent();
    }
    await m.policy(netpol('y', 'deny-all', 'podSelector: {}\npolicyTypes: [Ingress, Egress]'));
    await m.check(everyPort(reach().expectPeer({ ns: 'y' }, {}, false).expectPeer({}, { ns: 'y' }, false)));
  });

  test('--allow-localhost policy: the node is judged like any other source (fromEntities host)', async () => {
    await m.t.stopAgent();
    await m.t.startAgent(['--allow-localhost', 'policy']);
    try {
      await m.policy(cnp('x', 'from-host', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [host]'), netpol('y', 'deny-ingress', 'podSelector: {}\npolicyTypes: [Ingress]'));
      await m.check(everyPort(reachEveryone().expectAllIngress('x/a', false).expect(HOST, 'x/a', true).expectPeer({}, { ns: 'y' }, false)));
    } finally {
      await m.reset();
      await m.t.stopAgent();
      await m.t.startAgent();
    }
  });
});
