// Pod labels reach the endpoint a pod got through CNI, whichever comes first:
// the Pod manifest (`membrane apply -f`, or POST /v1/apply) or the CNI ADD.
// A manifest with any invalid document changes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { EndpointJSON } from '../../src/agent/api-types.ts';
import { run } from '../../src/endpoint/exec.ts';
import { MembraneError } from '../../src/errors.ts';
import { sleep } from '../../src/sandbox/topology.ts';
import { eventually, MEMBRANE_BIN, Node } from './helpers.ts';

let node: Node;

before(async () => {
  node = await Node.create('mbc2', '10.201.1.0/24');
  await node.startAgent();
});

after(async () => {
  await node?.destroy();
});

function podYaml(namespace: string, name: string, labels: Record<string, string>): string {
  const lines = Object.entries(labels).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`);
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    ...(lines.length ? ['  labels:', ...lines] : []),
    'spec:',
    '  containers:',
    '  - name: app',
    '    image: nginx',
    '    ports:',
    '    - containerPort: 8080',
    '',
  ].join('\n');
}

let fileNo = 0;
function manifestFile(text: string): string {
  const f = path.join(node.workDir, `manifest-${++fileNo}.yaml`);
  fs.writeFileSync(f, text);
  return f;
}

/** `membrane apply|delete -f FILE --socket SOCK` */
async function cli(verb: 'apply' | 'delete', file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(MEMBRANE_BIN, [verb, '-f', file, '--socket', node.t.socket], { allowFail: true });
}

async function apiApply(manifest: string, source = 'test.yaml'): Promise<{ results: Array<{ kind: string; namespace?: string; name: string; action: string }> }> {
  return node.t.client.post('/v1/apply', { manifest, source });
}

async function endpoint(namespace: string, name: string): Promise<EndpointJSON> {
  return node.t.client.get<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(`${namespace}/${name}`)}`);
}

async function labelsBecome(namespace: string, name: string, want: Record<string, string>): Promise<void> {
  await eventually(`labels of ${namespace}/${name} become ${JSON.stringify(want)}`, async () => {
    const got = (await endpoint(namespace, name)).labels;
    return JSON.stringify(sortKeys(got)) === JSON.stringify(sortKeys(want));
  });
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

test('labels applied with `membrane apply -f` after the ADD reach the endpoint', async () => {
  await node.addPod('default', 'web');
  assert.deepEqual((await endpoint('default', 'web')).labels, {}, 'no Pod object yet: no labels');
  const r = await cli('apply', manifestFile(podYaml('default', 'web', { app: 'web', tier: 'frontend' })));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'pod/default/web created');
  await labelsBecome('default', 'web', { app: 'web', tier: 'frontend' });
});

test('labels applied before the ADD are on the endpoint from its creation', async () => {
  const res = await apiApply(podYaml('prod', 'db', { app: 'db', 'example.com/team': 'storage' }));
  assert.deepEqual(res.results, [{ kind: 'Pod', namespace: 'prod', name: 'db', action: 'created' }]);
  await node.addPod('prod', 'db');
  // Read at once: the labels were there when the endpoint was made.
  assert.deepEqual(sortKeys((await endpoint('prod', 'db')).labels), { app: 'db', 'example.com/team': 'storage' });
  // A pod of the same name in another namespace does not get them.
  await node.addPod('default', 'db');
  assert.deepEqual((await endpoint('default', 'db')).labels, {});
});

test('changed labels replace the old set; re-applying is a no-op', async () => {
  const text = podYaml('default', 'web', { app: 'web', version: 'v2' });
  const res = await apiApply(text);
  assert.equal(res.results[0]!.action, 'configured');
  await labelsBecome('default', 'web', { app: 'web', version: 'v2' }); // tier is gone
  const again = await cli('apply', manifestFile(text));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), 'pod/default/web unchanged');
  assert.deepEqual(sortKeys((await endpoint('default', 'web')).labels), { app: 'web', version: 'v2' });
});

