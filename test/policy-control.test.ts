// Network policy through the agent and the CLI, on a real node: identities
// of labelled pods, a policy applied with `membrane apply -f` and what the
// user then sees (traffic, `policy get`, `policy trace`, `identity`,
// `endpoint get`, verdict events), relabelling, audit mode per endpoint,
// refused manifests that change nothing, an agent killed and restarted with
// the datapath enforcing throughout, and delete.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { EndpointJSON, IdentityJSON, PolicyJSON, TraceResponse } from '../src/agent/api-types.ts';
import { ipcacheEntry, ipcacheKey, policyEntry, policyKey } from '../src/datapath/abi.ts';
import { BpfMap } from '../src/datapath/map.ts';
import { run } from '../src/endpoint/exec.ts';
import type { DecodedEvent } from '../src/observe/events.ts';
import { REPO, type Pod, type Topology } from '../src/sandbox/topology.ts';
import { leftovers, makeTopology } from './helpers/env.ts';

const PREFIX = 'mbl';
let t: Topology;
let web: Pod; // x/web    app=web
let client: Pod; // x/client app=client
let other: Pod; // w/other  app=other

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(path.join(REPO, 'bin/membrane'), args, { allowFail: true, env: { ...(process.env as Record<string, string>), MEMBRANE_SOCKET: t.socket } });
}

async function applyText(name: string, text: string, verb: 'apply' | 'delete' = 'apply') {
  const file = path.join(t.spec.workDir, name);
  fs.writeFileSync(file, text);
  return cli(verb, '-f', file);
}

const pod = (ns: string, name: string, labels: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: ${JSON.stringify(labels)}}
spec:
  containers:
  - name: app
    ports: [{name: http, containerPort: 8080}, {name: echo, containerPort: 7}]
`;

const OBJECTS = [
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: blue}}\n',
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: w, labels: {team: red}}\n',
  pod('x', 'web', { app: 'web' }),
  pod('x', 'client', { app: 'client' }),
  pod('w', 'other', { app: 'other' }),
].join('---\n');

const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {app: client}}
    ports:
    - {port: http}
`;

/** HTTP to web:8080 and TCP echo to web:7 from a pod. */
const reach = (from: Pod, port = 8080) => t.probe(from.netnsName, port === 8080 ? 'http' : 'tcp', web.ip, port, 700);

