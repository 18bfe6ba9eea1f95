// Policy resolution: PolicySpecs + identities + local endpoints → per local
// endpoint, whether each direction is enforced, which policies select it,
// and the exact mb_policy entries. Pure: no kernel, no store.
//
// - A direction is enforced when a part whose subject selects the endpoint
//   has defaultDeny for it (a part with rules but no defaultDeny adds its
//   rules, it does not enforce). Entries are made only for enforced
//   directions (the datapath looks nothing up in the others). Exception:
//   deny rules of a part without defaultDeny (`enableDefaultDeny: false`)
//   still apply: when nothing else enforces the direction, it is enforced
//   with an allow for any identity, protocol and port, named after the
//   part's `enableDefaultDeny.<direction>`, so only the denies bite.
// - Peers → remote identities: 'all' and entity all → MB_ID_ANY; world →
//   world; cluster → every endpoint identity + host, remote-node, health,
//   init, unmanaged, kube-apiserver; other entities → their reserved
//   identity; endpoint selectors → the identities they select; cidr peers →
//   the CIDR identities they select.
// - Ports → key prefixes: no ports → prefixlen 64 (any protocol); protocol
//   without port → 80; port → 96; range → its minimal prefix set; ANY →
//   TCP, UDP and SCTP each. Named ports: ingress → the endpoint's own Pod
//   ports (first container port with that name and protocol; none → no
//   entry); egress → per remote identity, every number that name has in a
//   pod of that identity (MB_ID_ANY stands for every identity with pods;
//   reserved and CIDR identities have no pods, so no entry).
// - Precedence: the same key from several rules keeps a deny over an allow,
//   else the lowest rule id; an allow covered by a deny of the same
//   (endpoint, direction, identity) with a broader-or-equal protocol/port
//   prefix is left out (the LPM lookup must never find it instead of the deny).
import {
  MB_DIR_EGRESS,
  MB_DIR_INGRESS,
  MB_ID_ANY,
  MB_ID_HEALTH,
  MB_ID_HOST,
  MB_ID_INIT,
  MB_ID_KUBE_APISERVER,
  MB_ID_REMOTE_NODE,
  MB_ID_UNMANAGED,
  MB_ID_WORLD,
  MB_POLICY_F_DENY,
  MB_POLICY_PREFIX_ANY_PORT,
  MB_POLICY_PREFIX_ANY_PROTO,
  MB_POLICY_PREFIX_FULL,
  type PolicyEntry,
  type PolicyKey,
} from '../datapath/abi.ts';
import type { Identity } from '../identity/types.ts';
import type { ContainerPortSpec } from '../k8s/pod.ts';
import { selectCidrIdentities } from './cidr.ts';
import { portMask, portRangePrefixes, protocolNumbers, PROTOCOL_NUMBERS } from './ports.ts';
import type { RuleIds } from './rule-ids.ts';
import { SelectorCache } from './selector.ts';
import { ruleName, type Direction, type Entity, type Peer, type PolicyKind, type PolicyRule, type PolicySpec, type PortSpec } from './types.ts';

