// The policy manager: the one writer of mb_ipcache and mb_policy, and of
// the identity and policy flags in endpoint entries (through the endpoint
// manager, which owns mb_lxc).
//
// On every change of namespaces, pods, policies or endpoints it recomputes
// the whole desired state with the pure core (identities, CIDR identities,
// resolvePolicies, desiredIpcache) and writes the difference in an order
// that never shows half a policy:
//   1. ipcache entries that are new or changed;
//   2. policy entries that are new or changed;
//   3. endpoint identities and enforcement flags;
//   4. policy entries no longer wanted; 5. ipcache entries no longer wanted.
// So an endpoint enters default deny only once its allows are in place, and
// leaves it before they go.
//
// A sync is synchronous (map writes are syscalls through koffi), so it can
// run inside an endpoint's creation: a new pod gets its identity and policy
// before its first packet. Label-set identities are cluster state: they are
// kept in the store (`identities/<id>`), written after the sync.
import os from 'node:os';
import type {
  IdentityJSON, PolicyEntryJSON, PolicyJSON, RealizedPolicyJSON, TraceRequest, TraceResponse, TraceStepJSON, EndpointJSON,
} from '../agent/api-types.ts';
import type { Logger } from '../agent/log.ts';
import type { Datapath } from '../datapath/datapath.ts';
import {
  MB_CFG_F_HOST_POLICY, MB_CFG_F_POLICY_AUDIT, MB_DIR_INGRESS, MB_EP_F_AUDIT, MB_EP_F_EGRESS_POLICY, MB_EP_F_INGRESS_POLICY,
  MB_ID_CLUSTER_MAX, MB_ID_CLUSTER_MIN, MB_POLICY_F_DENY, MB_POLICY_PREFIX_ANY_PORT, MB_POLICY_PREFIX_ANY_PROTO, type IpcacheEntry, type PolicyEntry,
  type PolicyKey,
} from '../datapath/abi.ts';
import type { EndpointManager, EndpointPolicyState } from '../endpoint/manager.ts';
import { InputError, MembraneError } from '../errors.ts';
import { IdentityAllocator, type StoredIdentity } from '../identity/allocator.ts';
import { endpointLabels, formatLabels } from '../identity/labels.ts';
import { RESERVED_IDENTITIES, type Identity } from '../identity/types.ts';
import type { NamespaceSpec } from '../k8s/namespace.ts';
import type { ContainerPortSpec, PodSpec } from '../k8s/pod.ts';
import type { KvStore } from '../kvstore/store.ts';
import { PROTOCOL_NAMES } from '../observe/events.ts';
import { CidrIdentities, policyPrefixes } from './cidr.ts';
import { desiredIpcache, ipcacheKeyOf, ipcachePrefixOf, lookupIpcache } from './ipcache.ts';
import { policyKeyString, resolvePolicies, type EndpointPolicy, type LocalEndpoint, type PolicyMapEntry, type Resolution, type RuleInfo } from './resolve.ts';
import { RuleIds } from './rule-ids.ts';
import { SelectorCache } from './selector.ts';
import { tracePolicy, type TracePeer, type TraceStep } from './trace.ts';
import { policyRef, type PolicySpec } from './types.ts';

export const IDENTITIES_PREFIX = 'identities/';
const NAMESPACES_PREFIX = 'namespaces/';
const PODS_PREFIX = 'pods/';
const POLICIES_PREFIX = 'policies/';

export interface PolicyManagerConfig {
  store: KvStore;
  datapath: Datapath;
  endpoints: EndpointManager;
  log: Logger;
  /** Node-wide audit mode (MB_CFG_F_POLICY_AUDIT). */
  auditMode: boolean;
  /** 'policy': judge node → endpoint traffic (MB_CFG_F_HOST_POLICY). */
  allowLocalhost: 'always' | 'policy';
  /** The node's own addresses (identity host); default: every IPv4 address of this netns. */
  hostAddresses?: () => string[];
}

