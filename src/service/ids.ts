// Stable numeric ids for keys (backend id per address:port/protocol,
// rev_nat_id per frontend). Ids are recovered from the pinned maps when the
// agent starts (claim), kept while their key is wanted, and handed out in
// increasing order with wrap-around, so a freed id is not reused soon:
// conntrack, affinity and socket-revnat entries may still name it.
import { MembraneError } from '../errors.ts';

export class IdAllocator {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly #byKey = new Map<string, number>();
  readonly #byId = new Map<number, string>();
  #next: number;

  constructor(name: string, min: number, max: number) {
    this.name = name;
    this.min = min;
    this.max = max;
    this.#next = min;
  }

  get size(): number {
    return this.#byKey.size;
  }

  get(key: string): number | undefined {
    return this.#byKey.get(key);
  }

  keyOf(id: number): string | undefined {
    return this.#byId.get(id);
  }

  /** Takes `id` for `key` (recovery); false when the key or the id is taken already. */
  claim(key: string, id: number): boolean {
    if (id < this.min || id > this.max || this.#byKey.has(key) || this.#byId.has(id)) return false;
    this.#byKey.set(key, id);
    this.#byId.set(id, key);
    if (id >= this.#next) this.#next = id === this.max ? this.min : id + 1;
    return true;
  }

  /** The key's id, allocating the next free one when it has none. */
  acquire(key: string): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) return have;
    const span = this.max - this.min + 1;
    if (this.#byId.size >= span) {
      throw new MembraneError('IPAM_EXHAUSTED', `no free ${this.name} id (all ${span} in use)`);
    }
    let id = this.#next;
    while (this.#byId.has(id)) id = id === this.max ? this.min : id + 1;
    this.#next = id === this.max ? this.min : id + 1;
    this.#byKey.set(key, id);
    this.#byId.set(id, key);
    return id;
  }

  release(key: string): void {
    const id = this.#byKey.get(key);
    if (id === undefined) return;
    this.#byKey.delete(key);
    this.#byId.delete(id);
  }

  /** Releases every key not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const key of [...this.#byKey.keys()]) if (!keep.has(key)) this.release(key);
  }
}