test('a file with several documents applies all of them', async () => {
  await node.addPod('shop', 'cart'); // before the manifest
  const text = [
    '# the shop',
    'apiVersion: v1',
    'kind: Namespace',
    'metadata:',
    '  name: shop',
    '  labels: {env: staging}',
    '---',
    podYaml('shop', 'cart', { app: 'cart' }),
    '---',
    '---', // an empty document is skipped
    podYaml('shop', 'pay', { app: 'pay', pci: 'true' }),
  ].join('\n');
  const r = await cli('apply', manifestFile(text));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['namespace/shop created', 'pod/shop/cart created', 'pod/shop/pay created']);
  await node.addPod('shop', 'pay'); // after the manifest
  await labelsBecome('shop', 'cart', { app: 'cart' });
  assert.deepEqual(sortKeys((await endpoint('shop', 'pay')).labels), { app: 'pay', pci: 'true' });
});

test('a manifest with an invalid document is rejected whole, naming document and field', async () => {
  const before = await node.t.client.get<unknown[]>('/v1/pods');
  const text = [
    podYaml('default', 'web', { app: 'changed' }), // valid on its own
    '---',
    podYaml('default', 'other', { app: 'not valid!' }),
  ].join('\n');

  // The CLI path: refused before anything is sent.
  const r = await cli('apply', manifestFile(text));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /doc 2 \(Pod default\/other\): metadata\.labels\["app"\]: invalid value "not valid!"/);
  assert.doesNotMatch(r.stderr, /doc 1/, 'the valid document is not blamed');

  // The API path: the agent validates on its own too, and says where.
  await assert.rejects(apiApply(text, 'bad.yaml'), (err: unknown) => {
    assert.ok(err instanceof MembraneError);
    assert.equal(err.code, 'INVALID_INPUT');
    assert.match(err.message, /bad\.yaml: 1 error/);
    const errors = err.details.errors as Array<{ document: string; field: string; reason: string; line?: number }>;
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.document, 'doc 2 (Pod default/other)');
    assert.equal(errors[0]!.field, 'metadata.labels["app"]');
    assert.match(errors[0]!.reason, /invalid value/);
    assert.equal(errors[0]!.line, 22, 'the line of the bad label in the file');
    return true;
  });

  // A YAML 1.1 boolean is not a string label value.
  await assert.rejects(apiApply(podYaml('default', 'web', { app: 'web' }).replace('"web"\nspec', 'yes\nspec')), /metadata\.labels\["app"\]: value must be a string/);

  // Nothing was applied: not the valid first document, not the second.
  await sleep(300);
  assert.deepEqual(sortKeys((await endpoint('default', 'web')).labels), { app: 'web', version: 'v2' });
  assert.deepEqual(await node.t.client.get<unknown[]>('/v1/pods'), before);
});

test('deleting the Pod object takes its labels off the endpoint', async () => {
  const r = await cli('delete', manifestFile(podYaml('default', 'web', {})));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'pod/default/web deleted');
  await labelsBecome('default', 'web', {});
  assert.deepEqual(sortKeys((await endpoint('prod', 'db')).labels), { app: 'db', 'example.com/team': 'storage' }, 'other pods keep theirs');
});

test('labels survive an agent restart', async () => {
  await node.t.stopAgent('SIGTERM');
  await node.startAgent();
  assert.deepEqual(sortKeys((await endpoint('prod', 'db')).labels), { app: 'db', 'example.com/team': 'storage' });
  assert.deepEqual((await endpoint('shop', 'cart')).labels, { app: 'cart' });
  // And changes keep flowing after the restart.
  await apiApply(podYaml('shop', 'cart', { app: 'cart', rev: '2' }));
  await labelsBecome('shop', 'cart', { app: 'cart', rev: '2' });
});

test('nothing is left behind', async () => {
  for (const key of [...node.t.pods.keys()]) {
    const [ns, name] = key.split('/');
    await node.t.delPod(ns!, name!);
  }
  assert.deepEqual(await node.endpoints(), []);
  await node.destroy();
  await node.assertNothingLeaked();
});
