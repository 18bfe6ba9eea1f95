import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../errors.ts';
import {
  MAGLEV_DEFAULT_TABLE_SIZE,
  MAGLEV_EMPTY,
  type MaglevBackend,
  isPrime,
  maglevChangedSlots,
  maglevPermutationParams,
  maglevShares,
  maglevTable,
} from './maglev.ts';

function names(n: number, prefix = '10.0.'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i >> 8}.${i & 255}:8080`);
}

/** The table as backend names (undefined = empty), to compare tables built from differently ordered lists. */
function byName(table: Uint32Array, backends: readonly string[]): (string | undefined)[] {
  return Array.from(table, (i) => (i === MAGLEV_EMPTY ? undefined : backends[i]));
}

/**
 * Pseudocode 1 of the paper, literally: explicit permutation arrays and a
 * next[] index per backend, backends in the given order, one turn per round.
 */
function paperPopulate(backends: readonly string[], m: number): number[] {
  const permutation = backends.map((name) => {
    const { offset, skip } = maglevPermutationParams(name, m);
    return Array.from({ length: m }, (_, j) => (offset + j * skip) % m);
  });
  const next = backends.map(() => 0);
  const entry = new Array<number>(m).fill(-1);
  let n = 0;
  for (;;) {
    for (let i = 0; i < backends.length; i++) {
      const perm = permutation[i]!;
      let c = perm[next[i]!]!;
      while (entry[c]! >= 0) {
        next[i]! += 1;
        c = perm[next[i]!]!;
      }
      entry[c] = i;
      next[i]! += 1;
      n += 1;
      if (n === m) return entry;
    }
  }
}

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

describe('Maglev lookup table', () => {
  it('permutation parameters are in range and each list visits every slot once', () => {
    for (const m of [7, 13, 251]) {
      for (const name of ['a', 'b', '10.0.0.1:80', 'ünïcode']) {
        const { offset, skip } = maglevPermutationParams(name, m);
        assert.ok(offset >= 0 && offset < m);
        assert.ok(skip >= 1 && skip <= m - 1);
        const seen = new Set(Array.from({ length: m }, (_, j) => (offset + j * skip) % m));
        assert.equal(seen.size, m);
      }
    }
  });

  it('fills the table exactly as the paper\'s Pseudocode 1 does (backends taken in name order)', () => {
    for (const [n, m] of [[1, 7], [3, 13], [5, 251], [20, 4093], [37, 16381]] as const) {
      const list = names(n).sort();
      assert.deepEqual(Array.from(maglevTable(list, { tableSize: m })), paperPopulate(list, m), `N=${n} M=${m}`);
    }
  });

  it('is pinned: hash, seeds and turn order are a cluster-wide contract', () => {
    // If this changes, every node's table changes on upgrade and established flows move.
    assert.deepEqual(maglevPermutationParams('10.0.0.1:80', 16381), { offset: 2153, skip: 15009 });
    assert.deepEqual(Array.from(maglevTable(['a', 'b', 'c'], { tableSize: 13 })), [0, 2, 2, 1, 1, 2, 0, 0, 1, 0, 1, 2, 0]);
  });

  it('gives every backend a share within 1% of the ideal when M > 100·N', () => {
    const cases: [number, number][] = [[10, 16381], [50, 16381], [100, 16381], [100, 65537], [163, 16381], [600, 65537]];
    for (const [n, m] of cases) {
      assert.ok(m > 100 * n);
      const shares = maglevShares(maglevTable(names(n), { tableSize: m }), n);
      const ideal = m / n;
      for (const [i, s] of shares.entries()) {
        assert.ok(Math.abs(s - ideal) / ideal < 0.01, `N=${n} M=${m}: backend ${i} has ${s} slots, ideal ${ideal.toFixed(1)}`);
      }
      assert.equal(shares.reduce((a, b) => a + b, 0), m, 'no empty slot');
    }
  });

  it('uses the default table size', () => {
    assert.equal(maglevTable(['a']).length, MAGLEV_DEFAULT_TABLE_SIZE);
    assert.equal(MAGLEV_DEFAULT_TABLE_SIZE, 16381);
    assert.ok(isPrime(MAGLEV_DEFAULT_TABLE_SIZE));
  });

  it('is deterministic and independent of the order backends are given in', () => {
    const list = names(40);
    const a = maglevTable(list, { tableSize: 4093 });
    assert.deepEqual(maglevTable(list, { tableSize: 4093 }), a);
    const shuffled = [...list].reverse();
    shuffled.push(shuffled.splice(7, 1)[0]!);
    const b = maglevTable(shuffled, { tableSize: 4093 });
    assert.notDeepEqual(Array.from(a), Array.from(b), 'indexes refer to the caller\'s order');
    assert.deepEqual(byName(b, shuffled), byName(a, list));
  });

  it('returns to the same table when a removed backend comes back', () => {
    const list = names(30);
    const before = maglevTable(list, { tableSize: 16381 });
    const without = list.filter((n) => n !== list[12]);
    assert.ok(maglevChangedSlots({ table: before, backends: list }, { table: maglevTable(without, { tableSize: 16381 }), backends: without }) > 0);
    const back = [...without, list[12]!];
    assert.deepEqual(byName(maglevTable(back, { tableSize: 16381 }), back), byName(before, list));
  });

  // Disruption when one backend of N leaves.
  //
  // What must move: the slots of the removed backend (≈ M/N of them); no
  // scheme can do with less. What may move: slots of the survivors. The paper
  // gives no closed-form bound for those: Maglev hashing puts balance first
  // and minimal disruption second (§3.4), and the paper measures disruption
  // instead (§5.3), finding it smaller the larger M is relative to N. Why it
  // is small: every survivor keeps the same preference list and the same turn
  // order, so early in the fill (a sparse table) it claims the same slots as
  // before; the removed backend's slots, now free, are picked up by whichever
  // survivor reaches them first, which makes survivors advance a little
  // differently through their lists. A survivor loses a slot only where
  // another survivor now reaches it first, i.e. in close races, which happen
  // in the last part of the fill when the table is nearly full.
  //
  // The bound asserted: fewer than 2% of the survivors' slots move, for the
  // table sizes Membrane uses (M ≥ 16381) with M > 100·N. Measured on the
  // cases below (deterministic: fixed hash, seeds and names, so not flaky),
  // worst case over the removals tried: 0.71% at N=10, 1.28% at N=50, 1.59%
  // at N=100 and at N=163 for M=16381 (M ≈ 100·N is the hardest case), 0.65%
  // at N=100 for M=65537. For N ≤ 100 this is also below 2/N, which is
  // asserted there too, but 2/N is not a bound in general: survivor churn
  // grows with N/M rather than shrinking like 1/N (N=500, M=65537 moves
  // 1.02% of the survivors' slots, more than 2/N = 0.4%), and small tables
  // churn more (3.6% at N=10, M=1021) — a reason to keep M large.
  it('moves only the removed backend\'s slots and fewer than 2% of the others when one backend leaves', () => {
    const cases: [number, number, number][] = [
      // [N, M, removals tried]
      [10, 16381, 10],
      [50, 16381, 50],
      [100, 16381, 100],
      [163, 16381, 20],
      [100, 65537, 20],
    ];
    for (const [n, m, tries] of cases) {
      const list = names(n);
      const before = maglevTable(list, { tableSize: m });
      const shares = maglevShares(before, n);
      for (let k = 0; k < tries; k++) {
        const gone = Math.floor((k * n) / tries);
        const survivors = list.filter((_, i) => i !== gone);
        const after = maglevTable(survivors, { tableSize: m });
        const oldNames = byName(before, list);
        const newNames = byName(after, survivors);
        let survivorSlots = 0;
        let survivorMoved = 0;
        for (let s = 0; s < m; s++) {
          assert.notEqual(newNames[s], undefined);
          if (oldNames[s] === list[gone]) {
            assert.notEqual(newNames[s], list[gone]);
          } else {
            survivorSlots += 1;
            if (newNames[s] !== oldNames[s]) survivorMoved += 1;
          }
        }
        assert.equal(survivorSlots, m - shares[gone]!);
        const changed = maglevChangedSlots({ table: before, backends: list }, { table: after, backends: survivors });
        assert.equal(changed, shares[gone]! + survivorMoved);
        const fraction = survivorMoved / survivorSlots;
        assert.ok(fraction < 0.02, `N=${n} M=${m} removing ${list[gone]}: ${(fraction * 100).toFixed(2)}% of the survivors' slots moved`);
        if (n <= 100) assert.ok(fraction < 2 / n);
      }
    }
  });

  it('supports weights: a weight-w backend takes w turns per round', () => {
    const backends: MaglevBackend[] = [{ name: 'a', weight: 1 }, { name: 'b', weight: 2 }, { name: 'c', weight: 3 }, { name: 'd' }];
    const m = 16381;
    const shares = maglevShares(maglevTable(backends, { tableSize: m }), backends.length);
    const total = 1 + 2 + 3 + 1;
    for (const [i, b] of backends.entries()) {
      const ideal = (m * (b.weight ?? 1)) / total;
      assert.ok(Math.abs(shares[i]! - ideal) / ideal < 0.01, `${b.name}: ${shares[i]} slots, ideal ${ideal.toFixed(1)}`);
    }
    // All weights 1 is the unweighted table.
    assert.deepEqual(maglevTable(names(5).map((name) => ({ name, weight: 1 })), { tableSize: 251 }), maglevTable(names(5), { tableSize: 251 }));
  });

  it('gives a weight-0 backend no slots, and keeps indexes pointing into the caller\'s list', () => {
    const list: MaglevBackend[] = [{ name: 'x' }, { name: 'drained', weight: 0 }, { name: 'y' }];
    const table = maglevTable(list, { tableSize: 251 });
    assert.deepEqual(maglevShares(table, 3).map((s) => s > 0), [true, false, true]);
    assert.deepEqual(byName(table, list.map((b) => b.name)), byName(maglevTable(['x', 'y'], { tableSize: 251 }), ['x', 'y']));
  });

  it('fills every slot with the empty marker when there is no backend', () => {
    for (const backends of [[], [{ name: 'a', weight: 0 }]]) {
      const table = maglevTable(backends, { tableSize: 13 });
      assert.equal(table.length, 13);
      assert.ok(table.every((v) => v === MAGLEV_EMPTY));
    }
    assert.equal(MAGLEV_EMPTY, 0xffffffff);
  });

  it('rejects a table size that is not prime, too small for the backends, or out of range', () => {
    let e = errorOf(() => maglevTable(['a'], { tableSize: 16383 }));
    assert.equal(e.code, 'INVALID_INPUT');
    assert.equal(e.field, 'tableSize');
    assert.match(e.message, /^tableSize: must be a prime number, got 16383/);
    assert.match(errorOf(() => maglevTable([], { tableSize: 1 })).message, /must be a prime number between 2 and \d+, got 1/);
    assert.match(errorOf(() => maglevTable([], { tableSize: 13.5 })).message, /got 13\.5/);
    assert.match(errorOf(() => maglevTable([], { tableSize: 2 ** 31 })).message, /between 2 and 2147483647/);
    e = errorOf(() => maglevTable(['a', 'b', 'c'], { tableSize: 3 }));
    assert.match(e.message, /^tableSize: must be greater than the number of backends \(3\), got 3/);
    assert.equal(maglevTable(['a', 'b'], { tableSize: 3 }).length, 3);
  });

  it('rejects empty or repeated names and bad weights, naming the backend', () => {
    assert.equal(errorOf(() => maglevTable(['a', 'b', 'a'], { tableSize: 13 })).message, 'backends[2].name: duplicate backend name "a" (also backends[0])');
    assert.equal(errorOf(() => maglevTable(['a', ''], { tableSize: 13 })).message, 'backends[1].name: required');
    assert.equal(errorOf(() => maglevTable([{ name: 'a', weight: -1 }], { tableSize: 13 })).message, 'backends[0].weight: must be a non-negative integer, got -1');
    assert.match(errorOf(() => maglevTable([{ name: 'a', weight: 1.5 }], { tableSize: 13 })).message, /weight: must be a non-negative integer, got 1\.5/);
  });

  it('isPrime', () => {
    const primes = [2, 3, 5, 7, 11, 13, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 65537, 131071, 2147483647];
    for (const p of primes) assert.equal(isPrime(p), true, String(p));
    for (const c of [-7, 0, 1, 4, 9, 25, 49, 16383, 65535, 65536, 561, 2147483646, 1.5, NaN, Infinity]) assert.equal(isPrime(c), false, String(c));
  });

  it('counts changed slots by backend name and refuses tables of different sizes', () => {
    const a = { table: Uint32Array.from([0, 1, 0, MAGLEV_EMPTY]), backends: ['x', 'y'] };
    const b = { table: Uint32Array.from([1, 0, 0, 1]), backends: ['y', 'x'] };
    assert.equal(maglevChangedSlots(a, b), 2);
    assert.equal(maglevChangedSlots(a, a), 0);
    assert.match(errorOf(() => maglevChangedSlots(a, { table: new Uint32Array(5), backends: ['x'] })).message, /different sizes/);
  });
});