async function eventually(what: string, cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function mapDump(): { policy: string[]; ipcache: string[] } {
  const pol = BpfMap.openPinned(path.join(t.spec.pinDir, 'mb_policy'), policyKey, policyEntry);
  const ipc = BpfMap.openPinned(path.join(t.spec.pinDir, 'mb_ipcache'), ipcacheKey, ipcacheEntry);
  try {
    return {
      policy: [...pol.entries()].map(([k, v]) => JSON.stringify([k, v])).sort(),
      ipcache: [...ipc.entries()].map(([k, v]) => JSON.stringify([k, v])).sort(),
    };
  } finally {
    pol.close();
    ipc.close();
  }
}

async function endpoint(ref: string): Promise<EndpointJSON> {
  return t.client.get<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(ref)}`);
}

before(async () => {
  t = await makeTopology(PREFIX, '10.220.0.0/24', '198.18.20');
  await t.startAgent();
  const r = await applyText('objects.yaml', OBJECTS);
  assert.equal(r.code, 0, r.stderr);
  web = await t.addPod('x', 'web', { server: true });
  client = await t.addPod('x', 'client', { server: true });
  other = await t.addPod('w', 'other', { server: true });
});

after(async () => {
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), []);
});

describe('identities', () => {
  test('each labelled pod has an identity of its labels, namespace and namespace labels; reserved identities are listed', async () => {
    const ids = await t.client.get<IdentityJSON[]>('/v1/identities');
    const webId = ids.find((i) => i.endpoints.includes('x/web'));
    assert.ok(webId, JSON.stringify(ids));
    assert.ok(webId.id >= 256);
    assert.equal(webId.kind, 'endpoint');
    assert.equal(webId.labels['k8s:app'], 'web');
    assert.equal(webId.labels['k8s:io.kubernetes.pod.namespace'], 'x');
    assert.equal(webId.labels['k8s:io.cilium.k8s.namespace.labels.team'], 'blue');
    assert.notEqual(ids.find((i) => i.endpoints.includes('x/client'))?.id, webId.id);
    for (const [id, label] of [[1, 'reserved:host'], [2, 'reserved:world']] as const) {
      assert.ok(ids.find((i) => i.id === id && label in i.labels), `reserved identity ${id}`);
    }
    const ep = await endpoint('x/web');
    assert.equal(ep.identity, webId.id, 'the endpoint carries it');

    const list = await cli('identity', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+KIND\s+LABELS\s+ENDPOINTS/);
    assert.match(list.stdout, new RegExp(`\\n${webId.id}\\s+endpoint\\s+.*k8s:app=web.*x/web`));
    const get = await cli('identity', 'get', String(webId.id));
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /k8s:io.kubernetes.pod.namespace=x/);
    const missing = await cli('identity', 'get', '99999');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no identity 99999/);
  });
});

describe('a NetworkPolicy applied through the CLI', () => {
  before(async () => {
    assert.ok(await reach(other), 'no policy yet: w/other reaches web');
    const r = await applyText('policy.yaml', POLICY);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'networkpolicy/x/web-from-clients created\n');
  });

  test('allows the selected peers on the named port and drops the rest at once', async () => {
    assert.ok(await reach(client), 'x/client → web:http is allowed');
    assert.ok(!(await reach(other)), 'w/other → web:http is denied');
    assert.ok(!(await reach(client, 7)), 'x/client → web:7 is denied (port not allowed)');
    assert.ok(await t.probe(other.netnsName, 'http', client.ip, 8080, 1500), 'x/client has no policy: w/other still reaches it');
  });

  test('policy get lists it with the endpoints it selects', async () => {
    const r = await cli('policy', 'get');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^KIND\s+NAMESPACE\s+NAME\s+DEFAULT-DENY\s+RULES\s+ENDPOINTS\nNetworkPolicy\s+x\s+web-from-clients\s+ingress\s+1\s+x\/web\n$/);
    const json = JSON.parse((await cli('policy', 'get', 'x/web-from-clients', '-o', 'json')).stdout) as PolicyJSON;
    assert.deepEqual(json.endpoints, ['x/web']);
    assert.deepEqual(json.defaultDeny, ['ingress']);
  });

  test('endpoint get shows the realized policy with the rule of each entry', async () => {
    const ep = await endpoint('x/web');
    const p = ep.policy!;
    assert.equal(p.ingressEnforced, true);
    assert.equal(p.egressEnforced, false);
    assert.deepEqual(p.policies, ['NetworkPolicy x/web-from-clients']);
    const clientId = (await endpoint('x/client')).identity;
    assert.deepEqual(
      p.entries.map((e) => [e.direction, e.identity, e.protocol, e.port, e.verdict, e.rule]),
      [['ingress', clientId, 'TCP', '8080', 'allow', 'NetworkPolicy x/web-from-clients spec.ingress[0]']],
    );
    const text = await cli('endpoint', 'get', 'x/web');
    assert.match(text.stdout, /Ingress:\s+enforced \(default deny\)/);
    assert.match(text.stdout, /ingress\s+allow\s+\d+\s+\S*k8s:app=client\S*\s+TCP\s+8080\s+NetworkPolicy x\/web-from-clients spec\.ingress\[0\]/);
  });

  test('policy trace explains both verdicts, naming the rule, with exit status 1 when denied', async () => {
    const ok = await cli('policy', 'trace', '--from', 'x/client', '--to', 'x/web', '--port', '8080/TCP');
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /NetworkPolicy x\/web-from-clients spec\.ingress\[0\]/);
    const denied = await cli('policy', 'trace', '--from', 'w/other', '--to', 'x/web', '--port', '8080/TCP', '-o', 'json');
    assert.equal(denied.code, 1);
    const tr = JSON.parse(denied.stdout) as TraceResponse;
    assert.equal(tr.verdict, 'denied');
    const ingress = tr.steps.find((s) => s.direction === 'ingress')!;
    assert.equal(ingress.enforced, true);
    assert.equal(ingress.verdict, 'denied');
    assert.equal(ingress.rule, undefined, 'no rule matched: default deny');
    assert.match(tr.explanation.join('\n'), /web-from-clients/, 'the explanation names the policy that enforces default deny');
    const bad = await cli('policy', 'trace', '--from', 'x/client', '--to', 'x/web', '--port', '99999');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--port: '99999' is not PORT\[\/PROTOCOL\]/);
  });

  test('verdict events: an allowed new connection and a denied one, with endpoint, direction, identities, port and rule', async () => {
    assert.ok(await reach(client));
    assert.ok(!(await reach(other)));
    const webEp = await endpoint('x/web');
    // Events reach the agent within its drain interval (20 ms), not synchronously.
    let events: DecodedEvent[] = [];
    const ofWeb = () => events.filter((e) => e.type === 'policy-verdict' && e.source === webEp.id && e.dport === 8080);
    await eventually('both verdicts reach the agent', async () => {
      events = await t.client.get<DecodedEvent[]>('/v1/events?last=500');
      return ofWeb().some((e) => e.verdict === 'ALLOWED') && ofWeb().some((e) => e.verdict === 'DENIED');
    });
    const verdicts = ofWeb();
    const allowed = verdicts.find((e) => e.verdict === 'ALLOWED' && e.saddr === client.ip);
    assert.ok(allowed, JSON.stringify(verdicts));
    assert.equal(allowed.direction, 'ingress');
    assert.equal(allowed.srcIdentity, (await endpoint('x/client')).identity);
    assert.equal(allowed.dstIdentity, webEp.identity);
    assert.equal(allowed.reason, 'L3-L4');
    assert.equal(allowed.rule, 'NetworkPolicy x/web-from-clients spec.ingress[0]');
    const denied = verdicts.find((e) => e.verdict === 'DENIED' && e.saddr === other.ip);
    assert.ok(denied, JSON.stringify(verdicts));
    assert.equal(denied.srcIdentity, (await endpoint('w/other')).identity);
    assert.equal(denied.ruleId, 0);
    assert.ok(events.some((e) => e.type === 'drop' && e.reason === 'POLICY_DENIED' && e.saddr === other.ip), 'and a drop event');
  });

  test('relabelling a pod re-identifies it and changes the verdict within seconds', async () => {
    const before = (await endpoint('w/other')).identity;
    assert.equal((await applyText('relabel.yaml', pod('w', 'other', { app: 'client' }))).code, 0);
    await eventually('w/other (now app=client) reaches web', () => reach(other));
    assert.notEqual((await endpoint('w/other')).identity, before);
    assert.equal((await applyText('relabel.yaml', pod('w', 'other', { app: 'other' }))).code, 0);
    await eventually('w/other (app=other again) is denied', async () => !(await reach(other)));
  });

  test('audit mode on one endpoint: denied traffic passes and is reported as AUDIT', async () => {
    const on = await cli('endpoint', 'config', 'x/web', 'PolicyAuditMode=Enabled');
    assert.equal(on.code, 0, on.stderr);
    assert.ok(await reach(other), 'audit: passes');
    await eventually('reported as AUDIT', async () =>
      (await t.client.get<DecodedEvent[]>('/v1/events?last=200')).some((e) => e.type === 'policy-verdict' && e.verdict === 'AUDIT' && e.saddr === other.ip));
    assert.equal((await endpoint('x/web')).policy?.auditMode, true);
    assert.equal((await cli('endpoint', 'config', 'x/web', 'PolicyAuditMode=Disabled')).code, 0);
    assert.ok(!(await reach(other)), 'enforced again');
    const bad = await cli('endpoint', 'config', 'x/web', 'AuditMode=on');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /PolicyAuditMode=Enabled/);
  });

  test('a manifest with one bad policy is refused whole: nothing is applied, traffic is unchanged', async () => {
    const maps = mapDump();
    const bad = `${POLICY.replace('web-from-clients', 'second')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: x}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: Equals, values: [web]}]
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/33}}]
    ports: [{port: 70000}]
