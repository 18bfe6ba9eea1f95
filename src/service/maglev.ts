// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4): the lookup table
// that lets every node pick the same backend for a flow, and keeps most flows
// on their backend when the backend set changes.
//
// Table population follows the paper's Pseudocode 1:
//  - each backend has a preference list over the M slots (M prime),
//      offset = h1(name) mod M
//      skip   = h2(name) mod (M − 1) + 1
//      permutation[j] = (offset + j·skip) mod M
//    skip is in 1..M−1, hence coprime with the prime M, so each list visits
//    every slot exactly once;
//  - backends take turns, round-robin; on its turn a backend claims the first
//    slot of its list that is still empty; filling stops when all M slots are
//    taken.
// Extension (not in the paper's pseudocode): a backend of integer weight w
// takes w turns per round, so it ends up with ≈ w/Σw of the slots; weight 0
// takes no turns (no slots), which drains a backend without renumbering.
//
// h1 and h2 are XXH64 (see xxhash64.ts) of the backend's name as UTF-8 with
// two different fixed seeds, MAGLEV_SEED_OFFSET and MAGLEV_SEED_SKIP. They
// are part of the cluster-wide contract: every node must build the same
// table, so changing them (or the name format, or the turn order below)
// moves traffic on upgrade.
//
// Turn order: backends take turns in ascending name order (plain UTF-16 code
// unit comparison, not locale-aware), so the table depends only on the set of
// (name, weight) pairs, not on the order the caller lists them in. Entries
// are indexes into the caller's array; an empty slot holds MAGLEV_EMPTY.

import { InputError } from '../errors.ts';
import { xxh64 } from './xxhash64.ts';

/** Default table size M: a prime > 100 × (a few hundred backends), Cilium's default too. */
export const MAGLEV_DEFAULT_TABLE_SIZE = 16381;

/** Table sizes must stay below 2^31 so slot arithmetic stays exact in doubles and fits a u32 map. */
export const MAGLEV_MAX_TABLE_SIZE = 2 ** 31 - 1;

/** Marker for a slot with no backend (only when no backend takes turns). */
export const MAGLEV_EMPTY = 0xffff_ffff;

/** Seed of h1 (offset): ASCII "membrane". */
export const MAGLEV_SEED_OFFSET = 0x6d656d6272616e65n;
/** Seed of h2 (skip): ASCII "maglev-2". */
export const MAGLEV_SEED_SKIP = 0x6d61676c65762d32n;

export interface MaglevBackend {
  /** Stable, unique name (e.g. "10.0.1.5:8080" or a backend ID); it alone decides the preference list. */
  name: string;
  /** Turns per round, a non-negative integer; default 1. 0 = no slots. */
  weight?: number;
}

export interface MaglevOptions {
  /** M: a prime, greater than the number of backends. Default MAGLEV_DEFAULT_TABLE_SIZE. */
  tableSize?: number;
}

/** Deterministic primality test (trial division; M < 2^31, so at most ~23k divisions). */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  if (n % 3 === 0) return n === 3;
  for (let d = 5; d * d <= n; d += 6) {
    if (n % d === 0 || n % (d + 2) === 0) return false;
  }
  return true;
}

/** Checks a table size, throwing an InputError that says why it is unusable. */
export function validateTableSize(m: number, backendCount = 0): void {
  if (!Number.isSafeInteger(m) || m < 2 || m > MAGLEV_MAX_TABLE_SIZE) {
    throw new InputError('tableSize', `must be a prime number between 2 and ${MAGLEV_MAX_TABLE_SIZE}, got ${m}`);
  }
  if (!isPrime(m)) {
    throw new InputError('tableSize', `must be a prime number, got ${m} (e.g. 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)`);
  }
  if (m <= backendCount) {
    throw new InputError(
      'tableSize',
      `must be greater than the number of backends (${backendCount}), got ${m}; for an even spread choose M > 100 × backends`,
    );
  }
}

