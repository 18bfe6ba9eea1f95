// CIDR identities: one per prefix that any policy mentions (a cidr peer's
// cidr and its excepts), stable while the prefix stays mentioned, numbered
// from MB_ID_CIDR_MIN. A cidr peer {cidr, except} selects every policy
// prefix P with P ⊆ cidr and P ⊄ any except: with the ipcache giving each
// address the CIDR identity of the longest policy prefix containing it, that
// is exactly the addresses in cidr and outside every except.
import { MB_ID_CIDR_MIN } from '../datapath/abi.ts';
import type { Identity } from '../identity/types.ts';
import { parseCidr4, type Cidr4 } from '../net/ip4.ts';
import { IdAllocator } from '../service/ids.ts';
import type { PolicySpec } from './types.ts';

export const MB_ID_CIDR_MAX_DEFAULT = MB_ID_CIDR_MIN + 0xffffff;

const parsed = new Map<string, Cidr4>();
/** Parses (leniently) and memoizes a prefix. */
export function prefixOf(text: string): Cidr4 {
  let c = parsed.get(text);
  if (!c) {
    c = parseCidr4(text, { lenient: true });
    if (parsed.size > 100_000) parsed.clear();
    parsed.set(text, c);
  }
  return c;
}

function within(a: Cidr4, b: Cidr4): boolean {
  return a.prefix >= b.prefix && a.base >= b.base && a.base < b.base + b.size;
}

export function comparePrefixes(a: string, b: string): number {
  const x = prefixOf(a);
  const y = prefixOf(b);
  return x.base - y.base || x.prefix - y.prefix;
}

/** Every prefix the policies mention (cidr peers' cidr and except), canonical, sorted by address then length. */
export function policyPrefixes(policies: Iterable<PolicySpec>): string[] {
  const out = new Set<string>();
  for (const p of policies) {
    for (const part of p.parts) {
      for (const r of part.rules) {
        if (r.peers === 'all') continue;
        for (const peer of r.peers) {
          if (peer.type !== 'cidr') continue;
          out.add(prefixOf(peer.cidr).text);
          for (const e of peer.except) out.add(prefixOf(e).text);
        }
      }
    }
  }
  return [...out].sort(comparePrefixes);
}

/** Whether prefix a lies inside prefix b (a ⊆ b). */
export function prefixWithin(a: string, b: string): boolean {
  return within(prefixOf(a), prefixOf(b));
}

export interface StoredCidrIdentity {
  id: number;
  cidr: string;
}

/** The identity object of a CIDR identity: labels `{ 'cidr:<prefix>': '' }`. */
export function cidrIdentity(id: number, cidr: string): Identity {
  const text = prefixOf(cidr).text;
  return Object.freeze({ id, kind: 'cidr' as const, cidr: text, labels: Object.freeze({ [`cidr:${text}`]: '' }) });
}

/**
 * Stable CIDR identity numbers for prefixes. Numbers are handed out in
 * increasing order with wrap-around, so a freed one is not soon reused.
 */
export class CidrIdentities {
  readonly #ids: IdAllocator<string>;
  readonly #objects = new Map<string, Identity>();

  constructor(min = MB_ID_CIDR_MIN, max = MB_ID_CIDR_MAX_DEFAULT) {
    this.#ids = new IdAllocator<string>('CIDR identity', min, max);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Takes known numbers (e.g. read back from the ipcache at start); returns the refused ones. Kept only if the next sync wants them. */
  restore(known: Iterable<StoredCidrIdentity>): StoredCidrIdentity[] {
    const refused: StoredCidrIdentity[] = [];
    for (const k of known) {
      const p = prefixOf(k.cidr).text;
      if (this.#ids.claim(p, k.id)) this.#object(p, k.id);
      else refused.push(k);
    }
    return refused;
  }

  /**
   * Makes the set of prefixes with an identity exactly `prefixes`: existing
   * ones keep their number, new ones get a fresh one, the rest are freed.
   * Returns every identity, in prefix order.
   */
  sync(prefixes: Iterable<string>): Identity[] {
    const want = [...new Set([...prefixes].map((p) => prefixOf(p).text))].sort(comparePrefixes);
    const out = want.map((p) => this.#object(p, this.#ids.acquire(p)));
    this.#ids.sweep();
    for (const [p, o] of this.#objects) if (this.#ids.get(p) !== o.id) this.#objects.delete(p);
    return out;
  }

  #object(cidr: string, id: number): Identity {
    let o = this.#objects.get(cidr);
    if (!o || o.id !== id) {
      o = cidrIdentity(id, cidr);
      this.#objects.set(cidr, o);
    }
    return o;
  }

  get(cidr: string): Identity | undefined {
    const p = prefixOf(cidr).text;
    const id = this.#ids.get(p);
    return id === undefined ? undefined : this.#object(p, id);
  }

  byId(id: number): Identity | undefined {
    const p = this.#ids.keyOf(id);
    return p === undefined ? undefined : this.#object(p, id);
  }

  /** Every identity, in prefix order. */
  list(): Identity[] {
    return [...this.#objects.values()].filter((o) => this.#ids.get(o.cidr!) === o.id).sort((a, b) => comparePrefixes(a.cidr!, b.cidr!));
  }
}

/** Ids of the CIDR identities a cidr peer selects (P ⊆ cidr, P ⊄ every except), ascending. */
export function selectCidrIdentities(peer: { cidr: string; except: readonly string[] }, cidrIdentities: Iterable<Identity>): number[] {
  const c = prefixOf(peer.cidr);
  const ex = peer.except.map(prefixOf);
  const out: number[] = [];
  for (const i of cidrIdentities) {
    if (i.kind !== 'cidr' || i.cidr === undefined) continue;
    const p = prefixOf(i.cidr);
    if (within(p, c) && !ex.some((e) => within(p, e))) out.push(i.id);
  }
  return out.sort((a, b) => a - b);
}
