// The policy model that every input format compiles to, and that the
// resolver (src/policy/resolve.ts) turns into datapath entries.
//
// NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy are
// parsed and validated in src/k8s/ (one file per kind) into a PolicySpec:
// their different defaults (what an empty rule, an empty peer list or a
// missing section means) are settled there, so that this model has one
// meaning for each shape.
//
// Labels and selectors work on identity labels, written as Cilium writes
// them: `source:key` with source `k8s` (pod labels, and the pseudo-labels
// below), `reserved` (reserved identities: `reserved:host`), or `cidr`
// (CIDR identities). A selector key with source `any` matches a label of
// any source with that key.

export type Direction = 'ingress' | 'egress';

/** The label that names an endpoint's namespace (value: the namespace name). */
export const NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';
/** Prefix of the labels that carry the namespace's own labels: `k8s:io.cilium.k8s.namespace.labels.<key>`. */
export const NAMESPACE_LABELS_PREFIX = 'k8s:io.cilium.k8s.namespace.labels.';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One requirement on an identity's labels; `key` is `source:key` (source may be `any`). */
export interface LabelRequirement {
  key: string;
  operator: SelectorOperator;
  /** In/NotIn: at least one value; Exists/DoesNotExist: none. */
  values: string[];
}

/**
 * Selects identities whose labels meet every requirement (matchLabels are
 * `In` requirements with one value). An empty list selects every endpoint
 * identity (not the reserved ones and not CIDR identities); a selector
 * matches a reserved identity only through a `reserved:` key.
 */
export interface EndpointSelector {
  requirements: LabelRequirement[];
}

/** Cilium's entities (fromEntities/toEntities). */
export type Entity = 'all' | 'world' | 'cluster' | 'host' | 'remote-node' | 'health' | 'unmanaged' | 'init' | 'kube-apiserver';
export const ENTITIES: readonly Entity[] = ['all', 'world', 'cluster', 'host', 'remote-node', 'health', 'unmanaged', 'init', 'kube-apiserver'];

export type Peer =
  | { type: 'endpoints'; selector: EndpointSelector }
  /** `cidr` and `except` in canonical form (network address / length); every except lies inside cidr. */
  | { type: 'cidr'; cidr: string; except: string[] }
  | { type: 'entity'; entity: Entity };

export type PortProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ANY';

export interface PortSpec {
  protocol: PortProtocol;
  /**
   * Absent: every port of the protocol. A number: that port (1-65535), or
   * the range port..endPort. A string: a named port, resolved against the
   * `containers[].ports` of the destination's Pod (the subject for ingress,
   * the peer for egress).
   */
  port?: number | string;
  endPort?: number;
}

export interface PolicyRule {
  direction: Direction;
  /** A deny rule (ingressDeny/egressDeny): it wins over every allow. */
  deny: boolean;
  /** 'all': any peer at all (every identity, world included). [] matches nothing. */
  peers: Peer[] | 'all';
  /** [] : every protocol and port. */
  ports: PortSpec[];
  /** Where the rule is in its manifest, e.g. `spec.ingress[0]`, `specs[1].egressDeny[0]`. */
  path: string;
}

/** One subject and its rules (a NetworkPolicy has one; a CiliumNetworkPolicy one per entry of `specs`). */
export interface PolicyPart {
  /** The endpoints it applies to; for namespaced kinds the namespace is already one of the requirements. */
  subject: EndpointSelector;
  /** Directions in which a selected endpoint drops what no rule allows. */
  defaultDeny: { ingress: boolean; egress: boolean };
  rules: PolicyRule[];
  /** e.g. `spec`, `specs[1]`. */
  path: string;
}

export type PolicyKind = 'NetworkPolicy' | 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';

/** A validated policy object, as stored. */
export interface PolicySpec {
  kind: PolicyKind;
  /** Absent for CiliumClusterwideNetworkPolicy. */
  namespace?: string;
  name: string;
  parts: PolicyPart[];
}

/** How policies are named to users: `NetworkPolicy x/allow-a`, `CiliumClusterwideNetworkPolicy global`. */
export function policyRef(p: { kind: string; namespace?: string | undefined; name: string }): string {
  return `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`;
}

/** How rules are named to users (verdict events, trace, `endpoint get`): `NetworkPolicy x/allow-a spec.ingress[0]`. */
export function ruleName(p: Pick<PolicySpec, 'kind' | 'namespace' | 'name'>, path: string): string {
  return `${policyRef(p)} ${path}`;
}
