import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MB_DIR_EGRESS, MB_DIR_INGRESS, MB_DROP_POLICY, MB_DROP_POLICY_DENY, MB_VERDICT_ALLOWED, MB_VERDICT_AUDIT, MB_VERDICT_DENIED } from '../datapath/abi.ts';
import type { PolicyMapEntry } from './resolve.ts';
import { judge, MB_POLICY_MATCH_ALL, MB_POLICY_MATCH_L3, MB_POLICY_MATCH_L3_L4, MB_POLICY_MATCH_L4, MB_POLICY_MATCH_NONE, PolicyTable, type JudgeQuery } from './verdict.ts';

const C = (1 << 24) + 5;
const e = (lxc: number, dir: number, identity: number, prefixlen: number, proto: number, dport: number, rule: number, deny = false): PolicyMapEntry => ({
  key: { prefixlen, lxc_id: lxc, dir, identity, proto, dport },
  entry: { rule_id: rule, flags: deny ? 1 : 0 },
});
const IN = MB_DIR_INGRESS;
const table = new PolicyTable([
  e(1, IN, 256, 64, 0, 0, 1),
  e(1, IN, 256, 96, 6, 22, 2, true),
  e(1, IN, 0, 80, 17, 0, 3),
  e(1, IN, C, 92, 6, 8080, 4), // 8080..8095
  e(1, IN, 0, 96, 6, 443, 5, true),
  e(1, MB_DIR_EGRESS, 2, 64, 0, 0, 6),
  e(3, IN, 0, 64, 0, 0, 7),
  e(4, IN, 256, 80, 6, 0, 8),
  e(4, IN, C, 96, 6, 80, 9),
  e(4, IN, C, 96, 6, 81, 10, true),
]);
const q = (over: Partial<JudgeQuery>): JudgeQuery => ({ lxcId: 1, direction: 'ingress', enforced: true, audit: false, identity: 256, cidrIdentity: 0, proto: 6, dport: 80, ...over });
const brief = (j: ReturnType<typeof judge>) => [j.verdict, j.verdictCode, j.match, j.ruleId, j.via ?? '-', j.dropReason];

test('PolicyTable: longest prefix among entries of the same lxc, dir and identity', () => {
  assert.equal(table.lookup(1, IN, 256, 6, 22)?.entry.rule_id, 2);
  assert.equal(table.lookup(1, IN, 256, 6, 23)?.entry.rule_id, 1);
  assert.equal(table.lookup(1, IN, C, 6, 8080)?.entry.rule_id, 4);
  assert.equal(table.lookup(1, IN, C, 6, 8095)?.entry.rule_id, 4);
  assert.equal(table.lookup(1, IN, C, 6, 8096), undefined);
  assert.equal(table.lookup(1, IN, C, 6, 8079), undefined);
  assert.equal(table.lookup(1, IN, C, 17, 8080), undefined);
  assert.equal(table.lookup(1, MB_DIR_EGRESS, 256, 6, 22), undefined);
  assert.equal(table.lookup(2, IN, 256, 6, 22), undefined);
  assert.throws(() => new PolicyTable([e(1, IN, 1, 32, 0, 0, 1)]), RangeError);
});

