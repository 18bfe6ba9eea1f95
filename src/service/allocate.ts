// ClusterIP and NodePort allocation, the way the Kubernetes API server does
// it, applied to the Services of a manifest before they are stored. Pure:
// the store is the allocation record (every stored Service carries its
// clusterIP and nodePorts), so deleting a Service frees what it held, and a
// restarted agent needs no separate bitmap.
//
// Rules:
//  - a clusterIP given in the manifest must lie in the service CIDR (not its
//    network or broadcast address) and not be held by another Service;
//  - a Service applied again keeps what it holds (a manifest without a
//    clusterIP or nodePort gets the earlier allocation back, as kubectl
//    apply does against a live object); clusterIP is immutable, as upstream
//    (changing it, or between headless and not, needs a delete first);
//  - NodePorts (type NodePort, and LoadBalancer with
//    allocateLoadBalancerNodePorts) likewise, from the node port range; one
//    NodePort belongs to one Service, whatever the protocol (upstream keeps
//    one allocator for all protocols); within a Service, ports with the same
//    number and different protocols share theirs (TCP+UDP DNS);
//  - new allocations come from the upper part of the range first, leaving
//    the lower part to addresses and ports chosen by hand (KEP-3070 and
//    KEP-3668), and are deterministic (the lowest free one from there).
import type { Problem } from '../k8s/problems.ts';
import { type NodePortRange, type ServicePortSpec, type ServiceSpec } from '../k8s/service.ts';
import { intToIp4, ip4ToInt, parseCidr4, type Cidr4 } from '../net/ip4.ts';

export interface AllocationConfig {
  serviceCidr: string;
  nodePortRange: NodePortRange;
}

/** A Service of the manifest being applied, with where it came from for messages. */
export interface IncomingService {
  spec: ServiceSpec;
  /** Display name of the document, e.g. `doc 2 (Service shop/web)`. */
  document: string;
  line?: number;
}

export interface AllocationResult {
  /** The incoming services with clusterIP and nodePorts filled, in input order (meaningful only without problems). */
  specs: ServiceSpec[];
  problems: Problem[];
}

export function serviceName(s: Pick<ServiceSpec, 'namespace' | 'name'>): string {
  return `${s.namespace}/${s.name}`;
}

/** Whether the service's ports get NodePorts (allocated when not given). */
export function wantsNodePorts(s: Pick<ServiceSpec, 'type' | 'allocateLoadBalancerNodePorts'>): boolean {
  return s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
}

/** First offset of the dynamic band: upstream's min(max(16, size/16), 256) for ClusterIPs. */
export function clusterIpBandOffset(size: number): number {
  return Math.min(Math.max(16, Math.floor(size / 16)), 256);
}

/** First offset of the dynamic band for NodePorts: upstream's min(max(16, size/32), 128). */
export function nodePortBandOffset(size: number): number {
  return Math.min(Math.max(16, Math.floor(size / 32)), 128);
}

/** The usable addresses of a service CIDR: without network and broadcast addresses (except for /31 and /32). */
export function usableRange(c: Cidr4): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.base, last: c.base + c.size - 1 };
  return { first: c.base + 1, last: c.base + c.size - 2 };
}

/**
 * Hands out free values of [first, last]: the upper band (from `first +
 * offset`) first, then the lower one. A cursor makes n allocations O(n + range).
 */
class Picker {
  readonly #first: number;
  readonly #last: number;
  readonly #start: number;
  readonly #used: Map<number, string>;
  #cursor: number;
  #wrapped = false;
  constructor(first: number, last: number, offset: number, used: Map<number, string>) {
    this.#first = first;
    this.#last = last;
    this.#start = Math.min(first + offset, last);
    this.#cursor = this.#start;
    this.#used = used;
  }
  next(owner: string): number | undefined {
    for (;;) {
      if (!this.#wrapped) {
        if (this.#cursor > this.#last) {
          this.#wrapped = true;
          this.#cursor = this.#first;
          continue;
        }
      } else if (this.#cursor >= this.#start) {
        return undefined;
      }
      const v = this.#cursor++;
      if (!this.#used.has(v)) {
        this.#used.set(v, owner);
        return v;
      }
    }
  }
}

function portKey(p: Pick<ServicePortSpec, 'port' | 'protocol'>): string {
  return `${p.port}/${p.protocol}`;
}

/**
 * Fills clusterIP and nodePorts of `incoming` (the Services of one
 * manifest), given every stored Service (`existing`; an incoming Service
 * replaces the stored one of the same namespace/name). Reports every
 * conflict; allocates nothing unless all are resolved.
 */
