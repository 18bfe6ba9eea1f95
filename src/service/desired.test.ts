import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MB_SVC_F_AFFINITY, MB_SVC_F_CLUSTER_IP, MB_SVC_F_DSR, MB_SVC_F_EXTERNAL_IP, MB_SVC_F_LOADBALANCER, MB_SVC_F_LOCAL, MB_SVC_F_MAGLEV,
  MB_SVC_F_NODEPORT,
} from '../datapath/abi.ts';
import type { FrontendSpec, ScopeSpec } from './desired.ts';
import { endpoint, scenario, sliceDoc, svcDoc } from './testing.ts';

const READY = '{addresses: [10.207.0.5], nodeName: node-1}';
const READY_REMOTE = '{addresses: [10.207.1.6], nodeName: node-2}';
const TERMINATING = '{addresses: [10.207.0.7], conditions: {ready: false, serving: true, terminating: true}, nodeName: node-1}';
const NOT_SERVING = '{addresses: [10.207.0.8], conditions: {ready: false, serving: false, terminating: true}}';
const HTTP = '[{name: http, port: 8080}]';

function fe(d: { frontends: FrontendSpec[] }, type: FrontendSpec['type']): FrontendSpec[] {
  return d.frontends.filter((f) => f.type === type);
}
function addrs(s: ScopeSpec | undefined): string[] {
  return (s?.backends ?? []).map((b) => `${b.addr}:${b.port}`);
}

