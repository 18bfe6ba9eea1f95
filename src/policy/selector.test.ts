import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointLabels } from '../identity/labels.ts';
import { RESERVED_IDENTITIES, type Identity } from '../identity/types.ts';
import { cidrIdentity } from './cidr.ts';
import { formatSelector, requirementMatches, SelectorCache, selectorKey, selectorMatches } from './selector.ts';
import type { EndpointSelector, LabelRequirement } from './types.ts';

const ep = (id: number, ns: string, labels: Record<string, string>, nsLabels: Record<string, string> = {}): Identity => ({
  id,
  kind: 'endpoint',
  labels: endpointLabels(ns, labels, nsLabels),
});
const web = ep(256, 'prod', { app: 'web', tier: 'front' }, { team: 'a' });
const db = ep(257, 'prod', { app: 'db' }, { team: 'a' });
const other = ep(258, 'dev', { app: 'web' }, { team: 'b' });
const host = RESERVED_IDENTITIES[0]!;
const world = RESERVED_IDENTITIES[1]!;
const cidr = cidrIdentity(1 << 24, '10.0.0.0/8');
const all = [...RESERVED_IDENTITIES, web, db, other, cidr];

const sel = (...requirements: LabelRequirement[]): EndpointSelector => ({ requirements });
const req = (key: string, operator: LabelRequirement['operator'], ...values: string[]): LabelRequirement => ({ key, operator, values });
const ids = (s: EndpointSelector) => all.filter((i) => selectorMatches(s, i)).map((i) => i.id);

test('In / NotIn / Exists / DoesNotExist', () => {
  assert.deepEqual(ids(sel(req('k8s:app', 'In', 'web'))), [256, 258]);
  assert.deepEqual(ids(sel(req('k8s:app', 'In', 'web', 'db'))), [256, 257, 258]);
  assert.deepEqual(ids(sel(req('k8s:app', 'NotIn', 'web'))), [257]);
  assert.deepEqual(ids(sel(req('k8s:tier', 'Exists'))), [256]);
  assert.deepEqual(ids(sel(req('k8s:tier', 'DoesNotExist'))), [257, 258]);
  assert.deepEqual(ids(sel(req('k8s:app', 'In', 'web'), req('k8s:tier', 'DoesNotExist'))), [258]);
  // source matters: a label of source k8s is not a `reserved:` or `cidr:` label
  assert.deepEqual(ids(sel(req('container:app', 'In', 'web'))), []);
});

test('any: source matches a label of any source; no source means any', () => {
  assert.deepEqual(ids(sel(req('any:app', 'In', 'web'))), [256, 258]);
  assert.deepEqual(ids(sel(req('app', 'In', 'db'))), [257]);
  assert.deepEqual(ids(sel(req('any:tier', 'Exists'))), [256]);
  const two: Identity = { id: 300, kind: 'endpoint', labels: { 'k8s:app': 'a', 'container:app': 'b' } };
  assert.equal(selectorMatches(sel(req('any:app', 'In', 'b')), two), true);
  assert.equal(selectorMatches(sel(req('any:app', 'NotIn', 'b')), two), false);
  assert.equal(requirementMatches(req('any:app', 'In', 'a'), two.labels), true);
});

test('namespace and namespace labels', () => {
  assert.deepEqual(ids(sel(req('k8s:io.kubernetes.pod.namespace', 'In', 'prod'))), [256, 257]);
  assert.deepEqual(ids(sel(req('k8s:io.cilium.k8s.namespace.labels.team', 'In', 'b'))), [258]);
  assert.deepEqual(ids(sel(req('k8s:io.kubernetes.pod.namespace', 'In', 'prod'), req('k8s:app', 'In', 'web'))), [256]);
});

test('empty selector: every endpoint identity, no reserved, no CIDR identity', () => {
  assert.deepEqual(ids(sel()), [256, 257, 258]);
  // negative requirements do not reach reserved or CIDR identities either
  assert.deepEqual(ids(sel(req('k8s:app', 'NotIn', 'x'))), [256, 257, 258]);
  assert.deepEqual(ids(sel(req('any:app', 'DoesNotExist'))), []);
});

test('reserved identities only through reserved: keys; CIDR identities through cidr: keys', () => {
  assert.deepEqual(ids(sel(req('reserved:host', 'Exists'))), [host.id]);
  assert.deepEqual(ids(sel(req('reserved:world', 'In', ''))), [world.id]);
  assert.deepEqual(ids(sel(req('any:host', 'Exists'))), []);
  assert.deepEqual(ids(sel(req('cidr:10.0.0.0/8', 'Exists'))), [cidr.id]);
});

