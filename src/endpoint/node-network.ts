// The node's side of pod networking, owned by the agent:
//  - a device `membrane_host` holding the node's router address in the pod
//    CIDR (the pods' gateway, and the source of node→pod traffic). Like
//    Cilium's cilium_host it is one end of a veth pair (membrane_host ↔
//    membrane_net): this kernel has no dummy driver, veth always exists;
//  - a blackhole route for the pod CIDR, so an address no endpoint has is
//    dropped on the node instead of following the default route away;
//  - IPv4 forwarding, and masquerading of pod traffic that leaves the pod
//    CIDR (nftables table `ip membrane`, replaced atomically).
import { ipBatch, run } from './exec.ts';
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

/** Idempotent: safe on every agent start. */
export async function ensureNodeNetwork(s: NodeNetworkSpec): Promise<void> {
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
