// Services end to end: manifests applied with the agent's API, traffic from
// real pods, the node and an external client netns, through the eBPF load
// balancer (socket LB for ClusterIP, tc or XDP for NodePort/LoadBalancer).
// Every assertion is something a user could observe: which backend answered,
// the address the client or backend saw, an errno, a stream that kept going.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { inCgroup, NODE_BIN, sleep, type Pod, type ProbeResult, type Topology } from '../../src/sandbox/topology.ts';
import { makeTopology } from '../helpers/env.ts';

const SERVICE_CIDR = '10.96.8.0/24';
const LB_RANGE = '198.18.9.0/24'; // LoadBalancer and external IPs, routed to the node by the world
const LB_IP = '198.18.9.200';
const EXTERNAL_IP = '198.18.9.201';

let t: Topology;
let client: Pod;
const web: Pod[] = [];

const podManifest = (name: string, labels: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: ${JSON.stringify(labels)}}
spec:
  containers:
  - name: app
    image: pod-server
    ports: [{name: http, containerPort: 8080}, {name: who, containerPort: 8081, protocol: UDP}, {name: echo, containerPort: 7}, {name: echo-udp, containerPort: 7, protocol: UDP}]
`;

const SERVICES = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: who, port: 53, protocol: UDP, targetPort: who}
  - {name: echo, port: 7, targetPort: 7}
---
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  externalIPs: [${EXTERNAL_IP}]
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: who, port: 53, protocol: UDP, targetPort: 8081, nodePort: 30053}
  - {name: echo, port: 7, targetPort: 7, nodePort: 30007}
---
apiVersion: v1
kind: Service
metadata: {name: web-lb, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30180}]
status:
  loadBalancer:
    ingress: [{ip: ${LB_IP}}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: shop}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30280}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: shop}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: shop}
spec:
  type: NodePort
  selector: {app: nothing-matches}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30099}
  - {name: who, port: 53, protocol: UDP, targetPort: 8081, nodePort: 30098}
---
apiVersion: v1
kind: Service
metadata: {name: manual, namespace: shop}
spec:
  type: NodePort
  ports:
  - {name: echo, port: 7, targetPort: 7, nodePort: 30077}
  - {name: http, port: 80, targetPort: 8080, nodePort: 30078}
`;

/** An EndpointSlice for service "manual": each backend pod with its conditions. */
function manualSlice(endpoints: Array<{ pod: Pod; ready: boolean; terminating?: boolean }>): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: manual-1
  namespace: shop
  labels: {kubernetes.io/service-name: manual}
addressType: IPv4
ports: [{name: echo, port: 7, protocol: TCP}, {name: http, port: 8080, protocol: TCP}]
endpoints:
${endpoints
  .map((e) => `- addresses: [${e.pod.ip}]\n  conditions: {ready: ${e.ready}, serving: true, terminating: ${e.terminating ?? false}}\n  targetRef: {kind: Pod, namespace: shop, name: ${e.pod.name}}`)
  .join('\n')}
