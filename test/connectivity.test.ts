// Three pods and the node talk over TCP, UDP and ICMP through Membrane's
// datapath; pods reach the world masqueraded; local pod-to-pod packets never
// touch iptables; a spoofing pod is dropped and the drop is reported.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { startServer, type Pod, type Topology } from '../src/sandbox/topology.ts';
import { leftovers, makeTopology } from './helpers/env.ts';

const PREFIX = 'mbt';
let t: Topology;
let pods: Pod[];
let nodeServer: ChildProcess | undefined;

before(async () => {
  t = await makeTopology(PREFIX, '10.202.0.0/24', '203.0.113');
  await t.startAgent();
  pods = [];
  for (const name of ['a', 'b', 'c']) pods.push(await t.addPod('x', name, { server: true }));
  nodeServer = await startServer(t.nodeNs, 'node');
  t.worldServer = await startServer(t.worldNs, 'world');
});

after(async () => {
  nodeServer?.kill('SIGKILL');
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), [], 'the topology left something behind');
});

describe('connectivity matrix', () => {
  const NODE = { name: 'node', ip: '10.202.0.1' };
  test('every pod and the node reach each other over TCP, UDP and ICMP', async () => {
    const members = [...pods.map((p) => ({ name: p.name, ns: p.netnsName, ip: p.ip })), { ...NODE, ns: t.nodeNs }];
    const failures: string[] = [];
    let checked = 0;
    for (const from of members) {
      for (const to of members) {
        if (from === to) continue;
        const [tcp, udp, icmp] = await Promise.all([
          t.probe(from.ns, 'tcp', to.ip, 7),
          t.probe(from.ns, 'udp', to.ip, 7),
          t.ping(from.ns, to.ip),
        ]);
        checked += 3;
        if (!tcp) failures.push(`${from.name}→${to.name} tcp`);
        if (!udp) failures.push(`${from.name}→${to.name} udp`);
        if (!icmp) failures.push(`${from.name}→${to.name} icmp`);
      }
    }
    assert.equal(checked, 36);
    assert.deepEqual(failures, []);
  });

  test('a pod sees the other pod’s own address as the client (no NAT between pods)', async () => {
    const r = await t.inPod(pods[0]!, process.execPath, 'dist/sandbox/probe.js', 'http', pods[1]!.ip, '8080');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(JSON.parse(r.stdout).client, pods[0]!.ip);
  });

  test('a pod reaches the outside world with its source masqueraded to the node', async () => {
    const r = await t.inPod(pods[2]!, process.execPath, 'dist/sandbox/probe.js', 'http', t.worldIp, '8080');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(JSON.parse(r.stdout).client, t.nodeIp);
  });

  test('an address in the pod CIDR that no pod has is unreachable, not routed away', async () => {
    assert.equal(await t.ping(pods[0]!.netnsName, '10.202.0.250'), false);
    const routes = (await t.inNode('ip', 'route', 'show', 'type', 'blackhole')).stdout;
    assert.match(routes, /blackhole 10\.202\.0\.0\/24/);
  });
});

describe('agent', () => {
  test('the API socket is root-only and logs are structured JSON lines', async () => {
    assert.equal(fs.statSync(t.socket).mode & 0o777, 0o600);
    const lines = fs.readFileSync(t.logFile, 'utf8').trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as { time: string; level: string; msg: string });
    assert.ok(entries.some((e) => e.msg === 'agent ready'));
    assert.ok(entries.some((e) => e.msg === 'endpoint created'));
    for (const e of entries) assert.ok(e.time && e.level && e.msg, JSON.stringify(e));
  });

  test('apply refuses a file with one bad object, and applies nothing from that file', async () => {
    const manifest = [
      'apiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: x, labels: {app: extra}}\nspec: {containers: [{name: app, image: x}]}\n',
      'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x}\nspec: {clusterIP: 10.202.0.9, selector: {app: extra}, ports: [{port: 80}]}\n',
    ].join('---\n');
    await assert.rejects(t.client.post('/v1/apply', { manifest, source: 'svc.yaml' }), /doc 2 \(Service x\/web\): spec\.clusterIP: .*service CIDR/);
    const pods = await t.client.get<Array<{ name: string }>>('/v1/pods');
    assert.equal(pods.some((p) => p.name === 'extra'), false, 'the Pod in the same file was not applied');
  });

  test('status reports the kernel features found and the map fill', async () => {
    const s = await t.client.get<{ features: Array<{ name: string; ok: boolean }>; maps: Array<{ name: string; entries: number; maxEntries: number }> }>('/v1/status');
    for (const f of ['root', 'bpffs', 'tc-bpf', 'redirect-peer', 'ringbuf']) assert.ok(s.features.find((x) => x.name === f)?.ok, f);
    assert.deepEqual(s.maps.find((m) => m.name === 'mb_lxc'), { name: 'mb_lxc', entries: 3, maxEntries: 65536 });
  });
});

