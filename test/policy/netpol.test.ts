// Kubernetes NetworkPolicy conformance on a real Membrane node: the cases of
// upstream's test/e2e/network/netpol/network_policy.go on its model (three
// namespaces x, y, z with pods a, b, c each, probed through their ClusterIP
// services on ports 80 and 81 over TCP and UDP; see model.ts). Each case
// applies its policies with `membrane apply` (the agent's /v1/apply), states
// the expected matrices by hand from upstream's expectations, and compares
// them with all 81 probes per protocol and port. Policies and relabellings
// are undone after each case.
//
// Where upstream probes one protocol/port, the other combinations are also
// checked when their outcome follows from the same policy (a default-deny
// denies every port; a port-80 rule leaves 81 denied); that is stated per case.
// A pod reaching its own service is always allowed (see truthtable.ts).
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { everyPort, NetpolModel, PODS, reach } from './model.ts';

let m: NetpolModel;

before(async () => {
  m = await NetpolModel.create();
});

afterEach(async () => {
  await m?.reset();
});

after(async () => {
  await m?.destroy();
});

/** A NetworkPolicy manifest; `spec` is YAML flow/block text indented by two spaces. */
function netpol(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: ${JSON.stringify(ns)}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}

describe('the model without policy', () => {
  test('every pod reaches every service over TCP and UDP on 80 and 81, answered by the service\'s own pod', async () => {
    const r = await m.check(everyPort(reach()), { deadlineMs: 20_000 });
    assert.ok(r.rounds >= 1);
    // The backend saw the client pod itself (no SNAT between pods).
    const obs = await m.observe(['tcp/80']);
    const o = obs.outcomes.get('tcp/80')!.get('y/b->x/a')!;
    assert.equal(o.client, m.pod('y/b').ip, JSON.stringify(o));
    assert.equal(o.peer, m.clusterIPs.get('x/a'), 'the application sees the service address as its peer');
    assert.equal(PODS.length, 9);
  });
});

describe('NetworkPolicy: default deny and allow all', () => {
  test("should support a 'default-deny-ingress' policy", async () => {
    await m.policy(netpol('x', 'deny-ingress', 'podSelector: {}\npolicyTypes: [Ingress]'));
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false)));
  });

  test("should support a 'default-deny-all' policy", async () => {
    await m.policy(netpol('x', 'deny-all', 'podSelector: {}\npolicyTypes: [Ingress, Egress]'));
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false).expectPeer({ ns: 'x' }, {}, false)));
  });

  test('should deny egress from all pods in a namespace', async () => {
    await m.policy(netpol('x', 'deny-egress-ns-x', 'podSelector: {}\npolicyTypes: [Egress]'));
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, {}, false)));
  });

  test('should deny egress from pods based on PodSelector', async () => {
    await m.policy(netpol('x', 'deny-egress-pod-a', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]'));
    await m.check(everyPort(reach().expectAllEgress('x/a', false)));
  });

  test('ingress: [] (no rule) denies everything, ingress: [{}] (one empty rule) allows everything', async () => {
    await m.policy(netpol('x', 'empty-list', 'podSelector: {}\npolicyTypes: [Ingress]\ningress: []'));
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false)));
    await m.reset();
    await m.policy(netpol('x', 'allow-all', 'podSelector: {}\ningress: [{}]'));
    await m.check(everyPort(reach()));
  });

  test('should support allow-all policy', async () => {
    await m.policy(netpol('x', 'allow-all', 'podSelector: {}\ningress:\n- {}'));
    // upstream: TCP 80 and 81 all allowed; UDP follows (the rule has no ports).
    await m.check(everyPort(reach()));
  });

  test('should enforce policy to allow ingress traffic for a target', async () => {
    await m.policy(
      netpol('x', 'deny-all', 'podSelector: {}\npolicyTypes: [Ingress]'),
      netpol('x', 'allow-all-to-a', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {}\n    namespaceSelector: {}'),
    );
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false).expectAllIngress('x/a', true)));
  });

  test('should enforce policy to allow ingress traffic from pods in all namespaces', async () => {
    await m.policy(netpol('x', 'allow-from-another-ns', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {}}'));
    await m.check(everyPort(reach()));
  });

  test('should deny ingress from pods on other namespaces', async () => {
    await m.policy(netpol('x', 'deny-empty-policy', 'podSelector: {}\ningress:\n- from:\n  - podSelector: {matchLabels: {}}'));
    await m.check(everyPort(reach().expectPeer({ ns: 'y' }, { ns: 'x' }, false).expectPeer({ ns: 'z' }, { ns: 'x' }, false)));
  });
});

