// kube-proxy's iptables mode, for the services benchmark: the iptables-restore
// input its full sync writes for a list of services, in kube-proxy's shape and
// order (pkg/proxy/iptables/proxier.go, syncProxyRules and
// writeServiceToEndpointRules; facts carried over, no code). Pure.
//
// What it writes for a Cluster-policy service with endpoints, no session
// affinity, no LoadBalancer, IPv4:
//
//   nat KUBE-SERVICES   -m comment --comment "NS/SVC:PORT cluster IP" -m tcp -p tcp -d CIP --dport P -j KUBE-SVC-H
//   nat KUBE-NODEPORTS  -m comment --comment NS/SVC:PORT -m tcp -p tcp --dport NP -j KUBE-EXT-H        (NodePort)
//   nat KUBE-EXT-H      -m comment --comment "masquerade traffic for NS/SVC:PORT external destinations" -j KUBE-MARK-MASQ
//   nat KUBE-EXT-H      -j KUBE-SVC-H
//   nat KUBE-SVC-H      -m comment --comment "NS/SVC:PORT cluster IP" -m tcp -p tcp -d CIP --dport P ! -s CLUSTER_CIDR -j KUBE-MARK-MASQ
//   nat KUBE-SVC-H      [-m comment --comment "NS/SVC:PORT -> EP"] -m statistic --mode random --probability 1/(n-i) -j KUBE-SEP-E   (i < n-1)
//   nat KUBE-SVC-H      [-m comment --comment "NS/SVC:PORT -> EP"] -j KUBE-SEP-E                                               (last)
//   nat KUBE-SEP-E      [-m comment --comment NS/SVC:PORT] -s EP_IP -j KUBE-MARK-MASQ
//   nat KUBE-SEP-E      [-m comment --comment NS/SVC:PORT] -m tcp -p tcp -j DNAT --to-destination EP_IP:EP_PORT
//
// with H = first 16 base32 chars of sha256("NS/SVC:PORT" + "tcp") and E the
// same over "NS/SVC:PORT" + "tcp" + "EP_IP:EP_PORT". The bracketed comments are
// left out in "large cluster mode" (more than 1000 endpoints in all), as
// kube-proxy does to shrink the ruleset. The last KUBE-SERVICES rule sends
// local destinations to KUBE-NODEPORTS; KUBE-POSTROUTING masquerades what
// KUBE-MARK-MASQ marked (0x4000); the filter table gets KUBE-FORWARD and the
// empty per-service filter chains. The jumps from the built-in chains
// (PREROUTING → KUBE-SERVICES, ...) kube-proxy makes with `iptables -I`, not
// in the restore input: jumpsRestore() writes those, applied once.
import { type BenchService, servicePortName, sha256Base32 } from './kube-services.ts';

export interface IptablesOptions {
  /** kube-proxy --cluster-cidr: traffic from outside it to a ClusterIP is masqueraded. */
  clusterCidr: string;
  /** kube-proxy --iptables-masquerade-bit (default 14 → mark 0x4000). */
  masqueradeBit?: number;
  /** iptables supports MASQUERADE --random-fully (1.6.2+; true here). */
  randomFully?: boolean;
  /**
   * Connection tracking is strict (nf_conntrack_tcp_be_liberal = 0, the
   * default): KUBE-FORWARD drops INVALID packets.
   */
  conntrackStrict?: boolean;
}

/** kube-proxy's large cluster mode threshold (endpoints in all). */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

export function portProtoHash(s: Pick<BenchService, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return sha256Base32(servicePortName(s) + s.protocol).slice(0, 16);
}
export function svcChain(s: Pick<BenchService, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return `KUBE-SVC-${portProtoHash(s)}`;
}
export function extChain(s: Pick<BenchService, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return `KUBE-EXT-${portProtoHash(s)}`;
}
/** `endpoint` as kube-proxy prints it: "IP:PORT". */
export function sepChain(s: Pick<BenchService, 'namespace' | 'name' | 'portName' | 'protocol'>, endpoint: string): string {
  return `KUBE-SEP-${sha256Base32(servicePortName(s) + s.protocol + endpoint).slice(0, 16)}`;
}

/** Go's fmt "%0.10f" of 1/n, as kube-proxy's computeProbability. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

const q = (s: string) => `"${s}"`;

function masqueradeMark(bit: number): string {
  // As iptables-save prints it (kube-proxy's own "%#08x" text is the same mark).
  return `0x${(1 << bit).toString(16)}`;
}

/**
 * The restore input of one full sync (`iptables-restore --noflush --counters`,
 * as kube-proxy runs it): the filter and nat tables' KUBE-* chains.
 */
