// Identities of label sets (endpoints): MB_ID_CLUSTER_MIN..MB_ID_CLUSTER_MAX.
// The same labels always get the same id while it is held; a freed id is
// handed out again only after every other free id (increasing order with
// wrap-around), because conntrack and events may still name it.
// Persistence (cluster-wide, in the kvstore) is the caller's: restore() what
// was stored, export() what to store.
import type { Identity, Labels } from './types.ts';

export interface StoredIdentity {
  id: number;
  labels: Labels;
}

export class IdentityAllocator {
  readonly min: number;
  readonly max: number;

  constructor(min?: number, max?: number) {
    throw new Error('not implemented');
  }

  get size(): number {
    throw new Error('not implemented');
  }

  /** Takes known ids (from the store); returns the ones refused (id out of range or taken, labels already with another id). */
  restore(known: Iterable<StoredIdentity>): StoredIdentity[] {
    throw new Error('not implemented');
  }

  /** Takes `id` for `labels`; false when either already has another. */
  claim(id: number, labels: Labels): boolean {
    throw new Error('not implemented');
  }

  /** The identity of these labels, allocating one when they have none. */
  acquire(labels: Labels): Identity {
    throw new Error('not implemented');
  }

  /** The identity of these labels, if allocated. */
  lookup(labels: Labels): Identity | undefined {
    throw new Error('not implemented');
  }

  get(id: number): Identity | undefined {
    throw new Error('not implemented');
  }

  release(id: number): boolean {
    throw new Error('not implemented');
  }

  /** Releases every identity whose id is not in `inUse`; returns the released ones. */
  sweep(inUse: ReadonlySet<number>): Identity[] {
    throw new Error('not implemented');
  }

  /** Every identity, by id. */
  list(): Identity[] {
    throw new Error('not implemented');
  }

  export(): StoredIdentity[] {
    throw new Error('not implemented');
  }
}