describe('NetworkPolicy: selectors', () => {
  test('should enforce policy to allow traffic from pods within server namespace based on PodSelector', async () => {
    await m.policy(netpol('x', 'x-a-allows-x-b', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b}}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true)));
  });

  test('should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector', async () => {
    await m.policy(netpol('x', 'allow-client-a-via-ns-selector', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}'));
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)));
  });

  test('should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label', async () => {
    await m.policy(
      netpol('x', 'allow-client-a-via-ns-selector-for-immutable-ns-label', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}'),
    );
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)));
  });

  test('should enforce policy based on PodSelector with MatchExpressions (In)', async () => {
    await m.policy(
      netpol('x', 'x-a-allows-x-b', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchExpressions: [{key: pod, operator: In, values: [b]}]}'),
    );
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true)));
  });

  test('should enforce policy based on NamespaceSelector with MatchExpressions (In)', async () => {
    await m.policy(
      netpol('x', 'allow-ns-y-match-selector', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: ["y"]}]}'),
    );
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)));
  });

  test('should enforce policy based on NamespaceSelector with MatchExpressions using default ns label (NotIn, egress)', async () => {
    await m.policy(
      netpol(
        'x',
        'allow-ns-y-match-selector-for-immutable-ns-label',
        'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: ["y"]}]}',
      ),
    );
    await m.check(everyPort(reach().expectPeer({ ns: 'x', pod: 'a' }, { ns: 'y' }, false)));
  });

  test('should enforce policy based on PodSelector or NamespaceSelector (two peers: OR)', async () => {
    await m.policy(
      netpol(
        'x',
        'allow-ns-y-match-selector',
        'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n  - podSelector: {matchLabels: {pod: b}}',
      ),
    );
    await m.check(everyPort(reach().expect('x/c', 'x/a', false)));
  });

  test('should enforce policy based on PodSelector and NamespaceSelector (one peer: AND)', async () => {
    await m.policy(
      netpol(
        'x',
        'allow-ns-y-podselector-and-nsselector',
        'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n    podSelector: {matchLabels: {pod: b}}',
      ),
    );
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/b', 'x/a', true)));
  });

  test('should enforce policy based on Multiple PodSelectors and NamespaceSelectors', async () => {
    await m.policy(
      netpol(
        'x',
        'allow-ns-y-z-pod-b-c',
        'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n    podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}',
      ),
    );
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expect('y/a', 'x/a', false).expect('z/a', 'x/a', false)));
  });

  test('should enforce policy based on any PodSelectors', async () => {
    await m.policy(netpol('x', 'allow-ns-x-pod-b-c', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b}}\n  - podSelector: {matchLabels: {pod: c}}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true).expect('x/c', 'x/a', true)));
  });

  test('should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector', async () => {
    await m.policy(
      netpol(
        'x',
        'allow-ns-y-pod-a-via-namespace-pod-selector',
        'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n    podSelector: {matchLabels: {pod: a}}',
      ),
    );
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('y/a', 'x/a', true)));
  });

  test('matchExpressions Exists and DoesNotExist', async () => {
    // Not an upstream case; the same model. Exists on `pod` matches every pod; DoesNotExist on `pod`
    // matches none, so x/a is isolated by the second policy's subject.
    await m.policy(netpol('x', 'exists', 'podSelector: {matchExpressions: [{key: pod, operator: In, values: [a]}]}\ningress:\n- from:\n  - podSelector: {matchExpressions: [{key: pod, operator: Exists}]}'));
    await m.check(everyPort(reach().expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)));
    await m.reset();
    await m.policy(
      netpol('y', 'does-not-exist', 'podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [a, c]}]}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: DoesNotExist}]}'),
    );
    // Subject: y/b only (NotIn [a, c]). Every namespace has `ns`, so no peer matches: y/b is isolated.
    await m.check(everyPort(reach().expectAllIngress('y/b', false)));
  });
});

