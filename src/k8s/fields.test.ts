import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFields, nearest } from './fields.ts';
import { Checker, FieldPath } from './problems.ts';

describe('checkFields', () => {
  it('reports unknown fields with the nearest known one, and unsupported ones with their message', () => {
    const c = new Checker('doc 1');
    const ok = checkFields(c, { from: [], ports: [], Ports: 1, icmps: [], zzz: 1 }, FieldPath.root().child('spec'), ['from', 'ports'], { icmps: 'not supported (ICMP rules)' });
    assert.equal(ok, false);
    assert.deepEqual(c.problems.map((p) => `${p.field}: ${p.reason}`), [
      'spec.Ports: unknown field "Ports": did you mean "ports"? known fields: from, ports',
      'spec.icmps: not supported (ICMP rules)',
      'spec.zzz: unknown field "zzz": known fields: from, ports',
    ]);
    assert.equal(checkFields(new Checker('doc 1'), { from: [] }, FieldPath.root(), ['from', 'ports']), true);
  });

  it('nearest: same letters in another case first, then at most two edits', () => {
    assert.equal(nearest('ingres', ['ingress', 'egress']), 'ingress');
    assert.equal(nearest('EGRESS', ['ingress', 'egress']), 'egress');
    assert.equal(nearest('toEndpoint', ['toEndpoints', 'toEntities']), 'toEndpoints');
    assert.equal(nearest('something', ['ingress', 'egress']), undefined);
  });
});
