// NetworkPolicy as an iptables/ipset engine writes it: kube-router's network
// policy controller (v2, pkg/controllers/netpol; the shape k3s ships, as its
// iptables-save shows it). Pure: the pods and policies in, the two inputs of
// one full sync out — `ipset restore -exist` and `iptables-restore -T filter`
// (the whole filter table; kube-router saves it, rewrites its own chains
// and restores it all).
//
// What kube-router builds, and what this writes:
//  - top-level chains KUBE-ROUTER-INPUT/FORWARD/OUTPUT, jumped to first thing
//    from INPUT/FORWARD/OUTPUT; KUBE-ROUTER-INPUT lets service and node-port
//    traffic through; KUBE-NWPLCY-DEFAULT (ICMP, then "allowed" mark) for
//    pods without a policy in a direction;
//  - one chain per policy, KUBE-NWPLCY-<hash of namespace, name, sync
//    version, family>: per rule and port, a MARK 0x10000 rule matching
//    `-m set --match-set KUBE-SRC-… src -m set --match-set KUBE-DST-… dst -p
//    TCP --dport N`, and a RETURN once marked;
//  - one ipset per policy's selected pods (KUBE-DST-…, hash:ip) and one per
//    rule's peer pods (KUBE-SRC-…, hash:ip) or ipBlocks (hash:net, except
//    entries nomatch), loaded through temporary sets and swapped in;
//  - one chain per local pod, KUBE-POD-FW-<hash of namespace, name,
//    version>: conntrack RELATED,ESTABLISHED accept first, INVALID drop,
//    node-local sources accepted, a jump into each policy that selects the
//    pod (or into KUBE-NWPLCY-DEFAULT), then NFLOG and REJECT for what no
//    policy marked, mark reset, "compliant" mark 0x20000;
//  - per local pod, jumps into its chain from KUBE-ROUTER-FORWARD (by
//    destination and by source, routed and bridged: `-m physdev
//    --physdev-is-bridged`), KUBE-ROUTER-OUTPUT and KUBE-ROUTER-INPUT; the
//    0x20000 mark is accepted at the end of each top-level chain.
// Every packet of every connection walks KUBE-ROUTER-FORWARD rule by rule
// until it reaches a pod chain that accepts it (established traffic) or to
// its end (a new connection, which also walks every policy chain of its
// pods).
//
// Names use `prefix` where kube-router writes "KUBE-" (the benchmark uses
// "MBW-", so that it only ever touches chains and sets of its own); with
// "KUBE-" the names are kube-router's own, which the tests check against
// kube-router's expected output. IPv4 only.
import { createHash } from 'node:crypto';
import { base32, sha256Base32 } from '../lib/kube-services.ts';
import type { BenchPolicy, NetpolPort, NetpolRule, PlacedPod } from './workload.ts';
import { selects } from './workload.ts';

export interface KubeRouterOptions {
  /** Prefix of every chain and ipset name in place of "KUBE-" (the temporary sets: "<prefix>TMP-", kube-router's "TMP-"). */
  prefix: string;
  /** The sync version in pod and policy chain names (kube-router: the sync's start in ns, base 10). */
  version: string;
  /** Service cluster IP ranges (KUBE-ROUTER-INPUT returns traffic to them). */
  serviceCidrs: string[];
  /** Node port range in multiport form. */
  nodePortRange?: string;
}

const FAMILY = 'IPv4';

export interface Names {
  input: string;
  forward: string;
  output: string;
  defaultChain: string;
  podFw(namespace: string, pod: string): string;
  policy(namespace: string, name: string): string;
  dstSet(namespace: string, name: string): string;
  srcSet(namespace: string, name: string): string;
  ingressPodSet(namespace: string, name: string, rule: number): string;
  egressPodSet(namespace: string, name: string, rule: number): string;
  ingressIpBlockSet(namespace: string, name: string, rule: number): string;
  egressIpBlockSet(namespace: string, name: string, rule: number): string;
  tmpSet(options: string): string;
}

const h16 = (s: string) => sha256Base32(s).slice(0, 16);

