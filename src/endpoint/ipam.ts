// IPv4 address management for one node's pod CIDR. Pure: the allocator's
// state is the set of addresses in use, which the endpoint manager rebuilds
// from its endpoint records at start, so no address can leak across a crash.
import { MembraneError } from '../errors.ts';
import { cidrContains, intToIp4, ip4ToInt, parseCidr4, type Cidr4 } from '../net/ip4.ts';

export class Ipam {
  readonly cidr: Cidr4;
  /** The node's router address in the pod CIDR (first usable address). */
  readonly gateway: string;
  readonly #used = new Set<number>();
  readonly #first: number;
  readonly #last: number;
  #next: number;

  constructor(cidr: string) {
    this.cidr = parseCidr4(cidr, { where: 'pod CIDR' });
    if (this.cidr.prefix > 29) {
      throw new MembraneError('INVALID_INPUT', `pod CIDR ${cidr}: prefix /${this.cidr.prefix} is too small, use /29 or larger`);
    }
    this.#first = this.cidr.base + 2; // .0 network, .1 gateway
    this.#last = this.cidr.base + this.cidr.size - 2; // last is broadcast
    this.gateway = intToIp4(this.cidr.base + 1);
    this.#next = this.#first;
  }

  get capacity(): number {
    return this.#last - this.#first + 1;
  }
  get allocated(): number {
    return this.#used.size;
  }

  /** Marks an address in use (restore); false if outside the pool or taken. */
  claim(ip: string): boolean {
    const n = ip4ToInt(ip);
    if (n < this.#first || n > this.#last || this.#used.has(n)) return false;
    this.#used.add(n);
    return true;
  }

  /**
   * Allocates the next free address after the last one handed out, so a
   * just-released address is not reused at once (stale peers may still
   * have it in their caches).
   */
  allocate(): string {
    const total = this.capacity;
    for (let i = 0; i < total; i++) {
      const n = this.#next;
      this.#next = n >= this.#last ? this.#first : n + 1;
      if (!this.#used.has(n)) {
        this.#used.add(n);
        return intToIp4(n);
      }
    }
    throw new MembraneError(
      'IPAM_EXHAUSTED',
      `pod CIDR ${this.cidr.text} has no free address (${total} in use) — remove endpoints or start the agent with a larger --pod-cidr`,
    );
  }

  release(ip: string): void {
    this.#used.delete(ip4ToInt(ip));
  }

  contains(ip: string): boolean {
    return cidrContains(this.cidr, ip);
  }

  inUse(): string[] {
    return [...this.#used].sort((a, b) => a - b).map(intToIp4);
  }
}
