// membrane-cni first in a conflist, followed by Debian's portmap and
// bandwidth plugins (CNI 1.0.0), executed the way libcni does (prevResult
// and runtimeConfig capabilities). The chained plugins find the pod's host
// veth through membrane-cni's result; what they do must be visible from the
// outside: a hostPort that answers, a rate limit that holds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../../src/endpoint/exec.ts';
import { hostIfName } from '../../src/endpoint/names.ts';
import { CniError, type Conflist } from '../../src/sandbox/cni-runtime.ts';
import { DIST, MEMBRANE_CONFLIST, NODE_BIN, sleep, SYSTEM_CNI_DIR, type Pod } from '../../src/sandbox/topology.ts';
import { Node } from './helpers.ts';

const POD_CIDR = '10.201.2.0/24';
const RATE = 10_000_000; // bits per second
const BURST = 1_000_000; // bits

let node: Node;
let conflist: Conflist;

before(async () => {
  for (const p of ['portmap', 'bandwidth']) {
    try {
      fs.accessSync(path.join(SYSTEM_CNI_DIR, p), fs.constants.X_OK);
    } catch {
      throw new Error(`${SYSTEM_CNI_DIR}/${p} is missing: install Debian's containernetworking-plugins`);
    }
  }
  node = await Node.create('mbc3', POD_CIDR);
  await node.startAgent();
  conflist = MEMBRANE_CONFLIST(
    node.t.socket,
    [
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
    '1.0.0',
  );
  node.t.conflist = conflist;
});

after(async () => {
  await node?.destroy();
});

interface Result {
  cniVersion: string;
  interfaces: Array<{ name: string; sandbox?: string }>;
  ips: Array<{ address: string; interface?: number }>;
}

function hostIf(pod: Pod): string {
  return (pod.result as Result).interfaces[0]!.name;
}

/** An HTTP GET from the world netns; the pod server's JSON answer, or undefined. */
async function httpFromWorld(host: string, port: number): Promise<{ pod: string; client: string } | undefined> {
  const r = await run('ip', ['netns', 'exec', node.t.worldNs, NODE_BIN, path.join(DIST, 'sandbox/probe.js'), 'http', host, String(port), '1500'], { allowFail: true });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as { pod: string; client: string };
}

async function natRules(): Promise<string> {
  return (await node.t.inNode('iptables-save', '-t', 'nat')).stdout;
}

async function qdiscs(dev: string): Promise<Array<{ kind: string; handle: string; root?: boolean; options?: { rate?: number; burst?: number } }>> {
  return JSON.parse((await node.t.inNode('tc', '-j', 'qdisc', 'show', 'dev', dev)).stdout);
}

const WEB_PORTS = [
  { hostPort: 8081, containerPort: 8080, protocol: 'tcp' },
  { hostPort: 7007, containerPort: 7, protocol: 'udp' },
];

test('portmap: a hostPort on the node reaches the pod; DEL removes the DNAT', async () => {
  assert.equal(await httpFromWorld(node.t.nodeIp, 8081), undefined, 'nothing answers on :8081 before the pod');
  const pod = await node.addPod('default', 'web', {
    server: true,
    capabilities: { portMappings: WEB_PORTS },
  });
  // The chain's final result is still membrane-cni's attachment.
  const res = pod.result as Result;
  assert.equal(res.cniVersion, '1.0.0');
  assert.equal(res.interfaces[1]!.sandbox, pod.netns);
  assert.match(pod.ip, /^10\.201\.2\.\d+$/);

  const answer = await httpFromWorld(node.t.nodeIp, 8081);
  assert.ok(answer, 'world → node:8081 answered');
  assert.equal(answer.pod, 'default/web', 'and the pod server answered it');
  assert.equal(answer.client, node.t.worldIp, 'the pod sees the real client address (no SNAT from outside)');
  assert.match(await natRules(), new RegExp(`DNAT --to-destination ${pod.ip.replaceAll('.', '\\.')}:8080`));
  assert.ok(await node.t.probe(node.t.worldNs, 'udp', node.t.nodeIp, 7007), 'world → node:7007/udp echoes from the pod');

  // DEL the whole chain, as the runtime does, but keep the server running:
  // the probe must fail because the mapping is gone, not the process.
  await node.t.cni.del(conflist, { containerID: pod.containerID, netns: pod.netns, ifName: 'eth0', capabilities: { portMappings: WEB_PORTS } }, pod.result);
  assert.equal(pod.server?.exitCode, null, 'the pod server is still running');
  assert.equal(await httpFromWorld(node.t.nodeIp, 8081), undefined, 'world → node:8081 no longer reaches anything');
  assert.equal(await node.t.probe(node.t.worldNs, 'udp', node.t.nodeIp, 7007), false, 'nor node:7007/udp');
  assert.doesNotMatch(await natRules(), new RegExp(pod.ip.replaceAll('.', '\\.')), 'no NAT rule names the pod any more');
  assert.ok(!(await node.nodeLinks()).includes(hostIf(pod)));
  await node.t.delPod('default', 'web'); // stops the server, removes the netns; the DEL again is a no-op
});

test('portmap DEL alone removes the mapping while the pod stays reachable', async () => {
  const mappings = [{ hostPort: 8082, containerPort: 8080, protocol: 'tcp' }];
  const pod = await node.addPod('default', 'api', { server: true, capabilities: { portMappings: mappings } });
  assert.ok(await httpFromWorld(node.t.nodeIp, 8082));
  const pm = conflist.plugins[1]!;
  const { capabilities: _c, ...pmConf } = pm;
  const r = await node.t.cni.exec('portmap', 'DEL', { containerID: pod.containerID, netns: pod.netns, ifName: 'eth0' }, {
    ...pmConf,
    cniVersion: conflist.cniVersion,
    name: conflist.name,
    runtimeConfig: { portMappings: mappings },
    prevResult: pod.result,
  });
  assert.equal(r.code, 0, r.stdout);
  assert.equal(await httpFromWorld(node.t.nodeIp, 8082), undefined, 'the hostPort is gone');
  assert.ok(await node.t.probe(node.t.nodeNs, 'http', pod.ip, 8080), 'the pod itself still answers from the node');
  await node.t.delPod('default', 'api');
});

test('bandwidth: ingressRate puts a tbf on the host veth and limits transfers into the pod', async () => {
  const slow = await node.addPod('default', 'slow', {
    capabilities: {
      portMappings: [{ hostPort: 5201, containerPort: 5201, protocol: 'tcp' }],
      bandwidth: { ingressRate: RATE, ingressBurst: BURST },
    },
  });
  const fast = await node.addPod('default', 'fast', {
    capabilities: { portMappings: [{ hostPort: 5202, containerPort: 5201, protocol: 'tcp' }] },
  });

  const tbf = (await qdiscs(hostIf(slow))).find((q) => q.kind === 'tbf');
  assert.ok(tbf, `a tbf qdisc on ${hostIf(slow)}`);
  assert.equal(tbf.root, true);
  assert.equal(tbf.options?.rate, RATE / 8, 'tc reports the rate in bytes per second');
  assert.equal(tbf.options?.burst, BURST / 8);
  assert.ok((await qdiscs(hostIf(slow))).some((q) => q.kind === 'clsact'), "Membrane's clsact is still there");
  assert.ok(!(await qdiscs(hostIf(fast))).some((q) => q.kind === 'tbf'), 'no tbf without a bandwidth limit');

  // CHECK of the chain, without portmap: Debian's portmap 1.1.1 fails every
  // CHECK of an IPv4-only pod looking for ip6tables rules it never made
  // (containernetworking/plugins#819, fixed upstream later).
  await node.t.cni.check({ ...conflist, plugins: conflist.plugins.filter((p) => p.type !== 'portmap') }, {
    containerID: slow.containerID, netns: slow.netns, ifName: 'eth0',
    capabilities: { portMappings: [{ hostPort: 5201, containerPort: 5201, protocol: 'tcp' }], bandwidth: { ingressRate: RATE, ingressBurst: BURST } },
  }, slow.result);

  const limited = await iperfIntoPod(slow, node.t.worldNs, node.t.nodeIp, 5201);
  const free = await iperfIntoPod(fast, node.t.worldNs, node.t.nodeIp, 5202);
  assert.ok(limited < 2 * RATE, `limited transfer ran at ${mbit(limited)}, limit ${mbit(RATE)}`);
  assert.ok(limited > 0.3 * RATE, `limited transfer ran at ${mbit(limited)}: it should still get most of ${mbit(RATE)}`);
  assert.ok(free > 10 * RATE, `unlimited transfer ran at only ${mbit(free)}`);

  await node.t.delPod('default', 'slow');
  await node.t.delPod('default', 'fast');
  assert.deepEqual(await node.endpoints(), []);
});

test('bandwidth: the ingress limit also holds for traffic from a pod on the same node', {
  todo: 'bpf_lxc delivers pod-to-pod traffic with bpf_redirect_peer, which skips the host veth and its tbf qdisc: the limit does not apply (measured ~9 Gbit/s against a 10 Mbit/s limit)',
}, async () => {
  const slow = await node.addPod('default', 'slow2', { capabilities: { bandwidth: { ingressRate: RATE, ingressBurst: BURST } } });
  const client = await node.addPod('default', 'client');
  try {
    assert.ok((await qdiscs(hostIf(slow))).some((q) => q.kind === 'tbf'));
    const fromNode = await iperfIntoPod(slow, node.t.nodeNs, slow.ip, 5201);
    assert.ok(fromNode < 2 * RATE, `node → pod ran at ${mbit(fromNode)}, limit ${mbit(RATE)}`);
    const fromPod = await iperfIntoPod(slow, client.netnsName, slow.ip, 5201);
    assert.ok(fromPod < 2 * RATE, `pod → pod on the same node ran at ${mbit(fromPod)}, limit ${mbit(RATE)}`);
  } finally {
    await node.t.delPod('default', 'client');
    await node.t.delPod('default', 'slow2');
  }
});

test('bandwidth: egress shaping conflicts with Membrane’s clsact on the host veth (documented failure)', async () => {
  // The bandwidth plugin shapes pod egress by adding an `ingress` qdisc
  // (handle ffff:) to the host veth and redirecting to an ifb device. The
  // host veth already has Membrane's clsact qdisc, which occupies the same
  // ffff: slot, so the kernel refuses. Until Membrane attaches with tcx
  // (no qdisc), egressRate cannot be used with this chain.
  const egress = { egressRate: RATE, egressBurst: BURST };
  await assert.rejects(
    node.addPod('default', 'egress', { capabilities: { bandwidth: egress } }),
    (err: unknown) => {
      assert.ok(err instanceof CniError, String(err));
      assert.equal(err.plugin, 'bandwidth');
      assert.equal(err.cniCode, 999);
      assert.match(err.message, /create ingress qdisc: file exists/);
      return true;
    },
  );
  const pod = node.t.pods.get('default/egress')!;
  const veth = hostIfName(pod.containerID, 'eth0');
  const ifb = (l: string) => /^bwp[0-9a-f]+$/.test(l);
  const links = await node.nodeLinks();
  assert.ok(links.includes(veth), 'membrane-cni (first in the chain) had attached the pod');
  assert.equal(links.filter(ifb).length, 1, 'the failed ADD left its ifb device until the runtime DELs');
  // A runtime DELs after a failed ADD; that cleans up every plugin's part.
  await node.t.delPod('default', 'egress');
  const after = await node.nodeLinks();
  assert.ok(!after.includes(veth), 'the pod veth is gone');
  assert.deepEqual(after.filter(ifb), [], 'the ifb device is gone');
  assert.ok(!(await node.endpoints()).some((e) => e.containerID === pod.containerID));
});

test('nothing is left behind', async () => {
  await node.destroy();
  await node.assertNothingLeaked();
});

/** iperf3 from a netns to host:port (reaching the pod's 5201) for 3 s; the bits/s the pod received. */
async function iperfIntoPod(pod: Pod, fromNetns: string, host: string, port: number): Promise<number> {
  const server = node.track(spawn('ip', ['netns', 'exec', pod.netnsName, 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' }));
  try {
    await listening(pod, server);
    const r = await run('ip', ['netns', 'exec', fromNetns, 'iperf3', '-c', host, '-p', String(port), '-t', '3', '-J'], { allowFail: true });
    const j = JSON.parse(r.stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
    assert.equal(j.error, undefined, `iperf3 into ${pod.name} failed`);
    const bps = j.end?.sum_received?.bits_per_second;
    assert.ok(typeof bps === 'number', 'iperf3 reported a received rate');
    return bps;
  } finally {
    server.kill('SIGKILL');
  }
}

/** Waits until iperf3 listens on 5201 in the pod (its stdout is block-buffered on a pipe: poll instead). */
async function listening(pod: Pod, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`iperf3 server in ${pod.netnsName} exited with ${child.exitCode}`);
    const r = await run('ip', ['netns', 'exec', pod.netnsName, 'ss', '-Hltn', 'sport = :5201'], { allowFail: true });
    if (r.stdout.includes('5201')) return;
    if (Date.now() > deadline) throw new Error(`iperf3 server in ${pod.netnsName} did not start listening`);
    await sleep(50);
  }
}

function mbit(bps: number): string {
  return `${(bps / 1e6).toFixed(1)} Mbit/s`;
}
