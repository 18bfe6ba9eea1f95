import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentEnricher, createEnricher, type EnricherAgent } from './enrich.ts';
import { fakeSources, rawEvent, SERVICE } from './testing.ts';

test('a local endpoint: ID, identity, namespace, identity labels sorted, pod, workload from the app label', () => {
  const e = createEnricher(fakeSources());
  const ep = e.endpoint('10.222.0.10', 0);
  assert.deepEqual(ep, {
    ID: 11, identity: 300, namespace: 'demo', labels: ['k8s:app=frontend', 'k8s:io.kubernetes.pod.namespace=demo'], pod_name: 'frontend',
    workloads: [{ name: 'frontend', kind: 'App' }],
  });
  assert.ok(Object.isFrozen(ep), 'shared between flows: frozen');
  assert.equal(e.endpoint('10.222.0.10', 999), ep, 'an endpoint is named by the agent, whatever the event says');
});

test('an endpoint without identity yet: pod labels under k8s:, the namespace label; no app label → kind Pod', () => {
  const s = fakeSources();
  s.state.endpoints = [{ ip: '10.222.0.20', id: 30, namespace: 'demo', pod: 'db-0', labels: { tier: 'db' }, identity: 0 }];
  const ep = createEnricher(s).endpoint('10.222.0.20', 0);
  assert.deepEqual(ep, { ID: 30, namespace: 'demo', labels: ['k8s:io.kubernetes.pod.namespace=demo', 'k8s:tier=db'], pod_name: 'db-0', workloads: [{ name: 'db-0', kind: 'Pod' }] });
});

test('other addresses: the event identity, else the ipcache (host, CIDR), else world', () => {
  const s = fakeSources();
  const e = createEnricher(s);
  assert.deepEqual(e.endpoint('198.18.22.1', 0), { identity: 1, labels: ['reserved:host'] });
  assert.deepEqual(e.endpoint('8.8.8.8', 0), { identity: 2, labels: ['reserved:world'] });
  assert.deepEqual(e.endpoint('203.0.113.7', 0), { identity: 16777217, labels: ['cidr:203.0.113.0/24', 'reserved:world'] });
  assert.deepEqual(e.endpoint('8.8.8.8', 1), { identity: 1, labels: ['reserved:host'] }, 'the datapath identity wins');
  assert.deepEqual(e.endpoint('1.2.3.4', 4242), { identity: 4242 }, 'unknown identity: number only');
  e.endpoint('8.8.8.8', 0);
  assert.equal(s.calls.identityOf, 3, 'ipcache looked up once per address');
});

test('caches are built once and rebuilt after a change', () => {
  const s = fakeSources();
  const e = createEnricher(s);
  for (let i = 0; i < 100; i++) e.context(rawEvent());
  assert.equal(s.calls.endpoints, 1);
  s.state.endpoints = [{ ...s.state.endpoints[0]!, pod: 'frontend-2' }];
  s.bump();
  assert.equal(e.endpoint('10.222.0.10', 0).pod_name, 'frontend-2');
  assert.equal(s.calls.endpoints, 2);
  assert.deepEqual(e.endpoint('10.222.0.11', 0), { identity: 2, labels: ['reserved:world'] }, 'a deleted endpoint is a peer again');
});

test('destination service: translated (orig dst), frontend, or — socket LB — the backend’s service', () => {
  const e = createEnricher(fakeSources());
  const svc = { name: 'backend', namespace: 'demo' };
  // Per-packet LB: the packet already goes to the backend, orig_daddr keeps the frontend.
  assert.deepEqual(e.context(rawEvent({ daddr: '10.222.0.11', dport: 8080, orig_daddr: '10.96.22.10', orig_dport: 80 })).destination_service, svc);
  // Not translated yet.
  assert.deepEqual(e.context(rawEvent({ daddr: '10.96.22.10', dport: 80 })).destination_service, svc);
  // Socket LB: only the backend ever on the packet.
  assert.deepEqual(e.context(rawEvent({ daddr: '10.222.0.11', dport: 8080, flags: 1 })).destination_service, svc);
  // A port that is not a backend's, or another protocol.
  assert.equal(e.context(rawEvent({ daddr: '10.222.0.11', dport: 9999 })).destination_service, undefined);
  assert.equal(e.context(rawEvent({ daddr: '10.222.0.11', dport: 8080, proto: 17 })).destination_service, undefined);
  assert.equal(e.context(rawEvent({ daddr: '10.96.22.10', dport: 80 << 8, proto: 1 })).destination_service, undefined);
  // Replies: no destination service; the source is the service (reverse-translated frontend, or the backend with socket LB).
  const reply = e.context(rawEvent({ saddr: '10.222.0.11', sport: 8080, daddr: '10.222.0.10', dport: 41234, flags: 1 | 2 }));
  assert.equal(reply.destination_service, undefined);
  assert.deepEqual(reply.source_service, svc);
  assert.deepEqual(e.context(rawEvent({ saddr: '10.96.22.10', sport: 80, daddr: '10.222.0.10', dport: 41234 })).source_service, svc);
  assert.equal(e.context(rawEvent({ saddr: '10.222.0.11', sport: 8080, flags: 1 })).source_service, undefined, 'a backend sending a request is not a service');
});

