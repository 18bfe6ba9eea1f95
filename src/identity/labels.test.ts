import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointLabels, formatLabels, labelsKey, parseLabel } from './labels.ts';

test('endpointLabels: pod labels, namespace and namespace labels', () => {
  const l = endpointLabels('prod', { app: 'web', 'app.kubernetes.io/tier': 'front' }, { team: 'a', 'kubernetes.io/metadata.name': 'prod' });
  assert.deepEqual(l, {
    'k8s:app': 'web',
    'k8s:app.kubernetes.io/tier': 'front',
    'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name': 'prod',
    'k8s:io.cilium.k8s.namespace.labels.team': 'a',
    'k8s:io.kubernetes.pod.namespace': 'prod',
  });
  assert.deepEqual(Object.keys(l), Object.keys(l).sort());
});

test('endpointLabels: a pod label cannot override the namespace label', () => {
  const l = endpointLabels('prod', { 'io.kubernetes.pod.namespace': 'other' });
  assert.equal(l['k8s:io.kubernetes.pod.namespace'], 'prod');
});

test('labelsKey is canonical; formatLabels and parseLabel', () => {
  assert.equal(labelsKey({ 'k8s:b': '2', 'k8s:a': '1' }), labelsKey({ 'k8s:a': '1', 'k8s:b': '2' }));
  assert.notEqual(labelsKey({ 'k8s:a': '1' }), labelsKey({ 'k8s:a': '2' }));
  assert.equal(labelsKey({ 'k8s:b': '2', 'k8s:a': '1' }), 'k8s:a=1;k8s:b=2');
  assert.deepEqual(formatLabels({ 'reserved:host': '', 'k8s:app': 'web' }), ['k8s:app=web', 'reserved:host']);
  assert.deepEqual(parseLabel('k8s:app=web'), ['k8s:app', 'web']);
  assert.deepEqual(parseLabel('reserved:host'), ['reserved:host', '']);
  assert.deepEqual(parseLabel('k8s:a=b=c'), ['k8s:a', 'b=c']);
});