/** kube-router's names (podFirewallChainName, networkPolicyChainName, policy*IPSetName), with `prefix` for "KUBE-". */
export function names(prefix: string, version: string): Names {
  return {
    input: `${prefix}ROUTER-INPUT`,
    forward: `${prefix}ROUTER-FORWARD`,
    output: `${prefix}ROUTER-OUTPUT`,
    defaultChain: `${prefix}NWPLCY-DEFAULT`,
    podFw: (ns, pod) => `${prefix}POD-FW-${h16(ns + pod + version)}`,
    policy: (ns, name) => `${prefix}NWPLCY-${h16(ns + name + version + FAMILY)}`,
    dstSet: (ns, name) => `${prefix}DST-${h16(ns + name + FAMILY)}`,
    srcSet: (ns, name) => `${prefix}SRC-${h16(ns + name + FAMILY)}`,
    ingressPodSet: (ns, name, i) => `${prefix}SRC-${h16(`${ns}${name}ingressrule${i}${FAMILY}pod`)}`,
    egressPodSet: (ns, name, i) => `${prefix}DST-${h16(`${ns}${name}egressrule${i}${FAMILY}pod`)}`,
    ingressIpBlockSet: (ns, name, i) => `${prefix}SRC-${h16(`${ns}${name}ingressrule${i}${FAMILY}ipblock`)}`,
    egressIpBlockSet: (ns, name, i) => `${prefix}DST-${h16(`${ns}${name}egressrule${i}${FAMILY}ipblock`)}`,
    tmpSet: (options) => `${prefix === 'KUBE-' ? '' : prefix}TMP-${base32(createHash('sha1').update(`tmp:${options}`).digest().subarray(0, 10))}`,
  };
}

/** The UUID kube-router appends to the comment of a rule it keeps at a fixed position (ensureTopLevelChains). */
export function ruleUuid(chain: string, ruleSpec: readonly string[]): string {
  return h16(chain + ruleSpec.join(''));
}

// --- buildNetworkPoliciesInfo -------------------------------------------------

type PolicyType = 'ingress' | 'egress' | 'both';

interface PortInfo {
  protocol: string;
  port: string;
  endport: string;
}

interface RuleInfo {
  matchAllPeers: boolean;
  matchAllPorts: boolean;
  peerPods: PlacedPod[];
  /** hash:net entries with their options (timeout 0; except: nomatch). */
  ipBlocks: string[][];
  ports: PortInfo[];
}

export interface PolicyInfo {
  policy: BenchPolicy;
  type: PolicyType;
  targetPods: PlacedPod[];
  ingress: RuleInfo[] | null;
  egress: RuleInfo[] | null;
}

function policyType(p: BenchPolicy): PolicyType {
  const i = p.policyTypes.includes('Ingress');
  const e = p.policyTypes.includes('Egress');
  if (i && e) return 'both';
  if (e) return 'egress';
  return 'ingress';
}

function ports(list: readonly NetpolPort[]): PortInfo[] {
  return list.map((q) => ({
    protocol: q.protocol ?? '',
    port: q.port === undefined ? '' : String(q.port),
    endport: q.port !== undefined && q.endPort !== undefined && q.endPort >= q.port ? String(q.endPort) : '',
  }));
}

function ipBlockEntries(r: NetpolRule): string[][] {
  const out: string[][] = [];
  for (const peer of r.peers) {
    if (!('ipBlock' in peer)) continue;
    const { cidr, except = [] } = peer.ipBlock;
    const halves = (c: string, extra: string[]) => (c.endsWith('/0') ? [['0.0.0.0/1', 'timeout', '0', ...extra], ['128.0.0.0/1', 'timeout', '0', ...extra]] : [[c, 'timeout', '0', ...extra]]);
    out.push(...halves(cidr, []));
    for (const e of except) out.push(...halves(e, ['nomatch']));
  }
  return out;
}

function ruleInfo(p: BenchPolicy, r: NetpolRule, pods: readonly PlacedPod[]): RuleInfo {
  const peerPods: PlacedPod[] = [];
  for (const peer of r.peers) {
    if ('podSelector' in peer) peerPods.push(...pods.filter((q) => q.namespace === p.namespace && selects(peer.podSelector, q.labels)));
  }
  return { matchAllPeers: r.peers.length === 0, matchAllPorts: r.ports.length === 0, peerPods, ipBlocks: ipBlockEntries(r), ports: ports(r.ports) };
}