test('judge: hand-computed verdicts', () => {
  // not enforced: allowed, no event, no lookups
  assert.deepEqual(judge(table, q({ enforced: false, identity: 999 })), {
    enforced: false, verdict: 'allowed', verdictCode: 0, match: MB_POLICY_MATCH_NONE, matchName: 'none', ruleId: 0, dropReason: 0, lookups: [],
  });
  assert.deepEqual(brief(judge(table, q({}))), ['allowed', MB_VERDICT_ALLOWED, MB_POLICY_MATCH_L3, 1, 'identity', 0]);
  assert.deepEqual(brief(judge(table, q({ dport: 22 }))), ['denied', MB_VERDICT_DENIED, MB_POLICY_MATCH_L3_L4, 2, 'identity', MB_DROP_POLICY_DENY]);
  // an allow via R and a deny via ANY: the deny wins
  assert.deepEqual(brief(judge(table, q({ dport: 443 }))), ['denied', MB_VERDICT_DENIED, MB_POLICY_MATCH_L4, 5, 'any', MB_DROP_POLICY_DENY]);
  // CIDR identity
  assert.deepEqual(brief(judge(table, q({ identity: 2, cidrIdentity: C, dport: 8090 }))), ['allowed', MB_VERDICT_ALLOWED, MB_POLICY_MATCH_L3_L4, 4, 'cidr', 0]);
  // nothing: default deny, and audit lets it pass
  assert.deepEqual(brief(judge(table, q({ identity: 2, cidrIdentity: C, dport: 8096 }))), ['denied', MB_VERDICT_DENIED, MB_POLICY_MATCH_NONE, 0, '-', MB_DROP_POLICY]);
  assert.deepEqual(brief(judge(table, q({ identity: 2, cidrIdentity: C, dport: 8096, audit: true }))), ['audit', MB_VERDICT_AUDIT, MB_POLICY_MATCH_NONE, 0, '-', MB_DROP_POLICY]);
  assert.deepEqual(brief(judge(table, q({ dport: 22, audit: true }))), ['audit', MB_VERDICT_AUDIT, MB_POLICY_MATCH_L3_L4, 2, 'identity', MB_DROP_POLICY_DENY]);
  // any identity, protocol only: L4; any identity, any protocol: all
  assert.deepEqual(brief(judge(table, q({ identity: 300, proto: 17, dport: 53 }))), ['allowed', MB_VERDICT_ALLOWED, MB_POLICY_MATCH_L4, 3, 'any', 0]);
  assert.deepEqual(brief(judge(table, q({ lxcId: 3, identity: 300, proto: 1, dport: 0x0800 }))), ['allowed', MB_VERDICT_ALLOWED, MB_POLICY_MATCH_ALL, 7, 'any', 0]);
  // egress
  assert.deepEqual(brief(judge(table, q({ direction: 'egress', identity: 2 }))), ['allowed', MB_VERDICT_ALLOWED, MB_POLICY_MATCH_L3, 6, 'identity', 0]);
  assert.deepEqual(brief(judge(table, q({ lxcId: 2 }))), ['denied', MB_VERDICT_DENIED, MB_POLICY_MATCH_NONE, 0, '-', MB_DROP_POLICY]);
  // R and C both allow: the first (R) names the rule; a deny via C beats an allow via R
  assert.deepEqual(brief(judge(table, q({ lxcId: 4, cidrIdentity: C, dport: 80 }))), ['allowed', MB_VERDICT_ALLOWED, MB_POLICY_MATCH_L3_L4, 8, 'identity', 0]);
  assert.deepEqual(brief(judge(table, q({ lxcId: 4, cidrIdentity: C, dport: 81 }))), ['denied', MB_VERDICT_DENIED, MB_POLICY_MATCH_L3_L4, 10, 'cidr', MB_DROP_POLICY_DENY]);
});

test('judge: lookups made, in order; C skipped when 0', () => {
  const j = judge(table, q({ identity: 2, cidrIdentity: C, dport: 8090 }));
  assert.deepEqual(j.lookups.map((l) => [l.via, l.identity, l.hit?.entry.rule_id]), [['identity', 2, undefined], ['cidr', C, 4], ['any', 0, undefined]]);
  assert.equal(judge(table, q({})).lookups.length, 2);
  // as policy.h: no lookup for R = 0, nor for C = R
  assert.deepEqual(judge(table, q({ identity: 0, cidrIdentity: C })).lookups.map((l) => l.via), ['cidr', 'any']);
  assert.deepEqual(judge(table, q({ identity: 256, cidrIdentity: 256 })).lookups.map((l) => l.via), ['identity', 'any']);
  assert.equal(j.matchName, 'L3-L4');
});
