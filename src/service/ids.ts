// Stable numeric ids for keys (backend id per address:port/protocol,
// rev_nat_id per frontend). Ids are recovered from the pinned maps when the
// agent starts (claim), kept while their key is wanted, and handed out in
// increasing order with wrap-around, so a freed id is not reused soon:
// conntrack, affinity and socket-revnat entries may still name it.
//
// A sync marks what it wants by acquiring it; sweep() then frees the keys
// that were not acquired since the previous sweep.
import { MembraneError } from '../errors.ts';
import { TupleIndex } from './tuple-index.ts';

interface Entry {
  id: number;
  /** Sweep generation that last acquired or claimed it. */
  gen: number;
}

export class IdAllocator<K extends string | number = number> {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly #byKey = new Map<K, Entry>();
  readonly #byId = new Map<number, K>();
  #next: number;
  #gen = 0;

  constructor(name: string, min: number, max: number) {
    this.name = name;
    this.min = min;
    this.max = max;
    this.#next = min;
  }

  get size(): number {
    return this.#byKey.size;
  }

  get(key: K): number | undefined {
    return this.#byKey.get(key)?.id;
  }

  keyOf(id: number): K | undefined {
    return this.#byId.get(id);
  }

  /** Takes `id` for `key` (recovery); false when the key or the id is taken already. */
  claim(key: K, id: number): boolean {
    if (id < this.min || id > this.max || this.#byKey.has(key) || this.#byId.has(id)) return false;
    this.#byKey.set(key, { id, gen: -1 }); // kept only if a sync acquires it
    this.#byId.set(id, key);
    if (id >= this.#next) this.#next = id === this.max ? this.min : id + 1;
    return true;
  }

  /** The key's id, allocating the next free one when it has none; marks it wanted. */
  acquire(key: K): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) {
      have.gen = this.#gen;
      return have.id;
    }
    const span = this.max - this.min + 1;
    if (this.#byId.size >= span) {
      throw new MembraneError('IPAM_EXHAUSTED', `no free ${this.name} id (all ${span} in use)`);
    }
    let id = this.#next;
    while (this.#byId.has(id)) id = id === this.max ? this.min : id + 1;
    this.#next = id === this.max ? this.min : id + 1;
    this.#byKey.set(key, { id, gen: this.#gen });
    this.#byId.set(id, key);
    return id;
  }

  release(key: K): void {
    const e = this.#byKey.get(key);
    if (e === undefined) return;
    this.#byKey.delete(key);
    this.#byId.delete(e.id);
  }

  /** Frees every key not acquired (or claimed) since the last sweep; returns how many. */
  sweep(): number {
    let n = 0;
    for (const [key, e] of this.#byKey) {
      if (e.gen !== this.#gen) {
        this.#byKey.delete(key);
        this.#byId.delete(e.id);
        n++;
      }
    }
    this.#gen++;
    return n;
  }
}

const CLAIMED = 0xffff_ffff;

/**
 * Backend ids by (address, port, protocol), without an object per backend:
 * the same allocation rules as IdAllocator (recovered ids, increasing order
 * with wrap-around, sweep of what a sync did not acquire), ids 1..max.
 */
export class BackendIds {
  readonly max: number;
  readonly #index = new TupleIndex(1024);
  #ip = new Uint32Array(1024);
  #port = new Uint16Array(1024);
  #proto = new Uint8Array(1024);
  /** 0 = free; else the generation that last acquired it. */
  #gen = new Uint32Array(1024);
  #count = 0;
  #next = 1;
  #generation = 1;

  constructor(max = 1 << 24) {
    this.max = max;
  }

  get size(): number {
    return this.#count;
  }

  /** The id of a backend tuple; 0 when it has none. */
  get(ip: number, port: number, proto: number): number {
    return this.#index.get(ip, port, proto);
  }

  #ensure(id: number): void {
    if (id < this.#gen.length) return;
    let n = this.#gen.length;
    while (n <= id) n *= 2;
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#ip = grow(this.#ip, (k) => new Uint32Array(k));
    this.#port = grow(this.#port, (k) => new Uint16Array(k));
    this.#proto = grow(this.#proto, (k) => new Uint8Array(k));
    this.#gen = grow(this.#gen, (k) => new Uint32Array(k));
  }

  #take(ip: number, port: number, proto: number, id: number, gen: number): void {
    this.#ensure(id);
    this.#ip[id] = ip;
    this.#port[id] = port;
    this.#proto[id] = proto;
    this.#gen[id] = gen;
    this.#index.set(ip, port, proto, id);
    this.#count++;
  }

  /** Takes `id` for the tuple (recovery); false when either is taken already or the id is out of range. */
  claim(ip: number, port: number, proto: number, id: number): boolean {
    if (id < 1 || id > this.max || this.#index.get(ip, port, proto) !== 0 || (id < this.#gen.length && this.#gen[id] !== 0)) return false;
    this.#take(ip, port, proto, id, CLAIMED); // kept only if a sync acquires it
    if (id >= this.#next) this.#next = id === this.max ? 1 : id + 1;
    return true;
  }

  /** The tuple's id, allocating the next free one when it has none; marks it wanted. */
  acquire(ip: number, port: number, proto: number): number {
    const have = this.#index.get(ip, port, proto);
    if (have !== 0) {
      this.#gen[have] = this.#generation;
      return have;
    }
    if (this.#count >= this.max) throw new MembraneError('IPAM_EXHAUSTED', `no free backend id (all ${this.max} in use)`);
    let id = this.#next;
    while (id < this.#gen.length && this.#gen[id] !== 0) id = id === this.max ? 1 : id + 1;
    this.#next = id === this.max ? 1 : id + 1;
    this.#take(ip, port, proto, id, this.#generation);
    return id;
  }

  /** Frees every id not acquired (or claimed) since the last sweep; returns how many. */
  sweep(): number {
    let n = 0;
    const g = this.#generation;
    for (let id = 1; id < this.#gen.length; id++) {
      const v = this.#gen[id]!;
      if (v !== 0 && v !== g) {
        this.#index.delete(this.#ip[id]!, this.#port[id]!, this.#proto[id]!);
        this.#gen[id] = 0;
        this.#count--;
        n++;
      }
    }
    this.#generation = g === 0xffff_fffe ? 1 : g + 1;
    return n;
  }
}
