// A hash table from (IPv4 address, port, protocol) to a positive integer,
// kept in typed arrays: no object and no boxed number per entry, which is
// what makes 100 000 backends cheap to index on every sync. Open addressing
// with linear probing; deletions leave tombstones, cleared when it grows.

const EMPTY = 0;
const TOMBSTONE = 0xffff_ffff;

export class TupleIndex {
  #cap: number;
  #mask: number;
  #ip: Uint32Array;
  #port: Uint16Array;
  #proto: Uint8Array;
  /** 0 = empty, TOMBSTONE = deleted, else the value. */
  #val: Uint32Array;
  #size = 0;
  #used = 0; // live + tombstones

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.#cap = cap;
    this.#mask = cap - 1;
    this.#ip = new Uint32Array(cap);
    this.#port = new Uint16Array(cap);
    this.#proto = new Uint8Array(cap);
    this.#val = new Uint32Array(cap);
  }

  get size(): number {
    return this.#size;
  }

  #slot(ip: number, port: number, proto: number): number {
    let h = Math.imul(ip ^ 0x9e3779b9, 0x85ebca6b);
    h ^= Math.imul(port | (proto << 16), 0xc2b2ae35);
    h ^= h >>> 15;
    h = Math.imul(h, 0x27d4eb2f);
    h ^= h >>> 13;
    return h & this.#mask;
  }

  /** The value of a tuple; 0 when absent. */
  get(ip: number, port: number, proto: number): number {
    let i = this.#slot(ip, port, proto);
    for (;;) {
      const v = this.#val[i]!;
      if (v === EMPTY) return 0;
      if (v !== TOMBSTONE && this.#ip[i] === ip && this.#port[i] === port && this.#proto[i] === proto) return v;
      i = (i + 1) & this.#mask;
    }
  }

  /** Sets a tuple's value (1 .. 2^32-2). */
  set(ip: number, port: number, proto: number, value: number): void {
    if ((this.#used + 1) * 4 > this.#cap * 3) this.#grow();
    let i = this.#slot(ip, port, proto);
    let grave = -1;
    for (;;) {
      const v = this.#val[i]!;
      if (v === EMPTY) break;
      if (v === TOMBSTONE) {
        if (grave < 0) grave = i;
      } else if (this.#ip[i] === ip && this.#port[i] === port && this.#proto[i] === proto) {
        this.#val[i] = value;
        return;
      }
      i = (i + 1) & this.#mask;
    }
    if (grave >= 0) i = grave;
    else this.#used++;
    this.#ip[i] = ip;
    this.#port[i] = port;
    this.#proto[i] = proto;
    this.#val[i] = value;
    this.#size++;
  }

  delete(ip: number, port: number, proto: number): boolean {
    let i = this.#slot(ip, port, proto);
    for (;;) {
      const v = this.#val[i]!;
      if (v === EMPTY) return false;
      if (v !== TOMBSTONE && this.#ip[i] === ip && this.#port[i] === port && this.#proto[i] === proto) {
        this.#val[i] = TOMBSTONE;
        this.#size--;
        return true;
      }
      i = (i + 1) & this.#mask;
    }
  }

  #grow(): void {
    const { ip, port, proto, val } = { ip: this.#ip, port: this.#port, proto: this.#proto, val: this.#val };
    const cap = this.#size * 4 > this.#cap ? this.#cap * 2 : this.#cap; // only tombstones: same size, cleaned
    this.#cap = cap;
    this.#mask = cap - 1;
    this.#ip = new Uint32Array(cap);
    this.#port = new Uint16Array(cap);
    this.#proto = new Uint8Array(cap);
    this.#val = new Uint32Array(cap);
    this.#size = 0;
    this.#used = 0;
    for (let i = 0; i < val.length; i++) {
      const v = val[i]!;
      if (v !== EMPTY && v !== TOMBSTONE) this.set(ip[i]!, port[i]!, proto[i]!, v);
    }
  }
}