export interface LocalEndpoint {
  /** Endpoint id (mb_policy_key.lxc_id). */
  lxcId: number;
  /** Must be one of the identities given (else no subject selects it). */
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
  identities?: Iterable<Identity>;
  /** A cache kept across resolves, holding every identity; built from `identities` when absent. */
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

const CLUSTER_RESERVED = [MB_ID_HOST, MB_ID_UNMANAGED, MB_ID_HEALTH, MB_ID_INIT, MB_ID_REMOTE_NODE, MB_ID_KUBE_APISERVER];

const ENTITY_IDS: Record<Exclude<Entity, 'cluster'>, number> = {
  all: MB_ID_ANY,
  world: MB_ID_WORLD,
  host: MB_ID_HOST,
  'remote-node': MB_ID_REMOTE_NODE,
  health: MB_ID_HEALTH,
  unmanaged: MB_ID_UNMANAGED,
  init: MB_ID_INIT,
  'kube-apiserver': MB_ID_KUBE_APISERVER,
};

/** One candidate entry (before precedence). */
interface Candidate {
  dir: number;
  identity: number;
  proto: number;
  dport: number;
  prefixlen: number;
  ruleId: number;
  deny: boolean;
}

/** Protocol/port prefix of a key, without identity. */
interface PortKey {
  proto: number;
  dport: number;
  prefixlen: number;
}

const ANY_PROTO: PortKey = { proto: 0, dport: 0, prefixlen: MB_POLICY_PREFIX_ANY_PROTO };

/** The key prefixes of numeric (or absent) ports; named ports are left to the caller. */
function numericPortKeys(ports: readonly PortSpec[]): PortKey[] {
  if (ports.length === 0) return [ANY_PROTO];
  const out: PortKey[] = [];
  for (const p of ports) {
    if (typeof p.port === 'string') continue;
    for (const proto of protocolNumbers(p.protocol)) {
      if (p.port === undefined) {
        out.push({ proto, dport: 0, prefixlen: MB_POLICY_PREFIX_ANY_PORT });
      } else if (p.endPort !== undefined && p.endPort > p.port) {
        for (const r of portRangePrefixes(p.port, p.endPort)) out.push({ proto, dport: r.port, prefixlen: MB_POLICY_PREFIX_ANY_PORT + r.bits });
      } else {
        out.push({ proto, dport: p.port, prefixlen: MB_POLICY_PREFIX_FULL });
      }
    }
  }
  return out;
}

/** Named port specs of a rule: [name, protocol numbers]. */
function namedPorts(ports: readonly PortSpec[]): { name: string; protos: number[] }[] {
  const out: { name: string; protos: number[] }[] = [];
  for (const p of ports) if (typeof p.port === 'string') out.push({ name: p.port, protos: protocolNumbers(p.protocol) });
  return out;
}

const PROTO_BY_NUMBER = new Map(Object.entries(PROTOCOL_NUMBERS).map(([k, v]) => [v, k]));

/** findNamedPort over a flat list of container ports. */
function findPort(ports: readonly ContainerPortSpec[], name: string, proto: number): number | undefined {
  const protocol = PROTO_BY_NUMBER.get(proto);
  for (const p of ports) if (p.name === name && p.protocol === protocol) return p.containerPort;
  return undefined;
}

interface EndpointState {
  ep: LocalEndpoint;
  ingress: boolean;
  egress: boolean;
  policies: Map<PolicySpec, SelectingPolicy>;
  /** Lists of candidates (one direction each), shared between endpoints where they can be. */
  candidates: Candidate[][];
  /**
   * Per direction, the rule id of a selecting part that has deny rules but
   * no default deny (CiliumNetworkPolicy `enableDefaultDeny: false`): if no
   * other part enforces the direction, the denies still apply, with an
   * allow for everything else under this id.
   */
  allowOthers: { ingress?: number; egress?: number };
}

export function resolvePolicies(input: ResolveInput): Resolution {
  const selectors = input.selectors ?? new SelectorCache(input.identities ?? []);
  const endpointIds: number[] = [];
  const cidrIds: Identity[] = [];
  for (const i of selectors.identities()) {
    if (i.kind === 'endpoint') endpointIds.push(i.id);
    else if (i.kind === 'cidr') cidrIds.push(i);
  }
  endpointIds.sort((a, b) => a - b);

  const byIdentity = new Map<number, EndpointState[]>();
  const states: EndpointState[] = [];
  for (const ep of input.endpoints) {
    const s: EndpointState = { ep, ingress: false, egress: false, policies: new Map(), candidates: [], allowOthers: {} };
    states.push(s);
    const list = byIdentity.get(ep.identity);
    if (list) list.push(s);
    else byIdentity.set(ep.identity, [s]);
  }

  const cidrCache = new Map<string, number[]>();
  const peerIdentities = (peers: Peer[] | 'all'): number[] => {
    if (peers === 'all') return [MB_ID_ANY];
    const out = new Set<number>();
    for (const peer of peers) {
      switch (peer.type) {
        case 'endpoints':
          for (const id of selectors.select(peer.selector)) out.add(id);
          break;
        case 'cidr': {
          const k = `${peer.cidr}|${[...peer.except].sort().join(',')}`;
          let ids = cidrCache.get(k);
          if (!ids) {
            ids = selectCidrIdentities(peer, cidrIds);
            cidrCache.set(k, ids);
          }
          for (const id of ids) out.add(id);
          break;
        }
        case 'entity':
          if (peer.entity === 'cluster') {
            for (const id of endpointIds) out.add(id);
            for (const id of CLUSTER_RESERVED) out.add(id);
          } else out.add(ENTITY_IDS[peer.entity]);
          break;
      }
    }
    return [...out].sort((a, b) => a - b);
  };

  // Egress named ports: (identity, name, proto) → numbers over the pods of that identity.
  const peerPortCache = new Map<string, number[]>();
  const egressNamed = (identity: number, name: string, proto: number): number[] => {
    const k = `${identity}|${name}|${proto}`;
    let out = peerPortCache.get(k);
    if (out) return out;
    const nums = new Set<number>();
    const pods = identity === MB_ID_ANY ? [...input.peerPorts.values()].flat() : (input.peerPorts.get(identity) ?? []);
    for (const pod of pods) {
      const n = findPort(pod, name, proto);
      if (n !== undefined) nums.add(n);
    }
    out = [...nums].sort((a, b) => a - b);
    peerPortCache.set(k, out);
    return out;
  };
  const egressNamedIdentities = (peerIds: number[]): number[] =>
    peerIds.includes(MB_ID_ANY) ? [...input.peerPorts.keys()].sort((a, b) => a - b) : peerIds;

  const rules = new Map<number, RuleInfo>();
  for (const policy of input.policies) {
    for (const part of policy.parts) {
      const ruleIds = part.rules.map((r) => {
        const name = ruleName(policy, r.path);
        const id = input.ruleIds.acquire(name);
        const info: RuleInfo = { id, name, kind: policy.kind, policy: policy.name, path: r.path, direction: r.direction, deny: r.deny };
        if (policy.namespace !== undefined) info.namespace = policy.namespace;
        rules.set(id, info);
        return id;
      });
      const subjects: EndpointState[] = [];
      for (const id of selectors.select(part.subject)) subjects.push(...(byIdentity.get(id) ?? []));
      if (subjects.length === 0) continue;
      for (const s of subjects) {
        let sp = s.policies.get(policy);
        if (!sp) {
          sp = { kind: policy.kind, name: policy.name, parts: [], ingress: false, egress: false };
          if (policy.namespace !== undefined) sp.namespace = policy.namespace;
          s.policies.set(policy, sp);
        }
        sp.parts.push(part.path);
        if (part.defaultDeny.ingress) sp.ingress = s.ingress = true;
        if (part.defaultDeny.egress) sp.egress = s.egress = true;
        for (const dir of ['ingress', 'egress'] as const) {
          if (part.defaultDeny[dir] || s.allowOthers[dir] !== undefined || !part.rules.some((r) => r.deny && r.direction === dir)) continue;
          const name = ruleName(policy, `${part.path}.enableDefaultDeny.${dir}`);
          const id = input.ruleIds.acquire(name);
          const info: RuleInfo = { id, name, kind: policy.kind, policy: policy.name, path: `${part.path}.enableDefaultDeny.${dir}`, direction: dir, deny: false };
          if (policy.namespace !== undefined) info.namespace = policy.namespace;
          rules.set(id, info);
          s.allowOthers[dir] = id;
        }
      }
      part.rules.forEach((rule, i) => addRule(rule, ruleIds[i]!, subjects));
    }
  }

  function addRule(rule: PolicyRule, ruleId: number, subjects: EndpointState[]): void {
    const dir = rule.direction === 'ingress' ? MB_DIR_INGRESS : MB_DIR_EGRESS;
    const peerIds = peerIdentities(rule.peers);
    if (peerIds.length === 0) return;
    const deny = rule.deny;
    // numeric ports: the same for every subject
    const portKeys = numericPortKeys(rule.ports);
    const common: Candidate[] = [];
    for (const identity of peerIds) {
      for (const pk of portKeys) common.push({ dir, identity, proto: pk.proto, dport: pk.dport, prefixlen: pk.prefixlen, ruleId, deny });
    }
    const named = namedPorts(rule.ports);
    if (named.length > 0 && rule.direction === 'egress') {
      for (const identity of egressNamedIdentities(peerIds)) {
        for (const n of named) {
          for (const proto of n.protos) {
            for (const dport of egressNamed(identity, n.name, proto)) {
              common.push({ dir, identity, proto, dport, prefixlen: MB_POLICY_PREFIX_FULL, ruleId, deny });
            }
          }
        }
      }
    }
    for (const s of subjects) {
      if (common.length > 0) s.candidates.push(common);
      if (named.length > 0 && rule.direction === 'ingress') {
        const own: Candidate[] = [];
        for (const n of named) {
          for (const proto of n.protos) {
            const dport = findPort(s.ep.ports, n.name, proto);
            if (dport === undefined) continue;
            for (const identity of peerIds) own.push({ dir, identity, proto, dport, prefixlen: MB_POLICY_PREFIX_FULL, ruleId, deny });
          }
        }
        if (own.length > 0) s.candidates.push(own);
      }
    }
  }

  // Deny rules without default deny: enforce the direction, allow what they do not deny.
  for (const s of states) {
    for (const dir of ['ingress', 'egress'] as const) {
      const ruleId = s.allowOthers[dir];
      if (ruleId === undefined || s[dir]) continue;
      s[dir] = true;
      const d = dir === 'ingress' ? MB_DIR_INGRESS : MB_DIR_EGRESS;
      s.candidates.push([{ dir: d, identity: MB_ID_ANY, proto: 0, dport: 0, prefixlen: MB_POLICY_PREFIX_ANY_PROTO, ruleId, deny: false }]);
    }
  }

  const endpoints = new Map<number, EndpointPolicy>();
  for (const s of states) {
    endpoints.set(s.ep.lxcId, {
      lxcId: s.ep.lxcId,
      identity: s.ep.identity,
      namespace: s.ep.namespace,
      pod: s.ep.pod,
      ip: s.ep.ip,
      ingressEnforced: s.ingress,
      egressEnforced: s.egress,
      policies: [...s.policies.values()],
      entries: finish(s),
    });
  }
  return { endpoints, rules };
}

/** Key order (dir, identity, proto, dport, prefixlen), then the winner of a same key first: deny, then the lowest rule id. */
function compareCandidates(a: Candidate, b: Candidate): number {
  return (
    a.dir - b.dir ||
    a.identity - b.identity ||
    a.proto - b.proto ||
    a.dport - b.dport ||
    a.prefixlen - b.prefixlen ||
    (a.deny === b.deny ? a.ruleId - b.ruleId : a.deny ? -1 : 1)
  );
}

/**
 * Precedence and deny covering for one endpoint's candidates → entries in
 * comparePolicyKeys order. In that order a deny that covers an allow (same
 * dir and identity, shorter or equal prefix that matches) always comes
 * before it, so one pass does both.
 */
function finish(s: EndpointState): PolicyMapEntry[] {
  const cs: Candidate[] = [];
  for (const list of s.candidates) {
    const dir = list[0]?.dir;
    if (dir === undefined || (dir === MB_DIR_INGRESS ? !s.ingress : !s.egress)) continue;
    for (const c of list) cs.push(c);
  }
  cs.sort(compareCandidates);
  const out: PolicyMapEntry[] = [];
  let prev: Candidate | undefined;
  /** Deny prefixes of the current (dir, identity): `proto|dport|prefixlen`. */
  let denies: Set<string> | undefined;
  for (const c of cs) {
    if (prev && prev.dir === c.dir && prev.identity === c.identity) {
      if (prev.proto === c.proto && prev.dport === c.dport && prev.prefixlen === c.prefixlen) continue; // same key: the first won
    } else denies = undefined;
    prev = c;
    if (c.deny) (denies ??= new Set()).add(`${c.proto}|${c.dport}|${c.prefixlen}`);
    else if (denies && coveredBy(c, denies)) continue;
    out.push({
      key: { prefixlen: c.prefixlen, lxc_id: s.ep.lxcId, dir: c.dir, identity: c.identity, proto: c.proto, dport: c.dport },
      entry: { rule_id: c.ruleId, flags: c.deny ? MB_POLICY_F_DENY : 0 },
    });
  }
  return out;
}

/** Whether one of the deny prefixes (same dir and identity) covers the allow `c`: equal or shorter, and matching. */
function coveredBy(c: Candidate, denies: ReadonlySet<string>): boolean {
  if (denies.has(`0|0|${MB_POLICY_PREFIX_ANY_PROTO}`)) return true;
  if (c.prefixlen === MB_POLICY_PREFIX_ANY_PROTO) return false;
  for (let len = MB_POLICY_PREFIX_ANY_PORT; len <= c.prefixlen; len++) {
    if (denies.has(`${c.proto}|${c.dport & portMask(len - MB_POLICY_PREFIX_ANY_PORT)}|${len}`)) return true;
  }
  return false;
}

/** Canonical string of a policy key (diffing desired vs. read-back maps); bits beyond the prefix are ignored. */
export function policyKeyString(k: PolicyKey): string {
  const proto = k.prefixlen > MB_POLICY_PREFIX_ANY_PROTO ? k.proto : 0;
  const dport = k.prefixlen > MB_POLICY_PREFIX_ANY_PORT ? k.dport & portMask(k.prefixlen - MB_POLICY_PREFIX_ANY_PORT) : 0;
  return `${k.lxc_id}/${k.dir}/${k.identity}/${proto}/${dport}/${k.prefixlen}`;
}

/** Orders keys by lxc, dir, identity, proto, port, prefixlen. */
export function comparePolicyKeys(a: PolicyKey, b: PolicyKey): number {
  return a.lxc_id - b.lxc_id || a.dir - b.dir || a.identity - b.identity || a.proto - b.proto || a.dport - b.dport || a.prefixlen - b.prefixlen;
}
