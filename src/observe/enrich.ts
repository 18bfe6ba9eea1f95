// What the agent knows about an event's addresses: endpoints (ID, pod,
// namespace, labels, identity), identities of other addresses (ipcache),
// services (by frontend, or by backend when socket LB left only the backend on
// the packet), policy rules, interface names. The enricher keeps each as a
// map of shared, frozen objects (flows only reference them) and rebuilds the
// maps lazily, on the first event after its sources changed.
import { MB_EVF_REPLY, MB_EVF_REPLY_KNOWN, MB_ID_WORLD, type RawEvent } from '../datapath/abi.ts';
import type { EndpointManager } from '../endpoint/manager.ts';
import type { NodeDevice } from '../endpoint/node-network.ts';
import { lookupIpcache } from '../policy/ipcache.ts';
import type { PolicyManager } from '../policy/manager.ts';
import type { ServiceManager } from '../service/manager.ts';
import type { FlowEndpoint, FlowPolicy, FlowService } from './flow-types.ts';
import type { FlowContext } from './flow.ts';

export interface Enricher {
  /** Endpoint or peer at `ip`; `identity` is the event's (0: unknown) and is used when the address is not a local endpoint. */
  endpoint(ip: string, identity: number): FlowEndpoint;
  /** The service whose frontend is ip:port/proto (proto: IP protocol number). */
  serviceByFrontend(ip: string, port: number, proto: number): FlowService | undefined;
  /** The service that has ip:port/proto as a backend. */
  serviceByBackend(ip: string, port: number, proto: number): FlowService | undefined;
  /** A policy rule id (mb_event.rule_id) → the policy and the rule's name. */
  policyRule(ruleId: number): { policy: FlowPolicy; rule: string } | undefined;
  interfaceName(ifindex: number): string | undefined;
  /** Everything for one event (source, destination, services, policy, interface). */
  context(e: RawEvent): FlowContext;
}

export interface EndpointSource {
  ip: string;
  id: number;
  namespace: string;
  pod: string;
  labels: Readonly<Record<string, string>>;
  /** 0: not known yet. */
  identity: number;
  ifindex?: number;
  ifname?: string;
}

export interface ServiceSource {
  /** namespace/name */
  service: string;
  frontends: { ip: string; port: number; proto: number }[];
  backends: { ip: string; port: number; proto: number }[];
}

export interface RuleSource {
  /** e.g. `NetworkPolicy demo/deny-a spec.ingress[0]`. */
  name: string;
  kind: string;
  policy: string;
  namespace?: string;
}

/** Sources of an enricher: plain functions, so tests need no agent. */
export interface EnricherSources {
  endpoints(): EndpointSource[];
  /** Labels of an identity (`k8s:app` → `web`; `reserved:world` → ''). */
  identityLabels(id: number): Readonly<Record<string, string>> | undefined;
  /** The identity of a non-endpoint address (ipcache, longest prefix; world when none). */
  identityOf(ip: string): number;
  services(): ServiceSource[];
  rule(ruleId: number): RuleSource | undefined;
  /** Interfaces that are not endpoints' (node devices). */
  interfaces(): { ifindex: number; name: string }[];
  /** A value that changes whenever any of the above may have changed; compared per event, so it must be cheap. */
  version(): unknown;
}

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_SCTP = 132;
const NS_LABEL = 'k8s:io.kubernetes.pod.namespace';
/** Peer (non-endpoint) entries kept at most; cleared when full. */
const PEER_CACHE_MAX = 65536;

function tupleKey(ip: string, port: number, proto: number): string {
  return `${ip}:${port}/${proto}`;
}

/** `source:key=value` sorted, as Cilium prints labels (`reserved:world` without a value). */
export function formatFlowLabels(labels: Readonly<Record<string, string>>): string[] {
  return Object.keys(labels)
    .sort()
    .map((k) => (labels[k] === '' ? k : `${k}=${labels[k]}`));
}

/** Labels of an endpoint whose identity is not known yet: its pod labels under `k8s:`, and the namespace label. */
function podLabels(ep: EndpointSource): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ep.labels)) out[`k8s:${k}`] = v;
  out[NS_LABEL] = ep.namespace;
  return out;
}

function endpointOf(ep: EndpointSource, identityLabels: EnricherSources['identityLabels']): FlowEndpoint {
  const labels = (ep.identity !== 0 ? identityLabels(ep.identity) : undefined) ?? podLabels(ep);
  const out: FlowEndpoint = { ID: ep.id };
  if (ep.identity !== 0) out.identity = ep.identity;
  out.namespace = ep.namespace;
  out.labels = Object.freeze(formatFlowLabels(labels)) as string[];
  out.pod_name = ep.pod;
  const app = ep.labels.app ?? ep.labels['app.kubernetes.io/name'];
  out.workloads = Object.freeze([Object.freeze(app ? { name: app, kind: 'App' } : { name: ep.pod, kind: 'Pod' })]) as FlowEndpoint['workloads'];
  return Object.freeze(out);
}

