import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../errors.ts';
import { AggregateInputError, Checker, FieldPath, formatProblem } from './problems.ts';

describe('FieldPath', () => {
  it('prints fields, indexes and map keys the way users write them', () => {
    const p = FieldPath.root().child('spec').child('containers').index(0).child('ports').index(2).child('name');
    assert.equal(p.toString(), 'spec.containers[0].ports[2].name');
    assert.deepEqual(p.keys(), ['spec', 'containers', 0, 'ports', 2, 'name']);
    assert.equal(FieldPath.root().child('metadata').child('labels').key('example.com/a "b"').toString(), 'metadata.labels["example.com/a \\"b\\""]');
    assert.equal(FieldPath.root().toString(), '(root)');
  });
});

describe('AggregateInputError', () => {
  it('lists each problem on its own line, with stable code and details', () => {
    const c = new Checker('doc 2 (Pod default/web)', [], (path) => (path.toString() === 'metadata.name' ? 4 : undefined));
    c.report(FieldPath.root().child('metadata').child('name'), 'required');
    c.report(FieldPath.root().child('spec'), 'required');
    const err = new AggregateInputError('m.yaml', c.problems);
    assert.ok(err instanceof MembraneError);
    assert.equal(err.code, 'INVALID_INPUT');
    assert.equal(err.name, 'AggregateInputError');
    assert.equal(err.message, 'm.yaml: 2 errors\n  doc 2 (Pod default/web): metadata.name: required\n  doc 2 (Pod default/web): spec: required');
    assert.deepEqual(err.toJSON().details, {
      source: 'm.yaml',
      errors: [
        { document: 'doc 2 (Pod default/web)', field: 'metadata.name', reason: 'required', line: 4 },
        { document: 'doc 2 (Pod default/web)', field: 'spec', reason: 'required' },
      ],
    });
    assert.equal(formatProblem({ document: 'doc 1', field: 'kind', reason: 'required' }), 'doc 1: kind: required');
  });
});
