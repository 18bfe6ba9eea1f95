// The datapath's policy judge, in TypeScript (policy trace, tests). It must
// agree with bpf/include/policy.h bit for bit:
//
// judge(ep, dir, R, C, proto, dport):
// - direction not enforced → allowed, no verdict event;
// - LPM lookups (prefixlen 96) with identity R, with C (if C != 0), with MB_ID_ANY;
// - a hit with DENY (the first in the order R, C, ANY) → denied (POLICY_DENY);
// - else the first hit in the order R, C, ANY → allowed;
// - else denied by default (rule 0, match none; POLICY_DENIED);
// - denied and audit (endpoint or node) → AUDIT, the packet passes;
// - match: via R or C, prefixlen 64 → L3, > 64 → L3_L4; via ANY, 64 → ALL, > 64 → L4.
import type { Direction } from './types.ts';
import type { PolicyMapEntry } from './resolve.ts';

export const MB_POLICY_MATCH_NONE = 0;
export const MB_POLICY_MATCH_L3 = 1;
export const MB_POLICY_MATCH_L3_L4 = 2;
export const MB_POLICY_MATCH_L4 = 3;
export const MB_POLICY_MATCH_ALL = 4;

export type LookupVia = 'identity' | 'cidr' | 'any';

/** The policy entries of a set (one endpoint's or all), indexed for LPM lookups. */
export class PolicyTable {
  constructor(entries: Iterable<PolicyMapEntry>) {
    throw new Error('not implemented');
  }

  /** Longest-prefix match among entries with this lxc, dir (MB_DIR_*) and identity, as the LPM trie. */
  lookup(lxcId: number, dir: number, identity: number, proto: number, dport: number): PolicyMapEntry | undefined {
    throw new Error('not implemented');
  }
}

export interface JudgeQuery {
  lxcId: number;
  direction: Direction;
  /** The endpoint's flag for this direction (MB_EP_F_INGRESS_POLICY / MB_EP_F_EGRESS_POLICY). */
  enforced: boolean;
  /** Endpoint audit flag or node-wide policy audit. */
  audit: boolean;
  /** Remote identity R. */
  identity: number;
  /** Remote CIDR identity C (0: none). */
  cidrIdentity: number;
  proto: number;
  dport: number;
}

export interface Lookup {
  via: LookupVia;
  identity: number;
  hit?: PolicyMapEntry;
}

export interface Judgement {
  enforced: boolean;
  /** Not enforced: 'allowed' (and no verdict event). */
  verdict: 'allowed' | 'denied' | 'audit';
  /** MB_VERDICT_*; 0 when not enforced. */
  verdictCode: number;
  /** MB_POLICY_MATCH_* */
  match: number;
  /** POLICY_MATCHES name: none, L3-Only, L3-L4, L4-Only, all. */
  matchName: string;
  ruleId: number;
  /** The lookup that decided (absent: no hit). */
  via?: LookupVia;
  entry?: PolicyMapEntry;
  /** MB_DROP_POLICY_DENY or MB_DROP_POLICY when denied (or would be, under audit); 0 otherwise. */
  dropReason: number;
  /** The lookups made, in order (none when not enforced). */
  lookups: Lookup[];
}

export function judge(table: PolicyTable, q: JudgeQuery): Judgement {
  throw new Error('not implemented');
}
