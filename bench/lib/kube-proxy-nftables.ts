// kube-proxy's nftables mode, for the services benchmark: the `nft -f` input
// of one full sync for a list of services, in kube-proxy's shape
// (pkg/proxy/nftables/proxier.go, setupNFTables and syncProxyRules; facts
// carried over, no code). Pure.
//
// One table, `ip kube-proxy`. Base chains hook prerouting/output (nat,
// dstnat priority) and jump to `services`, whose two rules are the whole
// dispatch, independent of the number of services:
//
//   ip daddr . meta l4proto . th dport vmap @service-ips
//   ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
//
// Per service port: `service-HASH-NS/SVC/PROTO/PORTNAME` with the
// masquerade rule for traffic from outside the cluster CIDR and
// `numgen random mod N vmap { 0 : goto endpoint-…, … }`; per endpoint
// `endpoint-HASH-NS/SVC/PROTO/PORTNAME__IP/PORT` with the hairpin masquerade
// and `meta l4proto PROTO dnat to IP:PORT`; NodePorts through
// `external-HASH-…` (mark for masquerade, goto the service chain). HASH is
// the first 8 base32 chars of sha256 of the rest of the name.
// `nat-postrouting` masquerades marked packets (fully-random).
import { type BenchService, sha256Base32 } from './kube-services.ts';

export interface NftOptions {
  /** kube-proxy --cluster-cidr (its local-traffic detector). */
  clusterCidr: string;
  /** The cluster's service CIDRs: unallocated ClusterIPs in them are dropped. */
  serviceCidrs: string[];
  /** The node IPs NodePorts answer on (--nodeport-addresses primary). */
  nodePortIps: string[];
  /** masquerade mark (default 0x4000). */
  masqueradeMark?: string;
}

export const TABLE = 'kube-proxy';

function hashAndTruncate(name: string): string {
  // kube-proxy truncates past 240 characters; these names never get there.
  return `${sha256Base32(name).slice(0, 8)}-${name}`;
}

type Named = Pick<BenchService, 'namespace' | 'name' | 'portName' | 'protocol'>;

export function serviceChainBase(s: Named): string {
  return hashAndTruncate(`${s.namespace}/${s.name}/${s.protocol}/${s.portName}`);
}
export function serviceChain(s: Named): string {
  return `service-${serviceChainBase(s)}`;
}
export function externalChain(s: Named): string {
  return `external-${serviceChainBase(s)}`;
}
export function endpointChain(s: Named, ip: string, port: number): string {
  return `endpoint-${hashAndTruncate(`${s.namespace}/${s.name}/${s.protocol}/${s.portName}__${ip}/${port}`)}`;
}

