// The node's side of pod networking, owned by the agent:
//  - a device `membrane_host` holding the node's router address in the pod
//    CIDR (the pods' gateway, and the source of node→pod traffic). Like
//    Cilium's cilium_host it is one end of a veth pair (membrane_host ↔
//    membrane_net): this kernel has no dummy driver, veth always exists;
//  - a blackhole route for the pod CIDR, so an address no endpoint has is
//    dropped on the node instead of following the default route away;
//  - IPv4 forwarding, and masquerading of pod traffic that leaves the pod
//    CIDR (nftables table `ip membrane`, replaced atomically).
import { MembraneError } from '../errors.ts';
import { parseCidr4 } from '../net/ip4.ts';
import { ipBatch, ipJson, run } from './exec.ts';
import type { Ipam } from './ipam.ts';

export const HOST_DEVICE = 'membrane_host';
export const HOST_PEER = 'membrane_net';
export const NFT_TABLE = 'membrane';

export interface NodeNetworkSpec {
  podCidr: string;
  gateway: string;
  masquerade: boolean;
}

export function nodeNetworkSpec(ipam: Ipam, masquerade: boolean): NodeNetworkSpec {
  return { podCidr: ipam.cidr.text, gateway: ipam.gateway, masquerade };
}

/** nft script that replaces Membrane's table in one transaction. Pure. */
export function nftScript(s: NodeNetworkSpec): string {
  const lines = [`add table ip ${NFT_TABLE}`, `delete table ip ${NFT_TABLE}`, `table ip ${NFT_TABLE} {`];
  if (s.masquerade) {
    lines.push(
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    ip saddr ${s.podCidr} ip daddr != ${s.podCidr} oifname != "${HOST_DEVICE}" counter masquerade`,
      '  }',
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/**
 * Routes of this netns (all tables, local addresses included) that overlap
 * `cidrs`, other than blackholes for exactly those CIDRs and routes through
 * the devices in `ownDevs` (ours from an earlier run).
 */
export async function routeClashes(cidrs: readonly string[], ownDevs: RegExp = /^$/): Promise<string[]> {
  const mine = cidrs.map((c) => parseCidr4(c));
  const routes = JSON.parse((await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout || '[]') as Array<{ dst?: string; type?: string; dev?: string; table?: string }>;
  const out: string[] = [];
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || (r.dev && ownDevs.test(r.dev))) continue;
    const dst = parseCidr4(r.dst.includes('/') ? r.dst : `${r.dst}/32`, { lenient: true });
    for (const m of mine) {
      const overlap = dst.base < m.base + m.size && m.base < dst.base + dst.size;
      const ourBlackhole = r.type === 'blackhole' && dst.text === m.text;
      if (overlap && !ourBlackhole) out.push(`${m.text} overlaps ${r.type ?? 'route'} ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}${r.table ? ` table ${r.table}` : ''}`);
    }
  }
  return out;
}

/** Idempotent: safe on every agent start. Refuses a pod CIDR that overlaps a network the node uses. */
export async function ensureNodeNetwork(s: NodeNetworkSpec): Promise<void> {
  const clashes = await routeClashes([s.podCidr], new RegExp(`^(${HOST_DEVICE}|${HOST_PEER}|lxc[0-9a-f]{11})$`));
  if (clashes.length > 0) {
    throw new MembraneError('CONFLICT', `pod CIDR ${s.podCidr} overlaps a network this node already uses (${clashes.join('; ')}) — start the agent with another --pod-cidr`);
  }
  const exists = (await run('ip', ['link', 'show', 'dev', HOST_DEVICE], { allowFail: true })).code === 0;
  await ipBatch([
    ...(exists ? [] : [`link add ${HOST_DEVICE} type veth peer name ${HOST_PEER}`]),
    `link set ${HOST_PEER} up`,
    `link set ${HOST_DEVICE} up`,
    `addr replace ${s.gateway}/32 dev ${HOST_DEVICE}`,
    `route replace blackhole ${s.podCidr}`,
  ]);
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  await run('nft', ['-f', '-'], { input: nftScript(s) });
}

/** Removes everything ensureNodeNetwork made (used by `membrane uninstall`). */
export async function removeNodeNetwork(s: Pick<NodeNetworkSpec, 'podCidr'>): Promise<void> {
  await run('ip', ['link', 'del', 'dev', HOST_DEVICE], { allowFail: true });
  await run('ip', ['route', 'del', 'blackhole', s.podCidr], { allowFail: true });
  await run('nft', ['delete', 'table', 'ip', NFT_TABLE], { allowFail: true });
}

export interface NodeDevice {
  name: string;
  ifindex: number;
  /** IPv4 addresses, primary first. */
  ipv4: string[];
}

/**
 * The node devices for the per-packet LB: the named ones (each must exist),
 * or, when none are named, the device of the default route (none when the
 * node has no default route).
 */
export async function resolveDevices(names: readonly string[]): Promise<NodeDevice[]> {
  let wanted = [...names];
  if (wanted.length === 0) {
    const routes = (await ipJson<Array<{ dev?: string }>>('-4', 'route', 'show', 'default')) ?? [];
    wanted = [...new Set(routes.map((r) => r.dev).filter((d): d is string => typeof d === 'string'))];
  }
  const out: NodeDevice[] = [];
  for (const name of wanted) {
    const links = await ipJson<Array<{ ifindex: number; ifname: string; addr_info?: Array<{ family: string; local: string }> }>>('addr', 'show', 'dev', name).catch(() => undefined);
    const link = links?.[0];
    if (!link) throw new MembraneError('NOT_FOUND', `device ${name} (from --devices) does not exist on this node — name an existing device, or omit --devices to use the default route's`);
    out.push({ name, ifindex: link.ifindex, ipv4: (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local) });
  }
  return out;
}
