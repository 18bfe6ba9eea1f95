// The CNI result of an ADD, shaped for the negotiated spec version, and the
// reading of a prevResult for CHECK (pure).
//
// Interface order is part of the contract: index 0 is the host-side veth
// (no sandbox), index 1 the pod's interface (sandbox = netns), and the pod's
// address points at index 1. Chained plugins (portmap, bandwidth, tuning)
// find the interfaces they act on through these fields.
import type { EndpointJSON } from '../agent/api-types.ts';
import { CNI_ERR, CniError } from './errors.ts';
import { compareVersions, type CniVersion } from './spec.ts';

export interface CniInterface {
  name: string;
  mac?: string;
  /** Set for the container's interface, absent for host interfaces. */
  sandbox?: string;
}

export interface CniIPConfig {
  /** "4" or "6"; present in 0.3.x/0.4.0 results only (1.0.0 removed it). */
  version?: '4' | '6';
  /** CIDR: the address and its prefix length, e.g. "10.200.0.5/32". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: CniVersion;
  interfaces: CniInterface[];
  ips: CniIPConfig[];
  routes: CniRoute[];
  dns: CniDNS;
}

/** Index of the host veth and of the pod interface in `interfaces`. */
export const HOST_IF_INDEX = 0;
export const POD_IF_INDEX = 1;

/** Whether results of `version` carry the per-IP "version" field (everything before 1.0.0). */
export function ipsCarryVersion(version: CniVersion): boolean {
  return compareVersions(version, '1.0.0') < 0;
}

/**
 * The ADD result for `ep`. `ifName` and `netns` are the runtime's own
 * CNI_IFNAME and CNI_NETNS, echoed back so a later CHECK compares equal.
 */
export function buildAddResult(
  ep: EndpointJSON,
  attachment: { ifName: string; netns: string },
  version: CniVersion,
): CniResult {
  const ip: CniIPConfig = {
    address: `${ep.ipv4}/${ep.prefixLength}`,
    gateway: ep.gateway,
    interface: POD_IF_INDEX,
  };
  const ips: CniIPConfig[] = [ipsCarryVersion(version) ? { version: '4', ...ip } : ip];
  return {
    cniVersion: version,
    interfaces: [
      { name: ep.hostIfName, mac: ep.hostMAC },
      { name: attachment.ifName, mac: ep.podMAC, sandbox: attachment.netns },
    ],
    ips,
    routes: [{ dst: '0.0.0.0/0', gw: ep.gateway }],
    dns: {},
  };
}

/** What a prevResult says about the pod's interface. */
export interface ExpectedAttachment {
  ifName: string;
  mac?: string;
  sandbox: string;
  /** CIDRs assigned to the pod interface. */
  addresses: string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mismatch(msg: string, details?: string): CniError {
  return new CniError(CNI_ERR.ATTACHMENT_MISMATCH, msg, details);
}

/**
 * Finds the pod interface named `ifName` in `prevResult` and the addresses
 * assigned to it. Errors when the result is malformed (7) or does not list
 * the interface, lists it in another sandbox, or gives it no address (100).
 */
export function expectedFromPrevResult(
  prevResult: Record<string, unknown>,
  ifName: string,
  netns: string,
): ExpectedAttachment {
  const interfaces = prevResult.interfaces ?? [];
  const ips = prevResult.ips ?? [];
  if (!Array.isArray(interfaces) || !Array.isArray(ips)) {
    throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'prevResult: interfaces and ips must be arrays');
  }
  const index = interfaces.findIndex(
    (i: unknown) => isObject(i) && i.name === ifName && typeof i.sandbox === 'string' && i.sandbox !== '',
  );
  if (index < 0) {
    throw mismatch(`prevResult lists no container interface named ${ifName}`);
  }
  const iface = interfaces[index] as Record<string, unknown>;
  const sandbox = iface.sandbox as string;
  if (netns !== '' && sandbox !== netns) {
    throw mismatch(`prevResult puts ${ifName} in sandbox ${sandbox}, but CNI_NETNS is ${netns}`);
  }
  const addresses: string[] = [];
  for (const ip of ips) {
    if (!isObject(ip) || typeof ip.address !== 'string') {
      throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'prevResult: every ips entry needs an address');
    }
    // An entry without an interface index is not tied to any interface; count it as ours.
    if (ip.interface === undefined || ip.interface === index) addresses.push(ip.address);
  }
  if (addresses.length === 0) {
    throw mismatch(`prevResult assigns no address to ${ifName}`);
  }
  const out: ExpectedAttachment = { ifName, sandbox, addresses };
  if (typeof iface.mac === 'string' && iface.mac !== '') out.mac = iface.mac;
  return out;
}

/**
 * Compares what prevResult expects with the agent's endpoint. Returns a
 * description of each difference; empty when they agree.
 */
export function diffAttachment(expected: ExpectedAttachment, ep: EndpointJSON): string[] {
  const diffs: string[] = [];
  const cidr = `${ep.ipv4}/${ep.prefixLength}`;
  if (!expected.addresses.includes(cidr)) {
    diffs.push(`address: prevResult has ${expected.addresses.join(', ')}, agent has ${cidr}`);
  }
  if (expected.mac !== undefined && expected.mac.toLowerCase() !== ep.podMAC.toLowerCase()) {
    diffs.push(`mac: prevResult has ${expected.mac}, agent has ${ep.podMAC}`);
  }
  return diffs;
}
