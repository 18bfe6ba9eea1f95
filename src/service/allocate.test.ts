import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManifests } from '../k8s/documents.ts';
import type { ServiceSpec } from '../k8s/service.ts';
import { allocateServices, clusterIpBandOffset, nodePortBandOffset, type AllocationConfig, type IncomingService } from './allocate.ts';

const CFG: AllocationConfig = { serviceCidr: '10.96.7.0/24', nodePortRange: { min: 30000, max: 30999 } };

function services(yaml: string): IncomingService[] {
  return parseManifests(yaml, 'test.yaml').objects.flatMap((o) => (o.kind === 'Service' ? [{ spec: o.spec, document: o.source!.document }] : []));
}

function svc(name: string, spec: string, ns = 'default'): string {
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n---\n`;
}

function ok(existing: ServiceSpec[], yaml: string, cfg = CFG): ServiceSpec[] {
  const r = allocateServices(existing, services(yaml), cfg);
  assert.deepEqual(r.problems, []);
  return r.specs;
}

function problems(existing: ServiceSpec[], yaml: string, cfg = CFG): string[] {
  return allocateServices(existing, services(yaml), cfg).problems.map((p) => `${p.document}: ${p.field}: ${p.reason}`);
}

describe('ClusterIP allocation', () => {
  it('allocates from the upper band of the service CIDR, skipping the network address', () => {
    const [a, b] = ok([], svc('a', '{ports: [{port: 80}]}') + svc('b', '{ports: [{port: 80}]}'));
    assert.equal(clusterIpBandOffset(256), 16);
    assert.equal(a!.clusterIP, '10.96.7.17');
    assert.equal(b!.clusterIP, '10.96.7.18');
  });

  it('keeps the allocation when the same manifest is applied again, and when a changed one is', () => {
    const first = ok([], svc('a', '{ports: [{port: 80}]}'));
    const again = ok(first, svc('a', '{ports: [{port: 80}]}'));
    assert.deepEqual(again, first);
    const changed = ok(first, svc('a', '{ports: [{port: 81}]}') + svc('b', '{ports: [{port: 80}]}'));
    assert.equal(changed[0]!.clusterIP, first[0]!.clusterIP);
    assert.notEqual(changed[1]!.clusterIP, first[0]!.clusterIP);
  });

  it('takes a given address inside the range, also from the lower band', () => {
    const [a] = ok([], svc('a', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}'));
    assert.equal(a!.clusterIP, '10.96.7.10');
  });

  it('refuses an address outside the service CIDR, or its network or broadcast address', () => {
    assert.deepEqual(problems([], svc('a', '{clusterIP: 10.96.8.1, ports: [{port: 80}]}')), [
      'doc 1 (Service default/a): spec.clusterIP: 10.96.8.1 is outside the service CIDR 10.96.7.0/24 (the agent\'s --service-cidr): give an address inside it, or none to have one allocated',
    ]);
    assert.match(problems([], svc('a', '{clusterIP: 10.96.7.0, ports: [{port: 80}]}'))[0]!, /is the network address/);
    assert.match(problems([], svc('a', '{clusterIP: 10.96.7.255, ports: [{port: 80}]}'))[0]!, /is the broadcast address/);
  });

  it('refuses an address another service holds, stored or in the same manifest', () => {
    const stored = ok([], svc('a', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}'));
    assert.deepEqual(problems(stored, svc('b', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}')), [
      'doc 1 (Service default/b): spec.clusterIP: 10.96.7.10 is already allocated to Service default/a',
    ]);
    assert.deepEqual(problems([], svc('a', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}') + svc('b', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}')), [
      'doc 2 (Service default/b): spec.clusterIP: 10.96.7.10 is already allocated to Service default/a (in this manifest)',
    ]);
  });

  it('a re-applied service keeps its address against a hand-picked one elsewhere in the manifest', () => {
    const stored = ok([], svc('a', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}'));
    const p = problems(stored, svc('b', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}') + svc('a', '{ports: [{port: 80}]}'));
    assert.deepEqual(p, ['doc 1 (Service default/b): spec.clusterIP: 10.96.7.10 is already allocated to Service default/a (in this manifest)']);
  });

  it('clusterIP is immutable, as upstream', () => {
    const stored = ok([], svc('a', '{clusterIP: 10.96.7.10, ports: [{port: 80}]}'));
    assert.match(problems(stored, svc('a', '{clusterIP: 10.96.7.11, ports: [{port: 80}]}'))[0]!, /spec.clusterIP: may not change from "10.96.7.10" to "10.96.7.11" \(the field is immutable/);
    assert.match(problems(stored, svc('a', '{clusterIP: None, ports: [{port: 80}]}'))[0]!, /may not change from "10.96.7.10" to "None"/);
  });

  it('headless services get no address', () => {
    const [a] = ok([], svc('a', '{clusterIP: None, selector: {app: x}}'));
    assert.equal(a!.clusterIP, undefined);
    assert.equal(a!.headless, true);
  });

  it('deleting a service frees its address for the next one', () => {
    const [a] = ok([], svc('a', '{ports: [{port: 80}]}'));
    const [b] = ok([], svc('b', '{ports: [{port: 80}]}')); // a deleted: nothing stored
    assert.equal(b!.clusterIP, a!.clusterIP);
  });

  it('says when the range is full', () => {
    const small = { ...CFG, serviceCidr: '10.96.7.0/30' }; // .1 and .2 usable
    assert.deepEqual(
      ok([], svc('a', '{ports: [{port: 80}]}') + svc('b', '{ports: [{port: 80}]}'), small).map((s) => s.clusterIP),
      ['10.96.7.2', '10.96.7.1'],
      'the upper band first, then the lower one',
    );
    assert.match(problems([], svc('a', '{ports: [{port: 80}]}') + svc('b', '{ports: [{port: 80}]}') + svc('c', '{ports: [{port: 80}]}'), small)[0]!, /doc 3 .*no free address left in the service CIDR 10.96.7.0\/30/);
  });

  it('allocates 10 000 addresses quickly', () => {
    const big = { ...CFG, serviceCidr: '10.96.0.0/16' };
    const incoming: IncomingService[] = [];
    const template = services(svc('x', '{ports: [{port: 80}]}'))[0]!;
    for (let i = 0; i < 10_000; i++) incoming.push({ spec: { ...template.spec, name: `s${i}` }, document: `doc ${i + 1}` });
    const t0 = performance.now();
    const r = allocateServices([], incoming, big);
    const ms = performance.now() - t0;
    assert.deepEqual(r.problems, []);
    assert.equal(new Set(r.specs.map((s) => s.clusterIP)).size, 10_000);
    assert.ok(ms < 500, `took ${ms} ms`);
  });
});

describe('NodePort allocation', () => {
  it('allocates from the upper band of the range for NodePort and LoadBalancer services', () => {
    assert.equal(nodePortBandOffset(1000), 31);
    const [a, b] = ok([], svc('a', '{type: NodePort, ports: [{name: px, port: 80}, {name: py, port: 81}]}') + svc('b', '{type: LoadBalancer, ports: [{port: 80}]}'));
    assert.deepEqual(a!.ports.map((p) => p.nodePort), [30031, 30032]);
    assert.deepEqual(b!.ports.map((p) => p.nodePort), [30033]);
  });

  it('ports with the same number and different protocols share a NodePort', () => {
    const [a] = ok([], svc('dns', '{type: NodePort, ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]}'));
    assert.equal(a!.ports[0]!.nodePort, a!.ports[1]!.nodePort);
  });

  it('no NodePorts for ClusterIP services or LoadBalancers that do not allocate them', () => {
    const [a, b] = ok([], svc('a', '{ports: [{port: 80}]}') + svc('b', '{type: LoadBalancer, allocateLoadBalancerNodePorts: false, ports: [{port: 80}]}'));
    assert.equal(a!.ports[0]!.nodePort, undefined);
    assert.equal(b!.ports[0]!.nodePort, undefined);
  });

  it('keeps NodePorts on re-apply, matching ports by number and protocol', () => {
    const first = ok([], svc('a', '{type: NodePort, ports: [{name: px, port: 80}, {name: py, port: 81, nodePort: 30500}]}'));
    const again = ok(first, svc('a', '{type: NodePort, ports: [{name: py, port: 81}, {name: px, port: 80}, {name: pz, port: 82}]}'));
    assert.deepEqual(again[0]!.ports.map((p) => [p.name, p.nodePort]), [['py', 30500], ['px', first[0]!.ports[0]!.nodePort], ['pz', 30032]]);
  });

  it('refuses a NodePort outside the agent range or held by another service', () => {
    const stored = ok([], svc('a', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'));
    assert.deepEqual(problems(stored, svc('b', '{type: NodePort, ports: [{name: a, port: 80, nodePort: 31000}, {name: b, port: 81, nodePort: 30080, protocol: UDP}]}')), [
      "doc 1 (Service default/b): spec.ports[0].nodePort: 31000 is outside the node port range 30000-30999 (the agent's --node-port-range)",
      'doc 1 (Service default/b): spec.ports[1].nodePort: 30080 is already allocated to Service default/a',
    ]);
  });

  it('a re-applied service that names its NodePort again keeps it against another service', () => {
    const stored = ok([], svc('a', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'));
    const p = problems(stored, svc('a', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}') + svc('b', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'));
    assert.deepEqual(p, ['doc 2 (Service default/b): spec.ports[0].nodePort: 30080 is already allocated to Service default/a (in this manifest)']);
  });

  it('a service turned into ClusterIP releases its NodePorts', () => {
    const stored = ok([], svc('a', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'));
    const [a, b] = ok(stored, svc('a', '{ports: [{port: 80}]}') + svc('b', '{type: NodePort, ports: [{port: 80, nodePort: 30080}]}'));
    assert.equal(a!.ports[0]!.nodePort, undefined);
    assert.equal(b!.ports[0]!.nodePort, 30080);
  });

  it('says when the range is full', () => {
    const tiny = { ...CFG, nodePortRange: { min: 30000, max: 30001 } };
    assert.match(problems([], svc('a', '{type: NodePort, ports: [{name: a, port: 80}, {name: b, port: 81}, {name: c, port: 82}]}'), tiny)[0]!, /spec.ports\[2\].nodePort: no free port left in the node port range 30000-30001/);
  });
});