function policyOf(r: RuleSource): { policy: FlowPolicy; rule: string } {
  const ns = r.namespace ?? '';
  const labels = [`k8s:io.cilium.k8s.policy.derived-from=${r.kind}`, `k8s:io.cilium.k8s.policy.name=${r.policy}`];
  if (ns) labels.push(`k8s:io.cilium.k8s.policy.namespace=${ns}`);
  const policy: FlowPolicy = Object.freeze({ name: r.policy, namespace: ns, kind: r.kind, labels: Object.freeze(labels) as string[] });
  return Object.freeze({ policy, rule: r.name });
}

function serviceOf(name: string): FlowService {
  const i = name.indexOf('/');
  return Object.freeze({ name: name.slice(i + 1), namespace: name.slice(0, i) });
}

function isReply(e: RawEvent): boolean | undefined {
  return e.flags & MB_EVF_REPLY_KNOWN ? (e.flags & MB_EVF_REPLY) !== 0 : undefined;
}

class CachingEnricher implements Enricher {
  readonly #src: EnricherSources;
  #version: unknown = {};
  #endpoints = new Map<string, FlowEndpoint>();
  #peers = new Map<string, FlowEndpoint>();
  #identityOf = new Map<string, number>();
  #frontends = new Map<string, FlowService>();
  #backends = new Map<string, FlowService>();
  #rules = new Map<number, { policy: FlowPolicy; rule: string } | null>();
  #ifnames = new Map<number, string>();

  constructor(src: EnricherSources) {
    this.#src = src;
  }