export function syncRestore(services: readonly BenchService[], opts: IptablesOptions): string {
  const mark = masqueradeMark(opts.masqueradeBit ?? 14);
  const large = services.reduce((n, s) => n + s.endpoints.length, 0) > LARGE_CLUSTER_ENDPOINTS;
  const comment = (c: string) => (large ? '' : ` -m comment --comment ${c.includes(' ') ? q(c) : c}`);
  const filterChains = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'];
  const filterRules = [
    // kubelet's anti-martian rule, duplicated by kube-proxy (localhost NodePorts on).
    `-A KUBE-FIREWALL -m comment --comment ${q('block incoming localnet connections')} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
  ];
  const natChains = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
  const natRules = [
    `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`,
    `-A KUBE-POSTROUTING -m comment --comment ${q('kubernetes service traffic requiring SNAT')} -j MASQUERADE${opts.randomFully === false ? '' : ' --random-fully'}`,
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`,
  ];
  for (const s of services) {
    if (s.endpoints.length === 0) throw new Error(`${servicePortName(s)}: services without endpoints are not generated`);
    const name = servicePortName(s);
    const p = s.protocol;
    const svc = svcChain(s);
    const ext = extChain(s);
    natRules.push(`-A KUBE-SERVICES -m comment --comment ${q(`${name} cluster IP`)} -m ${p} -p ${p} -d ${s.clusterIP} --dport ${s.port} -j ${svc}`);
    if (s.nodePort !== undefined) {
      natRules.push(`-A KUBE-NODEPORTS -m comment --comment ${name} -m ${p} -p ${p} --dport ${s.nodePort} -j ${ext}`);
      natChains.push(ext);
      natRules.push(`-A ${ext} -m comment --comment ${q(`masquerade traffic for ${name} external destinations`)} -j KUBE-MARK-MASQ`);
      natRules.push(`-A ${ext} -j ${svc}`);
    }
    natRules.push(`-A ${svc} -m comment --comment ${q(`${name} cluster IP`)} -m ${p} -p ${p} -d ${s.clusterIP} --dport ${s.port} ! -s ${opts.clusterCidr} -j KUBE-MARK-MASQ`);
    natChains.push(svc);
    const n = s.endpoints.length;
    const seps = s.endpoints.map((ip) => sepChain(s, `${ip}:${s.targetPort}`));
    s.endpoints.forEach((ip, i) => {
      const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
      natRules.push(`-A ${svc}${comment(`${name} -> ${ip}:${s.targetPort}`)}${stat} -j ${seps[i]}`);
    });
    s.endpoints.forEach((ip, i) => {
      natChains.push(seps[i]!);
      natRules.push(`-A ${seps[i]}${comment(name)} -s ${ip} -j KUBE-MARK-MASQ`);
      natRules.push(`-A ${seps[i]}${comment(name)} -m ${p} -p ${p} -j DNAT --to-destination ${ip}:${s.targetPort}`);
    });
  }
  natRules.push(`-A KUBE-SERVICES -m comment --comment ${q('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`);
  if (opts.conntrackStrict !== false) filterRules.push('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP');
  filterRules.push(`-A KUBE-FORWARD -m comment --comment ${q('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filterRules.push(`-A KUBE-FORWARD -m comment --comment ${q('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  const chainLine = (c: string) => `:${c} - [0:0]`;
  return [
    '*filter',
    ...filterChains.map(chainLine),
    ...filterRules,
    'COMMIT',
    '*nat',
    ...natChains.map(chainLine),
    ...natRules,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * The jumps kube-proxy ensures from the built-in chains into its own
 * (iptablesJumpChains and the kubelet's KUBE-FIREWALL), as restore input for
 * `iptables-restore --noflush`; applied once before the first sync.
 */
export function jumpsRestore(): string {
  const newOnly = '-m conntrack --ctstate NEW ';
  const c = (s: string) => `-m comment --comment "${s}"`;
  return [
    '*filter',
    ...['KUBE-EXTERNAL-SERVICES', 'KUBE-NODEPORTS', 'KUBE-SERVICES', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'].map((ch) => `:${ch} - [0:0]`),
    `-A INPUT ${newOnly}${c('kubernetes externally-visible service portals')} -j KUBE-EXTERNAL-SERVICES`,
    `-A FORWARD ${newOnly}${c('kubernetes externally-visible service portals')} -j KUBE-EXTERNAL-SERVICES`,
    `-A INPUT ${c('kubernetes health check service ports')} -j KUBE-NODEPORTS`,
    `-A FORWARD ${newOnly}${c('kubernetes service portals')} -j KUBE-SERVICES`,
    `-A OUTPUT ${newOnly}${c('kubernetes service portals')} -j KUBE-SERVICES`,
    `-A FORWARD ${c('kubernetes forwarding rules')} -j KUBE-FORWARD`,
    `-A INPUT ${newOnly}${c('kubernetes load balancer firewall')} -j KUBE-PROXY-FIREWALL`,
    `-A OUTPUT ${newOnly}${c('kubernetes load balancer firewall')} -j KUBE-PROXY-FIREWALL`,
    `-A FORWARD ${newOnly}${c('kubernetes load balancer firewall')} -j KUBE-PROXY-FIREWALL`,
    '-A INPUT -j KUBE-FIREWALL',
    '-A OUTPUT -j KUBE-FIREWALL',
    'COMMIT',
    '*nat',
    ...['KUBE-SERVICES', 'KUBE-POSTROUTING'].map((ch) => `:${ch} - [0:0]`),
    `-A OUTPUT ${c('kubernetes service portals')} -j KUBE-SERVICES`,
    `-A PREROUTING ${c('kubernetes service portals')} -j KUBE-SERVICES`,
    `-A POSTROUTING ${c('kubernetes postrouting rules')} -j KUBE-POSTROUTING`,
    'COMMIT',
    '',
  ].join('\n');
}

/** Rule counts of a restore input, by table (for the report). */
export function countRules(restore: string): { chains: number; rules: number } {
  let chains = 0;
  let rules = 0;
  for (const line of restore.split('\n')) {
    if (line.startsWith(':')) chains++;
    else if (line.startsWith('-A ')) rules++;
  }
  return { chains, rules };
}