`;
    const r = await applyText('bad.yaml', bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /spec\.podSelector\.matchExpressions\[0\]\.operator/);
    assert.match(r.stderr, /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr/);
    assert.match(r.stderr, /spec\.ingress\[0\]\.ports\[0\]\.port/);
    const names = (await t.client.get<PolicyJSON[]>('/v1/policies')).map((p) => p.name);
    assert.deepEqual(names, ['web-from-clients'], 'the good policy of the same file was not applied either');
    assert.deepEqual(mapDump(), maps, 'the maps are untouched');
    const v = await cli('policy', 'validate', '-f', path.join(t.spec.workDir, 'bad.yaml'));
    assert.equal(v.code, 1);
    assert.match(v.stderr, /3 errors/);
    const good = await cli('policy', 'validate', '-f', path.join(t.spec.workDir, 'policy.yaml'));
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /networkpolicy\/x\/web-from-clients valid/);
  });

  test('the datapath keeps enforcing while the agent is down; a restarted agent rewrites nothing', async () => {
    const maps = mapDump();
    await t.stopAgent('SIGKILL');
    assert.ok(await reach(client), 'allowed without an agent');
    assert.ok(!(await reach(other)), 'denied without an agent');
    await t.startAgent();
    assert.deepEqual(mapDump(), maps, 'same entries after the restart');
    assert.ok(await reach(client));
    assert.ok(!(await reach(other)));
    const ep = await endpoint('x/web');
    assert.equal(ep.policy?.ingressEnforced, true);
  });

  test('delete: the endpoint allows everything again and its entries are gone', async () => {
    const r = await applyText('policy.yaml', POLICY, 'delete');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await reach(other));
    assert.ok(await reach(client, 7));
    const ep = await endpoint('x/web');
    assert.equal(ep.policy?.ingressEnforced, false);
    assert.deepEqual(mapDump().policy, []);
  });
});
