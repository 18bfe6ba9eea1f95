// Policy over time and beyond ClusterIP, on the conformance model (model.ts):
// connections that exist when a policy changes, pods that appear after a
// policy, named ports that mean different numbers on different pods, the
// datapath enforcing while the agent is down, and NodePort traffic from the
// outside judged on the backend with the original client's identity (tc and
// XDP, SNAT and DSR). Expectations follow docs/policy.md and upstream
// Kubernetes/Cilium semantics; none is computed from Membrane's resolver.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { EndpointJSON } from '../../src/agent/api-types.ts';
import type { ProbeTarget } from '../../src/sandbox/probe-matrix.ts';
import { inCgroup, NODE_BIN, sleep } from '../../src/sandbox/topology.ts';
import { everyPort, HOST, NetpolModel, reach, WORLD } from './model.ts';

let m: NetpolModel;

before(async () => {
  m = await NetpolModel.create({ edges: true });
});

afterEach(async () => {
  await m?.reset();
});

after(async () => {
  await m?.destroy();
});

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function netpol(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${JSON.stringify(ns)}}\nspec:\n${indent(spec)}\n`;
}

function cnp(ns: string, name: string, spec: string): string {
  return `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}, namespace: ${JSON.stringify(ns)}}\nspec:\n${indent(spec)}\n`;
}

/** A TCP echo stream (test/helpers/stream-client.ts) from a model pod to host:port (the pod servers echo on 7). */
function stream(from: string, host: string, port: number) {
  const argv = inCgroup(m.t.cgroup, ['ip', 'netns', 'exec', m.pod(from).netnsName, NODE_BIN, path.join(import.meta.dirname, '../helpers/stream-client.ts'), host, String(port)]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const echoed = () => Number([...out.matchAll(/^rtt (\d+)$/gm)].pop()?.[1] ?? 0);
  return {
    /** Echoes received during the next `ms`. */
    async progress(ms: number): Promise<number> {
      const start = echoed();
      await sleep(ms);
      return echoed() - start;
    },
    async finish(): Promise<string[]> {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      return out.split('\n').filter((l) => l.startsWith('error'));
    },
  };
}

/** Waits until `fn` is true (polling), failing with `what` at the deadline. */
async function until(what: string, fn: () => Promise<boolean>, deadlineMs = 10_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > deadlineMs) assert.fail(`${what}: not within ${deadlineMs} ms`);
    await sleep(100);
  }
}

describe('connections that exist when the policy changes', () => {
  test('removing an allow cuts an established connection at its next packet; allowing again resumes it', async () => {
    const allow = (pods: string) => netpol('x', 'a-from', `podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchExpressions: [{key: pod, operator: In, values: [${pods}]}]}`);
    await m.policy(allow('b, c'));
    const s = stream('x/b', m.pod('x/a').ip, 7);
    try {
      assert.ok((await s.progress(500)) > 10, 'the stream x/b → x/a runs');
      await m.policy(allow('c'));
      await sleep(100);
      assert.equal(await s.progress(1000), 0, 'x/b is no longer allowed into x/a: its next packets are dropped');
      await m.policy(allow('b, c'));
      await until('the stream resumes once x/b is allowed again (TCP retransmits)', async () => (await s.progress(300)) > 0, 15_000);
    } finally {
      assert.deepEqual(await s.finish(), [], 'the connection survived (dropped, not reset)');
    }
  });

  test('a connection that started before its server had any policy is cut by the server\'s first policy', async () => {
    const s = stream('x/b', m.pod('x/a').ip, 7);
    try {
      assert.ok((await s.progress(500)) > 10, 'the stream x/b → x/a runs, no policy anywhere');
      await m.policy(netpol('x', 'only-c', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: c}}'));
      await sleep(100);
      assert.equal(await s.progress(1000), 0, 'x/b is not allowed into x/a: its packets are dropped, as a new connection of x/b is');
    } finally {
      await s.finish();
    }
  });

  test('replies of a connection pass the responder\'s egress default-deny', async () => {
    const s = stream('y/a', m.pod('x/a').ip, 7);
    try {
      assert.ok((await s.progress(500)) > 10);
      await m.policy(netpol('x', 'deny-egress', 'podSelector: {}\npolicyTypes: [Egress]'));
      assert.ok((await s.progress(1000)) > 10, 'x/a\'s echoes are replies: its egress policy does not judge them');
      await m.check(everyPort(reach().expectPeer({ ns: 'x' }, {}, false)));
    } finally {
      assert.deepEqual(await s.finish(), []);
    }
  });
});

describe('pods that appear after the policy', () => {
  test('a new pod in an allowed namespace connects at its first try; a new pod in a protected namespace is protected from its first packet', async () => {
    await m.policy(netpol('x', 'from-y', 'podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: "y"}}'));
    try {
      const yd = await m.addExtraPod('y/d');
      const first = await m.probe('y/d', [{ id: 'x/a', host: m.clusterIPs.get('x/a')!, port: 80, proto: 'tcp' }]);
      assert.ok(first[0]!.ok && first[0]!.pod === 'x/a', `y/d's first connection to x/a: ${JSON.stringify(first[0])}`);
      const xd = await m.addExtraPod('x/d');
      const targets = (port: number): ProbeTarget[] => [
        { id: 'x/d', host: xd.ip, port, proto: 'tcp' },
        { id: 'x/d', host: xd.ip, port, proto: 'udp' },
      ];
      const [fromZ, fromY, fromYd] = await Promise.all([m.probe('z/a', targets(80)), m.probe('y/b', targets(81)), m.probe('y/d', targets(80))]);
      for (const r of fromZ) assert.equal(r.ok, false, `z/a → x/d (new, protected) is blocked at once: ${JSON.stringify(r)}`);
      for (const r of [...fromY, ...fromYd]) assert.ok(r.ok && r.pod === 'x/d', `y → x/d allowed: ${JSON.stringify(r)}`);
      assert.notEqual(yd.ip, xd.ip);
    } finally {
      await m.removeExtraPod('x/d').catch(() => undefined);
      await m.removeExtraPod('y/d').catch(() => undefined);
    }
    // Gone pods take nothing with them: the model is as before.
    await m.check(everyPort(reach().expectPeer({ ns: 'x' }, { ns: 'x' }, false).expectPeer({ ns: 'z' }, { ns: 'x' }, false)));
  });
});

