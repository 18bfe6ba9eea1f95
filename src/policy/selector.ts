// Matching selectors against identity labels, and a cache of which
// identities each selector selects.
//
// - A requirement key is `source:key`; source `any` (or no source) matches a
//   label of any source with that key.
// - An empty selector selects every endpoint identity, not the reserved ones
//   and not CIDR identities.
// - A reserved identity is selected only by a selector with a `reserved:`
//   key, a CIDR identity only by one with a `cidr:` key (so `app NotIn [x]`
//   selects neither).
import type { Identity, Labels } from '../identity/types.ts';
import type { EndpointSelector, LabelRequirement } from './types.ts';

/** Whether labels meet one requirement (no reserved/CIDR rule; see selectorMatches). */
export function requirementMatches(req: LabelRequirement, labels: Labels): boolean {
  throw new Error('not implemented');
}

/** Whether the selector selects the identity. */
export function selectorMatches(sel: EndpointSelector, identity: Identity): boolean {
  throw new Error('not implemented');
}

/** Canonical string of a selector (requirements and values sorted): equal selectors, equal keys. */
export function selectorKey(sel: EndpointSelector): string {
  throw new Error('not implemented');
}

/** Display form: `k8s:app=web, k8s:tier in (a,b), !k8s:x`; `{}` for the empty selector. */
export function formatSelector(sel: EndpointSelector): string {
  throw new Error('not implemented');
}

/**
 * Identities by selector, cached by selectorKey. Keep one across resolves and
 * tell it about identity changes (upsert/remove); cached selections follow.
 */
export class SelectorCache {
  constructor(identities?: Iterable<Identity>) {
    throw new Error('not implemented');
  }

  /** Replaces every identity (cached selections are recomputed lazily). */
  setIdentities(identities: Iterable<Identity>): void {
    throw new Error('not implemented');
  }

  upsert(identity: Identity): void {
    throw new Error('not implemented');
  }

  remove(id: number): void {
    throw new Error('not implemented');
  }

  identity(id: number): Identity | undefined {
    throw new Error('not implemented');
  }

  identities(): Iterable<Identity> {
    throw new Error('not implemented');
  }

  /** Ids of the identities the selector selects, ascending. Do not modify the array. */
  select(sel: EndpointSelector): readonly number[] {
    throw new Error('not implemented');
  }

  /** Drops cached selections not used since the last prune(); returns how many. */
  prune(): number {
    throw new Error('not implemented');
  }
}
