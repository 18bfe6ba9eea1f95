// Identities of label sets (endpoints): MB_ID_CLUSTER_MIN..MB_ID_CLUSTER_MAX.
// The same labels always get the same id while it is held; a freed id is
// handed out again only after every other free id (increasing order with
// wrap-around), because conntrack and events may still name it.
// Persistence (cluster-wide, in the kvstore) is the caller's: restore() what
// was stored, export() what to store.
import { MB_ID_CLUSTER_MAX, MB_ID_CLUSTER_MIN } from '../datapath/abi.ts';
import { MembraneError } from '../errors.ts';
import { labelsKey, sortLabels } from './labels.ts';
import type { Identity, Labels } from './types.ts';

export interface StoredIdentity {
  id: number;
  labels: Labels;
}

export class IdentityAllocator {
  readonly min: number;
  readonly max: number;
  readonly #byKey = new Map<string, Identity>();
  readonly #byId = new Map<number, Identity>();
  #next: number;

  constructor(min = MB_ID_CLUSTER_MIN, max = MB_ID_CLUSTER_MAX) {
    this.min = min;
    this.max = max;
    this.#next = min;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Takes known ids (from the store); returns the ones refused (id out of range or taken, labels already with another id). */
  restore(known: Iterable<StoredIdentity>): StoredIdentity[] {
    const refused: StoredIdentity[] = [];
    for (const k of known) if (!this.claim(k.id, k.labels)) refused.push(k);
    return refused;
  }

  /** Takes `id` for `labels`; true also when they already hold each other, false when either has another. */
  claim(id: number, labels: Labels): boolean {
    const key = labelsKey(labels);
    const have = this.#byKey.get(key);
    if (have) return have.id === id;
    if (!Number.isInteger(id) || id < this.min || id > this.max || this.#byId.has(id)) return false;
    this.#add(id, key, labels);
    if (id >= this.#next) this.#next = id === this.max ? this.min : id + 1;
    return true;
  }

  #add(id: number, key: string, labels: Labels): Identity {
    const identity: Identity = Object.freeze({ id, kind: 'endpoint' as const, labels: Object.freeze(sortLabels(labels)) });
    this.#byKey.set(key, identity);
    this.#byId.set(id, identity);
    return identity;
  }

  /** The identity of these labels, allocating one when they have none. */
  acquire(labels: Labels): Identity {
    const key = labelsKey(labels);
    const have = this.#byKey.get(key);
    if (have) return have;
    const span = this.max - this.min + 1;
    if (this.#byId.size >= span) throw new MembraneError('IPAM_EXHAUSTED', `no free identity (all ${span} in use)`);
    let id = this.#next;
    while (this.#byId.has(id)) id = id === this.max ? this.min : id + 1;
    this.#next = id === this.max ? this.min : id + 1;
    return this.#add(id, key, labels);
  }

  /** The identity of these labels, if allocated. */
  lookup(labels: Labels): Identity | undefined {
    return this.#byKey.get(labelsKey(labels));
  }

  get(id: number): Identity | undefined {
    return this.#byId.get(id);
  }

  release(id: number): boolean {
    const i = this.#byId.get(id);
    if (!i) return false;
    this.#byId.delete(id);
    this.#byKey.delete(labelsKey(i.labels));
    return true;
  }

  /** Releases every identity whose id is not in `inUse`; returns the released ones. */
  sweep(inUse: ReadonlySet<number>): Identity[] {
    const gone: Identity[] = [];
    for (const i of this.#byId.values()) if (!inUse.has(i.id)) gone.push(i);
    for (const i of gone) this.release(i.id);
    return gone.sort((a, b) => a.id - b.id);
  }

  /** Every identity, by id. */
  list(): Identity[] {
    return [...this.#byId.values()].sort((a, b) => a.id - b.id);
  }

  export(): StoredIdentity[] {
    return this.list().map((i) => ({ id: i.id, labels: { ...i.labels } }));
  }
}
