// The desired mb_ipcache: what every address is (identity) and which policy
// CIDR it falls in (cidr_identity).
//
// - 0.0.0.0/0 → world (+ the CIDR identity of 0.0.0.0/0 if a policy mentions it, else 0);
// - each policy prefix → world + its own CIDR identity;
// - each /32 of a remote node, host address or endpoint → its identity + the
//   CIDR identity of the longest policy prefix containing it (0 if none).
//   The same /32 in several roles: endpoint over host over remote node over
//   a policy /32.
import type { IpcacheEntry, IpcacheKey } from '../datapath/abi.ts';
import type { Identity } from '../identity/types.ts';

export interface IpcacheInput {
  /** Endpoints (local and remote) with their identity. */
  endpoints: Iterable<{ ip: string; identity: number }>;
  /** This node's addresses (identity host). */
  hostAddresses: Iterable<string>;
  /** Other nodes' addresses (identity remote-node). */
  remoteNodes: Iterable<string>;
  /** CIDR identities (kind 'cidr', with `cidr`); others are ignored. */
  cidrIdentities: Iterable<Identity>;
}

/** Desired entries keyed by `a.b.c.d/n`, sorted by address then prefix length. */
export function desiredIpcache(input: IpcacheInput): Map<string, IpcacheEntry> {
  throw new Error('not implemented');
}

/** `a.b.c.d/n` → the map key. */
export function ipcacheKeyOf(prefix: string): IpcacheKey {
  throw new Error('not implemented');
}

/** The map key → `a.b.c.d/n`. */
export function ipcachePrefixOf(key: IpcacheKey): string {
  throw new Error('not implemented');
}

/** LPM lookup of an address in a desired (or read back) ipcache, as the datapath does; world/0 when nothing matches. */
export function lookupIpcache(ipcache: ReadonlyMap<string, IpcacheEntry>, ip: string): IpcacheEntry & { prefix?: string } {
  throw new Error('not implemented');
}