/** The table, sets, maps, base chains and fixed rules (setupNFTables). */
export function baseRules(opts: NftOptions): string[] {
  const t = `ip ${TABLE}`;
  const mark = opts.masqueradeMark ?? '0x4000';
  return [
    `add table ${t} { comment "rules for kube-proxy" ; }`,
    `add set ${t} cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }`,
    `add set ${t} nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }`,
    `add map ${t} firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`,
    `add map ${t} no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`,
    `add map ${t} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }`,
    `add map ${t} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add map ${t} service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`,
    `add chain ${t} cluster-ips-check`,
    `add chain ${t} filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }`,
    `add chain ${t} filter-output-pre-dnat { type filter hook output priority -110 ; }`,
    `add chain ${t} filter-forward { type filter hook forward priority 0 ; }`,
    `add chain ${t} filter-input { type filter hook input priority 0 ; }`,
    `add chain ${t} filter-output { type filter hook output priority 0 ; }`,
    `add chain ${t} firewall-check`,
    `add chain ${t} mark-for-masquerade`,
    `add chain ${t} masquerading`,
    `add chain ${t} nat-output { type nat hook output priority -100 ; }`,
    `add chain ${t} nat-postrouting { type nat hook postrouting priority 100 ; }`,
    `add chain ${t} nat-prerouting { type nat hook prerouting priority -100 ; }`,
    `add chain ${t} nodeport-endpoints-check`,
    `add chain ${t} reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }`,
    `add chain ${t} services`,
    `add chain ${t} service-endpoints-check`,
    `add rule ${t} cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`,
    `add rule ${t} cluster-ips-check ip daddr { ${opts.serviceCidrs.join(', ')} } drop comment "Drop traffic to unallocated ClusterIPs"`,
    `add rule ${t} filter-prerouting-pre-dnat ct state new jump firewall-check`,
    `add rule ${t} filter-forward ct state new jump service-endpoints-check`,
    `add rule ${t} filter-forward ct state new jump cluster-ips-check`,
    `add rule ${t} filter-input ct state new jump nodeport-endpoints-check`,
    `add rule ${t} filter-input ct state new jump service-endpoints-check`,
    `add rule ${t} filter-output ct state new jump service-endpoints-check`,
    `add rule ${t} filter-output-pre-dnat ct state new jump firewall-check`,
    `add rule ${t} filter-output ct state new jump cluster-ips-check`,
    `add rule ${t} firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips`,
    `add rule ${t} mark-for-masquerade mark set mark or ${mark}`,
    `add rule ${t} masquerading mark and ${mark} == 0 return`,
    `add rule ${t} masquerading mark set mark xor ${mark}`,
    `add rule ${t} masquerading masquerade fully-random`,
    `add rule ${t} nat-output jump services`,
    `add rule ${t} nat-postrouting jump masquerading`,
    `add rule ${t} nat-prerouting jump services`,
    `add rule ${t} nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
    `add rule ${t} reject-chain reject`,
    `add rule ${t} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${t} services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`,
    ...(opts.nodePortIps.length > 0 ? [`add element ${t} nodeport-ips { ${opts.nodePortIps.join(', ')} }`] : []),
    `add rule ${t} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services`,
  ];
}

/** The lines one service port adds (chains first: rules and elements refer to them). */
export function serviceRules(s: BenchService, opts: Pick<NftOptions, 'clusterCidr'>): string[] {
  if (s.endpoints.length === 0) throw new Error(`${s.namespace}/${s.name}: services without endpoints are not generated`);
  const t = `ip ${TABLE}`;
  const svc = serviceChain(s);
  const ext = externalChain(s);
  const eps = s.endpoints.map((ip) => endpointChain(s, ip, s.targetPort));
  const out: string[] = [];
  for (const ep of eps) out.push(`add chain ${t} ${ep}`);
  out.push(`add chain ${t} ${svc}`);
  if (s.nodePort !== undefined) out.push(`add chain ${t} ${ext}`);
  out.push(`add rule ${t} ${svc} ip daddr ${s.clusterIP} ip saddr != ${opts.clusterCidr} jump mark-for-masquerade`);
  out.push(`add rule ${t} ${svc} numgen random mod ${eps.length} vmap { ${eps.map((ep, i) => `${i} : goto ${ep}`).join(' , ')} }`);
  if (s.nodePort !== undefined) {
    out.push(`add rule ${t} ${ext} jump mark-for-masquerade`);
    out.push(`add rule ${t} ${ext} goto ${svc}`);
  }
  s.endpoints.forEach((ip, i) => {
    out.push(`add rule ${t} ${eps[i]} ip saddr ${ip} jump mark-for-masquerade`);
    out.push(`add rule ${t} ${eps[i]} meta l4proto ${s.protocol} dnat to ${ip}:${s.targetPort}`);
  });
  out.push(`add element ${t} cluster-ips { ${s.clusterIP} }`);
  out.push(`add element ${t} service-ips { ${s.clusterIP} . ${s.protocol} . ${s.port} : goto ${svc} }`);
  if (s.nodePort !== undefined) out.push(`add element ${t} service-nodeports { ${s.protocol} . ${s.nodePort} : goto ${ext} }`);
  return out;
}

/** The whole `nft -f` input of a first full sync. */
export function syncScript(services: readonly BenchService[], opts: NftOptions): string {
  const lines = baseRules(opts);
  for (const s of services) for (const l of serviceRules(s, opts)) lines.push(l);
  lines.push('');
  return lines.join('\n');
}
