// Stable numeric rule ids (mb_policy_entry.rule_id, verdict events, policy
// conntrack) per rule name (`ruleName(policy, rule.path)`). 0 means no rule.
// Ids are handed out in increasing order with wrap-around, so that an id
// freed by a deleted rule is not soon reused while events may still name it.
// A resolve acquires the names it uses; sweep() then frees the others.
import { MembraneError } from '../errors.ts';

export interface StoredRuleId {
  id: number;
  name: string;
}

export class RuleIds {
  readonly min: number;
  readonly max: number;
  readonly #byName = new Map<string, { id: number; gen: number }>();
  readonly #byId = new Map<number, string>();
  #next: number;
  #gen = 0;

  constructor(min = 1, max = 0xffff_ffff) {
    this.min = min;
    this.max = max;
    this.#next = min;
  }

  get size(): number {
    return this.#byName.size;
  }

  /** Takes known ids (e.g. from the agent's state); returns the refused ones. Kept only if acquired before the next sweep. */
  restore(known: Iterable<StoredRuleId>): StoredRuleId[] {
    const refused: StoredRuleId[] = [];
    for (const k of known) {
      if (!Number.isInteger(k.id) || k.id < this.min || k.id > this.max || this.#byName.has(k.name) || this.#byId.has(k.id)) {
        refused.push(k);
        continue;
      }
      this.#byName.set(k.name, { id: k.id, gen: -1 });
      this.#byId.set(k.id, k.name);
      if (k.id >= this.#next) this.#next = k.id === this.max ? this.min : k.id + 1;
    }
    return refused;
  }

  /** The name's id, allocating one when it has none; marks it wanted until the next sweep. */
  acquire(name: string): number {
    const have = this.#byName.get(name);
    if (have) {
      have.gen = this.#gen;
      return have.id;
    }
    const span = this.max - this.min + 1;
    if (this.#byId.size >= span) throw new MembraneError('IPAM_EXHAUSTED', `no free policy rule id (all ${span} in use)`);
    let id = this.#next;
    while (this.#byId.has(id)) id = id === this.max ? this.min : id + 1;
    this.#next = id === this.max ? this.min : id + 1;
    this.#byName.set(name, { id, gen: this.#gen });
    this.#byId.set(id, name);
    return id;
  }

  get(name: string): number | undefined {
    return this.#byName.get(name)?.id;
  }

  nameOf(id: number): string | undefined {
    return this.#byId.get(id);
  }

  /** Frees every name not acquired since the previous sweep (restored ones included); returns how many. */
  sweep(): number {
    let n = 0;
    for (const [name, e] of this.#byName) {
      if (e.gen !== this.#gen) {
        this.#byName.delete(name);
        this.#byId.delete(e.id);
        n++;
      }
    }
    this.#gen++;
    return n;
  }

  /** Every held id, ascending. */
  export(): StoredRuleId[] {
    return [...this.#byId].sort((a, b) => a[0] - b[0]).map(([id, name]) => ({ id, name }));
  }
}
