// Fixtures for the flow pipeline's unit tests: raw events and a small node
// (two pods in `demo`, a Service, a policy rule) as enricher sources.
import type { RawEvent } from '../datapath/abi.ts';
import type { EnricherSources, EndpointSource, ServiceSource } from './enrich.ts';

export function rawEvent(over: Partial<RawEvent> = {}): RawEvent {
  return {
    ts_ns: 1_000_000_000n, type: 2, subtype: 1, source: 0, ifindex: 0,
    saddr: '10.222.0.10', daddr: '10.222.0.11', sport: 41234, dport: 80, proto: 6, tcp_flags: 0x02, len: 60,
    dir: 0, verdict: 0, src_identity: 0, dst_identity: 0, rule_id: 0, orig_daddr: '0.0.0.0', orig_dport: 0, flags: 0,
    ...over,
  };
}

export const FRONTEND: EndpointSource = { ip: '10.222.0.10', id: 11, namespace: 'demo', pod: 'frontend', labels: { app: 'frontend' }, identity: 300, ifindex: 20, ifname: 'lxc11' };
export const BACKEND1: EndpointSource = { ip: '10.222.0.11', id: 12, namespace: 'demo', pod: 'backend-1', labels: { app: 'backend' }, identity: 301, ifindex: 21, ifname: 'lxc12' };
export const SERVICE: ServiceSource = {
  service: 'demo/backend',
  frontends: [{ ip: '10.96.22.10', port: 80, proto: 6 }],
  backends: [{ ip: '10.222.0.11', port: 8080, proto: 6 }],
};

export interface FakeSources extends EnricherSources {
  /** Mutable state; bump() after changing it. */
  state: { endpoints: EndpointSource[]; services: ServiceSource[]; ipcache: Map<string, number>; version: number };
  bump(): void;
  calls: { endpoints: number; identityOf: number };
}

export function fakeSources(): FakeSources {
  const identities: Record<number, Record<string, string>> = {
    1: { 'reserved:host': '' },
    2: { 'reserved:world': '' },
    300: { 'k8s:app': 'frontend', 'k8s:io.kubernetes.pod.namespace': 'demo' },
    301: { 'k8s:app': 'backend', 'k8s:io.kubernetes.pod.namespace': 'demo' },
    16777217: { 'cidr:203.0.113.0/24': '', 'reserved:world': '' },
  };
  const s: FakeSources = {
    state: { endpoints: [FRONTEND, BACKEND1], services: [SERVICE], ipcache: new Map([['198.18.22.1', 1], ['203.0.113.7', 16777217]]), version: 0 },
    calls: { endpoints: 0, identityOf: 0 },
    bump: () => void s.state.version++,
    endpoints: () => (s.calls.endpoints++, s.state.endpoints),
    identityLabels: (id) => identities[id],
    identityOf: (ip) => (s.calls.identityOf++, s.state.ipcache.get(ip) ?? 2),
    services: () => s.state.services,
    rule: (id) => (id === 7 ? { name: 'NetworkPolicy demo/deny-frontend spec.ingress[0]', kind: 'NetworkPolicy', policy: 'deny-frontend', namespace: 'demo' } : undefined),
    interfaces: () => [{ ifindex: 2, name: 'eth0' }],
    version: () => s.state.version,
  };
  return s;
}
