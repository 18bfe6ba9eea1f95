// CIDR identities: one per prefix that any policy mentions (a cidr peer's
// cidr and its excepts), stable while the prefix stays mentioned, numbered
// from MB_ID_CIDR_MIN. A cidr peer {cidr, except} selects every policy
// prefix P with P ⊆ cidr and P ⊄ any except: with the ipcache giving each
// address the CIDR identity of the longest policy prefix containing it, that
// is exactly the addresses in cidr and outside every except.
import type { Identity } from '../identity/types.ts';
import type { PolicySpec } from './types.ts';

export const MB_ID_CIDR_MAX_DEFAULT = (1 << 24) + 0xffffff;

/** Every prefix the policies mention (cidr peers' cidr and except), canonical, sorted by address then length. */
export function policyPrefixes(policies: Iterable<PolicySpec>): string[] {
  throw new Error('not implemented');
}

/** Whether prefix a lies inside prefix b (a ⊆ b). */
export function prefixWithin(a: string, b: string): boolean {
  throw new Error('not implemented');
}

export interface StoredCidrIdentity {
  id: number;
  cidr: string;
}

/** Stable CIDR identity numbers for prefixes. */
export class CidrIdentities {
  constructor(min?: number, max?: number) {
    throw new Error('not implemented');
  }

  /** Takes known numbers (e.g. read back from the ipcache at start); returns the refused ones. */
  restore(known: Iterable<StoredCidrIdentity>): StoredCidrIdentity[] {
    throw new Error('not implemented');
  }

  /**
   * Makes the set of prefixes with an identity exactly `prefixes`: existing
   * ones keep their number, new ones get a fresh one, the rest are freed.
   * Returns every identity, by prefix order.
   */
  sync(prefixes: Iterable<string>): Identity[] {
    throw new Error('not implemented');
  }

  get(cidr: string): Identity | undefined {
    throw new Error('not implemented');
  }

  byId(id: number): Identity | undefined {
    throw new Error('not implemented');
  }

  list(): Identity[] {
    throw new Error('not implemented');
  }
}

/** The identity object of a CIDR identity: labels `{ 'cidr:<prefix>': '' }`. */
export function cidrIdentity(id: number, cidr: string): Identity {
  throw new Error('not implemented');
}

/** Ids of the CIDR identities a cidr peer selects (P ⊆ cidr, P ⊄ every except), ascending. */
export function selectCidrIdentities(peer: { cidr: string; except: readonly string[] }, cidrIdentities: Iterable<Identity>): number[] {
  throw new Error('not implemented');
}
