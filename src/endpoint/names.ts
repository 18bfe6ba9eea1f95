// Deterministic names and MACs for an endpoint's links. Pure.
import { createHash } from 'node:crypto';
import { ip4ToInt } from '../net/ip4.ts';

/** Host-side veth names: "lxc" + 11 hex digits (IFNAMSIZ allows 15). */
export const HOST_IF_PREFIX = 'lxc';
export const HOST_IF_RE = /^lxc[0-9a-f]{11}$/;

export function hostIfName(containerID: string, ifName: string): string {
  const h = createHash('sha256').update(`${containerID}/${ifName}`).digest('hex');
  return `${HOST_IF_PREFIX}${h.slice(0, 11)}`;
}

/** Pod MAC 0a:58:<IPv4 bytes>: locally administered, unicast, unique per address (as Kubernetes' bridge does). */
export function podMac(ip: string): string {
  const n = ip4ToInt(ip);
  return ['0a', '58', ...[24, 16, 8, 0].map((s) => ((n >>> s) & 255).toString(16).padStart(2, '0'))].join(':');
}

/** Host-side MAC 0a:5a:<hash bytes>: locally administered, unicast. */
export function hostMac(hostIf: string): string {
  const h = createHash('sha256').update(hostIf).digest();
  return ['0a', '5a', ...[...h.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Linux interface name rules (dev_valid_name). */
export function validIfName(name: string): boolean {
  return name.length > 0 && name.length < 16 && name !== '.' && name !== '..' && !/[/\s:]/.test(name);
}
