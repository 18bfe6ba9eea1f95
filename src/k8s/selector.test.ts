import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LabelRequirement } from '../policy/types.ts';
import { Checker, FieldPath } from './problems.ts';
import { ciliumKey, prefixedKey, readSelector } from './selector.ts';

function read(obj: Record<string, unknown>, mapKey = prefixedKey('k8s:'), required = false): { requirements?: LabelRequirement[]; problems: string[] } {
  const c = new Checker('doc 1');
  const requirements = readSelector(c, obj, 'sel', FieldPath.root().child('sel'), mapKey, { required });
  const problems = c.problems.map((p) => `${p.field}: ${p.reason}`);
  return requirements === undefined ? { problems } : { requirements, problems };
}

describe('label selectors', () => {
  it('matchLabels become In requirements, in order, before matchExpressions', () => {
    assert.deepEqual(read({ sel: { matchExpressions: [{ key: 'b', operator: 'Exists' }], matchLabels: { a: '1', 'example.com/c': '' } } }), {
      requirements: [
        { key: 'k8s:a', operator: 'In', values: ['1'] },
        { key: 'k8s:example.com/c', operator: 'In', values: [''] },
        { key: 'k8s:b', operator: 'Exists', values: [] },
      ],
      problems: [],
    });
  });

  it('absent: undefined, reported only when required; {} selects everything', () => {
    assert.deepEqual(read({}), { problems: [] });
    assert.deepEqual(read({ sel: null }, prefixedKey('k8s:'), true), { problems: ['sel: required'] });
    assert.deepEqual(read({ sel: {} }), { requirements: [], problems: [] });
    assert.deepEqual(read({ sel: 'app=web' }).problems, ['sel: must be a label selector (an object with matchLabels and/or matchExpressions), got a string ("app=web")']);
  });

  it('reports shape problems where they are', () => {
    assert.deepEqual(read({ sel: { matchLabels: { a: 1 }, matchExpressions: ['x', { key: 'k', operator: 'In', values: 'v' }], matchLabel: {} } }).problems, [
      'sel.matchLabel: unknown field "matchLabel": did you mean "matchLabels"? known fields: matchLabels, matchExpressions',
      'sel.matchLabels["a"]: value must be a string, got a number (1); quote it',
      'sel.matchExpressions[0]: must be an object, got a string ("x")',
      'sel.matchExpressions[1].values: must be a list, got a string ("v")',
      'sel.matchExpressions[1].values: required (at least one value) when operator is "In"',
    ]);
  });

  it('Cilium keys: sources, $reserved, the namespace key normalised', () => {
    const keys = (k: string) => {
      const r = ciliumKey(k);
      return 'key' in r ? r.key : `error: ${r.error}`;
    };
    assert.equal(keys('app'), 'any:app');
    assert.equal(keys('k8s:app'), 'k8s:app');
    assert.equal(keys('any:example.com/x'), 'any:example.com/x');
    assert.equal(keys('reserved:host'), 'reserved:host');
    assert.equal(keys('$kube-apiserver'), 'reserved:kube-apiserver');
    assert.equal(keys('io.kubernetes.pod.namespace'), 'k8s:io.kubernetes.pod.namespace');
    assert.equal(keys('any:io.kubernetes.pod.namespace'), 'k8s:io.kubernetes.pod.namespace');
    assert.equal(keys('io.cilium.k8s.namespace.labels.team'), 'any:io.cilium.k8s.namespace.labels.team');
    assert.equal(keys('cidr:10.0.0.0/8'), 'error: unsupported label source "cidr": must be k8s, reserved, any (no prefix means any)');
    assert.equal(keys('reserved:everything'), 'error: unknown reserved label "everything": must be one of host, world, unmanaged, health, init, remote-node, kube-apiserver');
    assert.match(keys('k8s:'), /^error: name part must be non-empty/);
  });
});