export interface PolicyStatus {
  policies: number;
  identities: number;
  endpointsEnforced: number;
  entries: number;
  ipcacheEntries: number;
  lastSyncMs?: number;
  error?: string;
}

/** mb_config.flags bits for policy. */
export function policyConfigFlags(c: Pick<PolicyManagerConfig, 'auditMode' | 'allowLocalhost'>): number {
  return (c.auditMode ? MB_CFG_F_POLICY_AUDIT : 0) | (c.allowLocalhost === 'policy' ? MB_CFG_F_HOST_POLICY : 0);
}

function hostIPv4s(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4')
    .map((a) => a!.address);
}

export class PolicyManager {
  readonly #cfg: PolicyManagerConfig;
  readonly #identities = new IdentityAllocator(MB_ID_CLUSTER_MIN, MB_ID_CLUSTER_MAX);
  readonly #cidrs = new CidrIdentities();
  readonly #ruleIds = new RuleIds();
  readonly #selectors = new SelectorCache();
  /** What the maps hold (read back at start, then kept in step with every write). */
  readonly #policyWritten = new Map<string, PolicyMapEntry>();
  readonly #ipcacheWritten = new Map<string, IpcacheEntry>();
  #resolution: Resolution = { endpoints: new Map(), rules: new Map() };
  #ipcache = new Map<string, IpcacheEntry>();
  #policies: PolicySpec[] = [];
  #storedIdentities = new Map<number, string>();
  #pending: NodeJS.Immediate | undefined;
  #running: Promise<void> = Promise.resolve();
  #persisting: Promise<void> = Promise.resolve();
  #lastSyncMs: number | undefined;
  #error: string | undefined;
  readonly #unwatch: Array<() => void> = [];

  private constructor(cfg: PolicyManagerConfig) {
    this.#cfg = cfg;
  }

  static async start(cfg: PolicyManagerConfig): Promise<PolicyManager> {
    const m = new PolicyManager(cfg);
    m.#restore();
    m.#sync();
    await m.#persisting;
    for (const prefix of [NAMESPACES_PREFIX, PODS_PREFIX, POLICIES_PREFIX]) m.#unwatch.push(cfg.store.watch(prefix, () => m.#schedule()));
    m.#unwatch.push(cfg.endpoints.onChange(() => m.#schedule()));
    return m;
  }

