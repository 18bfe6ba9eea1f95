// The service map: flows folded into a graph of who talks to whom. Pure.
//
// Nodes are workloads: a pod's namespace and `app` label (every replica of
// an app is one node), else the pod itself; addresses outside the pods are
// their reserved identity (world, host, remote-node, …), each one node.
// Edges go from the side that opened the connection to the side that
// accepted it, per destination port and protocol: a reply flow is counted on
// the edge of its connection (sides swapped), never as an edge of its own.
// Each edge counts its flows by verdict, its drops by reason, and names the
// service when the flow carried one.
import type { Flow, FlowEndpoint, Verdict } from './flow-types.ts';

export type ServiceMapNodeKind = 'workload' | 'pod' | 'reserved' | 'ip';

export interface ServiceMapNode {
  /** `NS/APP` (workload), `NS/POD` (pod), `reserved:world`, `ip:ADDR`. */
  id: string;
  /** What the UI prints: `demo/frontend`, `world`, `10.0.0.9`. */
  label: string;
  kind: ServiceMapNodeKind;
  namespace?: string;
  /** Pods seen as this node, sorted (`NS/NAME`). */
  pods: string[];
  /** Security identities seen as this node, sorted. */
  identities: number[];
}

export interface ServiceMapEdge {
  /** `SOURCE -> DESTINATION PORT/PROTOCOL`. */
  id: string;
  source: string;
  destination: string;
  /** TCP, UDP, SCTP, ICMPv4, or `unknown`. */
  protocol: string;
  /** Destination port (absent for ICMP). */
  port?: number;
  /** `NS/NAME` of the service when the flows named one. */
  service?: string;
  flows: number;
  forwarded: number;
  dropped: number;
  audit: number;
  /** Drops by Hubble's reason name (POLICY_DENIED, …). */
  dropReasons: Record<string, number>;
  /** The newest flow's time (RFC 3339). */
  lastSeen: string;
}

export interface ServiceMap {
  nodes: ServiceMapNode[];
  edges: ServiceMapEdge[];
}

/** Cilium's reserved identities by number, for endpoints that carry no labels. */
const RESERVED_IDENTITIES: Record<number, string> = {
  1: 'host',
  2: 'world',
  3: 'unmanaged',
  4: 'health',
  5: 'init',
  6: 'remote-node',
  7: 'kube-apiserver',
  8: 'ingress',
};

interface Side {
  node: ServiceMapNode;
  pod?: string;
  identity?: number;
}

/** The node a flow endpoint belongs to. `ip` is the address on the packet. */
export function nodeOf(ep: FlowEndpoint, ip: string): ServiceMapNode {
  const ns = ep.namespace;
  const app = ep.labels?.find((l) => l.startsWith('k8s:app='))?.slice('k8s:app='.length);
  if (ns && app) return { id: `${ns}/${app}`, label: `${ns}/${app}`, kind: 'workload', namespace: ns, pods: [], identities: [] };
  if (ep.pod_name) {
    const id = ns ? `${ns}/${ep.pod_name}` : ep.pod_name;
    return { id, label: id, kind: 'pod', ...(ns ? { namespace: ns } : {}), pods: [], identities: [] };
  }
  const reserved = ep.labels?.find((l) => l.startsWith('reserved:'))?.slice('reserved:'.length)
    ?? (ep.identity !== undefined ? RESERVED_IDENTITIES[ep.identity] : undefined);
  if (reserved) return { id: `reserved:${reserved}`, label: reserved, kind: 'reserved', pods: [], identities: [] };
  return { id: `ip:${ip}`, label: ip, kind: 'ip', pods: [], identities: [] };
}

function sideOf(ep: FlowEndpoint, ip: string): Side {
  const node = nodeOf(ep, ip);
  return {
    node,
    ...(ep.pod_name ? { pod: ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name } : {}),
    ...(ep.identity !== undefined ? { identity: ep.identity } : {}),
  };
}

function l4Of(flow: Flow): { protocol: string; sport?: number; dport?: number } {
  const l4 = flow.l4;
  if (l4?.TCP) return { protocol: 'TCP', sport: l4.TCP.source_port, dport: l4.TCP.destination_port };
  if (l4?.UDP) return { protocol: 'UDP', sport: l4.UDP.source_port, dport: l4.UDP.destination_port };
  if (l4?.SCTP) return { protocol: 'SCTP', sport: l4.SCTP.source_port, dport: l4.SCTP.destination_port };
  if (l4?.ICMPv4) return { protocol: 'ICMPv4' };
  return { protocol: 'unknown' };
}

const COUNTED: Partial<Record<Verdict, 'forwarded' | 'dropped' | 'audit'>> = { FORWARDED: 'forwarded', DROPPED: 'dropped', AUDIT: 'audit' };

/** Builds a service map flow by flow (the UI server keeps none: it folds the ring on each request). */
export class ServiceMapBuilder {
  readonly #nodes = new Map<string, { node: ServiceMapNode; pods: Set<string>; identities: Set<number> }>();
  readonly #edges = new Map<string, ServiceMapEdge>();

  add(flow: Flow): void {
    let src = sideOf(flow.source, flow.IP.source);
    let dst = sideOf(flow.destination, flow.IP.destination);
    const l4 = l4Of(flow);
    let port = l4.dport;
    let service = flow.destination_service;
    if (flow.is_reply === true) {
      [src, dst] = [dst, src];
      port = l4.sport;
      service = flow.source_service;
    }
    this.#note(src);
    this.#note(dst);
    const id = `${src.node.id} -> ${dst.node.id} ${port ?? '-'}/${l4.protocol}`;
    let edge = this.#edges.get(id);
    if (!edge) {
      edge = {
        id,
        source: src.node.id,
        destination: dst.node.id,
        protocol: l4.protocol,
        ...(port !== undefined ? { port } : {}),
        flows: 0,
        forwarded: 0,
        dropped: 0,
        audit: 0,
        dropReasons: {},
        lastSeen: flow.time,
      };
      this.#edges.set(id, edge);
    }
    if (service && !edge.service) edge.service = `${service.namespace}/${service.name}`;
    edge.flows++;
    const counted = COUNTED[flow.verdict];
    if (counted) edge[counted]++;
    if (flow.verdict === 'DROPPED') {
      const reason = flow.drop_reason_desc ?? 'DROP_REASON_UNKNOWN';
      edge.dropReasons[reason] = (edge.dropReasons[reason] ?? 0) + 1;
    }
    if (flow.time > edge.lastSeen) edge.lastSeen = flow.time;
  }

  #note(side: Side): void {
    let entry = this.#nodes.get(side.node.id);
    if (!entry) {
      entry = { node: side.node, pods: new Set(), identities: new Set() };
      this.#nodes.set(side.node.id, entry);
    }
    if (side.pod) entry.pods.add(side.pod);
    if (side.identity !== undefined) entry.identities.add(side.identity);
  }

  build(): ServiceMap {
    const nodes = [...this.#nodes.values()]
      .map(({ node, pods, identities }) => ({ ...node, pods: [...pods].sort(), identities: [...identities].sort((a, b) => a - b) }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const edges = [...this.#edges.values()]
      .map((e) => ({ ...e, dropReasons: { ...e.dropReasons } }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { nodes, edges };
  }
}

/** The service map of some flows. */
export function buildServiceMap(flows: Iterable<Flow>): ServiceMap {
  const b = new ServiceMapBuilder();
  for (const f of flows) b.add(f);
  return b.build();
}
