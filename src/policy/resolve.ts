// Policy resolution: PolicySpecs + identities + local endpoints → per local
// endpoint, whether each direction is enforced, which policies select it,
// and the exact mb_policy entries. Pure: no kernel, no store.
import type { ContainerPortSpec } from '../k8s/pod.ts';
import type { PolicyEntry, PolicyKey } from '../datapath/abi.ts';
import type { Identity } from '../identity/types.ts';
import type { RuleIds } from './rule-ids.ts';
import type { SelectorCache } from './selector.ts';
import type { Direction, PolicyKind, PolicySpec } from './types.ts';

export interface LocalEndpoint {
  /** Endpoint id (mb_policy_key.lxc_id). */
  lxcId: number;
  identity: number;
  namespace: string;
  pod: string;
  ip: string;
  /** Container ports of its Pod, containers in order (named ports of ingress rules resolve here). */
  ports: readonly ContainerPortSpec[];
}

export interface ResolveInput {
  policies: readonly PolicySpec[];
  /** Every identity: reserved, endpoint (cluster-wide), CIDR. Ignored when `selectors` is given. */
  identities: Iterable<Identity>;
  /** A cache kept across resolves (it must hold the same identities); built from `identities` when absent. */
  selectors?: SelectorCache;
  endpoints: readonly LocalEndpoint[];
  /**
   * Egress named ports: per identity, the container ports of every pod known
   * with that identity (one array per pod, containers in order).
   */
  peerPorts: ReadonlyMap<number, ReadonlyArray<readonly ContainerPortSpec[]>>;
  /** Rule ids; every rule of every policy is acquired (call sweep() after a resolve to free the ids of rules gone). */
  ruleIds: RuleIds;
}

export interface PolicyMapEntry {
  key: PolicyKey;
  entry: PolicyEntry;
}

export interface SelectingPolicy {
  kind: PolicyKind;
  namespace?: string;
  name: string;
  /** Paths of the parts whose subject selects the endpoint. */
  parts: string[];
  /** Whether one of those parts enforces (defaultDeny) the direction. */
  ingress: boolean;
  egress: boolean;
}

export interface EndpointPolicy {
  lxcId: number;
  identity: number;
  namespace: string;
  pod: string;
  ip: string;
  ingressEnforced: boolean;
  egressEnforced: boolean;
  /** Policies with a part selecting the endpoint, in input order. */
  policies: SelectingPolicy[];
  /** mb_policy entries, only for enforced directions, sorted (see comparePolicyKeys). */
  entries: PolicyMapEntry[];
}

export interface RuleInfo {
  id: number;
  /** ruleName(policy, path). */
  name: string;
  kind: PolicyKind;
  namespace?: string;
  policy: string;
  path: string;
  direction: Direction;
  deny: boolean;
}

export interface Resolution {
  /** By lxcId. */
  endpoints: Map<number, EndpointPolicy>;
  /** Every rule of every policy, by id. */
  rules: Map<number, RuleInfo>;
}

export function resolvePolicies(input: ResolveInput): Resolution {
  throw new Error('not implemented');
}

/** Canonical string of a policy key (diffing desired vs. read-back maps). */
export function policyKeyString(k: PolicyKey): string {
  throw new Error('not implemented');
}

/** Orders keys by lxc, dir, identity, proto, port, prefixlen. */
export function comparePolicyKeys(a: PolicyKey, b: PolicyKey): number {
  throw new Error('not implemented');
}
