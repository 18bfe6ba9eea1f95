// The desired mb_ipcache: what every address is (identity) and which policy
// CIDR it falls in (cidr_identity).
//
// - 0.0.0.0/0 → world (+ the CIDR identity of 0.0.0.0/0 if a policy mentions it, else 0);
// - each policy prefix → world + its own CIDR identity;
// - each /32 of a remote node, host address or endpoint → its identity + the
//   CIDR identity of the longest policy prefix containing it (0 if none).
//   The same /32 in several roles: endpoint over host over remote node over
//   a policy /32.
import { MB_ID_HOST, MB_ID_REMOTE_NODE, MB_ID_WORLD, type IpcacheEntry, type IpcacheKey } from '../datapath/abi.ts';
import type { Identity } from '../identity/types.ts';
import { intToIp4, ip4ToInt } from '../net/ip4.ts';
import { prefixOf } from './cidr.ts';

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

const MASKS = Array.from({ length: 33 }, (_, n) => (n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0));

/** Longest-prefix lookup over a set of prefixes: one hash probe per length present. */
class PrefixIndex<V> {
  readonly #byLen = new Map<number, Map<number, V>>();
  #lens: number[] = [];

  set(base: number, len: number, v: V): void {
    let m = this.#byLen.get(len);
    if (!m) {
      m = new Map();
      this.#byLen.set(len, m);
      this.#lens = [...this.#byLen.keys()].sort((a, b) => b - a);
    }
    m.set(base, v);
  }

  lookup(ip: number): { len: number; value: V } | undefined {
    for (const len of this.#lens) {
      const v = this.#byLen.get(len)!.get((ip & MASKS[len]!) >>> 0);
      if (v !== undefined) return { len, value: v };
    }
    return undefined;
  }
}

/** Desired entries keyed by `a.b.c.d/n`, sorted by address then prefix length. */
export function desiredIpcache(input: IpcacheInput): Map<string, IpcacheEntry> {
  const cidrs = new PrefixIndex<number>();
  const entries = new Map<string, { base: number; len: number; entry: IpcacheEntry }>();
  const put = (base: number, len: number, entry: IpcacheEntry) => entries.set(`${intToIp4(base)}/${len}`, { base, len, entry });
  const policyPrefixes: { base: number; len: number; id: number }[] = [];
  for (const i of input.cidrIdentities) {
    if (i.kind !== 'cidr' || i.cidr === undefined) continue;
    const c = prefixOf(i.cidr);
    cidrs.set(c.base, c.prefix, i.id);
    policyPrefixes.push({ base: c.base, len: c.prefix, id: i.id });
  }
  put(0, 0, { identity: MB_ID_WORLD, cidr_identity: 0 });
  for (const p of policyPrefixes) put(p.base, p.len, { identity: MB_ID_WORLD, cidr_identity: p.id });
  const host = (ip: string, identity: number) => {
    const n = ip4ToInt(ip);
    put(n, 32, { identity, cidr_identity: cidrs.lookup(n)?.value ?? 0 });
  };
  for (const ip of input.remoteNodes) host(ip, MB_ID_REMOTE_NODE);
  for (const ip of input.hostAddresses) host(ip, MB_ID_HOST);
  for (const e of input.endpoints) host(e.ip, e.identity);
  const sorted = [...entries].sort((a, b) => a[1].base - b[1].base || a[1].len - b[1].len);
  return new Map(sorted.map(([k, v]) => [k, v.entry]));
}

/** `a.b.c.d/n` → the map key. */
export function ipcacheKeyOf(prefix: string): IpcacheKey {
  const c = prefixOf(prefix);
  return { prefixlen: c.prefix, ip4: intToIp4(c.base) };
}

/** The map key → `a.b.c.d/n` (host bits cleared). */
export function ipcachePrefixOf(key: IpcacheKey): string {
  return `${intToIp4((ip4ToInt(key.ip4) & MASKS[key.prefixlen]!) >>> 0)}/${key.prefixlen}`;
}

/** LPM lookup of an address in a desired (or read back) ipcache, as the datapath does; world/0 when nothing matches. */
export function lookupIpcache(ipcache: ReadonlyMap<string, IpcacheEntry>, ip: string): IpcacheEntry & { prefix?: string } {
  const n = ip4ToInt(ip);
  for (let len = 32; len >= 0; len--) {
    const prefix = `${intToIp4((n & MASKS[len]!) >>> 0)}/${len}`;
    const e = ipcache.get(prefix);
    if (e) return { identity: e.identity, cidr_identity: e.cidr_identity, prefix };
  }
  return { identity: MB_ID_WORLD, cidr_identity: 0 };
}
