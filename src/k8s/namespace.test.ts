import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NAMESPACE_NAME_LABEL } from './namespace.ts';
import { Checker } from './problems.ts';
import { validateObject } from './registry.ts';

describe('v1 Namespace', () => {
  it('adds kubernetes.io/metadata.name like the API server, overriding a given value', () => {
    const c = new Checker('doc 1');
    const obj = validateObject(c, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'prod', namespace: 'ignored', labels: { team: 'a', [NAMESPACE_NAME_LABEL]: 'other' } },
    });
    assert.deepEqual(c.problems, []);
    assert.deepEqual(obj, {
      apiVersion: 'v1',
      kind: 'Namespace',
      name: 'prod',
      spec: { name: 'prod', labels: { team: 'a', 'kubernetes.io/metadata.name': 'prod' } },
    });
    assert.equal(obj && 'namespace' in obj, false);
  });

  it('names are DNS-1123 labels', () => {
    for (const [name, valid] of [['kube-system', true], ['a.b', false], ['Prod', false], ['a'.repeat(63), true], ['a'.repeat(64), false]] as const) {
      const c = new Checker('doc 1');
      const obj = validateObject(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      assert.equal(obj !== undefined, valid, name);
      if (!valid) assert.equal(c.problems[0]?.field, 'metadata.name');
    }
  });
});
