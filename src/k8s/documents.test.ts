import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { MembraneError } from '../errors.ts';
import { FieldPath } from './problems.ts';
import { AggregateInputError, loadManifests, parseDocuments, parseManifests, readManifestText } from './documents.ts';

const NS = `apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    team: blue
`;

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
    - name: app
      ports:
        - name: http
          containerPort: 8080
`;

/** Runs parseManifests, expecting it to throw; returns the error. */
function failing(text: string): AggregateInputError {
  let result: unknown;
  try {
    result = parseManifests(text, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof AggregateInputError, `unexpected error: ${String(err)}`);
    return err;
  }
  assert.fail(`expected an error, got ${JSON.stringify(result)}`);
}

describe('parseDocuments', () => {
  it('numbers documents from 1, skips empty and comment-only ones, keeps apiVersion and kind', () => {
    const { documents, problems } = parseDocuments(`---\n${NS}---\n---\n# only a comment\n---\n${POD}---\n`);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      documents.map((d) => [d.index, d.name, d.apiVersion, d.kind, d.line]),
      [
        [1, 'doc 1 (Namespace prod)', 'v1', 'Namespace', 2],
        [4, 'doc 4 (Pod default/web)', 'v1', 'Pod', 12],
      ],
    );
  });

  it('gives the line of a field, or of its nearest parent when absent', () => {
    const { documents } = parseDocuments(`${NS}---\n${POD}`);
    const pod = documents[1];
    assert.ok(pod);
    const spec = FieldPath.root().child('spec');
    assert.equal(pod.lineOf(spec.child('containers').index(0).child('ports').index(0).child('containerPort')), 19);
    assert.equal(pod.lineOf(FieldPath.root().child('metadata').child('labels').key('app')), 13);
    assert.equal(pod.lineOf(spec.child('hostNetwork')), 14);
    assert.equal(pod.lineOf(FieldPath.root()), 8);
  });

  it('flattens List and typed lists, naming each item', () => {
    const text = `apiVersion: v1
kind: List
items:
  - ${NS.trimEnd().replace(/\n/g, '\n    ')}
  - apiVersion: v1
    kind: PodList
    items:
      - metadata: {name: a, namespace: prod}
        spec: {containers: [{name: c}]}
`;
    const { documents, problems } = parseDocuments(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      documents.map((d) => [d.name, d.kind, d.apiVersion, d.line]),
      [
        ['doc 1 items[0] (Namespace prod)', 'Namespace', 'v1', 4],
        ['doc 1 items[1].items[0] (Pod prod/a)', 'Pod', 'v1', 13],
      ],
    );
  });

  it('reads YAML as Kubernetes does: yes/no are booleans, dates and 1:20 stay strings, merge keys work', () => {
    const { documents } = parseDocuments('a: yes\nb: off\nc: 2024-01-02\nd: 1:20\ne: 0x1F\nf: 0755\nbase: &b {x: 1}\nm:\n  <<: *b\n  z: 2\ny: 1\n');
    // As in go-yaml v2, even the key `y` is the boolean true (and becomes "true").
    assert.deepEqual(documents[0]?.body, { a: true, b: false, c: '2024-01-02', d: '1:20', e: 31, f: 493, base: { x: 1 }, m: { x: 1, z: 2 }, true: 1 });
  });
});

