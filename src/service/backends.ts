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
import { ip4ToInt } from '../net/ip4.ts';

export type BackendSource = 'EndpointSlice' | 'selector';

export interface BackendSpec {
  addr: string;
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

  constructor(inputs: BackendInputs) {
    this.#in = inputs;
    for (const s of inputs.slices) {
      const k = `${s.namespace}/${s.serviceName}`;
      let list = this.#slices.get(k);
      if (!list) this.#slices.set(k, (list = []));
      list.push(s);
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
    return svc.ports.map((port) => {
      const byAddr = new Map<string, BackendSpec>();
      const add = (b: BackendSpec) => {
        const k = backendAddress(b);
        const prev = byAddr.get(k);
        if (!prev || RANK[b.state] > RANK[prev.state]) byAddr.set(k, b);
      };
      for (const slice of slices) {
        const sp = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
        // A port without a number has nothing to translate to (kube-proxy skips it too).
        if (!sp || sp.port === undefined) continue;
        for (const ep of slice.endpoints) {
          const state = conditionState(ep.conditions);
          const addr = ep.addresses[0];
          if (state === undefined || addr === undefined) continue;
          const b: BackendSpec = {
            addr,
            port: sp.port,
            protocol: port.protocol,
            state,
            local: ep.nodeName === this.#in.nodeName || this.#localAddrs.has(addr),
            source: 'EndpointSlice',
          };
          if (ep.nodeName !== undefined) b.nodeName = ep.nodeName;
          if (ep.targetRef?.name && (ep.targetRef.kind === undefined || ep.targetRef.kind === 'Pod')) b.pod = `${ep.targetRef.namespace ?? slice.namespace}/${ep.targetRef.name}`;
          add(b);
        }
      }
      for (const { ep, pod } of selected) {
        const target = typeof port.targetPort === 'number' ? port.targetPort : findNamedPort(pod, port.targetPort, port.protocol);
        if (target === undefined) continue; // the pod has no such named port: not a backend (as upstream)
        add({ addr: ep.ipv4, port: target, protocol: port.protocol, state: 'active', local: true, nodeName: this.#in.nodeName, pod: `${ep.podNamespace}/${ep.podName}`, source: 'selector' });
      }
      const backends = [...byAddr.values()];
      for (const b of backends) if (this.#in.states.get(backendAddress(b)) === 'maintenance') b.state = 'maintenance';
      if (backends.length > 1) {
        const num = new Map(backends.map((b) => [b, ip4ToInt(b.addr)]));
        backends.sort((a, b) => num.get(a)! - num.get(b)! || a.port - b.port);
      }
      return { port, backends };
    });
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
