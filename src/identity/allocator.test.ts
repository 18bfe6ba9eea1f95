import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MB_ID_CLUSTER_MIN } from '../datapath/abi.ts';
import { IdentityAllocator } from './allocator.ts';
import { endpointLabels } from './labels.ts';
import { RESERVED_IDENTITIES, reservedIdentity, reservedName } from './types.ts';

test('reserved identities: numbers and labels', () => {
  assert.deepEqual(
    RESERVED_IDENTITIES.map((i) => [i.id, Object.keys(i.labels)[0], i.kind]),
    [
      [1, 'reserved:host', 'reserved'],
      [2, 'reserved:world', 'reserved'],
      [3, 'reserved:unmanaged', 'reserved'],
      [4, 'reserved:health', 'reserved'],
      [5, 'reserved:init', 'reserved'],
      [6, 'reserved:remote-node', 'reserved'],
      [7, 'reserved:kube-apiserver', 'reserved'],
    ],
  );
  assert.equal(reservedIdentity(6)?.labels['reserved:remote-node'], '');
  assert.equal(reservedName(7), 'kube-apiserver');
  assert.equal(reservedIdentity(256), undefined);
});

test('same labels, same id; key order does not matter', () => {
  const a = new IdentityAllocator();
  const web = a.acquire(endpointLabels('default', { app: 'web' }));
  const db = a.acquire(endpointLabels('default', { app: 'db' }));
  assert.equal(web.id, MB_ID_CLUSTER_MIN);
  assert.equal(db.id, MB_ID_CLUSTER_MIN + 1);
  assert.equal(a.acquire({ 'k8s:io.kubernetes.pod.namespace': 'default', 'k8s:app': 'web' }).id, web.id);
  assert.equal(web.kind, 'endpoint');
  assert.equal(a.lookup(endpointLabels('default', { app: 'db' }))?.id, db.id);
  assert.equal(a.get(db.id), db);
  assert.equal(a.size, 2);
});

test('sweep releases unused ids; freed ids are not reused at once', () => {
  const a = new IdentityAllocator(256, 259);
  const ids = ['a', 'b', 'c'].map((x) => a.acquire({ 'k8s:app': x }).id);
  assert.deepEqual(ids, [256, 257, 258]);
  const gone = a.sweep(new Set([256, 258]));
  assert.deepEqual(gone.map((i) => i.labels), [{ 'k8s:app': 'b' }]);
  assert.equal(a.lookup({ 'k8s:app': 'b' }), undefined);
  assert.equal(a.acquire({ 'k8s:app': 'd' }).id, 259);
  assert.equal(a.acquire({ 'k8s:app': 'b' }).id, 257); // wrapped around to the only free id
  assert.throws(() => a.acquire({ 'k8s:app': 'e' }), { code: 'IPAM_EXHAUSTED' });
  assert.equal(a.release(256), true);
  assert.equal(a.release(256), false);
});

test('restore and export round-trip; conflicts are refused', () => {
  const a = new IdentityAllocator();
  a.acquire({ 'k8s:app': 'x' });
  a.acquire({ 'k8s:app': 'y' });
  const stored = a.export();
  const b = new IdentityAllocator();
  const refused = b.restore([...stored, { id: 300, labels: { 'k8s:app': 'x' } }, { id: 256, labels: { 'k8s:app': 'z' } }, { id: 5, labels: { 'k8s:app': 'w' } }]);
  assert.deepEqual(refused.map((r) => r.id), [300, 256, 5]);
  assert.deepEqual(b.export(), stored);
  // allocation continues after the highest restored id
  assert.equal(b.acquire({ 'k8s:app': 'n' }).id, 258);
  assert.equal(b.claim(256, { 'k8s:app': 'x' }), true);
});