describe('named ports resolved per pod', () => {
  test('a named port means each destination pod\'s own number, and follows a changed Pod manifest', async () => {
    await m.relabelPod('x/b', {}, [{ name: 'web', port: 81, protocol: 'TCP' }]);
    await m.relabelPod('x/c', {}, [{ name: 'web', port: 80, protocol: 'TCP' }]);
    await m.policy(netpol('x', 'web', 'podSelector: {}\ningress:\n- ports:\n  - port: web'));
    const denied = reach().expectPeer({}, { ns: 'x' }, false);
    await m.check({
      'tcp/80': reach().expectPeer({}, { ns: 'x' }, false).expectAllIngress('x/c', true),
      'tcp/81': reach().expectPeer({}, { ns: 'x' }, false).expectAllIngress('x/b', true),
      'udp/80': denied,
      'udp/81': denied,
    });
    // x/c's "web" moves to 81.
    await m.relabelPod('x/c', {}, [{ name: 'web', port: 81, protocol: 'TCP' }]);
    await m.check({
      'tcp/80': denied,
      'tcp/81': reach().expectPeer({}, { ns: 'x' }, false).expectAllIngress('x/b', true).expectAllIngress('x/c', true),
    });
  });

  test('egress to a named port resolves against each peer', async () => {
    await m.relabelPod('z/a', {}, [{ name: 'dns', port: 81, protocol: 'UDP' }]);
    await m.policy(netpol('y', 'to-dns', 'podSelector: {matchLabels: {pod: c}}\npolicyTypes: [Egress]\negress:\n- ports:\n  - {port: dns, protocol: UDP}'));
    const blocked = reach().expectAllEgress('y/c', false);
    await m.check({ 'udp/81': reach().expectAllEgress('y/c', false).expect('y/c', 'z/a', true), 'udp/80': blocked, 'tcp/81': blocked });
  });
});

describe('the datapath without the agent', () => {
  test('policies stay enforced while the agent is down and after it restarts', async () => {
    await m.policy(netpol('y', 'deny-ingress', 'podSelector: {}\npolicyTypes: [Ingress]'), cnp('z', 'c-to-x-only', 'endpointSelector: {matchLabels: {pod: c}}\negress:\n- toEndpoints:\n  - matchLabels: {io.kubernetes.pod.namespace: "x"}'));
    const want = everyPort(reach().expectPeer({}, { ns: 'y' }, false).expectAllEgress('z/c', false).expectPeer({ ns: 'z', pod: 'c' }, { ns: 'x' }, true));
    await m.check(want);
    await m.t.stopAgent();
    try {
      await m.check(want);
    } finally {
      await m.t.startAgent();
    }
    await m.check(want);
  });
});

