// The policy benchmark's workload (bench/policy/workload.ts): the pods, the
// two policy families and what they allow, and the manifests against
// Membrane's own validation (both exports of a cluster). Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests } from '../../src/k8s/documents.ts';
import {
  allowingRules, CLIENT, FILLER_PORT_BASE, makePods, manifest, namespaceObject, podObject, policyObject, rulesPolicies, selects, SERVER, spreadPolicies, type WorkloadSpec,
} from '../../bench/policy/workload.ts';

const SPEC: WorkloadSpec = { namespace: 'bench', endpoints: 1000, apps: 100, port: 7101, deniedPort: 7102 };

test('pods: 1 000 with unique names, the measured pair in the middle, fillers spread over the apps', () => {
  const pods = makePods(SPEC);
  assert.equal(pods.length, 1000);
  assert.equal(new Set(pods.map((p) => p.name)).size, 1000);
  const c = pods.findIndex((p) => p.name === CLIENT);
  const s = pods.findIndex((p) => p.name === SERVER);
  assert.deepEqual([c, s], [499, 500]);
  const perApp = new Map<string, number>();
  for (const p of pods) if (p.labels.app) perApp.set(p.labels.app, (perApp.get(p.labels.app) ?? 0) + 1);
  assert.equal(perApp.size, 100);
  assert.ok([...perApp.values()].every((n) => n === 9 || n === 10));
  assert.throws(() => makePods({ ...SPEC, endpoints: 2 }));
  assert.throws(() => makePods({ ...SPEC, port: FILLER_PORT_BASE }));
});

test('rules: N policies all select the server; exactly one rule lets the client in, on the measured port only', () => {
  const pods = makePods(SPEC);
  const client = pods.find((p) => p.name === CLIENT)!;
  const server = pods.find((p) => p.name === SERVER)!;
  for (const n of [1, 10, 1000]) {
    const ps = rulesPolicies(SPEC, n);
    assert.equal(ps.length, n);
    assert.equal(new Set(ps.map((p) => p.name)).size, n);
    assert.ok(ps.every((p) => selects(p.podSelector, server.labels) && pods.filter((q) => selects(p.podSelector, q.labels)).length === 1));
    assert.equal(ps.reduce((k, p) => k + (p.ingress?.length ?? 0), 0), n);
    assert.equal(allowingRules(ps, client, server, SPEC.port), 1);
    assert.equal(allowingRules(ps, client, server, SPEC.deniedPort), 0);
    // every filler app may reach the server, but never on the measured port
    const filler = pods.find((p) => p.labels.app === 'a0')!;
    assert.equal(allowingRules(ps, filler, server, SPEC.port), 0);
  }
});

test('spread: 1 000 policies over the fillers, 10 per app, each allowing another app on its own port', () => {
  const pods = makePods(SPEC);
  const ps = spreadPolicies(SPEC, 1000);
  const selected = new Map<string, number>();
  const triples = new Set<string>();
  for (const p of ps) {
    const subject = p.podSelector.app!;
    const rule = p.ingress![0]!;
    const peer = (rule.peers[0] as { podSelector: Record<string, string> }).podSelector.app!;
    assert.notEqual(peer, subject);
    triples.add(`${subject} ${peer} ${rule.ports[0]!.port}`);
    selected.set(subject, (selected.get(subject) ?? 0) + 1);
  }
  assert.equal(triples.size, 1000);
  assert.equal(selected.size, 100);
  assert.ok([...selected.values()].every((n) => n === 10));
  // the pair is selected by none of them
  for (const name of [CLIENT, SERVER]) assert.ok(!ps.some((p) => selects(p.podSelector, pods.find((q) => q.name === name)!.labels)));
  // a0's first policy lets a1 in on port 10000 (its k-th: a(k+1) on 10000 + k); not the other way round
  const a0 = pods.find((p) => p.labels.app === 'a0')!;
  const a1 = pods.find((p) => p.labels.app === 'a1')!;
  const a10 = pods.find((p) => p.labels.app === 'a10')!;
  assert.equal(allowingRules(ps, a1, a0, FILLER_PORT_BASE), 1);
  assert.equal(allowingRules(ps, a1, a0, FILLER_PORT_BASE + 1), 0);
  assert.equal(allowingRules(ps, a10, a0, FILLER_PORT_BASE + 9), 1);
  assert.equal(allowingRules(ps, a0, a1, FILLER_PORT_BASE), 0);
});

test("the manifests pass Membrane's validation, as YAML documents and as one JSON List", () => {
  const small: WorkloadSpec = { ...SPEC, endpoints: 12, apps: 3 };
  const objects = [namespaceObject('bench'), ...makePods(small).map(podObject), ...rulesPolicies(small, 5).map(policyObject), ...spreadPolicies(small, 6).map(policyObject)];
  for (const format of ['yaml', 'json'] as const) {
    const { objects: parsed } = parseManifests(manifest(objects, format), `bench.${format}`);
    assert.equal(parsed.length, objects.length);
    const allow = parsed.find((o) => o.kind === 'NetworkPolicy' && o.name === 'allow-4');
    assert.ok(allow && allow.kind === 'NetworkPolicy');
    const rule = allow.spec.parts[0]!.rules[0]!;
    assert.equal(rule.direction, 'ingress');
    assert.deepEqual(rule.ports, [{ protocol: 'TCP', port: 7101 }]);
    assert.deepEqual(allow.spec.parts[0]!.defaultDeny, { ingress: true, egress: false });
    const pod = parsed.find((o) => o.kind === 'Pod' && o.name === SERVER);
    assert.ok(pod && pod.kind === 'Pod');
    assert.deepEqual(pod.spec.labels, { role: SERVER });
  }
});
