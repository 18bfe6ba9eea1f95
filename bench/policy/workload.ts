// The workload of the policy benchmark, as plain data that each side turns
// into its own input: the pods (names and labels; each side's IPAM gives the
// addresses), the NetworkPolicies, and the manifests `membrane apply -f`
// takes (Pod objects carry the labels, NetworkPolicy objects the rules). The
// iptables side turns the same pods and policies into kube-router's chains
// and ipsets (kube-router.ts). Pure.
//
// Pods: `endpoints` pods in one namespace. Two are the measured pair,
// `client` (role=client) and `server` (role=server); the others are fillers
// spread over `apps` apps (app=a<k>), as replicas of a deployment would be.
// The pair sits in the middle of the pod list: kube-router jumps to each
// local pod's chain from KUBE-ROUTER-FORWARD in turn, so where a pod sits in
// that list is what a packet pays before it is judged; the middle is the
// average case.
//
// Two policy families, both ingress-only, one rule per policy, one peer
// selector and one TCP port per rule:
//  - "rules" (the connection-rate test): P policies that all select the
//    server, each allowing one app on its own port, and the last one allowing
//    the client on the measured port. P rules stand between the pair.
//  - "spread" (the programming test, "1 000 policies over 1 000
//    endpoints"): policy j selects app a<j mod apps> and allows ingress from
//    another app on port 10000 + j div apps; every filler is selected by
//    P/apps policies and is the peer of as many.
import YAML from 'yaml';

export interface WorkloadSpec {
  namespace: string;
  /** Pods in all, the measured pair included (≥ 3). */
  endpoints: number;
  /** Apps the fillers are spread over (≥ 2). */
  apps: number;
  /** The server's port that the measured rule allows. */
  port: number;
  /** A server port that no rule allows (the check that policy is enforced). */
  deniedPort: number;
}

export interface BenchPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

