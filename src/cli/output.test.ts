import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, formatLabels, table } from './output.ts';

test('tables align columns under upper-case headers', () => {
  const t = table(['id', 'name'], [[1, 'web'], [22, 'db']]);
  assert.equal(t, 'ID   NAME\n1    web\n22   db\n');
});

test('labels and sizes read like kubectl', () => {
  assert.equal(formatLabels({ app: 'web', tier: 'fe' }), 'app=web,tier=fe');
  assert.equal(formatLabels({}), '<none>');
  assert.equal(bytes(2048), '2.0 KiB');
  assert.equal(bytes(12), '12 B');
});
