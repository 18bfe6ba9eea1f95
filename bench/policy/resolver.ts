// Membrane's policy computation alone, timed in the benchmark's process:
// the same pure core the agent's policy manager runs on every change
// (src/policy/manager.ts, #syncUnsafe) — identities of the endpoints and
// pods, CIDR identities, resolvePolicies, desiredIpcache — on the same
// objects and endpoints, without the map writes. The agent reports its
// whole sync (this plus the map writes) in its status as lastSyncMs.
import type { EndpointJSON } from '../../src/agent/api-types.ts';
import { IdentityAllocator } from '../../src/identity/allocator.ts';
import { endpointLabels } from '../../src/identity/labels.ts';
import { RESERVED_IDENTITIES } from '../../src/identity/types.ts';
import { parseManifests } from '../../src/k8s/documents.ts';
import type { PodSpec } from '../../src/k8s/pod.ts';
import { CidrIdentities, policyPrefixes } from '../../src/policy/cidr.ts';
import { desiredIpcache } from '../../src/policy/ipcache.ts';
import { type LocalEndpoint, resolvePolicies } from '../../src/policy/resolve.ts';
import { RuleIds } from '../../src/policy/rule-ids.ts';
import { SelectorCache } from '../../src/policy/selector.ts';
import type { PolicySpec } from '../../src/policy/types.ts';

export interface ResolverTiming {
  /** Parsing and validating the manifest (what the agent does with `apply`'s body). */
  parseMs: number;
  /** Identities of every endpoint and pod, CIDR identities, the selector cache filled. */
  identitiesMs: number;
  /** resolvePolicies: every endpoint's policy map entries. */
  resolveMs: number;
  /** desiredIpcache. */
  ipcacheMs: number;
  /** Policy map entries wanted, endpoints enforced. */
  entries: number;
  enforced: number;
}

const since = (t0: number) => performance.now() - t0;

/** Times the computation for `manifest` (Pods and NetworkPolicies) over the agent's `endpoints`. */
export function timeResolver(manifest: string, endpoints: readonly EndpointJSON[]): ResolverTiming {
  let t = performance.now();
  const { objects } = parseManifests(manifest, 'bench');
  const parseMs = since(t);
  const pods: PodSpec[] = [];
  const policies: PolicySpec[] = [];
  for (const o of objects) {
    if (o.kind === 'Pod') pods.push(o.spec);
    else if (o.kind === 'NetworkPolicy') policies.push(o.spec);
  }
  const podByName = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));

  t = performance.now();
  const ids = new IdentityAllocator();
  const local: LocalEndpoint[] = endpoints.map((ep) => {
    const pod = podByName.get(`${ep.podNamespace}/${ep.podName}`);
    const id = ids.acquire(endpointLabels(ep.podNamespace, pod?.labels ?? ep.labels)).id;
    return { lxcId: ep.id, identity: id, namespace: ep.podNamespace, pod: ep.podName, ip: ep.ipv4, ports: pod ? pod.containers.flatMap((c) => c.ports) : [] };
  });
  const peerPorts = new Map<number, Array<readonly PodSpec['containers'][number]['ports'][number][]>>();
  for (const p of pods) {
    const id = ids.acquire(endpointLabels(p.namespace, p.labels)).id;
    const list = peerPorts.get(id) ?? [];
    list.push(p.containers.flatMap((c) => c.ports));
    peerPorts.set(id, list);
  }
  const cidrIdentities = new CidrIdentities().sync(policyPrefixes(policies));
  const selectors = new SelectorCache();
  selectors.setIdentities([...RESERVED_IDENTITIES, ...ids.list(), ...cidrIdentities]);
  const identitiesMs = since(t);

  t = performance.now();
  const resolution = resolvePolicies({ policies, selectors, endpoints: local, peerPorts, ruleIds: new RuleIds() });
  const resolveMs = since(t);

  t = performance.now();
  desiredIpcache({ endpoints: local, hostAddresses: [], remoteNodes: [], cidrIdentities });
  const ipcacheMs = since(t);

  let entries = 0;
  let enforced = 0;
  for (const r of resolution.endpoints.values()) {
    entries += r.entries.length;
    if (r.ingressEnforced || r.egressEnforced) enforced++;
  }
  return { parseMs, identitiesMs, resolveMs, ipcacheMs, entries, enforced };
}