test('a backend of several services is named after the first by namespace/name', () => {
  const s = fakeSources();
  s.state.services = [{ ...SERVICE, service: 'demo/zeta' }, { ...SERVICE, service: 'demo/alpha', frontends: [] }];
  assert.deepEqual(createEnricher(s).serviceByBackend('10.222.0.11', 8080, 6), { name: 'alpha', namespace: 'demo' });
});

test('policy rules and interface names', () => {
  const e = createEnricher(fakeSources());
  const ctx = e.context(rawEvent({ type: 1, subtype: 10, rule_id: 7, ifindex: 21 }));
  assert.deepEqual(ctx.policy, {
    policy: {
      name: 'deny-frontend', namespace: 'demo', kind: 'NetworkPolicy',
      labels: ['k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy', 'k8s:io.cilium.k8s.policy.name=deny-frontend', 'k8s:io.cilium.k8s.policy.namespace=demo'],
    },
    rule: 'NetworkPolicy demo/deny-frontend spec.ingress[0]',
  });
  assert.equal(ctx.interfaceName, 'lxc12');
  assert.equal(e.interfaceName(2), 'eth0');
  assert.equal(e.interfaceName(3), undefined);
  assert.equal(e.policyRule(8), undefined);
});

test('agentEnricher follows the managers: new ipcache/rules/frontends objects or an endpoint change rebuild', () => {
  let onChange: () => void = () => {};
  const eps = [{ id: 5, ipv4: '10.222.0.5', podNamespace: 'demo', podName: 'a', labels: { app: 'a' }, identity: 0, hostIfIndex: 40, hostIfName: 'lxc5' }];
  const policy = {
    ipcacheView: new Map([['198.18.22.1/32', { identity: 1, cidr_identity: 0 }]]),
    rulesView: new Map([[3, { id: 3, name: 'CiliumNetworkPolicy demo/p spec.egress[0]', kind: 'CiliumNetworkPolicy', namespace: 'demo', policy: 'p', path: 'spec.egress[0]', direction: 'egress', deny: false }]]),
    identityLabels: (id: number) => (id === 1 ? { 'reserved:host': '' } : undefined),
  };
  const services = {
    frontendsView: [{ service: 'demo/web', addr: '10.96.22.20', port: 80, protocol: 'TCP', int: { backends: [{ addr: '10.222.0.5', port: 8080, protocol: 'TCP' }] } }],
  };
  const agent = {
    endpoints: { onChange: (cb: () => void) => ((onChange = cb), () => {}), list: () => eps },
    policy,
    services,
    lb: { devices: [{ name: 'eth0', ifindex: 2 }] },
  } as unknown as EnricherAgent;
  const e = agentEnricher(agent);
  assert.equal(e.endpoint('10.222.0.5', 0).pod_name, 'a');
  assert.deepEqual(e.endpoint('198.18.22.1', 0), { identity: 1, labels: ['reserved:host'] });
  assert.deepEqual(e.serviceByBackend('10.222.0.5', 8080, 6), { name: 'web', namespace: 'demo' });
  assert.deepEqual(e.serviceByFrontend('10.96.22.20', 80, 6), { name: 'web', namespace: 'demo' });
  assert.equal(e.policyRule(3)?.policy.kind, 'CiliumNetworkPolicy');
  assert.equal(e.interfaceName(40), 'lxc5');
  assert.equal(e.interfaceName(2), 'eth0');

  eps[0]!.podName = 'b';
  assert.equal(e.endpoint('10.222.0.5', 0).pod_name, 'a', 'no change seen yet');
  onChange();
  assert.equal(e.endpoint('10.222.0.5', 0).pod_name, 'b');
  services.frontendsView = [];
  assert.equal(e.serviceByFrontend('10.96.22.20', 80, 6), undefined);
  policy.ipcacheView = new Map();
  assert.deepEqual(e.endpoint('198.18.22.1', 0), { identity: 2, labels: ['reserved:world'] });
});
