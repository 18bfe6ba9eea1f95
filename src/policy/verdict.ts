// The datapath's policy judge, in TypeScript (policy trace, tests). It must
// agree with bpf/include/policy.h bit for bit:
//
// judge(ep, dir, R, C, proto, dport):
// - direction not enforced → allowed, no verdict event;
// - LPM lookups (prefixlen 96) with identity R (if R != 0), with C (if C != 0
//   and C != R), with MB_ID_ANY;
// - a hit with DENY (the first in the order R, C, ANY) → denied (POLICY_DENY);
// - else the first hit in the order R, C, ANY → allowed;
// - else denied by default (rule 0, match none; POLICY_DENIED);
// - denied and audit (endpoint or node) → AUDIT, the packet passes;
// - match: via R or C, prefixlen 64 → L3, > 64 → L3_L4; via ANY, 64 → ALL, > 64 → L4.
import {
  MB_DIR_EGRESS,
  MB_DIR_INGRESS,
  MB_DROP_POLICY,
  MB_DROP_POLICY_DENY,
  MB_ID_ANY,
  MB_POLICY_F_DENY,
  MB_POLICY_PREFIX_ANY_PROTO,
  MB_POLICY_PREFIX_FULL,
  MB_VERDICT_ALLOWED,
  MB_VERDICT_AUDIT,
  MB_VERDICT_DENIED,
  POLICY_MATCHES,
} from '../datapath/abi.ts';
import type { PolicyMapEntry } from './resolve.ts';
import type { Direction } from './types.ts';

export const MB_POLICY_MATCH_NONE = 0;
export const MB_POLICY_MATCH_L3 = 1;
export const MB_POLICY_MATCH_L3_L4 = 2;
export const MB_POLICY_MATCH_L4 = 3;
export const MB_POLICY_MATCH_ALL = 4;

export type LookupVia = 'identity' | 'cidr' | 'any';

/** Bits 64..95 of a key: proto, pad2 (0), dport in network order. */
function tail(proto: number, dport: number): number {
  return ((proto & 0xff) * 0x1000000 + (dport & 0xffff)) >>> 0;
}

function tailMask(prefixlen: number): number {
  const n = prefixlen - MB_POLICY_PREFIX_ANY_PROTO;
  return n <= 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
}

interface Indexed {
  tail: number;
  prefixlen: number;
  e: PolicyMapEntry;
}

/** The policy entries of a set (one endpoint's or all), indexed for LPM lookups. */
export class PolicyTable {
  readonly #groups = new Map<string, Indexed[]>();

  constructor(entries: Iterable<PolicyMapEntry>) {
    for (const e of entries) {
      const k = e.key;
      if (k.prefixlen < MB_POLICY_PREFIX_ANY_PROTO || k.prefixlen > MB_POLICY_PREFIX_FULL) {
        throw new RangeError(`policy key prefixlen ${k.prefixlen} outside ${MB_POLICY_PREFIX_ANY_PROTO}..${MB_POLICY_PREFIX_FULL}`);
      }
      const g = `${k.lxc_id}|${k.dir}|${k.identity}`;
      const list = this.#groups.get(g) ?? [];
      // as in the trie, an update of the same (prefix, masked key) replaces
      const t = (tail(k.proto, k.dport) & tailMask(k.prefixlen)) >>> 0;
      const i = list.findIndex((x) => x.prefixlen === k.prefixlen && x.tail === t);
      if (i >= 0) list[i] = { tail: t, prefixlen: k.prefixlen, e };
      else list.push({ tail: t, prefixlen: k.prefixlen, e });
      this.#groups.set(g, list);
    }
  }

  /** Longest-prefix match among entries with this lxc, dir (MB_DIR_*) and identity, as the LPM trie. */
  lookup(lxcId: number, dir: number, identity: number, proto: number, dport: number): PolicyMapEntry | undefined {
    const list = this.#groups.get(`${lxcId}|${dir}|${identity}`);
    if (!list) return undefined;
    const t = tail(proto, dport);
    let best: Indexed | undefined;
    for (const x of list) {
      if (((t & tailMask(x.prefixlen)) >>> 0) !== x.tail) continue;
      if (!best || x.prefixlen > best.prefixlen) best = x;
    }
    return best?.e;
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
  /** The lookups made, in order (none when not enforced; R skipped when 0, C when 0 or R). */
  lookups: Lookup[];
}

export function matchType(via: LookupVia, prefixlen: number): number {
  if (via === 'any') return prefixlen > MB_POLICY_PREFIX_ANY_PROTO ? MB_POLICY_MATCH_L4 : MB_POLICY_MATCH_ALL;
  return prefixlen > MB_POLICY_PREFIX_ANY_PROTO ? MB_POLICY_MATCH_L3_L4 : MB_POLICY_MATCH_L3;
}

export function judge(table: PolicyTable, q: JudgeQuery): Judgement {
  if (!q.enforced) {
    return { enforced: false, verdict: 'allowed', verdictCode: 0, match: MB_POLICY_MATCH_NONE, matchName: POLICY_MATCHES[0]!, ruleId: 0, dropReason: 0, lookups: [] };
  }
  const dir = q.direction === 'ingress' ? MB_DIR_INGRESS : MB_DIR_EGRESS;
  const lookups: Lookup[] = [];
  const look = (via: LookupVia, identity: number) => {
    const hit = table.lookup(q.lxcId, dir, identity, q.proto, q.dport);
    lookups.push(hit ? { via, identity, hit } : { via, identity });
  };
  // R = 0 (an identity not known yet) or C = R would repeat another lookup
  if (q.identity !== MB_ID_ANY) look('identity', q.identity);
  if (q.cidrIdentity !== MB_ID_ANY && q.cidrIdentity !== q.identity) look('cidr', q.cidrIdentity);
  look('any', MB_ID_ANY);

  const decided = lookups.find((l) => l.hit && l.hit.entry.flags & MB_POLICY_F_DENY) ?? lookups.find((l) => l.hit);
  if (!decided?.hit) {
    return {
      enforced: true,
      verdict: q.audit ? 'audit' : 'denied',
      verdictCode: q.audit ? MB_VERDICT_AUDIT : MB_VERDICT_DENIED,
      match: MB_POLICY_MATCH_NONE,
      matchName: POLICY_MATCHES[MB_POLICY_MATCH_NONE]!,
      ruleId: 0,
      dropReason: MB_DROP_POLICY,
      lookups,
    };
  }
  const hit = decided.hit;
  const match = matchType(decided.via, hit.key.prefixlen);
  const deny = (hit.entry.flags & MB_POLICY_F_DENY) !== 0;
  const verdict = !deny ? 'allowed' : q.audit ? 'audit' : 'denied';
  return {
    enforced: true,
    verdict,
    verdictCode: verdict === 'allowed' ? MB_VERDICT_ALLOWED : verdict === 'audit' ? MB_VERDICT_AUDIT : MB_VERDICT_DENIED,
    match,
    matchName: POLICY_MATCHES[match]!,
    ruleId: hit.entry.rule_id,
    via: decided.via,
    entry: hit,
    dropReason: deny ? MB_DROP_POLICY_DENY : 0,
    lookups,
  };
}
