// The links of one endpoint: a veth pair with the pod side in the pod's
// netns, addressed and routed through the node, and the host side routed to
// the pod. Kernel-touching; the caller (EndpointManager) owns the result.
import { KernelError } from '../errors.ts';
import { inNetns, ipBatch, ipJson, run } from './exec.ts';

export interface VethSpec {
  hostIf: string;
  hostMac: string;
  podIf: string;
  podMac: string;
  netns: string;
  ip: string;
  gateway: string;
  mtu: number;
}

/** Creates and configures both sides; returns the host side's ifindex. */
export async function createVeth(s: VethSpec): Promise<number> {
  await ipBatch([
    `link add ${s.hostIf} address ${s.hostMac} mtu ${s.mtu} type veth peer name ${s.podIf} address ${s.podMac} mtu ${s.mtu} netns ${s.netns}`,
    `link set ${s.hostIf} up`,
    `route replace ${s.ip}/32 dev ${s.hostIf} scope link src ${s.gateway}`,
    `neigh replace ${s.ip} lladdr ${s.podMac} dev ${s.hostIf} nud permanent`,
  ]);
  // In the pod: no IPv6 (Membrane is IPv4-only for now, and router
  // solicitations would only be dropped), a /32 address, and everything via
  // the node's router address, whose MAC is the host veth's (static: no ARP).
  await inNetns(
    s.netns,
    'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6 2>/dev/null || true; done; exec ip -batch -',
    [
      'link set lo up',
      `addr add ${s.ip}/32 dev ${s.podIf}`,
      `link set ${s.podIf} up`,
      `route add ${s.gateway} dev ${s.podIf} scope link`,
      `route add default via ${s.gateway} dev ${s.podIf} src ${s.ip}`,
      `neigh replace ${s.gateway} lladdr ${s.hostMac} dev ${s.podIf} nud permanent`,
    ].join('\n') + '\n',
  );
  return linkIndex(s.hostIf);
}

export async function linkIndex(name: string): Promise<number> {
  const links = await ipJson<Array<{ ifindex: number }>>('link', 'show', 'dev', name);
  const idx = links[0]?.ifindex;
  if (idx === undefined) throw new KernelError('NETLINK_FAILED', `link ${name} not found`);
  return idx;
}

/** Index of a link, or undefined when it does not exist. */
export async function findLink(name: string): Promise<number | undefined> {
  const r = await run('ip', ['-j', 'link', 'show', 'dev', name], { allowFail: true });
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as Array<{ ifindex: number }>)[0]?.ifindex;
}

/** Deletes the host side (the kernel removes the peer and the route). Absent links are fine. */
export async function deleteVeth(hostIf: string): Promise<void> {
  const r = await run('ip', ['link', 'del', 'dev', hostIf], { allowFail: true });
  if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) {
    throw new KernelError('NETLINK_FAILED', `ip link del ${hostIf} failed: ${r.stderr.trim()}`);
  }
}

/** Host-side veths in this netns whose names match `re`. */
export async function listLinks(re: RegExp): Promise<Array<{ name: string; ifindex: number }>> {
  const links = await ipJson<Array<{ ifname: string; ifindex: number }>>('link', 'show', 'type', 'veth');
  return links.filter((l) => re.test(l.ifname)).map((l) => ({ name: l.ifname, ifindex: l.ifindex }));
}

/** Checks the pod side: the interface exists in the netns with the address. */
export async function checkPodSide(netns: string, podIf: string, ip: string): Promise<string | undefined> {
  let out: string;
  try {
    out = (await inNetns(netns, `exec ip -j addr show dev ${podIf}`)).stdout;
  } catch (err) {
    return `interface ${podIf} not found in ${netns}: ${(err as Error).message}`;
  }
  const addrs = (JSON.parse(out) as Array<{ addr_info?: Array<{ local: string }> }>)[0]?.addr_info ?? [];
  if (!addrs.some((a) => a.local === ip)) return `interface ${podIf} in ${netns} does not have address ${ip}`;
  return undefined;
}