/** What kube-router knows of each policy: its type, the pods it selects, each rule's peers and ports. */
export function policyInfos(pods: readonly PlacedPod[], policies: readonly BenchPolicy[]): PolicyInfo[] {
  return policies.map((p) => {
    for (const r of [...(p.ingress ?? []), ...(p.egress ?? [])]) {
      for (const q of r.ports) if (typeof q.port === 'string') throw new Error(`${p.name}: named ports are not modelled`);
    }
    return {
      policy: p,
      type: policyType(p),
      targetPods: pods.filter((q) => q.namespace === p.namespace && selects(p.podSelector, q.labels)),
      ingress: p.ingress ? p.ingress.map((r) => ruleInfo(p, r, pods)) : null,
      egress: p.egress ? p.egress.map((r) => ruleInfo(p, r, pods)) : null,
    };
  });
}

// --- syncNetworkPolicyChains --------------------------------------------------

/** appendRuleToPolicyChain: the MARK rule and the RETURN once marked, as kube-router writes them (trailing " \n" included). */
export function policyChainRule(chain: string, comment: string, srcSet: string, dstSet: string, protocol: string, dport: string, endport: string): string {
  const args = ['-A', chain];
  if (comment) args.push('-m', 'comment', '--comment', `"${comment}"`);
  if (srcSet) args.push('-m', 'set', '--match-set', srcSet, 'src');
  if (dstSet) args.push('-m', 'set', '--match-set', dstSet, 'dst');
  if (protocol) args.push('-p', protocol);
  if (dport) args.push('--dport', endport ? `${dport}:${endport}` : dport);
  return [...args, '-j', 'MARK', '--set-xmark', '0x10000/0x10000', '\n'].join(' ') + [...args, '-m', 'mark', '--mark', '0x10000/0x10000', '-j', 'RETURN', '\n'].join(' ');
}

/** ipsets of one sync: name → [type, entries with their options]. */
export type SetTable = Map<string, { type: 'hash:ip' | 'hash:net'; entries: string[][] }>;

const ipEntries = (pods: readonly PlacedPod[]) => pods.map((q) => [q.ip, 'timeout', '0']);

/** processIngressRules: the policy chain's rules for the ingress rules (sets registered in `sets`). */
export function ingressRules(n: Names, info: PolicyInfo, chain: string, dstSet: string, sets: SetTable): string {
  const { namespace: ns, name } = info.policy;
  let out = '';
  if (info.ingress === null) return out;
  info.ingress.forEach((r, i) => {
    if (r.peerPods.length) {
      const src = n.ingressPodSet(ns, name, i);
      sets.set(src, { type: 'hash:ip', entries: ipEntries(r.peerPods) });
      const comment = `rule to ACCEPT traffic from source pods to dest pods selected by policy name ${name} namespace ${ns}`;
      if (r.ports.length) for (const q of r.ports) out += policyChainRule(chain, comment, src, dstSet, q.protocol, q.port, q.endport);
      else out += policyChainRule(chain, comment, src, dstSet, '', '', '');
    }
    const all = `rule to ACCEPT traffic from all sources to dest pods selected by policy name: ${name} namespace ${ns}`;
    if (r.matchAllPeers && !r.matchAllPorts) for (const q of r.ports) out += policyChainRule(chain, all, '', dstSet, q.protocol, q.port, q.endport);
    if (r.matchAllPeers && r.matchAllPorts) out += policyChainRule(chain, all, '', dstSet, '', '', '');
    if (r.ipBlocks.length) {
      const set = n.ingressIpBlockSet(ns, name, i);
      sets.set(set, { type: 'hash:net', entries: r.ipBlocks });
      const comment = `rule to ACCEPT traffic from specified ipBlocks to dest pods selected by policy name: ${name} namespace ${ns}`;
      if (!r.matchAllPorts) for (const q of r.ports) out += policyChainRule(chain, comment, set, dstSet, q.protocol, q.port, q.endport);
      else out += policyChainRule(chain, comment, set, dstSet, '', '', '');
    }
  });
  return out;
}

