import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Checker } from './problems.ts';
import { findKind, objectKey, supportedKinds, validateObject } from './registry.ts';

function problems(raw: Record<string, unknown>): string[] {
  const c = new Checker('doc 1');
  assert.equal(validateObject(c, raw), undefined);
  return c.problems.map((p) => `${p.field}: ${p.reason}`);
}

describe('kind registry', () => {
  it('lists the supported kinds', () => {
    assert.deepEqual(supportedKinds(), [
      'cilium.io/v2/CiliumClusterwideNetworkPolicy',
      'cilium.io/v2/CiliumNetworkPolicy',
      'discovery.k8s.io/v1/EndpointSlice',
      'networking.k8s.io/v1/NetworkPolicy',
      'v1/Namespace',
      'v1/Pod',
      'v1/Service',
    ]);
    assert.equal(findKind('Pod')?.namespaced, true);
    assert.equal(findKind('Namespace')?.namespaced, false);
    assert.equal(findKind('NetworkPolicy')?.namespaced, true);
    assert.equal(findKind('CiliumNetworkPolicy')?.namespaced, true);
    assert.equal(findKind('CiliumClusterwideNetworkPolicy')?.namespaced, false);
    assert.equal(findKind('pod'), undefined);
    assert.equal(findKind('toString'), undefined);
  });

  it('names the unknown apiVersion/kind and lists the supported ones', () => {
    assert.deepEqual(problems({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }), [
      'kind: unsupported apiVersion/kind "apps/v1/Deployment": supported: cilium.io/v2/CiliumClusterwideNetworkPolicy, cilium.io/v2/CiliumNetworkPolicy, discovery.k8s.io/v1/EndpointSlice, networking.k8s.io/v1/NetworkPolicy, v1/Namespace, v1/Pod, v1/Service',
    ]);
    assert.deepEqual(problems({ apiVersion: 'v1', kind: 'pod', metadata: { name: 'x' } }), [
      'kind: unsupported apiVersion/kind "v1/pod": did you mean "Pod"? supported: cilium.io/v2/CiliumClusterwideNetworkPolicy, cilium.io/v2/CiliumNetworkPolicy, discovery.k8s.io/v1/EndpointSlice, networking.k8s.io/v1/NetworkPolicy, v1/Namespace, v1/Pod, v1/Service',
    ]);
  });

  it('explains a wrong apiVersion for a known kind, and still checks the rest', () => {
    assert.deepEqual(problems({ apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 'X' }, spec: { containers: [{ name: 'a' }] } }), [
      'apiVersion: Pod is not served as "apps/v1": use apiVersion "v1"',
      'metadata.name: invalid name "X": must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (a lowercase RFC 1123 subdomain, e.g. \'example.com\')',
    ]);
  });

  it('requires apiVersion and kind as strings', () => {
    assert.deepEqual(problems({ metadata: { name: 'x' } }), ['apiVersion: required', 'kind: required']);
    assert.deepEqual(problems({ apiVersion: 1, kind: '' }), ['apiVersion: must be a string, got a number (1); quote it', 'kind: required']);
  });

  it('keeps the source reference', () => {
    const c = new Checker('doc 3 (Namespace x)');
    const obj = validateObject(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }, { document: 'doc 3 (Namespace x)', index: 3, line: 12 });
    assert.deepEqual(obj?.source, { document: 'doc 3 (Namespace x)', index: 3, line: 12 });
  });

  it('objectKey', () => {
    assert.equal(objectKey({ kind: 'Pod', namespace: 'default', name: 'web' }), 'Pod/default/web');
    assert.equal(objectKey({ kind: 'Namespace', name: 'x' }), 'Namespace//x');
  });
});