`;
}

async function apply(manifest: string): Promise<void> {
  await t.client.post('/v1/apply', { manifest, source: 'test.yaml' });
}

async function clusterIP(name: string): Promise<string> {
  const svc = await t.client.get<{ clusterIP?: string; spec?: { clusterIP?: string } }>(`/v1/services/shop/${name}`);
  const ip = svc.clusterIP ?? svc.spec?.clusterIP;
  assert.ok(ip, `service ${name} has a cluster IP: ${JSON.stringify(svc)}`);
  return ip;
}

/** Probes until one succeeds (the agent programs maps right after apply). */
async function eventually(fn: () => Promise<ProbeResult>, what: string, tries = 20): Promise<ProbeResult> {
  let last: ProbeResult | undefined;
  for (let i = 0; i < tries; i++) {
    last = await fn();
    if (last.ok) return last;
    await sleep(100);
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

/** Which backends answered `n` HTTP probes. */
async function spread(ns: string, host: string, port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await t.probeJson(ns, 'http', host, port);
    assert.ok(r.ok, JSON.stringify(r));
    seen.set(r.pod!, (seen.get(r.pod!) ?? 0) + 1);
  }
  return seen;
}

/** A long TCP echo stream from a netns (in the topology's cgroup unless it is the world). */
function stream(ns: string, host: string, port: number): { child: ChildProcess; progress: (ms: number) => Promise<number>; finish: () => Promise<{ received: number; errors: string[] }> } {
  const argv = ['ip', 'netns', 'exec', ns, NODE_BIN, path.join(import.meta.dirname, '../helpers/stream-client.ts'), host, String(port)];
  const [cmd, ...args] = inCgroup(ns === t.worldNs ? undefined : t.cgroup, argv);
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const rtt = () => Number([...out.matchAll(/^rtt (\d+)$/gm)].pop()?.[1] ?? 0);
  return {
    child,
    progress: async (ms) => {
      const start = rtt();
      await sleep(ms);
      return rtt() - start;
    },
    finish: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      const done = /done (\d+) errors (\d+)/.exec(out);
      return { received: Number(done?.[1] ?? 0), errors: out.split('\n').filter((l) => l.startsWith('error')) };
    },
  };
}

before(async () => {
  t = await makeTopology('mbe', '10.208.0.0/24', '198.18.8', [LB_RANGE], { serviceCidr: SERVICE_CIDR });
  await t.startAgent();
  await t.inWorld('ip', 'route', 'add', LB_RANGE, 'via', t.nodeIp);
  client = await t.addPod('shop', 'client');
  for (const name of ['web-1', 'web-2', 'web-3']) web.push(await t.addPod('shop', name, { server: true }));
  await apply([podManifest('client', { app: 'client' }), ...web.map((p) => podManifest(p.name, { app: 'web' }))].join('---\n'));
  await apply(SERVICES);
  await apply(manualSlice([{ pod: web[0]!, ready: true }]));
});

after(async () => {
  await t?.destroy();
});

describe('ClusterIP through the socket LB', () => {
  test('a pod reaches a backend over TCP and UDP, and sees the service address as its peer', async () => {
    const ip = await clusterIP('web');
    assert.ok(ip.startsWith('10.96.8.'), `allocated from the service CIDR: ${ip}`);
    const http = await eventually(() => t.probeJson(client.netnsName, 'http', ip, 80), 'TCP to ClusterIP from a pod');
    assert.match(http.pod!, /^shop\/web-[123]$/);
    assert.equal(http.peer, ip, 'getpeername shows the service address');
    assert.equal(http.client, client.ip, 'the backend sees the pod itself (no SNAT inside the cluster)');
    const udp = await eventually(() => t.probeJson(client.netnsName, 'udp-who', ip, 53), 'UDP to ClusterIP from a pod');
    assert.match(udp.pod!, /^shop\/web-[123]$/);
    assert.equal(udp.peer, ip, 'recvmsg shows the service address as the datagram source');
    assert.equal((await t.probeJson(client.netnsName, 'udp', ip, 7)).ok, false, 'no service port 7/UDP: nothing translated');
  });

  test('the node itself reaches the ClusterIP over TCP and UDP', async () => {
    const ip = await clusterIP('web');
    const http = await eventually(() => t.probeJson(t.nodeNs, 'http', ip, 80), 'TCP to ClusterIP from the node');
    assert.equal(http.peer, ip);
    const udp = await eventually(() => t.probeJson(t.nodeNs, 'udp-who', ip, 53), 'UDP to ClusterIP from the node');
    assert.equal(udp.peer, ip);
  });

  test('new connections spread over the backends', async () => {
    const seen = await spread(client.netnsName, await clusterIP('web'), 80, 24);
    assert.ok(seen.size >= 2, `more than one backend answered: ${JSON.stringify([...seen])}`);
  });

  test('sessionAffinity ClientIP keeps a client on one backend', async () => {
    const seen = await spread(client.netnsName, await clusterIP('sticky'), 80, 12);
    assert.equal(seen.size, 1, `one backend for every connection: ${JSON.stringify([...seen])}`);
  });

  test('a service with no backend rejects at once (ECONNREFUSED), over TCP and UDP', async () => {
    const ip = await clusterIP('empty');
    const tcp = await t.probeJson(client.netnsName, 'tcp', ip, 80, 3000);
    assert.equal(tcp.code, 'ECONNREFUSED', JSON.stringify(tcp));
    assert.ok(tcp.ms < 1000, `refused, not timed out: ${tcp.ms} ms`);
    const udp = await t.probeJson(client.netnsName, 'udp-who', ip, 53, 3000);
    assert.equal(udp.code, 'ECONNREFUSED', JSON.stringify(udp));
  });
});

describe('EndpointSlice backends and their states', () => {
  test('a terminating backend keeps its running connection and gets no new ones', async () => {
    const ip = await clusterIP('manual');
    await eventually(() => t.probeJson(client.netnsName, 'http', ip, 80), 'manual service up');
    const s = stream(client.netnsName, ip, 7);
    try {
      assert.ok((await s.progress(500)) > 10, 'stream to web-1 started');
      await apply(manualSlice([{ pod: web[0]!, ready: false, terminating: true }, { pod: web[1]!, ready: true }]));
      await sleep(200);
      const seen = await spread(client.netnsName, ip, 80, 8);
      assert.deepEqual([...seen.keys()], ['shop/web-2'], 'new connections go to the ready backend only');
      assert.ok((await s.progress(500)) > 10, 'the stream to the terminating backend goes on');
      await apply(manualSlice([{ pod: web[1]!, ready: true }]));
      assert.ok((await s.progress(500)) > 10, 'and goes on after the backend left the slice');
    } finally {
      const r = await s.finish();
      assert.deepEqual(r.errors, []);
    }
  });
});

/** The NodePort/LoadBalancer checks, for one agent configuration. */
function externalSuite(mode: string, agentArgs: string[], expectClient: 'node' | 'world') {
  describe(`external traffic (${mode})`, () => {
    before(async () => {
      await t.stopAgent();
      await t.startAgent(agentArgs);
    });

    test('NodePort from outside: TCP and UDP reach a backend; replies come from the node address', async () => {
      const http = await eventually(() => t.probeJson(t.worldNs, 'http', t.nodeIp, 30080), 'NodePort TCP');
      assert.match(http.pod!, /^shop\/web-[123]$/);
      assert.equal(http.peer, t.nodeIp);
      assert.equal(http.client, expectClient === 'node' ? t.nodeIp : t.worldIp, `the backend sees the ${expectClient} as the client`);
      const udp = await eventually(() => t.probeJson(t.worldNs, 'udp-who', t.nodeIp, 30053), 'NodePort UDP');
      assert.equal(udp.peer, t.nodeIp);
      assert.equal(udp.client, expectClient === 'node' ? t.nodeIp : t.worldIp);
    });

    test('LoadBalancer ingress IP and externalIPs from outside', async () => {
      const lb = await eventually(() => t.probeJson(t.worldNs, 'http', LB_IP, 80), 'LoadBalancer IP');
      assert.equal(lb.peer, LB_IP);
      const ext = await eventually(() => t.probeJson(t.worldNs, 'http', EXTERNAL_IP, 80), 'external IP');
      assert.equal(ext.peer, EXTERNAL_IP);
    });

    test('externalTrafficPolicy Local keeps the client address', async () => {
      const r = await eventually(() => t.probeJson(t.worldNs, 'http', t.nodeIp, 30280), 'Local NodePort');
      assert.equal(r.client, t.worldIp);
    });

    test('no backend: the external client is refused at once', async () => {
      const tcp = await t.probeJson(t.worldNs, 'tcp', t.nodeIp, 30099, 3000);
      assert.equal(tcp.code, 'ECONNREFUSED', JSON.stringify(tcp));
      assert.ok(tcp.ms < 1000, `${tcp.ms} ms`);
    });

    test('a terminating backend keeps an external connection through conntrack', async () => {
      await apply(manualSlice([{ pod: web[2]!, ready: true }]));
      await eventually(() => t.probeJson(t.worldNs, 'tcp', t.nodeIp, 30077), 'manual NodePort up');
      const s = stream(t.worldNs, t.nodeIp, 30077);
      try {
        assert.ok((await s.progress(500)) > 10, 'stream started');
        await apply(manualSlice([{ pod: web[2]!, ready: false, terminating: true }, { pod: web[0]!, ready: true }]));
        await sleep(200);
        const r = await eventually(() => t.probeJson(t.worldNs, 'http', t.nodeIp, 30078), 'new connection');
        assert.equal(r.pod, 'shop/web-1', 'new connections avoid the terminating backend');
        assert.ok((await s.progress(500)) > 10, 'the established connection goes on');
      } finally {
        const r = await s.finish();
        assert.deepEqual(r.errors, []);
      }
    });
  });
}

externalSuite('tc, SNAT', ['--lb-acceleration', 'none', '--lb-mode', 'snat'], 'node');
externalSuite('XDP, SNAT', ['--lb-acceleration', 'xdp', '--lb-mode', 'snat'], 'node');
externalSuite('tc, DSR', ['--lb-acceleration', 'none', '--lb-mode', 'dsr'], 'world');
externalSuite('XDP, DSR', ['--lb-acceleration', 'xdp', '--lb-mode', 'dsr'], 'world');