/** processEgressRules: the policy chain's rules for the egress rules. */
export function egressRules(n: Names, info: PolicyInfo, chain: string, srcSet: string, sets: SetTable): string {
  const { namespace: ns, name } = info.policy;
  let out = '';
  if (info.egress === null) return out;
  info.egress.forEach((r, i) => {
    if (r.peerPods.length) {
      const dst = n.egressPodSet(ns, name, i);
      sets.set(dst, { type: 'hash:ip', entries: ipEntries(r.peerPods) });
      const comment = `rule to ACCEPT traffic from source pods to dest pods selected by policy name ${name} namespace ${ns}`;
      if (r.ports.length) for (const q of r.ports) out += policyChainRule(chain, comment, srcSet, dst, q.protocol, q.port, q.endport);
      else out += policyChainRule(chain, comment, srcSet, dst, '', '', '');
    }
    const all = `rule to ACCEPT traffic from source pods to all destinations selected by policy name: ${name} namespace ${ns}`;
    if (r.matchAllPeers && !r.matchAllPorts) for (const q of r.ports) out += policyChainRule(chain, all, srcSet, '', q.protocol, q.port, q.endport);
    if (r.matchAllPeers && r.matchAllPorts) out += policyChainRule(chain, all, srcSet, '', '', '', '');
    if (r.ipBlocks.length) {
      const set = n.egressIpBlockSet(ns, name, i);
      sets.set(set, { type: 'hash:net', entries: r.ipBlocks });
      const comment = `rule to ACCEPT traffic from source pods to specified ipBlocks selected by policy name: ${name} namespace ${ns}`;
      if (!r.matchAllPorts) for (const q of r.ports) out += policyChainRule(chain, comment, srcSet, set, q.protocol, q.port, q.endport);
      else out += policyChainRule(chain, comment, srcSet, set, '', '', '');
    }
  });
  return out;
}

// --- syncPodFirewallChains ----------------------------------------------------

const line = (args: readonly string[]) => `${[...args, '\n'].join(' ')}`;