export function allocateServices(existing: readonly ServiceSpec[], incoming: readonly IncomingService[], cfg: AllocationConfig): AllocationResult {
  const cidr = parseCidr4(cfg.serviceCidr, { where: '--service-cidr' });
  const { first, last } = usableRange(cidr);
  const range = cfg.nodePortRange;
  const problems: Problem[] = [];
  const report = (inc: IncomingService, field: string, reason: string) => {
    const p: Problem = { document: inc.document, field, reason };
    if (inc.line !== undefined) p.line = inc.line;
    problems.push(p);
  };

  const replaced = new Set(incoming.map((i) => serviceName(i.spec)));
  const oldByName = new Map(existing.map((s) => [serviceName(s), s]));
  const ips = new Map<number, string>(); // address → owner
  const nodePorts = new Map<number, string>(); // node port → owner
  const describeOwner = (owner: string) => `Service ${owner}${replaced.has(owner) ? ' (in this manifest)' : ''}`;

  // 1. What the services not being replaced hold.
  for (const s of existing) {
    const name = serviceName(s);
    if (replaced.has(name)) continue;
    if (s.clusterIP !== undefined) ips.set(ip4ToInt(s.clusterIP), name);
    for (const p of s.ports) if (p.nodePort !== undefined) nodePorts.set(p.nodePort, name);
  }

  const out = incoming.map((inc) => ({ ...inc.spec, ports: inc.spec.ports.map((p) => ({ ...p })) }));

  // 2. What re-applied services keep (their earlier allocations), so that a
  //    value given by hand elsewhere in the manifest cannot take it from them.
  incoming.forEach((inc, i) => {
    const s = out[i]!;
    const name = serviceName(s);
    const old = oldByName.get(name);
    if (!old) return;
    if (old.headless !== s.headless) {
      report(inc, 'spec.clusterIP', `may not change from ${old.headless ? '"None"' : JSON.stringify(old.clusterIP ?? '')} to ${s.headless ? '"None"' : JSON.stringify(s.clusterIP ?? '')} (the field is immutable, as in Kubernetes): delete the Service first`);
      return;
    }
    if (!s.headless && old.clusterIP !== undefined) {
      if (s.clusterIP === undefined) s.clusterIP = old.clusterIP;
      else if (s.clusterIP !== old.clusterIP) {
        report(inc, 'spec.clusterIP', `may not change from ${JSON.stringify(old.clusterIP)} to ${JSON.stringify(s.clusterIP)} (the field is immutable, as in Kubernetes): delete the Service first`);
        return;
      }
      ips.set(ip4ToInt(s.clusterIP), name);
    }
    if (wantsNodePorts(s)) {
      const oldPorts = new Map(old.ports.filter((p) => p.nodePort !== undefined).map((p) => [portKey(p), p.nodePort!]));
      const held = new Set(oldPorts.values());
      for (const p of s.ports) {
        if (p.nodePort !== undefined) {
          if (held.has(p.nodePort)) nodePorts.set(p.nodePort, name); // given again as it was
          continue;
        }
        const kept = oldPorts.get(portKey(p));
        if (kept !== undefined && (nodePorts.get(kept) ?? name) === name) {
          p.nodePort = kept;
          nodePorts.set(kept, name);
        }
      }
    }
  });

  // 3. Values given in the manifest: in range, and nobody else's.
  incoming.forEach((inc, i) => {
    const s = out[i]!;
    const name = serviceName(s);
    const old = oldByName.get(name);
    if (!s.headless && s.clusterIP !== undefined && s.clusterIP !== old?.clusterIP) {
      const n = ip4ToInt(s.clusterIP);
      const owner = ips.get(n);
      if (n < cidr.base || n >= cidr.base + cidr.size) {
        report(inc, 'spec.clusterIP', `${s.clusterIP} is outside the service CIDR ${cidr.text} (the agent's --service-cidr): give an address inside it, or none to have one allocated`);
      } else if (n < first || n > last) {
        report(inc, 'spec.clusterIP', `${s.clusterIP} is the ${n === cidr.base ? 'network' : 'broadcast'} address of the service CIDR ${cidr.text}: give another address, or none to have one allocated`);
      } else if (owner !== undefined && owner !== name) {
        report(inc, 'spec.clusterIP', `${s.clusterIP} is already allocated to ${describeOwner(owner)}`);
      } else {
        ips.set(n, name);
      }
    }
    const oldNodePorts = new Set((old?.ports ?? []).map((p) => p.nodePort).filter((p) => p !== undefined));
    s.ports.forEach((p, j) => {
      if (p.nodePort === undefined || oldNodePorts.has(p.nodePort)) return;
      const field = `spec.ports[${j}].nodePort`;
      const owner = nodePorts.get(p.nodePort);
      if (p.nodePort < range.min || p.nodePort > range.max) {
        report(inc, field, `${p.nodePort} is outside the node port range ${range.min}-${range.max} (the agent's --node-port-range)`);
      } else if (owner !== undefined && owner !== name) {
        report(inc, field, `${p.nodePort} is already allocated to ${describeOwner(owner)}`);
      } else {
        nodePorts.set(p.nodePort, name);
      }
    });
  });
  if (problems.length > 0) return { specs: out, problems };

  // 4. New allocations.
  const ipPicker = new Picker(first, last, clusterIpBandOffset(cidr.size), ips);
  const portPicker = new Picker(range.min, range.max, nodePortBandOffset(range.max - range.min + 1), nodePorts);
  incoming.forEach((inc, i) => {
    const s = out[i]!;
    const name = serviceName(s);
    if (!s.headless && s.clusterIP === undefined) {
      const n = ipPicker.next(name);
      if (n === undefined) report(inc, 'spec.clusterIP', `no free address left in the service CIDR ${cidr.text} (the agent's --service-cidr): delete unused Services or use a larger range`);
      else s.clusterIP = intToIp4(n);
    }
    if (!wantsNodePorts(s)) return;
    s.ports.forEach((p, j) => {
      if (p.nodePort !== undefined) return;
      // Same port number, another protocol: share its NodePort.
      const twin = s.ports.find((q) => q !== p && q.port === p.port && q.protocol !== p.protocol && q.nodePort !== undefined);
      if (twin) {
        p.nodePort = twin.nodePort!;
        return;
      }
      const n = portPicker.next(name);
      if (n === undefined) report(inc, `spec.ports[${j}].nodePort`, `no free port left in the node port range ${range.min}-${range.max} (the agent's --node-port-range)`);
      else p.nodePort = n;
    });
  });
  return { specs: out, problems };
}

/** True when the service has frontends to program (not headless, has a ClusterIP). */
export function isLoadBalanced(s: ServiceSpec): boolean {
  return !s.headless && s.clusterIP !== undefined;
}