/** A pod with the address its side gave it. */
export interface PlacedPod extends BenchPod {
  ip: string;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** A NetworkPolicyPeer: podSelector (matchLabels, policy namespace) or ipBlock. */
export type NetpolPeer = { podSelector: Record<string, string> } | { ipBlock: { cidr: string; except?: string[] } };

export interface NetpolPort {
  /** Absent: as the API server leaves it when not defaulted (kube-router then matches any protocol); Membrane's parser defaults TCP. */
  protocol?: Protocol;
  /** Absent: every port of the protocol. */
  port?: number;
  endPort?: number;
}

export interface NetpolRule {
  /** from (ingress) / to (egress); [] matches every peer. */
  peers: NetpolPeer[];
  /** [] matches every port. */
  ports: NetpolPort[];
}

/** The subset of networking.k8s.io/v1 NetworkPolicy the benchmark uses (and the generator handles). */
export interface BenchPolicy {
  namespace: string;
  name: string;
  /** matchLabels; {} selects every pod of the namespace. */
  podSelector: Record<string, string>;
  policyTypes: Array<'Ingress' | 'Egress'>;
  /** Absent: none given (with policyType Ingress: deny all ingress). */
  ingress?: NetpolRule[];
  egress?: NetpolRule[];
}

export const CLIENT = 'client';
export const SERVER = 'server';
/** First port of the filler rules (never the measured or the denied port). */
export const FILLER_PORT_BASE = 10000;

function check(spec: WorkloadSpec): void {
  if (spec.endpoints < 3) throw new Error('the workload needs at least 3 pods (the pair and a filler)');
  if (spec.apps < 2) throw new Error('the workload needs at least 2 apps');
  for (const p of [spec.port, spec.deniedPort]) {
    if (p >= FILLER_PORT_BASE) throw new Error(`ports of the measured pair must be below ${FILLER_PORT_BASE}`);
  }
}

/** The pods, in kube-router's chain order: fillers with the measured pair in the middle. */
export function makePods(spec: WorkloadSpec): BenchPod[] {
  check(spec);
  const fillers = spec.endpoints - 2;
  const pods: BenchPod[] = [];
  for (let i = 0; i < fillers; i++) {
    const app = i % spec.apps;
    pods.push({ namespace: spec.namespace, name: `a${app}-${Math.floor(i / spec.apps)}`, labels: { app: `a${app}` } });
  }
  const mid = Math.floor(fillers / 2);
  pods.splice(mid, 0, { namespace: spec.namespace, name: CLIENT, labels: { role: CLIENT } }, { namespace: spec.namespace, name: SERVER, labels: { role: SERVER } });
  return pods;
}

/** `count` policies that all select the server; the last one allows the client on the measured port. */
export function rulesPolicies(spec: WorkloadSpec, count: number): BenchPolicy[] {
  check(spec);
  const out: BenchPolicy[] = [];
  for (let j = 0; j < count; j++) {
    const last = j === count - 1;
    out.push({
      namespace: spec.namespace,
      name: `allow-${j}`,
      podSelector: { role: SERVER },
      policyTypes: ['Ingress'],
      ingress: [
        {
          peers: [{ podSelector: last ? { role: CLIENT } : { app: `a${j % spec.apps}` } }],
          ports: [{ protocol: 'TCP', port: last ? spec.port : FILLER_PORT_BASE + j }],
        },
      ],
    });
  }
  return out;
}

/** `count` policies spread over the fillers' apps, each allowing another app on one port. */
export function spreadPolicies(spec: WorkloadSpec, count: number): BenchPolicy[] {
  check(spec);
  const out: BenchPolicy[] = [];
  for (let j = 0; j < count; j++) {
    const subject = j % spec.apps;
    const round = Math.floor(j / spec.apps);
    const peer = (subject + 1 + (round % (spec.apps - 1))) % spec.apps;
    out.push({
      namespace: spec.namespace,
      name: `spread-${j}`,
      podSelector: { app: `a${subject}` },
      policyTypes: ['Ingress'],
      ingress: [{ peers: [{ podSelector: { app: `a${peer}` } }], ports: [{ protocol: 'TCP', port: FILLER_PORT_BASE + round }] }],
    });
  }
  return out;
}

/** matchLabels semantics: every given label present with that value. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** How many policy rules allow `from` → `to` on TCP `port` (ingress side only; the workload has no egress rules). */
export function allowingRules(policies: readonly BenchPolicy[], from: BenchPod, to: BenchPod, port: number): number {
  let n = 0;
  for (const p of policies) {
    if (p.namespace !== to.namespace || !selects(p.podSelector, to.labels)) continue;
    for (const r of p.ingress ?? []) {
      const peerOk = r.peers.length === 0 || r.peers.some((peer) => 'podSelector' in peer && from.namespace === p.namespace && selects(peer.podSelector, from.labels));
      const portOk = r.ports.length === 0 || r.ports.some((q) => (q.protocol ?? 'TCP') === 'TCP' && (q.port === undefined || (q.port <= port && port <= (q.endPort ?? q.port))));
      if (peerOk && portOk) n++;
    }
  }
  return n;
}

export type ManifestFormat = 'yaml' | 'json';

/** A Pod object: what Membrane needs of it is the name, the namespace and the labels. */
export function podObject(p: BenchPod): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
    spec: { containers: [{ name: 'main', image: 'bench' }] },
  };
}

/** A networking.k8s.io/v1 NetworkPolicy object. */
export function policyObject(p: BenchPolicy): Record<string, unknown> {
  const rule = (r: NetpolRule, key: 'from' | 'to') => ({
    ...(r.peers.length ? { [key]: r.peers.map((peer) => ('podSelector' in peer ? { podSelector: { matchLabels: peer.podSelector } } : { ipBlock: peer.ipBlock })) } : {}),
    ...(r.ports.length ? { ports: r.ports.map((q) => ({ ...(q.protocol ? { protocol: q.protocol } : {}), ...(q.port !== undefined ? { port: q.port } : {}), ...(q.endPort !== undefined ? { endPort: q.endPort } : {}) })) } : {}),
  });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: p.name, namespace: p.namespace },
    spec: {
      podSelector: Object.keys(p.podSelector).length ? { matchLabels: p.podSelector } : {},
      policyTypes: p.policyTypes,
      ...(p.ingress ? { ingress: p.ingress.map((r) => rule(r, 'from')) } : {}),
      ...(p.egress ? { egress: p.egress.map((r) => rule(r, 'to')) } : {}),
    },
  };
}

/** Objects as `kubectl get -o yaml` (split into documents) or `kubectl get -o json` (one List) export them. */
export function manifest(objects: ReadonlyArray<Record<string, unknown>>, format: ManifestFormat = 'yaml'): string {
  if (format === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
  return objects.map((o) => YAML.stringify(o)).join('---\n');
}

/** The Namespace object of the workload. */
export function namespaceObject(name: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}