/** The preference list of one backend for table size `m`: permutation[j] = (offset + j·skip) mod m. */
export function maglevPermutationParams(name: string, m: number): { offset: number; skip: number } {
  const offset = Number(xxh64(name, MAGLEV_SEED_OFFSET) % BigInt(m));
  const skip = Number(xxh64(name, MAGLEV_SEED_SKIP) % BigInt(m - 1)) + 1;
  return { offset, skip };
}

function normalize(backends: readonly (string | MaglevBackend)[]): { name: string; weight: number; index: number }[] {
  const seen = new Map<string, number>();
  return backends.map((b, index) => {
    const name = typeof b === 'string' ? b : b.name;
    const weight = typeof b === 'string' ? 1 : (b.weight ?? 1);
    if (typeof name !== 'string' || name === '') throw new InputError(`backends[${index}].name`, 'required');
    const first = seen.get(name);
    if (first !== undefined) {
      throw new InputError(`backends[${index}].name`, `duplicate backend name ${JSON.stringify(name)} (also backends[${first}])`);
    }
    seen.set(name, index);
    if (!Number.isSafeInteger(weight) || weight < 0) {
      throw new InputError(`backends[${index}].weight`, `must be a non-negative integer, got ${weight}`);
    }
    return { name, weight, index };
  });
}

/**
 * Builds the Maglev lookup table: slot → index into `backends` (a name or
 * `{name, weight}`), or MAGLEV_EMPTY in every slot when no backend has a
 * weight above 0. Throws InputError when the table size is not prime or not
 * greater than `backends.length`, or a name is empty or repeated, or a weight
 * is not a non-negative integer.
 */
export function maglevTable(backends: readonly (string | MaglevBackend)[], opts: MaglevOptions = {}): Uint32Array {
  const m = opts.tableSize ?? MAGLEV_DEFAULT_TABLE_SIZE;
  const list = normalize(backends);
  validateTableSize(m, list.length);

  const table = new Uint32Array(m).fill(MAGLEV_EMPTY);
  const players = list
    .filter((b) => b.weight > 0)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((b) => {
      const { offset, skip } = maglevPermutationParams(b.name, m);
      // `next` is permutation[next_i] of the paper, kept as the slot itself.
      return { index: b.index, weight: b.weight, skip, next: offset };
    });
  if (players.length === 0) return table;

  let filled = 0;
  for (;;) {
    for (const p of players) {
      for (let turn = 0; turn < p.weight; turn++) {
        let c = p.next;
        while (table[c] !== MAGLEV_EMPTY) {
          c += p.skip;
          if (c >= m) c -= m;
        }
        table[c] = p.index;
        c += p.skip;
        p.next = c >= m ? c - m : c;
        filled += 1;
        if (filled === m) return table;
      }
    }
  }
}

/** A table together with the names its indexes refer to. */
export interface MaglevLookup {
  table: Uint32Array;
  /** Backend name per index used in `table` (the `backends` given to maglevTable, as names). */
  backends: readonly string[];
}

function slotName(l: MaglevLookup, slot: number): string | undefined {
  const i = l.table[slot] ?? MAGLEV_EMPTY;
  return i === MAGLEV_EMPTY ? undefined : l.backends[i];
}

/**
 * How many slots map to a different backend (compared by name, so the two
 * tables may index different backend lists) between two tables of the same
 * size: the number of entries a datapath update rewrites, and the share of
 * flows (× 1/M) that may move to another backend.
 */
export function maglevChangedSlots(before: MaglevLookup, after: MaglevLookup): number {
  if (before.table.length !== after.table.length) {
    throw new InputError('tableSize', `tables of different sizes cannot be compared slot by slot (${before.table.length} vs ${after.table.length})`);
  }
  let changed = 0;
  for (let s = 0; s < before.table.length; s++) {
    if (slotName(before, s) !== slotName(after, s)) changed += 1;
  }
  return changed;
}

/** Slots per backend index (length = number of backends; empty slots are not counted). */
export function maglevShares(table: Uint32Array, backendCount: number): number[] {
  const counts = new Array<number>(backendCount).fill(0);
  for (const i of table) {
    if (i !== MAGLEV_EMPTY && i < backendCount) counts[i] = (counts[i] ?? 0) + 1;
  }
  return counts;
}
