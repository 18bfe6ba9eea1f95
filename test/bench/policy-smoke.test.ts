// The policy benchmark's iptables side is valid and filters: a small
// kube-router node (bridge plugin pods, br_netfilter) gets the generator's
// ipsets and filter table through the same commands the benchmark times,
// and a client pod's connections to a server pod are let through or
// rejected as the NetworkPolicies say: without kube-router, with
// kube-router and no policy, and with policies that allow the client on one
// port only (the other port is REJECTed: refused). iptables-save shows the
// pod chains in the shape a live kube-router node shows them.
//
// Needs root. Names mbw2-*, chains and ipsets MBW-* inside the test's own
// node netns; pods in 10.219.255.0/28, blackholed on the host while the test
// runs; everything is removed in `after`, also when a test fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fullSync, names } from '../../bench/policy/kube-router.ts';
import { KubeRouterNode } from '../../bench/policy/kr-node.ts';
import { makePods, type PlacedPod, rulesPolicies, type WorkloadSpec } from '../../bench/policy/workload.ts';
import { run } from '../../src/endpoint/exec.ts';
import { NODE_BIN } from '../../src/sandbox/topology.ts';
import { leftovers, requireRoot } from '../helpers/env.ts';

const P = 'mbw2';
const CIDR = '10.219.255.0/28';
const SPEC: WorkloadSpec = { namespace: 'bench', endpoints: 3, apps: 2, port: 7101, deniedPort: 7102 };
const KR = { prefix: 'MBW-', serviceCidrs: ['10.96.18.0/24'] };

let node: KubeRouterNode | undefined;
let workDir: string | undefined;
let placed: PlacedPod[] = [];
const servers: ChildProcess[] = [];

/** connected | ECONNREFUSED | TIMEOUT | <errno> from the client pod. */
async function connect(host: string, port: number): Promise<string> {
  const js = `const s=require('net').connect(${port},'${host}',()=>{console.log('connected');process.exit(0)});s.setTimeout(1500,()=>{console.log('TIMEOUT');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)});`;
  const r = await run('ip', ['netns', 'exec', node!.netnsOf('client'), NODE_BIN, '-e', js], { allowFail: true });
  return r.stdout.trim();
}

async function cleanup(): Promise<void> {
  for (const s of servers) s.kill('SIGKILL');
  if (node) await node.destroy();
  // leftovers of a killed run: the names are fixed
  for (const ns of (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${P}-`))) {
    await run('ip', ['netns', 'del', ns], { allowFail: true });
  }
  await run('ip', ['route', 'del', 'blackhole', CIDR], { allowFail: true });
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
}

before(async () => {
  requireRoot();
  await cleanup();
  try {
    await run('ip', ['route', 'replace', 'blackhole', CIDR]);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), `${P}-`));
    node = await KubeRouterNode.create({ prefix: P, podCidr: CIDR, bridge: `${P}-br`, workDir, backend: 'legacy', kubeRouter: KR }, () => undefined);
    for (const pod of makePods(SPEC)) placed.push(await node.addPod(pod));
    const server = placed.find((p) => p.name === 'server')!;
    for (const port of [SPEC.port, SPEC.deniedPort]) {
      const s = spawn('ip', ['netns', 'exec', node.netnsOf('server'), NODE_BIN, '-e', `require('net').createServer(c=>c.pipe(c)).listen(${port},'${server.ip}',()=>console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.stdout!.once('data', () => resolve());
        s.once('exit', (code) => reject(new Error(`server on ${port} exited with ${code}`)));
      });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
});

after(async () => {
  await cleanup();
  node = undefined;
  assert.deepEqual(await leftovers(P), []);
  assert.ok(!(await run('ip', ['route', 'show', 'type', 'blackhole'])).stdout.includes(CIDR), `blackhole ${CIDR} removed`);
});

