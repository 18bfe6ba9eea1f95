// Stable numeric rule ids (mb_policy_entry.rule_id, verdict events, policy
// conntrack) per rule name (`ruleName(policy, rule.path)`). 0 means no rule.
// Ids are handed out in increasing order with wrap-around, so that an id
// freed by a deleted rule is not soon reused while events may still name it.

export interface StoredRuleId {
  id: number;
  name: string;
}

export class RuleIds {
  constructor(min?: number, max?: number) {
    throw new Error('not implemented');
  }

  get size(): number {
    throw new Error('not implemented');
  }

  restore(known: Iterable<StoredRuleId>): StoredRuleId[] {
    throw new Error('not implemented');
  }

  /** The name's id, allocating one when it has none; marks it wanted until the next sweep. */
  acquire(name: string): number {
    throw new Error('not implemented');
  }

  get(name: string): number | undefined {
    throw new Error('not implemented');
  }

  nameOf(id: number): string | undefined {
    throw new Error('not implemented');
  }

  /** Frees every name not acquired (or restored) since the previous sweep; returns how many. */
  sweep(): number {
    throw new Error('not implemented');
  }

  export(): StoredRuleId[] {
    throw new Error('not implemented');
  }
}