describe('NetworkPolicy: the edges of the definition', () => {
  test('from: [] and ports: [] mean every source and every port, like a missing field', async () => {
    await m.policy(netpol('x', 'empty-lists', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: []\n  ports: []'));
    await m.check(everyPort(reach()));
  });

  test('policyTypes [Egress] ignores the ingress section', async () => {
    await m.policy(netpol('x', 'egress-only', 'podSelector: {}\npolicyTypes: [Egress]\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: nobody}}\negress: []'));
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, {}, false)));
  });

  test('NotIn matches a namespace without the key; a namespace that gets the key and value leaves the selection', async () => {
    await m.policy(netpol('x', 'not-blue', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [blue]}]}'));
    await m.check(everyPort(reach()));
    await m.relabelNamespace('z', { team: 'blue' });
    await m.check(everyPort(reach().expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)));
  });

  test('DoesNotExist on a pod label: pods that get the label leave the selection', async () => {
    await m.policy(netpol('y', 'no-pod2', 'podSelector: {matchLabels: {pod: b}}\ningress:\n- from:\n  - podSelector: {matchExpressions: [{key: pod2, operator: DoesNotExist}]}'));
    const base = reach().expectAllIngress('y/b', false).expectPeer({ ns: 'y' }, { ns: 'y', pod: 'b' }, true);
    await m.check(everyPort(base));
    await m.relabelPod('y/a', { pod2: 'here' });
    await m.check(everyPort(reach().expectAllIngress('y/b', false).expect('y/b', 'y/b', true).expect('y/c', 'y/b', true)));
  });

  test('a named port is looked up with its protocol: serve-80-tcp over UDP names nothing', async () => {
    await m.policy(netpol('x', 'wrong-protocol', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - {port: serve-80-tcp, protocol: UDP}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
  });

  test('an ipBlock peer and a namespace peer in one rule (OR)', async () => {
    await m.policy(netpol('z', 'cidr-or-ns', `podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - ipBlock: {cidr: ${m.pod('x/b').ip}/32}\n  - namespaceSelector: {matchLabels: {ns: "y"}}`));
    await m.check(everyPort(reach().expectAllIngress('z/a', false).expect('x/b', 'z/a', true).expectPeer({ ns: 'y' }, { ns: 'z', pod: 'a' }, true)));
  });

  test('matchLabels and matchExpressions in one selector must both hold', async () => {
    await m.policy(netpol('x', 'both', 'podSelector: {matchLabels: {pod: a}, matchExpressions: [{key: pod, operator: In, values: [a, b]}]}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: z}, matchExpressions: [{key: ns, operator: In, values: ["y", z]}]}\n    podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [a]}], matchLabels: {pod: c}}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('z/c', 'x/a', true)));
  });
});

describe('NetworkPolicy: ports and protocols', () => {
  test('should enforce policy based on Ports (numeric port with protocol)', async () => {
    await m.policy(
      netpol('x', 'allow-client-a-via-ns-selector', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n  ports:\n  - {port: 81, protocol: TCP}'),
    );
    const port81 = reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false);
    const denied = reach().expectAllIngress('x/a', false);
    await m.check({ 'tcp/81': port81, 'tcp/80': denied, 'udp/80': denied, 'udp/81': denied });
  });

  test('should enforce multiple, stacked policies with overlapping podSelectors (union of allows)', async () => {
    const rule = (port: number) => `podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n  ports:\n  - {port: ${port}, protocol: TCP}`;
    await m.policy(netpol('x', 'allow-client-a-via-ns-selector', rule(81)));
    const allowY = reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false);
    const denied = reach().expectAllIngress('x/a', false);
    await m.check({ 'tcp/81': allowY, 'tcp/80': denied });
    await m.policy(netpol('x', 'allow-client-a-via-ns-selector-80', rule(80)));
    await m.check({ 'tcp/80': allowY, 'tcp/81': allowY, 'udp/80': denied, 'udp/81': denied });
  });

  test('should allow ingress access on one named port', async () => {
    await m.policy(netpol('x', 'allow-all', 'podSelector: {}\ningress:\n- ports:\n  - port: serve-81-tcp'));
    const blocked = reach().expectPeer({}, { ns: 'x' }, false);
    // serve-81-tcp names TCP 81 only: UDP 81 has the name serve-81-udp.
    await m.check({ 'tcp/81': reach(), 'tcp/80': blocked, 'udp/80': blocked, 'udp/81': blocked });
  });

  test('should allow ingress access from namespace on one named port', async () => {
    await m.policy(
      netpol('x', 'allow-client-a-via-ns-selector-80', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n  ports:\n  - {port: serve-80-tcp, protocol: TCP}'),
    );
    await m.check({
      'tcp/80': reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false),
      'tcp/81': reach().expectAllIngress('x/a', false),
    });
  });

  test('a named UDP port: serve-80-udp allows UDP 80 only', async () => {
    await m.policy(netpol('x', 'allow-udp-80-by-name', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - {port: serve-80-udp, protocol: UDP}'));
    const denied = reach().expectAllIngress('x/a', false);
    await m.check({ 'udp/80': reach(), 'tcp/80': denied, 'tcp/81': denied, 'udp/81': denied });
  });

  test('should allow egress access on one named port', async () => {
    await m.policy(netpol('x', 'allow-egress', 'podSelector: {}\npolicyTypes: [Egress]\negress:\n- ports:\n  - port: serve-80-tcp'));
    const blocked = reach().expectPeer({ ns: 'x' }, {}, false);
    await m.check({ 'tcp/80': reach(), 'tcp/81': blocked, 'udp/80': blocked, 'udp/81': blocked });
  });

  test('should enforce ingress policy allowing any port traffic to a server on a specific protocol', async () => {
    await m.policy(netpol('x', 'allow-ingress-by-proto', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - protocol: TCP'));
    const udp = reach().expectPeer({}, { ns: 'x', pod: 'a' }, false);
    await m.check({ 'tcp/80': reach(), 'tcp/81': reach(), 'udp/80': udp, 'udp/81': udp });
  });

  test('should not allow access by TCP when a policy specifies only UDP', async () => {
    await m.policy(netpol('x', 'allow-only-udp-ingress-on-port-81', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - {port: 81, protocol: UDP}'));
    const denied = reach().expectAllIngress('x/a', false);
    await m.check({ 'tcp/81': denied, 'tcp/80': denied, 'udp/80': denied, 'udp/81': reach() });
  });

  test("should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP'", async () => {
    await m.policy(
      netpol('x', 'deny-ingress', 'podSelector: {}\npolicyTypes: [Ingress]'),
      netpol('x', 'allow-only-sctp-ingress-on-port-81', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - {port: 81, protocol: SCTP}'),
    );
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false)));
  });

  test("should properly isolate pods that are selected by a policy allowing SCTP", async () => {
    await m.policy(netpol('x', 'allow-only-sctp-ingress-on-port-80', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - {port: 80, protocol: SCTP}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
  });

  test('endPort: a range 80-81 allows both ports, a range 79-80 only 80', async () => {
    await m.policy(netpol('x', 'allow-range-80-81', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n  ports:\n  - {port: 80, endPort: 81, protocol: TCP}'));
    const fromY = reach().expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false);
    const denied = reach().expectAllIngress('x/a', false);
    await m.check({ 'tcp/80': fromY, 'tcp/81': fromY, 'udp/80': denied, 'udp/81': denied });
    await m.reset();
    await m.policy(netpol('x', 'allow-range-79-80', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- ports:\n  - {port: 79, endPort: 80, protocol: TCP}\n  - {port: 81, endPort: 1000, protocol: UDP}'));
    await m.check({ 'tcp/80': reach(), 'tcp/81': denied, 'udp/80': denied, 'udp/81': reach() });
  });

  test('endPort on egress: 81-65535 over UDP', async () => {
    await m.policy(netpol('y', 'egress-range', 'podSelector: {matchLabels: {pod: b}}\npolicyTypes: [Egress]\negress:\n- ports:\n  - {port: 81, endPort: 65535, protocol: UDP}'));
    const blocked = reach().expectAllEgress('y/b', false);
    await m.check({ 'udp/81': reach(), 'udp/80': blocked, 'tcp/80': blocked, 'tcp/81': blocked });
  });
});

describe('NetworkPolicy: egress', () => {
  test('should work with Ingress, Egress specified together', async () => {
    await m.policy(
      netpol(
        'x',
        'allow-client-a-via-pod-selector',
        'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress, Ingress]\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b}}\negress:\n- ports:\n  - port: 80',
      ),
    );
    await m.check({
      'tcp/80': reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true),
      'tcp/81': reach().expectAllIngress('x/a', false).expectAllEgress('x/a', false).expect('x/b', 'x/a', true),
      // port: 80 without protocol means TCP: UDP egress from x/a is denied on every port
      'udp/80': reach().expectAllIngress('x/a', false).expectAllEgress('x/a', false).expect('x/b', 'x/a', true),
    });
  });

  test('should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)', async () => {
    const fromXA = 'ingress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: x}}\n    podSelector: {matchLabels: {pod: a}}';
    await m.policy(
      netpol('x', 'allow-to-ns-y-pod-a', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n    podSelector: {matchLabels: {pod: a}}'),
      netpol('y', 'allow-from-xa-on-ya-match-selector', `podSelector: {matchLabels: {pod: a}}\n${fromXA}`),
      netpol('y', 'allow-from-xa-on-yb-match-selector', `podSelector: {matchLabels: {pod: b}}\n${fromXA}`),
    );
    await m.check(
      everyPort(
        reach()
          .expectPeer({ ns: 'x', pod: 'a' }, {}, false)
          .expectPeer({}, { ns: 'y', pod: 'a' }, false)
          .expectPeer({ ns: 'x', pod: 'a' }, { ns: 'y', pod: 'a' }, true)
          .expectPeer({}, { ns: 'y', pod: 'b' }, false),
      ),
    );
  });

  test('should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector', async () => {
    await m.policy(
      netpol('x', 'allow-to-ns-y-pod-a', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n    podSelector: {matchLabels: {pod: a}}'),
    );
    await m.check(everyPort(reach().expectAllEgress('x/a', false).expect('x/a', 'y/a', true)));
  });

  test('egress to a namespace on one port', async () => {
    await m.policy(netpol('z', 'z-to-y-on-81', 'podSelector: {}\npolicyTypes: [Egress]\negress:\n- to:\n  - namespaceSelector: {matchLabels: {ns: "y"}}\n  ports:\n  - {port: 81, protocol: UDP}'));
    const blocked = reach().expectPeer({ ns: 'z' }, {}, false);
    await m.check({ 'udp/81': reach().expectPeer({ ns: 'z' }, { ns: 'x' }, false).expectPeer({ ns: 'z' }, { ns: 'z' }, false), 'udp/80': blocked, 'tcp/81': blocked });
  });

  test('should enforce multiple egress policies with egress allow-all policy taking precedence', async () => {
    await m.policy(netpol('x', 'allow-egress-port-80', 'podSelector: {matchLabels: {}}\npolicyTypes: [Egress]\negress:\n- ports:\n  - port: 80'));
    await m.check({ 'tcp/81': reach().expectPeer({ ns: 'x' }, {}, false), 'tcp/80': reach() });
    await m.policy(netpol('x', 'allow-egress', 'podSelector: {matchLabels: {}}\npolicyTypes: [Egress]\negress:\n- {}'));
    await m.check(everyPort(reach()));
  });

  test('should enforce multiple ingress policies with ingress allow-all policy taking precedence', async () => {
    await m.policy(netpol('x', 'allow-ingress-port-80', 'podSelector: {matchLabels: {}}\ningress:\n- ports:\n  - port: 80'));
    await m.check({ 'tcp/81': reach().expectPeer({}, { ns: 'x' }, false), 'tcp/80': reach() });
    await m.policy(netpol('x', 'allow-ingress', 'podSelector: {matchLabels: {}}\ningress:\n- {}'));
    await m.check(everyPort(reach()));
  });

  test('should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector', async () => {
    await m.policy(netpol('x', 'allow-egress-for-target', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- {}'));
    await m.check(everyPort(reach()));
    await m.policy(netpol('x', 'deny-ingress-via-label-selector', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Ingress]'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
  });
});

describe('NetworkPolicy: ipBlock', () => {
  test('should allow egress access to server in CIDR block', async () => {
    await m.policy(netpol('x', 'allow-client-a-via-cidr-egress-rule', `podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: ${m.pod('y/b').ip}/32}`));
    await m.check(everyPort(reach().expectAllEgress('x/a', false).expect('x/a', 'y/b', true)));
  });

  test('should enforce except clause while egress access to server in CIDR block', async () => {
    // Upstream takes the /4 around the pod; the model's pods all sit in the /16 pod CIDR.
    await m.policy(
      netpol('x', 'allow-client-a-via-cidr-egress-rule', `podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: 10.217.0.0/16, except: [${m.pod('x/b').ip}/32]}`),
    );
    await m.check(everyPort(reach().expect('x/a', 'x/b', false)));
  });

  test('should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed', async () => {
    const xb = m.pod('x/b').ip;
    await m.policy(netpol('x', 'allow-client-a-via-cidr-egress-rule', `podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: 10.217.0.0/16, except: [${xb}/32]}`));
    await m.check({ 'tcp/80': reach().expect('x/a', 'x/b', false) });
    // Upstream updates the same policy to allow x/b's /32 only.
    await m.policy(netpol('x', 'allow-client-a-via-cidr-egress-rule', `podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to:\n  - ipBlock: {cidr: ${xb}/32}`));
    await m.check(everyPort(reach().expectAllEgress('x/a', false).expect('x/a', 'x/b', true)));
  });

  test('ipBlock on ingress: a CIDR with an except for one client', async () => {
    await m.policy(netpol('y', 'from-cidr', `podSelector: {matchLabels: {pod: c}}\ningress:\n- from:\n  - ipBlock: {cidr: 10.217.0.0/16, except: [${m.pod('z/a').ip}/32]}`));
    await m.check(everyPort(reach().expect('z/a', 'y/c', false)));
  });
});

describe('NetworkPolicy: updates', () => {
  test('should enforce updated policy', async () => {
    await m.policy(netpol('x', 'allow-all-mutate-to-deny-all', 'podSelector: {}\ningress:\n- {}'));
    await m.check({ 'tcp/81': reach() });
    await m.policy(netpol('x', 'allow-all-mutate-to-deny-all', 'podSelector: {}\npolicyTypes: [Ingress]\ningress: []'));
    await m.check(everyPort(reach().expectPeer({}, { ns: 'x' }, false)));
  });

  test('should allow ingress access from updated namespace', async () => {
    await m.policy(netpol('x', 'allow-client-a-via-ns-selector', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns2: updated}}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
    await m.relabelNamespace('y', { ns2: 'updated' });
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expectPeer({ ns: 'y' }, {}, true)));
  });

  test('should allow ingress access from updated pod', async () => {
    await m.policy(netpol('x', 'allow-client-a-via-pod-selector', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b, pod2: updated}}'));
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
    await m.relabelPod('x/b', { pod2: 'updated' });
    await m.check(everyPort(reach().expectAllIngress('x/a', false).expect('x/b', 'x/a', true)));
  });

  test('should deny ingress access to updated pod', async () => {
    await m.policy(netpol('x', 'deny-ingress-via-label-selector', 'podSelector: {matchLabels: {target: isolated}}\npolicyTypes: [Ingress]'));
    await m.check(everyPort(reach()));
    await m.relabelPod('x/a', { target: 'isolated' });
    await m.check(everyPort(reach().expectAllIngress('x/a', false)));
  });

  test('a relabelled pod leaves a namespace selector: its verdicts change back', async () => {
    await m.policy(netpol('x', 'from-team-blue', 'podSelector: {matchLabels: {pod: c}}\ningress:\n- from:\n  - namespaceSelector: {}\n    podSelector: {matchLabels: {team: blue}}'));
    await m.relabelPod('z/b', { team: 'blue' });
    await m.check(everyPort(reach().expectAllIngress('x/c', false).expect('z/b', 'x/c', true)));
    await m.relabelPod('z/b', {});
    await m.check(everyPort(reach().expectAllIngress('x/c', false)));
  });

  test('should stop enforcing policies after they are deleted', async () => {
    const deny = netpol('x', 'deny-all', 'podSelector: {}\npolicyTypes: [Ingress, Egress]');
    await m.apply(deny);
    try {
      await m.check(everyPort(reach().expectPeer({ ns: 'x' }, {}, false).expectPeer({}, { ns: 'x' }, false)));
    } finally {
      await m.delete(deny);
    }
    await m.check(everyPort(reach()));
  });
});