describe("kube-router's NetworkPolicy rules from the generator, on a bridge node", () => {
  const server = () => placed.find((p) => p.name === 'server')!;

  test('without kube-router and with kube-router but no policy, both ports connect', async () => {
    await node!.bare();
    assert.equal(await connect(server().ip, SPEC.port), 'connected');
    assert.equal(await connect(server().ip, SPEC.deniedPort), 'connected');
    await node!.base();
    const t = await node!.sync(fullSync(placed, placed, [], { ...KR, version: '1' }));
    assert.ok(t.total > 0);
    assert.equal(await connect(server().ip, SPEC.port), 'connected');
    assert.equal(await connect(server().ip, SPEC.deniedPort), 'connected');
  });

  test('with policies: the allowed port connects, the other is rejected; the chains look like a live node', async () => {
    const policies = rulesPolicies(SPEC, 2);
    const input = fullSync(placed, placed, policies, { ...KR, version: '2' });
    const t = await node!.sync(input);
    assert.equal(t.staleSetCount, 0);
    assert.deepEqual((await node!.listSets()).sort(), [...input.sets.keys()].sort());
    assert.equal(await connect(server().ip, SPEC.port), 'connected');
    assert.equal(await connect(server().ip, SPEC.deniedPort), 'ECONNREFUSED');

    // iptables-save prints the client's chain (no policy) as on a live kube-router node (k3s), names aside
    const n = names('MBW-', '2');
    const client = placed.find((p) => p.name === 'client')!;
    const chain = n.podFw('bench', 'client');
    const saved = (await run('ip', ['netns', 'exec', node!.nodeNs, 'iptables-legacy-save', '-t', 'filter'])).stdout.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
    const live = [
      '-A C -m comment --comment "rule for stateful firewall for pod" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A C -m comment --comment "rule to drop invalid state for pod" -m conntrack --ctstate INVALID -j DROP',
      `-A C -d IP/32 -m comment --comment "rule to permit the traffic traffic to pods when source is the pod\\'s local node" -m addrtype --src-type LOCAL -j ACCEPT`,
      '-A C -s IP/32 -m comment --comment "run through default egress network policy chain" -j DEFAULT',
      '-A C -d IP/32 -m comment --comment "run through default ingress network policy chain" -j DEFAULT',
      '-A C -m comment --comment "rule to log dropped traffic POD name:NAME namespace: NS" -m mark ! --mark 0x10000/0x10000 -m limit --limit 10/min --limit-burst 10 -j NFLOG --nflog-group 100',
      '-A C -m comment --comment "rule to REJECT traffic destined for POD name:NAME namespace: NS" -m mark ! --mark 0x10000/0x10000 -j REJECT --reject-with icmp-port-unreachable',
      '-A C -j MARK --set-xmark 0x0/0x10000',
      '-A C -m comment --comment "set mark to ACCEPT traffic that comply to network policies" -j MARK --set-xmark 0x20000/0x20000',
    ].map((l) => l.replace('-A C', `-A ${chain}`).replaceAll('IP', client.ip).replace('DEFAULT', n.defaultChain).replaceAll('NAME', 'client').replaceAll('NS', 'bench'));
    assert.deepEqual(saved, live);
    // the server's chain runs through both policies, by destination
    const srv = (await run('ip', ['netns', 'exec', node!.nodeNs, 'iptables-legacy-save', '-t', 'filter'])).stdout.split('\n').filter((l) => l.startsWith(`-A ${n.podFw('bench', 'server')} -d ${server().ip}/32 -m comment --comment "run through nw policy`));
    assert.equal(srv.length, 2);
  });

  test('back to no policy: the stale ipsets are destroyed and both ports connect again', async () => {
    const t = await node!.sync(fullSync(placed, placed, [], { ...KR, version: '3' }));
    assert.equal(t.staleSetCount, 4);
    assert.deepEqual(await node!.listSets(), []);
    assert.equal(await connect(server().ip, SPEC.deniedPort), 'connected');
  });
});