  /** Recovers identities from the store and what the maps hold, so a restart rewrites nothing that is unchanged. */
  #restore(): void {
    const { store, datapath, log } = this.#cfg;
    const known: StoredIdentity[] = store.list<{ labels: Record<string, string> }>(IDENTITIES_PREFIX).map(([k, v]) => ({ id: Number(k.slice(IDENTITIES_PREFIX.length)), labels: v.labels }));
    const refused = this.#identities.restore(known);
    if (refused.length > 0) log.warn('stored identities refused (out of range or duplicated)', { ids: refused.map((r) => r.id) });
    for (const i of known) this.#storedIdentities.set(i.id, JSON.stringify(i.labels));
    for (const [key, entry] of datapath.policy.entries()) this.#policyWritten.set(policyKeyString(key), { key, entry });
    const cidrs: Array<{ id: number; cidr: string }> = [];
    for (const [key, entry] of datapath.ipcache.entries()) {
      const prefix = ipcachePrefixOf(key);
      this.#ipcacheWritten.set(prefix, entry);
      if (entry.cidr_identity !== 0 && key.prefixlen < 32) cidrs.push({ id: entry.cidr_identity, cidr: prefix });
    }
    this.#cidrs.restore(cidrs);
  }

  #schedule(): void {
    if (this.#pending) return;
    this.#pending = setImmediate(() => {
      this.#pending = undefined;
      this.#running = this.#running.then(() => {
        this.#sync();
        return this.#persisting;
      });
    });
  }

  /** Resolves once every change seen so far is in the maps. */
  async settled(): Promise<void> {
    while (this.#pending) await new Promise((r) => setImmediate(r));
    await this.#running;
    await this.#persisting;
  }

  /**
   * Identity and flags for an endpoint about to be programmed (the endpoint
   * manager's policyState hook): a sync that includes it, so its policy
   * entries are in the map before its own entry exists.
   */
  stateFor(ep: EndpointJSON): EndpointPolicyState {
    this.#sync(ep);
    const r = this.#resolution.endpoints.get(ep.id);
    if (!r) throw new MembraneError('INTERNAL', `endpoint ${ep.id} was not resolved: ${this.#error ?? 'unknown error'}`);
    return { identity: r.identity, flags: this.#flags(ep, r) };
  }

  stop(): void {
    if (this.#pending) clearImmediate(this.#pending);
    this.#pending = undefined;
    for (const u of this.#unwatch) u();
  }

  // --- the sync -----------------------------------------------------------

  #namespaceLabels(): Map<string, Record<string, string>> {
    return new Map(this.#cfg.store.list<NamespaceSpec>(NAMESPACES_PREFIX).map(([, ns]) => [ns.name, ns.labels]));
  }

  #identityOf(ep: Pick<EndpointJSON, 'podNamespace' | 'labels'>, nsLabels: Map<string, Record<string, string>>): Identity {
    return this.#identities.acquire(endpointLabels(ep.podNamespace, ep.labels, nsLabels.get(ep.podNamespace) ?? {}));
  }

  #flags(ep: EndpointJSON, r: EndpointPolicy): number {
    return (r.ingressEnforced ? MB_EP_F_INGRESS_POLICY : 0) | (r.egressEnforced ? MB_EP_F_EGRESS_POLICY : 0) | (ep.policyAuditMode ? MB_EP_F_AUDIT : 0);
  }

  #sync(extra?: EndpointJSON): void {
    const started = performance.now();
    try {
      this.#syncUnsafe(extra);
      this.#error = undefined;
    } catch (err) {
      this.#error = (err as Error).message;
      this.#cfg.log.error('policy sync failed (retrying on the next change)', { err: err as Error });
      if (extra) throw err;
    } finally {
      this.#lastSyncMs = Math.round((performance.now() - started) * 10) / 10;
    }
  }

  #syncUnsafe(extra?: EndpointJSON): void {
    const { store, endpoints, datapath } = this.#cfg;
    const nsLabels = this.#namespaceLabels();
    const pods = store.list<PodSpec>(PODS_PREFIX).map(([, p]) => p);
    const podByName = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));
    this.#policies = store.list<PolicySpec>(POLICIES_PREFIX).map(([, p]) => p);

    // Identities: every local endpoint, and every pod the store knows (their named ports serve egress rules).
    const eps = endpoints.list().filter((e) => e.state !== 'deleting' && e.id !== extra?.id);
    if (extra) eps.push(extra);
    const inUse = new Set<number>();
    const local: LocalEndpoint[] = eps.map((ep) => {
      const id = this.#identityOf(ep, nsLabels).id;
      inUse.add(id);
      const pod = podByName.get(`${ep.podNamespace}/${ep.podName}`);
      return { lxcId: ep.id, identity: id, namespace: ep.podNamespace, pod: ep.podName, ip: ep.ipv4, ports: pod ? pod.containers.flatMap((c) => c.ports) : [] };
    });
    const peerPorts = new Map<number, Array<readonly ContainerPortSpec[]>>();
    for (const p of pods) {
      if (p.hostNetwork) continue;
      const id = this.#identityOf({ podNamespace: p.namespace, labels: p.labels }, nsLabels).id;
      inUse.add(id);
      const list = peerPorts.get(id) ?? [];
      list.push(p.containers.flatMap((c) => c.ports));
      peerPorts.set(id, list);
    }
    this.#identities.sweep(inUse);
    const cidrIdentities = this.#cidrs.sync(policyPrefixes(this.#policies));
    this.#selectors.setIdentities([...RESERVED_IDENTITIES, ...this.#identities.list(), ...cidrIdentities]);

    this.#resolution = resolvePolicies({ policies: this.#policies, identities: [], selectors: this.#selectors, endpoints: local, peerPorts, ruleIds: this.#ruleIds });
    this.#ruleIds.sweep();
    this.#selectors.prune();
    const hostAddresses = (this.#cfg.hostAddresses ?? hostIPv4s)();
    this.#ipcache = desiredIpcache({ endpoints: local, hostAddresses, remoteNodes: [], cidrIdentities });

    const wantPolicy = new Map<string, PolicyMapEntry>();
    for (const r of this.#resolution.endpoints.values()) for (const e of r.entries) wantPolicy.set(policyKeyString(e.key), e);

    // 1, 2: additions and changes.
    for (const [prefix, entry] of this.#ipcache) {
      const have = this.#ipcacheWritten.get(prefix);
      if (have && have.identity === entry.identity && have.cidr_identity === entry.cidr_identity) continue;
      datapath.ipcache.update(ipcacheKeyOf(prefix), entry);
      this.#ipcacheWritten.set(prefix, entry);
    }
    for (const [k, e] of wantPolicy) {
      const have = this.#policyWritten.get(k);
      if (have && have.entry.rule_id === e.entry.rule_id && have.entry.flags === e.entry.flags) continue;
      datapath.policy.update(e.key, e.entry);
      this.#policyWritten.set(k, e);
    }
    // 3: identities and enforcement.
    for (const ep of eps) {
      const r = this.#resolution.endpoints.get(ep.id)!; // every local endpoint is resolved
      if (ep !== extra) endpoints.setPolicyState(ep.id, { identity: r.identity, flags: this.#flags(ep, r) });
    }
    // 4, 5: removals.
    for (const [k, e] of [...this.#policyWritten]) {
      if (wantPolicy.has(k)) continue;
      datapath.policy.delete(e.key);
      this.#policyWritten.delete(k);
    }
    for (const prefix of [...this.#ipcacheWritten.keys()]) {
      if (this.#ipcache.has(prefix)) continue;
      datapath.ipcache.delete(ipcacheKeyOf(prefix));
      this.#ipcacheWritten.delete(prefix);
    }
    this.#persistIdentities();
  }

  /** Label-set identities to the store, when they changed (cluster state: another node must see the same numbers). */
  #persistIdentities(): void {
    const want = new Map(this.#identities.list().map((i) => [i.id, JSON.stringify(i.labels)]));
    const put: Array<[string, unknown]> = [];
    const del: string[] = [];
    for (const [id, labels] of want) if (this.#storedIdentities.get(id) !== labels) put.push([`${IDENTITIES_PREFIX}${id}`, { labels: JSON.parse(labels) as unknown }]);
    for (const id of this.#storedIdentities.keys()) if (!want.has(id)) del.push(`${IDENTITIES_PREFIX}${id}`);
    if (put.length === 0 && del.length === 0) return;
    this.#storedIdentities = want;
    this.#persisting = this.#persisting.then(() =>
      this.#cfg.store.commit({ put, delete: del }).catch((err: unknown) => this.#cfg.log.error('could not store identities', { err: err as Error })),
    );
  }

  // --- views ------------------------------------------------------------------

  status(): PolicyStatus {
    const s: PolicyStatus = {
      policies: this.#policies.length,
      identities: this.#identities.size,
      endpointsEnforced: [...this.#resolution.endpoints.values()].filter((e) => e.ingressEnforced || e.egressEnforced).length,
      entries: this.#policyWritten.size,
      ipcacheEntries: this.#ipcacheWritten.size,
    };
    if (this.#lastSyncMs !== undefined) s.lastSyncMs = this.#lastSyncMs;
    if (this.#error) s.error = this.#error;
    return s;
  }

  ruleName(id: number): string | undefined {
    return this.#resolution.rules.get(id)?.name;
  }

  // Flow enrichment (src/observe/enrich.ts) reads these per event: each sync
  // makes new maps, so a reader tells a change by identity.
  /** The ipcache (prefix → entry) of the last sync. */
  get ipcacheView(): ReadonlyMap<string, IpcacheEntry> {
    return this.#ipcache;
  }
  /** Every rule of every policy, by rule id, as of the last sync. */
  get rulesView(): ReadonlyMap<number, RuleInfo> {
    return this.#resolution.rules;
  }
  /** An identity's labels (`k8s:app` → `web`, `reserved:world` → ''). */
  identityLabels(id: number): Readonly<Record<string, string>> | undefined {
    return this.#identity(id)?.labels;
  }

  #identity(id: number): Identity | undefined {
    return this.#selectors.identity(id);
  }

  /** Short display of an identity: `any`, `reserved:world`, `k8s:pod=a,...`. */
  identityName(id: number): string {
    if (id === 0) return 'any';
    const i = this.#identity(id);
    return i ? formatLabels(i.labels).join(',') : `identity ${id}`;
  }

  #endpointNames(): Map<number, string[]> {
    const by = new Map<number, string[]>();
    for (const ep of this.#cfg.endpoints.list()) {
      if (ep.identity === undefined) continue;
      const list = by.get(ep.identity) ?? [];
      list.push(ep.podName ? `${ep.podNamespace}/${ep.podName}` : String(ep.id));
      by.set(ep.identity, list);
    }
    return by;
  }

  identities(): IdentityJSON[] {
    const names = this.#endpointNames();
    return [...this.#selectors.identities()]
      .sort((a, b) => a.id - b.id)
      .map((i) => ({ id: i.id, kind: i.kind, labels: { ...i.labels }, endpoints: names.get(i.id) ?? [] }));
  }

  identity(id: number): IdentityJSON {
    const found = this.identities().find((i) => i.id === id);
    if (!found) throw new MembraneError('NOT_FOUND', `no identity ${id} — see 'membrane identity list'`);
    return found;
  }

  policies(): PolicyJSON[] {
    const selected = new Map<string, string[]>();
    for (const r of this.#resolution.endpoints.values()) {
      for (const p of r.policies) {
        const k = `${p.kind}/${p.namespace ?? ''}/${p.name}`;
        selected.set(k, [...(selected.get(k) ?? []), `${r.namespace}/${r.pod}`]);
      }
    }
    return this.#policies.map((p) => {
      const dd = new Set<'ingress' | 'egress'>();
      for (const part of p.parts) {
        if (part.defaultDeny.ingress) dd.add('ingress');
        if (part.defaultDeny.egress) dd.add('egress');
      }
      return {
        kind: p.kind,
        ...(p.namespace ? { namespace: p.namespace } : {}),
        name: p.name,
        endpoints: selected.get(`${p.kind}/${p.namespace ?? ''}/${p.name}`) ?? [],
        defaultDeny: [...dd],
        rules: p.parts.reduce((n, part) => n + part.rules.length, 0),
        spec: p,
      };
    });
  }

  realized(ep: EndpointJSON): RealizedPolicyJSON {
    const r = this.#resolution.endpoints.get(ep.id);
    return {
      identity: ep.identity ?? 0,
      ingressEnforced: r?.ingressEnforced ?? false,
      egressEnforced: r?.egressEnforced ?? false,
      auditMode: (ep.policyAuditMode ?? false) || this.#cfg.auditMode,
      policies: (r?.policies ?? []).map(policyRef),
      entries: (r?.entries ?? []).map((e) => this.#entryJSON(e.key, e.entry)),
    };
  }

  #entryJSON(key: PolicyKey, entry: PolicyEntry): PolicyEntryJSON {
    let port = 'any';
    if (key.prefixlen > MB_POLICY_PREFIX_ANY_PORT) {
      const bits = key.prefixlen - MB_POLICY_PREFIX_ANY_PORT;
      const size = 2 ** (16 - bits);
      port = size === 1 ? String(key.dport) : `${key.dport}-${key.dport + size - 1}`;
    }
    return {
      direction: key.dir === MB_DIR_INGRESS ? 'ingress' : 'egress',
      identity: key.identity,
      peer: this.identityName(key.identity),
      protocol: key.prefixlen <= MB_POLICY_PREFIX_ANY_PROTO ? 'ANY' : (PROTOCOL_NAMES[key.proto] ?? String(key.proto)),
      port,
      verdict: entry.flags & MB_POLICY_F_DENY ? 'deny' : 'allow',
      rule: this.ruleName(entry.rule_id) ?? `rule ${entry.rule_id}`,
    };
  }

  // --- trace --------------------------------------------------------------------

  #tracePeer(ref: string, field: 'from' | 'to'): { peer: TracePeer; ref: string; labels: Record<string, string> } {
    const eps = this.#cfg.endpoints;
    const ep = eps.find(ref) ?? eps.list().find((e) => e.ipv4 === ref);
    if (ep) {
      const r = this.#resolution.endpoints.get(ep.id);
      const identity = r?.identity ?? ep.identity ?? 0;
      const name = ep.podName ? `${ep.podNamespace}/${ep.podName}` : `endpoint ${ep.id}`;
      const peer: TracePeer = { ip: ep.ipv4, identity, cidrIdentity: lookupIpcache(this.#ipcache, ep.ipv4).cidr_identity, lxcId: ep.id, audit: ep.policyAuditMode ?? false, name };
      return { peer, ref: name, labels: { ...(this.#identity(identity)?.labels ?? {}) } };
    }
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ref)) {
      throw new InputError(field, `'${ref}' is not an endpoint of this node (NAMESPACE/POD or id — see 'membrane endpoint list') nor an IPv4 address`);
    }
    const hit = lookupIpcache(this.#ipcache, ref);
    const peer: TracePeer = { ip: ref, identity: hit.identity, cidrIdentity: hit.cidr_identity, name: `${ref} (${this.identityName(hit.identity)})` };
    return { peer, ref, labels: { ...(this.#identity(hit.identity)?.labels ?? {}) } };
  }

  trace(req: TraceRequest): TraceResponse {
    const from = this.#tracePeer(req.from, 'from');
    const to = this.#tracePeer(req.to, 'to');
    const r = tracePolicy({
      resolution: this.#resolution,
      src: from.peer,
      dst: to.peer,
      protocol: req.protocol,
      dport: req.port,
      nodeAudit: this.#cfg.auditMode,
      hostPolicy: this.#cfg.allowLocalhost === 'policy',
      identityName: (id) => this.identityName(id),
    });
    const step = (s: TraceStep): TraceStepJSON => ({
      endpoint: s.endpoint,
      direction: s.direction,
      enforced: s.judgement.enforced,
      verdict: s.judgement.verdict,
      match: s.judgement.matchName,
      ...(s.rule ? { rule: s.rule.name } : {}),
      explanation: s.explanation,
    });
    return {
      from: { ref: from.ref, ip: from.peer.ip, identity: from.peer.identity, labels: from.labels },
      to: { ref: to.ref, ip: to.peer.ip, identity: to.peer.identity, labels: to.labels },
      port: req.port,
      protocol: req.protocol,
      steps: [r.egress, r.ingress].filter((s): s is TraceStep => s !== undefined).map(step),
      verdict: r.verdict,
      explanation: r.explanation,
    };
  }
}

/** Checks a trace request body, naming the field that is wrong. */
export function readTraceRequest(body: unknown): TraceRequest {
  const b = (body ?? {}) as Partial<TraceRequest>;
  if (typeof b.from !== 'string' || b.from === '') throw new InputError('from', 'required: NAMESPACE/POD, endpoint id or IPv4 address');
  if (typeof b.to !== 'string' || b.to === '') throw new InputError('to', 'required: NAMESPACE/POD, endpoint id or IPv4 address');
  if (typeof b.port !== 'number' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535) throw new InputError('port', 'must be a port number 1-65535');
  if (b.protocol !== 'TCP' && b.protocol !== 'UDP' && b.protocol !== 'SCTP') throw new InputError('protocol', "must be 'TCP', 'UDP' or 'SCTP'");
  return { from: b.from, to: b.to, port: b.port, protocol: b.protocol };
}