describe('datapath', () => {
  test('local pod-to-pod packets bypass iptables; pod-to-node packets do not', async () => {
    const [a, b] = [pods[0]!, pods[1]!];
    // Counting rules (no target) at the first netfilter hook a packet meets.
    const rules = [
      ['-s', a.ip, '-d', b.ip],
      ['-s', a.ip, '-d', '10.202.0.1'],
    ];
    for (const r of rules) await t.inNode('iptables', '-t', 'raw', '-A', 'PREROUTING', ...r);
    try {
      assert.ok(await t.probe(a.netnsName, 'tcp', b.ip, 7));
      assert.ok(await t.ping(a.netnsName, b.ip));
      assert.ok(await t.probe(a.netnsName, 'tcp', '10.202.0.1', 7));
      const out = (await t.inNode('iptables', '-t', 'raw', '-L', 'PREROUTING', '-v', '-x', '-n')).stdout;
      const count = (dst: string) => {
        const line = out.split('\n').find((l) => l.includes(a.ip) && l.trimEnd().endsWith(` ${dst}`));
        assert.ok(line, `no counting rule for ${dst} in:\n${out}`);
        return Number(line.trim().split(/\s+/)[0]);
      };
      assert.equal(count(b.ip), 0, 'pod-to-pod packets reached iptables');
      assert.ok(count('10.202.0.1') > 0, 'the control rule saw no packets: the check itself is broken');
    } finally {
      for (const r of rules) await t.inNode('iptables', '-t', 'raw', '-D', 'PREROUTING', ...r);
    }
  });

  test('a pod that sends with a source address not its own is dropped, and the drop is reported', async () => {
    const [a, b] = [pods[0]!, pods[1]!];
    const spoofed = '10.202.0.77';
    // Give pod a a second address and send from it: the kernel in the pod
    // allows it, Membrane's from-endpoint program must not.
    await t.inPod(a, 'ip', 'addr', 'add', `${spoofed}/32`, 'dev', 'eth0');
    try {
      const r = await t.inPod(a, 'ping', '-c', '2', '-W', '1', '-I', spoofed, b.ip);
      assert.notEqual(r.code, 0, 'a spoofed ping got an answer');
      const events = await t.client.get<Array<{ type: string; reason: string; saddr: string; daddr: string; proto: string }>>('/v1/events?last=50');
      const drop = events.find((e) => e.type === 'drop' && e.saddr === spoofed);
      assert.ok(drop, `no drop event for ${spoofed}: ${JSON.stringify(events)}`);
      assert.equal(drop.reason, 'INVALID_SOURCE_IP');
      assert.equal(drop.daddr, b.ip);
      assert.equal(drop.proto, 'ICMP');
      const status = await t.client.get<{ datapath: { drops: Record<string, string> } }>('/v1/status');
      assert.ok(Number(status.datapath.drops.INVALID_SOURCE_IP) >= 2);
      // The real address still works.
      assert.ok(await t.ping(a.netnsName, b.ip));
    } finally {
      await t.inPod(a, 'ip', 'addr', 'del', `${spoofed}/32`, 'dev', 'eth0');
    }
  });

  test('deleting a pod removes its link, map entry and address', async () => {
    const d = await t.addPod('x', 'd');
    const before = await t.client.get<{ ipam: { allocated: number }; maps: Array<{ name: string; entries: number }> }>('/v1/status');
    await t.delPod('x', 'd');
    const afterDel = await t.client.get<{ ipam: { allocated: number }; maps: Array<{ name: string; entries: number }> }>('/v1/status');
    assert.equal(afterDel.ipam.allocated, before.ipam.allocated - 1);
    assert.equal(afterDel.maps.find((m) => m.name === 'mb_lxc')!.entries, before.maps.find((m) => m.name === 'mb_lxc')!.entries - 1);
    const links = (await t.inNode('ip', '-o', 'link', 'show', 'type', 'veth')).stdout;
    assert.equal(links.includes(d.ip), false);
    assert.equal((await t.endpoints()).some((e) => e.ipv4 === d.ip), false);
  });
});