function podChainRules(n: Names, pod: PlacedPod, chain: string, infos: readonly PolicyInfo[]): string {
  let out = `:${chain}\n`;
  // setupPodNetpolRules: each rule is inserted at position 1, so the chain ends up in the reverse order.
  let hasIngress = false;
  let hasEgress = false;
  for (const info of infos) {
    if (!info.targetPods.some((t) => t.ip === pod.ip)) continue;
    const comment = `"run through nw policy ${info.policy.name}"`;
    const target = n.policy(info.policy.namespace, info.policy.name);
    if (info.type === 'both') {
      hasIngress = hasEgress = true;
      out += line(['-I', chain, '1', '-m', 'comment', '--comment', comment, '-j', target]);
    } else if (info.type === 'ingress') {
      hasIngress = true;
      out += line(['-I', chain, '1', '-d', pod.ip, '-m', 'comment', '--comment', comment, '-j', target]);
    } else {
      hasEgress = true;
      out += line(['-I', chain, '1', '-s', pod.ip, '-m', 'comment', '--comment', comment, '-j', target]);
    }
  }
  if (!hasIngress) out += line(['-I', chain, '1', '-d', pod.ip, '-m', 'comment', '--comment', '"run through default ingress network policy chain"', '-j', n.defaultChain]);
  if (!hasEgress) out += line(['-I', chain, '1', '-s', pod.ip, '-m', 'comment', '--comment', '"run through default egress network policy chain"', '-j', n.defaultChain]);
  out += line(['-I', chain, '1', '-m', 'comment', '--comment', `"rule to permit the traffic traffic to pods when source is the pod's local node"`, '-m', 'addrtype', '--src-type', 'LOCAL', '-d', pod.ip, '-j', 'ACCEPT']);
  out += line(['-I', chain, '1', '-m', 'comment', '--comment', '"rule to drop invalid state for pod"', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  out += line(['-I', chain, '1', '-m', 'comment', '--comment', '"rule for stateful firewall for pod"', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  // interceptPodInboundTraffic
  const to = `"rule to jump traffic destined to POD name:${pod.name} namespace: ${pod.namespace} to chain ${chain}"`;
  out += line(['-A', n.forward, '-m', 'comment', '--comment', to, '-d', pod.ip, '-j', chain]);
  out += line(['-A', n.output, '-m', 'comment', '--comment', to, '-d', pod.ip, '-j', chain]);
  out += line(['-A', n.forward, '-m', 'physdev', '--physdev-is-bridged', '-m', 'comment', '--comment', to, '-d', pod.ip, '-j', chain]);
  // interceptPodOutboundTraffic
  const from = `"rule to jump traffic from POD name:${pod.name} namespace: ${pod.namespace} to chain ${chain}"`;
  for (const top of [n.input, n.forward, n.output]) out += line(['-A', top, '-m', 'comment', '--comment', from, '-s', pod.ip, '-j', chain]);
  out += line(['-A', n.forward, '-m', 'physdev', '--physdev-is-bridged', '-m', 'comment', '--comment', from, '-s', pod.ip, '-j', chain]);
  // dropUnmarkedTrafficRules, then the compliant mark
  out += line(['-A', chain, '-m', 'comment', '--comment', `"rule to log dropped traffic POD name:${pod.name} namespace: ${pod.namespace}"`, '-m', 'mark', '!', '--mark', '0x10000/0x10000', '-j', 'NFLOG', '--nflog-group', '100', '-m', 'limit', '--limit', '10/minute', '--limit-burst', '10']);
  out += line(['-A', chain, '-m', 'comment', '--comment', `"rule to REJECT traffic destined for POD name:${pod.name} namespace: ${pod.namespace}"`, '-m', 'mark', '!', '--mark', '0x10000/0x10000', '-j', 'REJECT']);
  out += line(['-A', chain, '-j', 'MARK', '--set-mark', '0/0x10000']);
  out += line(['-A', chain, '-m', 'comment', '--comment', '"set mark to ACCEPT traffic that comply to network policies"', '-j', 'MARK', '--set-mark', '0x20000/0x20000']);
  return out;
}

// --- what kube-router sets up with single iptables commands (as iptables-save shows it) --------

/**
 * The filter table before a sync, as `iptables-save -t filter` prints it
 * (user chains sorted): the top-level chains and their jumps
 * (ensureTopLevelChains), KUBE-ROUTER-INPUT's service and node-port
 * returns, KUBE-NWPLCY-DEFAULT (ensureDefaultNetworkPolicyChain).
 */
export function baseTable(opts: KubeRouterOptions): { chains: string[]; rules: string[] } {
  const n = names(opts.prefix, opts.version);
  const range = opts.nodePortRange ?? '30000:32767';
  const jump = (builtin: string, custom: string) => {
    const spec = ['-m', 'comment', '--comment', 'kube-router netpol', '-j', custom];
    return `-A ${builtin} -m comment --comment "kube-router netpol - ${ruleUuid(builtin, spec)}" -j ${custom}`;
  };
  const ret = (spec: string[], text: string) => text.replace('UUID', ruleUuid(n.input, spec));
  const rules = [
    jump('INPUT', n.input),
    jump('FORWARD', n.forward),
    jump('OUTPUT', n.output),
    `-A ${n.defaultChain} -p icmp -m comment --comment "allow icmp echo requests" -m icmp --icmp-type 8 -j ACCEPT`,
    `-A ${n.defaultChain} -p icmp -m comment --comment "allow icmp destination unreachable messages" -m icmp --icmp-type 3 -j ACCEPT`,
    `-A ${n.defaultChain} -p icmp -m comment --comment "allow icmp time exceeded messages" -m icmp --icmp-type 11 -j ACCEPT`,
    `-A ${n.defaultChain} -m comment --comment "rule to mark traffic matching a network policy" -j MARK --set-xmark 0x10000/0x10000`,
    ...opts.serviceCidrs.map((c) =>
      ret(['-m', 'comment', '--comment', 'allow traffic to primary/secondary cluster IP range', '-d', c, '-j', 'RETURN'], `-A ${n.input} -d ${c} -m comment --comment "allow traffic to primary/secondary cluster IP range - UUID" -j RETURN`),
    ),
    ...(['tcp', 'udp'] as const).map((p) => {
      const what = `allow LOCAL ${p.toUpperCase()} traffic to node ports`;
      return ret(['-p', p, '-m', 'comment', '--comment', what, '-m', 'addrtype', '--dst-type', 'LOCAL', '-m', 'multiport', '--dports', range, '-j', 'RETURN'], `-A ${n.input} -p ${p} -m comment --comment "${what} - UUID" -m addrtype --dst-type LOCAL -m multiport --dports ${range} -j RETURN`);
    }),
  ];
  const chains = [':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...[n.defaultChain, n.forward, n.input, n.output].sort().map((c) => `:${c} - [0:0]`)];
  return { chains, rules };
}

export interface SyncInput {
  /** `ipset restore -exist` input (RestoreSets). */
  ipset: string;
  /** `iptables-restore -T filter` input: the whole filter table. */
  filter: string;
  /** The ipsets of this sync. */
  sets: SetTable;
  /** Chains created by this sync (policy and pod chains). */
  chains: number;
  /** Rules in the filter table after the restore. */
  rules: number;
}

/**
 * One full sync (fullPolicySync) on a node whose filter table holds
 * baseTable() and no pod or policy chains: the ipset restore input and the
 * filter table restore input kube-router writes. `local` are this node's
 * pods (they get chains), `pods` every pod (selectors match them all).
 */
export function fullSync(local: readonly PlacedPod[], pods: readonly PlacedPod[], policies: readonly BenchPolicy[], opts: KubeRouterOptions): SyncInput {
  const n = names(opts.prefix, opts.version);
  const infos = policyInfos(pods, policies);
  const sets: SetTable = new Map();
  // filterTableRules: what the sync writes, in order (":" lines are chain declarations).
  let body = '';
  for (const info of infos) {
    const { namespace: ns, name } = info.policy;
    const chain = n.policy(ns, name);
    body += `:${chain}\n`;
    if (info.type !== 'egress') {
      const dst = n.dstSet(ns, name);
      sets.set(dst, { type: 'hash:ip', entries: ipEntries(info.targetPods) });
      body += ingressRules(n, info, chain, dst, sets);
    }
    if (info.type !== 'ingress') {
      const src = n.srcSet(ns, name);
      sets.set(src, { type: 'hash:ip', entries: ipEntries(info.targetPods) });
      body += egressRules(n, info, chain, src, sets);
    }
  }
  for (const pod of local) body += podChainRules(n, pod, n.podFw(pod.namespace, pod.name), infos);
  // ensureExplicitAccept: AppendUnique to each top-level chain.
  for (const top of [n.input, n.forward, n.output]) {
    body += `-A ${top} -m comment --comment "rule to explicitly ACCEPT traffic that comply to network policies" -m mark --mark 0x20000/0x20000 -j ACCEPT \n`;
  }
  // cleanupStaleRules: the saved table and the sync's lines, chains first, each chain line given " - [0:0]".
  const base = baseTable(opts);
  const newChains: string[] = [];
  const newRules: string[] = [];
  for (const l of body.split('\n')) {
    if (l.startsWith(':')) newChains.push(`${l} - [0:0]`);
    else if (l.startsWith('-')) newRules.push(l);
  }
  const filter = ['*filter', ...base.chains.map((c) => `${c} - [0:0]`), ...newChains, ...base.rules, ...newRules, 'COMMIT', ''].join('\n');
  return {
    ipset: ipsetRestore(n, sets),
    filter,
    sets,
    chains: newChains.length,
    rules: base.rules.length + newRules.length,
  };
}

/**
 * buildIPSetRestore: per set (sorted by name) fill a temporary set of the
 * same options, create the set if missing, swap, flush the temporary one;
 * finally destroy the temporary sets.
 */
export function ipsetRestore(n: Names, sets: SetTable): string {
  const tmp = new Map<string, string>();
  let out = '';
  for (const name of [...sets.keys()].sort()) {
    const set = sets.get(name)!;
    const options = `${set.type} timeout 0`;
    let t = tmp.get(options);
    if (!t) {
      t = n.tmpSet(options);
      out += `create ${t} ${options}\nflush ${t}\n`;
      tmp.set(options, t);
    }
    for (const e of set.entries) out += `add ${t} ${e.join(' ')}\n`;
    out += `create ${name} ${options}\nswap ${t} ${name}\nflush ${t}\n`;
  }
  for (const t of [...tmp.values()].sort()) out += `destroy ${t}\n`;
  return out;
}

/** The filter table with kube-router's base chains only (what `clear` restores between measurements). */
export function baseRestore(opts: KubeRouterOptions): string {
  const base = baseTable(opts);
  return ['*filter', ...base.chains, ...base.rules, 'COMMIT', ''].join('\n');
}