describe('parseManifests', () => {
  it('returns every object of a valid file, in order', () => {
    const { objects } = parseManifests(`${NS}---\n${POD}`, 'test.yaml');
    assert.deepEqual(
      objects.map((o) => [o.kind, o.namespace, o.name]),
      [
        ['Namespace', undefined, 'prod'],
        ['Pod', 'default', 'web'],
      ],
    );
    const pod = objects[1];
    assert.ok(pod?.kind === 'Pod');
    assert.equal(pod.spec.namespace, 'default');
    assert.deepEqual(pod.spec.containers[0]?.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(pod.source, { document: 'doc 2 (Pod default/web)', index: 2, line: 8 });
    const ns = objects[0];
    assert.ok(ns?.kind === 'Namespace');
    assert.deepEqual(ns.spec.labels, { team: 'blue', 'kubernetes.io/metadata.name': 'prod' });
  });

  it('returns nothing when the second document is bad, naming doc 2, the field and the reason', () => {
    const bad = POD.replace('app: web', 'app: "-web-"');
    const err = failing(`${NS}---\n${bad}---\n${POD.replace('name: web', 'name: other')}`);
    assert.equal(err.code, 'INVALID_INPUT');
    assert.ok(err instanceof MembraneError);
    assert.equal(err.problems.length, 1);
    const line = err.message.split('\n')[1] ?? '';
    assert.match(line, /^ {2}doc 2 \(Pod default\/web\): metadata\.labels\["app"\]: invalid value "-web-": must be empty or consist of alphanumeric characters/);
    assert.match(err.message, /^test\.yaml: 1 error\n/);
    assert.deepEqual(err.details['errors'], [
      {
        document: 'doc 2 (Pod default/web)',
        field: 'metadata.labels["app"]',
        reason: err.problems[0]?.reason,
        line: 13,
      },
    ]);
    assert.equal(err.details['source'], 'test.yaml');
    assert.deepEqual(JSON.parse(JSON.stringify(err)).code, 'INVALID_INPUT');
  });

  it('lists every problem of every document, one per line, in document order', () => {
    const text = [
      `apiVersion: v1\nkind: Pod\nmetadata: {name: Web, namespace: prod}\nspec: {containers: [{name: a, ports: [{containerPort: 0}]}]}\n`,
      `b: [1\nc: 2\n`,
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n`,
      `- just\n- a list\n`,
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n`,
    ].join('---\n');
    const err = failing(text);
    const lines = err.message.split('\n');
    assert.equal(lines[0], 'test.yaml: 5 errors');
    assert.deepEqual(
      err.problems.map((p) => [p.document, p.field, p.line]),
      [
        ['doc 1 (Pod prod/Web)', 'metadata.name', 3],
        ['doc 1 (Pod prod/Web)', 'spec.containers[0].ports[0].containerPort', 4],
        ['doc 2', 'line 7, column 1', 7],
        ['doc 3 (Deployment d)', 'kind', 10],
        ['doc 4', '(root)', 13],
      ],
    );
    assert.match(lines[3] ?? '', /^ {2}doc 2: line 7, column 1: syntax error: /);
    assert.match(lines[4] ?? '', /^ {2}doc 3 \(Deployment d\): kind: unsupported apiVersion\/kind "apps\/v1\/Deployment": supported: cilium\.io\/v2\/CiliumClusterwideNetworkPolicy, cilium\.io\/v2\/CiliumNetworkPolicy, discovery\.k8s\.io\/v1\/EndpointSlice, networking\.k8s\.io\/v1\/NetworkPolicy, v1\/Namespace, v1\/Pod, v1\/Service$/);
    assert.match(lines[5] ?? '', /^ {2}doc 4: \(root\): must be an object \(a YAML mapping\), got a list$/);
  });

  it('reports a YAML syntax error with the document and line', () => {
    const err = failing(`${NS}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n   labels: x\n`);
    assert.equal(err.problems.length, 1);
    const p = err.problems[0];
    assert.equal(p?.document, 'doc 2');
    assert.equal(p?.line, 11);
    assert.equal(p?.field, 'line 11, column 9');
    assert.match(err.message, /\n {2}doc 2: line 11, column 9: syntax error: /);
  });

  it('reports duplicate keys as a syntax error', () => {
    const err = failing('apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: {name: a}\n');
    assert.match(err.message, /doc 1: line 3, column 1: syntax error: Map keys must be unique/);
  });

  it('defaults the namespace of namespaced kinds, in the object and in messages', () => {
    const { objects } = parseManifests(POD, 'p.yaml');
    assert.equal(objects[0]?.namespace, 'default');
    const err = failing(POD.replace('containerPort: 8080', 'containerPort: 80800'));
    assert.equal(err.problems[0]?.document, 'doc 1 (Pod default/web)');
    assert.equal(err.problems[0]?.field, 'spec.containers[0].ports[0].containerPort');
    assert.equal(err.problems[0]?.line, 12);
  });

  it('flattens kind: List and reports problems inside items by item', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c' }] } },
      ],
    };
    const { objects } = parseManifests(JSON.stringify(list, null, 2), 'l.json');
    assert.deepEqual(
      objects.map((o) => [o.kind, o.namespace, o.name, o.source?.document]),
      [
        ['Namespace', undefined, 'a', 'doc 1 items[0] (Namespace a)'],
        ['Pod', 'a', 'p', 'doc 1 items[1] (Pod a/p)'],
      ],
    );
    const bad = structuredClone(list);
    (bad.items[1] as { metadata: { labels?: unknown } }).metadata.labels = { 'x/y/z': 'v' };
    const badText = JSON.stringify(bad, null, 2);
    const err = failing(badText);
    assert.equal(err.problems.length, 1);
    assert.equal(err.problems[0]?.document, 'doc 1 items[1] (Pod a/p)');
    assert.equal(err.problems[0]?.field, 'metadata.labels["x/y/z"]');
    assert.equal(err.problems[0]?.line, badText.split('\n').findIndex((l) => l.includes('"x/y/z"')) + 1);
  });

  it('accepts an empty List and an empty file', () => {
    assert.deepEqual(parseManifests('apiVersion: v1\nkind: List\nitems: []\n', 'x'), { objects: [] });
    assert.deepEqual(parseManifests('', 'x'), { objects: [] });
    assert.deepEqual(parseManifests('# nothing\n---\n', 'x'), { objects: [] });
    assert.equal(failing('apiVersion: v1\nkind: List\nitems: {a: 1}\n').problems[0]?.field, 'items');
  });

  it('accepts JSON, and a stream of JSON objects', () => {
    const a = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } };
    const b = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b', labels: { x: 'v' } } };
    assert.equal(parseManifests(JSON.stringify(a), 'a.json').objects.length, 1);
    const stream = `${JSON.stringify(a)}\n${JSON.stringify(b, null, 2)}`;
    assert.deepEqual(
      parseManifests(stream, 's.json').objects.map((o) => o.name),
      ['a', 'b'],
    );
    const err = failing(`${JSON.stringify(a)}\n${JSON.stringify({ ...b, metadata: { name: 'B' } }, null, 2)}`);
    assert.equal(err.problems[0]?.document, 'doc 2 (Namespace B)');
    assert.equal(err.problems[0]?.line, 6);
  });

  it('rejects the same object twice in one file', () => {
    const err = failing(`${POD}---\n${POD.replace('name: web', 'name: web\n  namespace: default')}`);
    assert.equal(err.problems.length, 1);
    assert.match(err.message, /doc 2 \(Pod default\/web\): metadata\.name: duplicate: Pod\/default\/web is also defined in doc 1 \(Pod default\/web\)/);
    // Same name in another namespace, or another kind, is fine.
    assert.equal(parseManifests(`${POD}---\n${POD.replace('name: web', 'name: web\n  namespace: prod')}`, 'x').objects.length, 2);
  });

  it('explains unquoted YAML booleans in string fields', () => {
    const err = failing(POD.replace('app: web', 'app: web\n    enabled: yes'));
    assert.match(err.message, /metadata\.labels\["enabled"\]: value must be a string, got a boolean \(true\); quote it/);
  });

  it('strips a byte-order mark', () => {
    assert.equal(parseManifests(`\uFEFF${NS}`, 'x').objects.length, 1);
  });
});

