// The backends of each Service port, from what the store and this node know
// (pure): the Service's EndpointSlices, and, in the standalone store, the
// local endpoints its selector matches (what the Kubernetes endpoints
// controller would have written into a slice), with the operator's
// maintenance marks on top.
//
// Endpoint conditions → backend state (the v1 contract, as kube-proxy reads it):
//   ready                     → active       (gets new connections)
//   serving and terminating   → terminating  (keeps its connections, gets no new ones)
//   otherwise (not serving)   → not a backend
// A backend marked for maintenance (`membrane service backend-state`) gets
// no new connections either, whatever its conditions say.
import type { EndpointJSON } from '../agent/api-types.ts';
import type { BackendState } from '../datapath/abi.ts';
import type { EndpointConditions, EndpointSliceSpec } from '../k8s/endpointslice.ts';
import { findNamedPort, type PodSpec, type Protocol } from '../k8s/pod.ts';
import type { ServicePortSpec, ServiceSpec } from '../k8s/service.ts';
import { addrPortKey, ip4Num } from './keys.ts';
import { TupleIndex } from './tuple-index.ts';

export type BackendSource = 'EndpointSlice' | 'selector';

export interface BackendSpec {
  addr: string;
  /** addr as a host-order number */
  ip: number;
  port: number;
  protocol: Protocol;
  state: BackendState;
  /** Runs on this node (its endpoint is here, or the slice names this node). */
  local: boolean;
  nodeName?: string;
  /** namespace/name of the pod, when known. */
  pod?: string;
  source: BackendSource;
}

export interface PortBackends {
  port: ServicePortSpec;
  /** Sorted by address then port; each address:port once. */
  backends: BackendSpec[];
}

export interface BackendInputs {
  nodeName: string;
  slices: readonly EndpointSliceSpec[];
  /** Endpoints on this node (any state; only ready ones become backends). */
  endpoints: readonly EndpointJSON[];
  /** The Pod object of a namespace/name, from the store. */
  pod(namespace: string, name: string): PodSpec | undefined;
  /** Operator marks by "addr:port" (only 'maintenance' is stored). */
  states: ReadonlyMap<string, BackendState>;
}

/** State of an endpoint from its conditions; undefined when it must not be used. */
export function conditionState(c: EndpointConditions): BackendState | undefined {
  if (c.ready) return 'active';
  if (c.serving && c.terminating) return 'terminating';
  return undefined;
}

const RANK: Record<BackendState, number> = { active: 2, terminating: 1, maintenance: 0 };

export function backendAddress(b: { addr: string; port: number }): string {
  return `${b.addr}:${b.port}`;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Indexes the inputs once; `forService` is then cheap per service. */
export class BackendIndex {
  readonly #in: BackendInputs;
  readonly #slices = new Map<string, EndpointSliceSpec[]>();
  readonly #endpointsByNs = new Map<string, EndpointJSON[]>();
  readonly #localAddrs = new Set<string>();
  readonly #states = new Map<number, BackendState>();

  constructor(inputs: BackendInputs) {
    this.#in = inputs;
    for (const s of inputs.slices) {
      const k = `${s.namespace}/${s.serviceName}`;
      let list = this.#slices.get(k);
      if (!list) this.#slices.set(k, (list = []));
      list.push(s);
    }
    for (const [address, state] of inputs.states) {
      const colon = address.lastIndexOf(':');
      this.#states.set(addrPortKey(ip4Num(address.slice(0, colon)), Number(address.slice(colon + 1))), state);
    }
    for (const ep of inputs.endpoints) {
      this.#localAddrs.add(ep.ipv4);
      if (ep.state !== 'ready' || !ep.podName) continue;
      let list = this.#endpointsByNs.get(ep.podNamespace);
      if (!list) this.#endpointsByNs.set(ep.podNamespace, (list = []));
      list.push(ep);
    }
  }

  /** The backends of every port of `svc`, in the service's port order. */
  forService(svc: ServiceSpec): PortBackends[] {
    const slices = this.#slices.get(`${svc.namespace}/${svc.name}`) ?? [];
    const selected = Object.keys(svc.selector).length > 0 ? this.#selected(svc) : [];
    const nodeName = this.#in.nodeName;
    const out: PortBackends[] = [];
    for (const port of svc.ports) {
      const backends: BackendSpec[] = [];
      // Each address:port once, with its best state (slices may overlap):
      // a linear scan while the list is short, an index beyond.
      let seen: TupleIndex | undefined; // (ip, port) → index + 1
      const add = (b: BackendSpec) => {
        let at = 0;
        if (seen) at = seen.get(b.ip, b.port, 0);
        else for (let i = 0; i < backends.length; i++) if (backends[i]!.ip === b.ip && backends[i]!.port === b.port) at = i + 1;
        if (at === 0) {
          backends.push(b);
          if (seen) seen.set(b.ip, b.port, 0, backends.length);
          else if (backends.length === 32) {
            seen = new TupleIndex(64);
            backends.forEach((x, i) => seen!.set(x.ip, x.port, 0, i + 1));
          }
        } else if (RANK[b.state] > RANK[backends[at - 1]!.state]) backends[at - 1] = b;
      };
      for (const slice of slices) {
        let sp: EndpointSliceSpec['ports'][number] | undefined;
        for (const p of slice.ports) if (p.name === port.name && p.protocol === port.protocol) sp = p;
        // A port without a number has nothing to translate to (kube-proxy skips it too).
        if (!sp || sp.port === undefined) continue;
        for (const ep of slice.endpoints) {
          const state = conditionState(ep.conditions);
          const addr = ep.addresses[0];
          if (state === undefined || addr === undefined) continue;
          // Every field set, always in this order: one object shape for all backends.
          const ref = ep.targetRef;
          add({
            addr,
            ip: ip4Num(addr),
            port: sp.port,
            protocol: port.protocol,
            state,
            local: ep.nodeName === nodeName || this.#localAddrs.has(addr),
            nodeName: ep.nodeName,
            pod: ref?.name && (ref.kind === undefined || ref.kind === 'Pod') ? `${ref.namespace ?? slice.namespace}/${ref.name}` : undefined,
            source: 'EndpointSlice',
          });
        }
      }
      for (const { ep, pod } of selected) {
        const target = typeof port.targetPort === 'number' ? port.targetPort : findNamedPort(pod, port.targetPort, port.protocol);
        if (target === undefined) continue; // the pod has no such named port: not a backend (as upstream)
        add({ addr: ep.ipv4, ip: ip4Num(ep.ipv4), port: target, protocol: port.protocol, state: 'active', local: true, nodeName, pod: `${ep.podNamespace}/${ep.podName}`, source: 'selector' });
      }
      if (this.#states.size > 0) for (const b of backends) if (this.#states.get(addrPortKey(b.ip, b.port)) === 'maintenance') b.state = 'maintenance';
      if (backends.length > 1) backends.sort((a, b) => a.ip - b.ip || a.port - b.port);
      out.push({ port, backends });
    }
    return out;
  }

  /** Ready local endpoints whose Pod object (in the service's namespace) the selector matches. */
  #selected(svc: ServiceSpec): Array<{ ep: EndpointJSON; pod: PodSpec }> {
    const out: Array<{ ep: EndpointJSON; pod: PodSpec }> = [];
    for (const ep of this.#endpointsByNs.get(svc.namespace) ?? []) {
      const pod = this.#in.pod(ep.podNamespace, ep.podName);
      if (pod && !pod.hostNetwork && matches(svc.selector, pod.labels)) out.push({ ep, pod });
    }
    return out;
  }
}
