// The matrix bookkeeping of the conformance model (no root needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reachability, TruthTable } from './truthtable.ts';

const PODS = ['x/a', 'x/b', 'y/a'];

test('expectations narrow an all-allowed table like upstream: peers by namespace and pod, ingress, egress', () => {
  const r = new Reachability(PODS).expectPeer({}, { ns: 'x' }, false).expect('x/b', 'x/a', true);
  assert.equal(
    r.table().pretty(),
    ['-\tx/a\tx/b\ty/a', 'x/a\t.\tX\t.', 'x/b\t.\t.\t.', 'y/a\tX\tX\t.'].join('\n'),
    'loopback allowed last; x/b → x/a allowed; everything else into x denied',
  );
  const e = new Reachability(PODS).expectAllEgress('x/a', false).table();
  assert.equal(e.get('x/a', 'y/a'), false);
  assert.equal(e.get('x/a', 'x/a'), true, 'a pod reaching itself is always allowed');
  assert.equal(e.get('y/a', 'x/a'), true);
  const i = new Reachability(PODS).expectAllIngress('y/a', false).table();
  assert.deepEqual(
    i.diff(new Reachability(PODS).table()).map((d) => `${d.from}->${d.to}`),
    ['x/a->y/a', 'x/b->y/a'],
  );
});

test('a table printed by pretty() parses back; diff names the differing cells', () => {
  const t = new Reachability(PODS).expectPeer({ ns: 'y' }, {}, false).table();
  const back = TruthTable.parse(t.pretty());
  assert.deepEqual(back.diff(t), []);
  const picture = TruthTable.parse(`
    -    x/a x/b y/a
    x/a  .   .   .
    x/b  .   .   X
    y/a  X   X   .
  `);
  assert.deepEqual(
    picture.diff(t).map((d) => [d.from, d.to, d.expected, d.observed]),
    [['x/b', 'y/a', false, true]],
  );
  assert.throws(() => TruthTable.parse('- x/a\nx/a ?'), /cell x\/a is "\?"/);
  assert.throws(() => new TruthTable(PODS).set('q/q', 'x/a', true), /unknown pod q\/q/);
});

test('an incomplete observation differs from every expectation', () => {
  const observed = new TruthTable(PODS);
  observed.set('x/a', 'x/a', true);
  const d = new Reachability(PODS).table().diff(observed);
  assert.equal(d.length, 8);
  assert.ok(observed.pretty().includes('?'));
});