describe('reading manifest files', () => {
  it('reads a file, or stdin for "-"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'membrane-k8s-'));
    try {
      const file = join(dir, 'm.yaml');
      writeFileSync(file, `${NS}---\n${POD}`);
      assert.deepEqual(await readManifestText(file), { text: `${NS}---\n${POD}`, sourceName: file });
      const loaded = await loadManifests(file);
      assert.equal(loaded.sourceName, file);
      assert.equal(loaded.objects.length, 2);

      const stdin = Readable.from([Buffer.from(NS.slice(0, 10)), Buffer.from(NS.slice(10))]);
      const fromStdin = await loadManifests('-', stdin);
      assert.equal(fromStdin.sourceName, '<stdin>');
      assert.deepEqual(fromStdin.objects.map((o) => o.name), ['prod']);

      await assert.rejects(readManifestText(join(dir, 'missing.yaml')), (err: unknown) => {
        assert.ok(err instanceof MembraneError);
        assert.equal(err.code, 'INVALID_INPUT');
        assert.match(err.message, /^-f: cannot read ".*missing\.yaml": no such file$/);
        return true;
      });
      await assert.rejects(readManifestText(dir), /is a directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('JSON manifests (the fast path)', () => {
  const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2);
  const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

  it('gives the same objects as the YAML parser', () => {
    const text = list([ns('a'), ns('b')]);
    const fast = parseManifests(text, 'x.json').objects.map((o) => [o.kind, o.name]);
    const viaYaml = parseManifests(`# yaml now\n${text}`, 'x.json').objects.map((o) => [o.kind, o.name]);
    assert.deepEqual(fast, [['Namespace', 'a'], ['Namespace', 'b']]);
    assert.deepEqual(viaYaml, fast);
  });

  it('still names the line of a bad field', () => {
    const text = list([ns('a'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad_Name' } }]);
    assert.throws(
      () => parseManifests(text, 'x.json'),
      (err: unknown) => {
        const e = err as AggregateInputError;
        const p = e.problems[0]!;
        assert.match(p.document, /doc 1 items\[1\]/);
        assert.equal(p.line, text.split('\n').findIndex((l) => l.includes('"Bad_Name"')) + 1);
        return true;
      },
    );
  });
});