describe('the agent restarting', () => {
  test('identities and an endpoint\'s audit mode survive a restart', async () => {
    const ep = (id: string) => m.t.client.get<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(id)}`);
    await m.policy(netpol('z', 'deny-ingress', 'podSelector: {}\npolicyTypes: [Ingress]'));
    const on = await m.cli('endpoint', 'config', 'z/b', 'PolicyAuditMode=Enabled');
    assert.equal(on.code, 0, on.stderr);
    try {
      const want = everyPort(reach().expectPeer({}, { ns: 'z' }, false).expectAllIngress('z/b', true));
      await m.check(want);
      const before = await Promise.all(['x/a', 'y/b', 'z/c'].map(async (id) => (await ep(id)).policy?.identity));
      await m.t.stopAgent();
      await m.t.startAgent();
      const after = await Promise.all(['x/a', 'y/b', 'z/c'].map(async (id) => (await ep(id)).policy?.identity));
      assert.deepEqual(after, before, 'the same identities after the restart');
      assert.equal((await ep('z/b')).policy?.auditMode, true, 'z/b is still in audit mode');
      await m.check(want);
    } finally {
      await m.cli('endpoint', 'config', 'z/b', 'PolicyAuditMode=Disabled');
    }
  });
});

/** The NodePort of x/a: TCP 30170 → 80, UDP 30171 → 81. */
const NODEPORT = `apiVersion: v1
kind: Service
metadata: {name: np-x-a, namespace: "x"}
spec:
  type: NodePort
  selector: {pod: a}
  ports:
  - {name: tcp, protocol: TCP, port: 80, nodePort: 30170}
  - {name: udp, protocol: UDP, port: 81, nodePort: 30171}
`;

describe('NodePort from the outside is judged on the backend, with the original client', () => {
  before(async () => {
    await m.apply(NODEPORT);
  });
  after(async () => {
    await m.delete(NODEPORT);
    await m.t.stopAgent();
    await m.t.startAgent();
  });

  async function fromWorld(): Promise<boolean[]> {
    const rs = await m.probe(WORLD, [
      { id: 'tcp', host: m.t.nodeIp, port: 30170, proto: 'tcp' },
      { id: 'udp', host: m.t.nodeIp, port: 30171, proto: 'udp' },
    ]);
    return rs.map((r) => r.ok && r.pod === 'x/a');
  }

  for (const [mode, args] of [
    ['tc, SNAT', ['--lb-acceleration', 'none', '--lb-mode', 'snat']],
    ['XDP, SNAT', ['--lb-acceleration', 'xdp', '--lb-mode', 'snat']],
    ['tc, DSR', ['--lb-acceleration', 'none', '--lb-mode', 'dsr']],
    ['XDP, DSR', ['--lb-acceleration', 'xdp', '--lb-mode', 'dsr']],
  ] as const) {
    test(`${mode}: namespace selectors keep the world out, an ipBlock of the client lets it in, fromEntities host does not`, async () => {
      await m.t.stopAgent();
      await m.t.startAgent([...args]);
      assert.deepEqual(await fromWorld(), [true, true], 'no policy: the world reaches x/a through the NodePort');

      await m.policy(netpol('x', 'pods-only', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {}'));
      assert.deepEqual(await fromWorld(), [false, false], 'only pods may reach x/a');
      await m.check({ 'tcp/80': reach(), 'udp/81': reach() });

      await m.policy(netpol('x', 'the-client', `podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - ipBlock: {cidr: ${m.t.worldIp}/32}`));
      assert.deepEqual(await fromWorld(), [true, true], 'an ipBlock of the original client allows it, whatever the backend sees as its source');
      await m.reset();

      await m.policy(cnp('x', 'host-only', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [host]'));
      assert.deepEqual(await fromWorld(), [false, false], 'the world is judged as the world, not as the node that translated it');
      await m.policy(cnp('x', 'world-too', 'endpointSelector: {matchLabels: {pod: a}}\ningress:\n- fromEntities: [world]'));
      assert.deepEqual(await fromWorld(), [true, true]);
      const [fromHost] = await m.probe(HOST, [{ id: 'x/a', host: m.clusterIPs.get('x/a')!, port: 80, proto: 'tcp' }]);
      assert.ok(fromHost!.ok, 'the node reaches x/a (allow-localhost)');
    });
  }
});