  /** Rebuilds the caches when the sources changed since the last event. */
  #fresh(): void {
    const v = this.#src.version();
    if (v === this.#version) return;
    this.#version = v;
    const src = this.#src;
    this.#endpoints = new Map();
    this.#ifnames = new Map();
    for (const i of src.interfaces()) this.#ifnames.set(i.ifindex, i.name);
    for (const ep of src.endpoints()) {
      this.#endpoints.set(ep.ip, endpointOf(ep, (id) => src.identityLabels(id)));
      if (ep.ifindex && ep.ifname) this.#ifnames.set(ep.ifindex, ep.ifname);
    }
    this.#peers = new Map();
    this.#identityOf = new Map();
    this.#rules = new Map();
    this.#frontends = new Map();
    this.#backends = new Map();
    const services = src.services().slice().sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
    for (const s of services) {
      const svc = serviceOf(s.service);
      for (const f of s.frontends) this.#frontends.set(tupleKey(f.ip, f.port, f.proto), svc);
      // A backend of several services is named after the first (by namespace/name).
      for (const b of s.backends) {
        const k = tupleKey(b.ip, b.port, b.proto);
        if (!this.#backends.has(k)) this.#backends.set(k, svc);
      }
    }
  }

  endpoint(ip: string, identity: number): FlowEndpoint {
    this.#fresh();
    return this.#endpoint(ip, identity);
  }

  #endpoint(ip: string, identity: number): FlowEndpoint {
    const ep = this.#endpoints.get(ip);
    if (ep) return ep;
    let id = identity;
    if (id === 0) {
      let known = this.#identityOf.get(ip);
      if (known === undefined) {
        if (this.#identityOf.size >= PEER_CACHE_MAX) this.#identityOf.clear();
        known = this.#src.identityOf(ip);
        this.#identityOf.set(ip, known);
      }
      id = known;
    }
    let peer = this.#peers.get(`${id}`);
    if (!peer) {
      if (this.#peers.size >= PEER_CACHE_MAX) this.#peers.clear();
      const labels = this.#src.identityLabels(id) ?? (id === MB_ID_WORLD ? { 'reserved:world': '' } : undefined);
      peer = Object.freeze(labels ? { identity: id, labels: Object.freeze(formatFlowLabels(labels)) as string[] } : { identity: id });
      this.#peers.set(`${id}`, peer);
    }
    return peer;
  }

  serviceByFrontend(ip: string, port: number, proto: number): FlowService | undefined {
    this.#fresh();
    return this.#frontends.get(tupleKey(ip, port, proto));
  }

  serviceByBackend(ip: string, port: number, proto: number): FlowService | undefined {
    this.#fresh();
    return this.#backends.get(tupleKey(ip, port, proto));
  }

  policyRule(ruleId: number): { policy: FlowPolicy; rule: string } | undefined {
    this.#fresh();
    return this.#policyRule(ruleId);
  }

  #policyRule(ruleId: number): { policy: FlowPolicy; rule: string } | undefined {
    let r = this.#rules.get(ruleId);
    if (r === undefined) {
      const info = this.#src.rule(ruleId);
      r = info ? policyOf(info) : null;
      this.#rules.set(ruleId, r);
    }
    return r ?? undefined;
  }

  interfaceName(ifindex: number): string | undefined {
    this.#fresh();
    return this.#ifnames.get(ifindex);
  }

  context(e: RawEvent): FlowContext {
    this.#fresh();
    const ctx: FlowContext = { source: this.#endpoint(e.saddr, e.src_identity), destination: this.#endpoint(e.daddr, e.dst_identity) };
    const p = e.proto;
    if ((p === PROTO_TCP || p === PROTO_UDP || p === PROTO_SCTP) && (this.#frontends.size > 0 || this.#backends.size > 0)) {
      const reply = isReply(e);
      // The frontend the packet was sent to: translated (orig_daddr), not yet translated (daddr), or, with socket LB
      // (only the backend ever on the packet), the service the backend belongs to.
      let ds: FlowService | undefined;
      if (e.orig_daddr !== '0.0.0.0') ds = this.#frontends.get(tupleKey(e.orig_daddr, e.orig_dport, p));
      if (!ds && reply !== true) {
        const k = tupleKey(e.daddr, e.dport, p);
        ds = this.#frontends.get(k) ?? this.#backends.get(k);
      }
      if (ds) ctx.destination_service = ds;
      // Replies come from the frontend (reverse-translated) or, with socket LB, from the backend.
      if (reply !== false && this.#frontends.size > 0) {
        const k = tupleKey(e.saddr, e.sport, p);
        const ss = this.#frontends.get(k) ?? (reply === true ? this.#backends.get(k) : undefined);
        if (ss) ctx.source_service = ss;
      }
    }
    if (e.rule_id !== 0) {
      const r = this.#policyRule(e.rule_id);
      if (r) ctx.policy = r;
    }
    if (e.ifindex !== 0) {
      const n = this.#ifnames.get(e.ifindex);
      if (n !== undefined) ctx.interfaceName = n;
    }
    return ctx;
  }
}

export function createEnricher(sources: EnricherSources): Enricher {
  return new CachingEnricher(sources);
}

const PROTO_NUMBERS: Record<string, number> = { TCP: PROTO_TCP, UDP: PROTO_UDP, SCTP: PROTO_SCTP };

/** What agentEnricher reads of the agent. */
export interface EnricherAgent {
  endpoints: EndpointManager;
  policy: PolicyManager;
  services: ServiceManager;
  lb: { devices: NodeDevice[] };
}

/**
 * The enricher of a running agent. Change detection per event is three
 * reference comparisons (the policy manager's ipcache and rules, the service
 * manager's frontends: new objects after every sync) and a counter bumped by
 * endpoint changes.
 */
export function agentEnricher(agent: EnricherAgent): Enricher {
  let endpointChanges = 0;
  agent.endpoints.onChange(() => endpointChanges++);
  let last: { ipcache: unknown; rules: unknown; frontends: unknown; eps: number } = { ipcache: null, rules: null, frontends: null, eps: -1 };
  return createEnricher({
    version() {
      const { policy, services } = agent;
      const ipcache = policy.ipcacheView;
      const rules = policy.rulesView;
      const frontends = services.frontendsView;
      if (ipcache !== last.ipcache || rules !== last.rules || frontends !== last.frontends || endpointChanges !== last.eps) {
        last = { ipcache, rules, frontends, eps: endpointChanges };
      }
      return last;
    },
    endpoints: () =>
      agent.endpoints
        .list()
        .filter((e) => e.ipv4)
        .map((e) => ({ ip: e.ipv4, id: e.id, namespace: e.podNamespace, pod: e.podName, labels: e.labels, identity: e.identity ?? 0, ifindex: e.hostIfIndex, ifname: e.hostIfName })),
    identityLabels: (id) => agent.policy.identityLabels(id),
    identityOf: (ip) => lookupIpcache(agent.policy.ipcacheView, ip).identity,
    services() {
      const by = new Map<string, ServiceSource>();
      for (const f of agent.services.frontendsView) {
        let s = by.get(f.service);
        if (!s) by.set(f.service, (s = { service: f.service, frontends: [], backends: [] }));
        const proto = PROTO_NUMBERS[f.protocol] ?? 0;
        s.frontends.push({ ip: f.addr, port: f.port, proto });
        for (const scope of [f.int, f.ext]) for (const b of scope?.backends ?? []) s.backends.push({ ip: b.addr, port: b.port, proto: PROTO_NUMBERS[b.protocol] ?? 0 });
      }
      return [...by.values()];
    },
    rule(id) {
      const r = agent.policy.rulesView.get(id);
      return r ? { name: r.name, kind: r.kind, policy: r.policy, ...(r.namespace ? { namespace: r.namespace } : {}) } : undefined;
    },
    interfaces: () => agent.lb.devices.map((d) => ({ ifindex: d.ifindex, name: d.name })),
  });
}