test('selectorKey is canonical; formatSelector', () => {
  assert.equal(
    selectorKey(sel(req('k8s:a', 'In', 'x', 'y'), req('b', 'Exists'))),
    selectorKey(sel(req('any:b', 'Exists'), req('k8s:a', 'In', 'y', 'x'))),
  );
  assert.notEqual(selectorKey(sel(req('k8s:a', 'In', 'x'))), selectorKey(sel(req('k8s:a', 'NotIn', 'x'))));
  assert.equal(formatSelector(sel()), '{}');
  assert.equal(
    formatSelector(sel(req('k8s:app', 'In', 'web'), req('k8s:t', 'In', 'a', 'b'), req('k8s:x', 'Exists'), req('k8s:y', 'DoesNotExist'), req('k8s:z', 'NotIn', 'q'))),
    'k8s:app=web, k8s:t in (a,b), k8s:x, !k8s:y, k8s:z!=q',
  );
});

test('SelectorCache: same answers as selectorMatches, follows identity changes', () => {
  const cache = new SelectorCache(all);
  const selectors = [
    sel(),
    sel(req('k8s:app', 'In', 'web')),
    sel(req('k8s:app', 'In', 'web', 'db'), req('k8s:io.kubernetes.pod.namespace', 'In', 'prod')),
    sel(req('any:app', 'NotIn', 'web')),
    sel(req('reserved:host', 'Exists')),
  ];
  for (const s of selectors) assert.deepEqual(cache.select(s), ids(s));
  const webSel = sel(req('k8s:app', 'In', 'web'));
  assert.equal(cache.select(webSel), cache.select(sel(req('k8s:app', 'In', 'web'))), 'cached by selectorKey');
  const web2 = ep(259, 'prod', { app: 'web' });
  cache.upsert(web2);
  assert.deepEqual(cache.select(webSel), [256, 258, 259]);
  cache.upsert({ ...web2, labels: endpointLabels('prod', { app: 'api' }) });
  assert.deepEqual(cache.select(webSel), [256, 258]);
  cache.remove(256);
  assert.deepEqual(cache.select(webSel), [258]);
  assert.deepEqual(cache.select(sel()), [257, 258, 259]);
  cache.setIdentities([web]);
  assert.deepEqual(cache.select(webSel), [256]);
  assert.deepEqual(cache.select(sel()), [256]);
  // prune drops what was not selected since the previous prune
  cache.prune();
  cache.select(webSel);
  assert.equal(cache.prune(), selectors.length - 1);
});

test('SelectorCache.setIdentities: incremental for few changes, full for many; same answers', () => {
  const many = Array.from({ length: 400 }, (_, i) => ep(1000 + i, `ns-${i % 4}`, { app: `a-${i % 10}` }));
  const cache = new SelectorCache([...RESERVED_IDENTITIES, ...many]);
  const selectors = [sel(), sel(req('k8s:app', 'In', 'a-3')), sel(req('k8s:io.kubernetes.pod.namespace', 'In', 'ns-1'), req('k8s:app', 'NotIn', 'a-1')), sel(req('reserved:host', 'Exists'))];
  const check = (ids: Identity[]) => {
    for (const s of selectors) assert.deepEqual(cache.select(s), ids.filter((i) => selectorMatches(s, i)).map((i) => i.id).sort((a, b) => a - b));
  };
  check([...RESERVED_IDENTITIES, ...many]);
  // a few changes: one relabelled (new object, other labels), one removed, one added, the rest the same objects
  const few = [...RESERVED_IDENTITIES, ...many.slice(1), ep(1000, 'ns-1', { app: 'a-3' }), ep(2000, 'ns-1', { app: 'a-3' })].filter((i) => i.id !== 1005);
  cache.setIdentities(few);
  check(few);
  // equal labels in a new object count as unchanged
  const copies = few.map((i) => ({ ...i, labels: { ...i.labels } }));
  cache.setIdentities(copies);
  check(copies);
  // many changes
  const other = Array.from({ length: 300 }, (_, i) => ep(1000 + i, `ns-${i % 3}`, { app: `a-${i % 7}` }));
  cache.setIdentities(other);
  check(other);
});