describe('desired state: frontends', () => {
  it('ClusterIP: one frontend, socket LB only, active backends in address order', () => {
    const { desired } = scenario(svcDoc('web', '{ports: [{name: http, port: 80, targetPort: 8080}]}') + sliceDoc('web-1', 'web', HTTP, [READY_REMOTE, TERMINATING, NOT_SERVING, READY]));
    assert.equal(desired.frontends.length, 1);
    const [f] = desired.frontends;
    assert.equal(f!.type, 'ClusterIP');
    assert.equal(`${f!.addr}:${f!.port}/${f!.protocol}`, '10.96.7.17:80/TCP');
    assert.equal(f!.ext, undefined, 'no per-packet LB for ClusterIP');
    assert.equal(f!.int.flags, MB_SVC_F_CLUSTER_IP);
    assert.deepEqual(addrs(f!.int), ['10.207.0.5:8080', '10.207.1.6:8080']);
    // The backend map holds the terminating backend too (its connections go on), not the one that is not serving.
    assert.deepEqual(desired.backends.map((b) => `${b.addr} ${b.state} ${b.local ? 'local' : 'remote'}`).sort(), ['10.207.0.5 active local', '10.207.0.7 terminating local', '10.207.1.6 active remote']);
  });

  it('NodePort: ClusterIP frontend plus node IP:nodePort in both scopes, Maglev outside', () => {
    const { desired } = scenario(svcDoc('web', '{type: NodePort, ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}') + sliceDoc('web-1', 'web', HTTP, [READY]));
    const [np] = fe(desired, 'NodePort');
    assert.equal(`${np!.addr}:${np!.port}`, '198.18.7.1:30080');
    assert.equal(np!.ext!.flags, MB_SVC_F_NODEPORT | MB_SVC_F_MAGLEV);
    assert.equal(np!.int.flags, MB_SVC_F_NODEPORT);
    assert.equal(fe(desired, 'ClusterIP').length, 1);
  });

  it('NodePort without a node address: not served, with a warning', () => {
    const { desired } = scenario(svcDoc('web', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'), { config: { nodeIp: '' } });
    assert.equal(fe(desired, 'NodePort').length, 0);
    assert.match(desired.warnings[0]!.message, /NodePort 30080\/TCP is not served: the node has no address/);
  });

  it('externalIPs: both scopes, EXTERNAL_IP', () => {
    const { desired } = scenario(svcDoc('web', '{externalIPs: [198.18.9.201], ports: [{port: 80}]}'));
    const [x] = fe(desired, 'ExternalIP');
    assert.equal(`${x!.addr}:${x!.port}`, '198.18.9.201:80');
    assert.equal(x!.ext!.flags, MB_SVC_F_EXTERNAL_IP | MB_SVC_F_MAGLEV);
    assert.equal(x!.int.flags, MB_SVC_F_EXTERNAL_IP);
  });

  it('LoadBalancer: loadBalancerIP and ingress IPs once each, not ipMode Proxy; NodePorts too', () => {
    const { desired } = scenario(svcDoc('web', '{type: LoadBalancer, loadBalancerIP: 198.18.9.200, ports: [{port: 80}]}', {
      status: '{loadBalancer: {ingress: [{ip: 198.18.9.200}, {ip: 198.18.9.202}, {ip: 198.18.9.203, ipMode: Proxy}, {hostname: lb.example.com}]}}',
    }));
    assert.deepEqual(fe(desired, 'LoadBalancer').map((f) => f.addr), ['198.18.9.200', '198.18.9.202']);
    for (const f of fe(desired, 'LoadBalancer')) {
      assert.equal(f.ext!.flags, MB_SVC_F_LOADBALANCER | MB_SVC_F_MAGLEV);
      assert.equal(f.int.flags, MB_SVC_F_LOADBALANCER);
    }
    assert.equal(fe(desired, 'NodePort').length, 1, 'allocateLoadBalancerNodePorts defaults to true');
  });

  it('says that loadBalancerSourceRanges are not enforced', () => {
    const { desired } = scenario(svcDoc('web', '{type: LoadBalancer, loadBalancerSourceRanges: [198.18.0.0/16], ports: [{port: 80}]}'));
    assert.deepEqual(desired.warnings, [{ service: 'shop/web', message: 'loadBalancerSourceRanges (198.18.0.0/16) are not enforced: every client can reach the LoadBalancer frontends' }]);
  });

  it('TCP and UDP ports are separate frontends; SCTP is skipped with a warning', () => {
    const { desired } = scenario(svcDoc('dns', '{ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53}, {name: s, port: 99, protocol: SCTP}]}'));
    assert.deepEqual(desired.frontends.map((f) => `${f.port}/${f.protocol}`), ['53/UDP', '53/TCP']);
    assert.deepEqual(desired.warnings.map((w) => w.message), ['port s (99/SCTP): SCTP is not load-balanced (TCP and UDP only); skipped']);
  });

  it('headless services have no frontends', () => {
    const { desired } = scenario(svcDoc('db', '{clusterIP: None, ports: [{port: 5432}]}') + sliceDoc('db-1', 'db', '[{port: 5432}]', [READY]));
    assert.deepEqual(desired.frontends, []);
    assert.deepEqual(desired.backends, []);
  });

  it('a frontend two services claim stays with the first by namespace/name, with a warning', () => {
    const { desired } = scenario(svcDoc('b', '{externalIPs: [198.18.9.201], ports: [{port: 80}]}') + svcDoc('a', '{externalIPs: [198.18.9.201], ports: [{port: 80}]}'));
    const [x] = fe(desired, 'ExternalIP');
    assert.equal(x!.service, 'shop/a');
    assert.equal(desired.warnings.length, 1);
    assert.match(desired.warnings[0]!.message, /frontend 198.18.9.201:80\/TCP \(ExternalIP\) is already Service shop\/a's/);
    assert.equal(desired.warnings[0]!.service, 'shop/b');
  });
});

describe('desired state: flags and policies', () => {
  const np = (spec: string, annotations?: Record<string, string>) =>
    svcDoc('web', `{type: NodePort, ${spec} ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}`, annotations ? { annotations } : {}) +
    sliceDoc('web-1', 'web', HTTP, [READY, READY_REMOTE, TERMINATING]);

  it('sessionAffinity ClientIP: AFFINITY with its timeout in both scopes', () => {
    const { desired } = scenario(np('sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}},'));
    for (const f of desired.frontends) {
      for (const s of [f.int, f.ext].filter((x): x is ScopeSpec => x !== undefined)) {
        assert.ok(s.flags & MB_SVC_F_AFFINITY, `${f.type} scope has AFFINITY`);
        assert.equal(s.affinityTimeout, 60);
      }
    }
    const plain = scenario(np('')).desired.frontends[0]!;
    assert.equal(plain.int.flags & MB_SVC_F_AFFINITY, 0);
    assert.equal(plain.int.affinityTimeout, 0);
  });

  it('DSR: from --lb-mode, overridden per service by the forwarding-mode annotation; never on socket LB', () => {
    const ext = (d: ReturnType<typeof scenario>) => fe(d.desired, 'NodePort')[0]!;
    assert.equal(ext(scenario(np(''))).ext!.flags & MB_SVC_F_DSR, 0);
    assert.ok(ext(scenario(np(''), { config: { lbMode: 'dsr' } })).ext!.flags & MB_SVC_F_DSR);
    assert.equal(ext(scenario(np('', { 'service.cilium.io/forwarding-mode': 'snat' }), { config: { lbMode: 'dsr' } })).ext!.flags & MB_SVC_F_DSR, 0);
    const dsr = ext(scenario(np('', { 'service.cilium.io/forwarding-mode': 'dsr' })));
    assert.ok(dsr.ext!.flags & MB_SVC_F_DSR);
    assert.equal(dsr.int.flags & MB_SVC_F_DSR, 0);
  });

  it('externalTrafficPolicy Local: the external scope keeps this node\'s backends and is LOCAL; the internal scope keeps all', () => {
    const [f] = fe(scenario(np('externalTrafficPolicy: Local,')).desired, 'NodePort');
    assert.deepEqual(addrs(f!.ext), ['10.207.0.5:8080']);
    assert.ok(f!.ext!.flags & MB_SVC_F_LOCAL);
    assert.deepEqual(addrs(f!.int), ['10.207.0.5:8080', '10.207.1.6:8080']);
    assert.equal(f!.int.flags & MB_SVC_F_LOCAL, 0);
  });

  it('internalTrafficPolicy Local: the internal scope (ClusterIP too) keeps this node\'s backends and is LOCAL', () => {
    const d = scenario(np('internalTrafficPolicy: Local,')).desired;
    const [c] = fe(d, 'ClusterIP');
    assert.deepEqual(addrs(c!.int), ['10.207.0.5:8080']);
    assert.equal(c!.int.flags, MB_SVC_F_CLUSTER_IP | MB_SVC_F_LOCAL);
    const [n] = fe(d, 'NodePort');
    assert.deepEqual(addrs(n!.ext), ['10.207.0.5:8080', '10.207.1.6:8080']);
    assert.equal(n!.ext!.flags & MB_SVC_F_LOCAL, 0);
  });

  it('Local with no local backend: count 0 (the datapath drops or rejects)', () => {
    const d = scenario(svcDoc('web', '{type: NodePort, externalTrafficPolicy: Local, ports: [{name: http, port: 80, nodePort: 30080}]}') + sliceDoc('web-1', 'web', '[{name: http, port: 80}]', [READY_REMOTE])).desired;
    const [n] = fe(d, 'NodePort');
    assert.deepEqual(addrs(n!.ext), []);
    assert.ok(n!.ext!.flags & MB_SVC_F_LOCAL);
  });

  it('a backend is local when its endpoint is on this node even if the slice names no node', () => {
    const d = scenario(svcDoc('web', '{ports: [{port: 80}]}') + sliceDoc('web-1', 'web', '[{port: 80}]', ['{addresses: [10.207.0.9]}']), { endpoints: [endpoint(1, 'shop', 'p', '10.207.0.9')] }).desired;
    assert.equal(d.backends[0]!.local, true);
  });
});

describe('desired state: backends', () => {
  it('maintenance: the backend keeps its entry but gets no slot', () => {
    const d = scenario(svcDoc('web', '{ports: [{port: 80, targetPort: 8080}]}') + sliceDoc('web-1', 'web', '[{port: 8080}]', [READY, READY_REMOTE]), { states: { '10.207.0.5:8080': 'maintenance' } }).desired;
    assert.deepEqual(addrs(d.frontends[0]!.int), ['10.207.1.6:8080']);
    assert.equal(d.backends.find((b) => b.addr === '10.207.0.5')!.state, 'maintenance');
  });

  it('slice ports match service ports by name and protocol; a port without a number is skipped', () => {
    const d = scenario(
      svcDoc('web', '{ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}') +
      sliceDoc('web-1', 'web', '[{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]', [READY]) +
      sliceDoc('web-2', 'web', '[{name: http}]', ['{addresses: [10.207.0.20]}']),
    ).desired;
    assert.deepEqual(d.frontends.map((f) => `${f.port}/${f.protocol} -> ${addrs(f.int).join(',')}`), ['80/TCP -> 10.207.0.5:8080', '53/UDP -> 10.207.0.5:5353']);
  });

  it('the same backend in two slices counts once, with its best state', () => {
    const d = scenario(svcDoc('web', '{ports: [{port: 80}]}') +
      sliceDoc('web-1', 'web', '[{port: 80}]', ['{addresses: [10.207.0.5], conditions: {ready: false, serving: true, terminating: true}}']) +
      sliceDoc('web-2', 'web', '[{port: 80}]', ['{addresses: [10.207.0.5]}'])).desired;
    assert.deepEqual(addrs(d.frontends[0]!.int), ['10.207.0.5:80']);
    assert.equal(d.backends.length, 1);
  });

  it('a backend shared by two services has its best state in the backend map', () => {
    const d = scenario(svcDoc('a', '{ports: [{port: 80}]}') + svcDoc('b', '{ports: [{port: 80}]}') +
      sliceDoc('a-1', 'a', '[{port: 80}]', ['{addresses: [10.207.0.5], conditions: {ready: false, serving: true, terminating: true}}']) +
      sliceDoc('b-1', 'b', '[{port: 80}]', ['{addresses: [10.207.0.5]}'])).desired;
    assert.equal(d.backends.length, 1);
    assert.equal(d.backends[0]!.state, 'active');
    assert.deepEqual(d.frontends.map((f) => addrs(f.int).length), [0, 1]);
  });
});

describe('desired state: selector backends from local endpoints', () => {
  const pod = (name: string, labels: Record<string, string>, ports = '[{name: http, containerPort: 8080}, {name: dns, containerPort: 5353, protocol: UDP}]', extra = '') =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: shop, labels: ${JSON.stringify(labels)}}\nspec: {${extra}containers: [{name: app, ports: ${ports}}]}\n---\n`;
  const pods = pod('a', { app: 'web' }) + pod('b', { app: 'web', tier: 'x' }) + pod('c', { app: 'db' }) + pod('d', { app: 'web' }, '[{name: other, containerPort: 9}]') + pod('h', { app: 'web' }, '[{name: http, containerPort: 8080}]', 'hostNetwork: true, ');
  const endpoints = [
    endpoint(1, 'shop', 'a', '10.207.0.11'),
    endpoint(2, 'shop', 'b', '10.207.0.12'),
    endpoint(3, 'shop', 'c', '10.207.0.13'),
    endpoint(4, 'shop', 'd', '10.207.0.14'),
    endpoint(5, 'other', 'a', '10.207.0.15'),
    endpoint(6, 'shop', 'e', '10.207.0.16', 'creating'),
    endpoint(7, 'shop', 'h', '10.207.0.17'),
    endpoint(8, 'shop', 'nopod', '10.207.0.18'),
  ];

  it('named target ports resolve through each pod\'s container ports; pods without the name are left out', () => {
    const { inputs } = scenario(svcDoc('web', '{selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}, {name: dns, port: 53, protocol: UDP, targetPort: dns}]}') + pods, { endpoints });
    const [http, dns] = inputs[0]!.ports;
    assert.deepEqual(http!.backends.map((b) => `${b.addr}:${b.port} ${b.source} ${b.pod}`), ['10.207.0.11:8080 selector shop/a', '10.207.0.12:8080 selector shop/b']);
    assert.deepEqual(dns!.backends.map((b) => `${b.addr}:${b.port}/${b.protocol}`), ['10.207.0.11:5353/UDP', '10.207.0.12:5353/UDP']);
    assert.ok(http!.backends.every((b) => b.local && b.state === 'active'));
  });

  it('numeric target ports apply to every matching pod; selectors need every label', () => {
    const { inputs } = scenario(svcDoc('web', '{selector: {app: web, tier: x}, ports: [{port: 80, targetPort: 9090}]}') + pods, { endpoints });
    assert.deepEqual(inputs[0]!.ports[0]!.backends.map((b) => `${b.addr}:${b.port}`), ['10.207.0.12:9090']);
  });

  it('slices and selector backends add up', () => {
    const { desired } = scenario(svcDoc('web', '{selector: {app: db}, ports: [{port: 80, targetPort: 8080}]}') + sliceDoc('web-1', 'web', '[{port: 8080}]', [READY_REMOTE]) + pods, { endpoints });
    assert.deepEqual(addrs(desired.frontends[0]!.int), ['10.207.0.13:8080', '10.207.1.6:8080']);
  });
});
