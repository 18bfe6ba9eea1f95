// Every CNI verb through the real membrane-cni binary, run inside the node's
// netns the way a container runtime runs it: what the runtime reads back
// (result JSON, error codes, exit status) and what a user could observe on
// the node (links, addresses, routes, the agent's endpoints).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { run } from '../../src/endpoint/exec.ts';
import { netnsPath } from '../../src/sandbox/topology.ts';
import { cniError, cniOk, eventually, Node, type PluginOutput } from './helpers.ts';

const POD_CIDR = '10.201.0.0/24';
const GATEWAY = '10.201.0.1';
const SUPPORTED = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

let node: Node;

before(async () => {
  node = await Node.create('mbc', POD_CIDR);
  await node.startAgent();
});

after(async () => {
  await node?.destroy();
});

interface Result {
  cniVersion: string;
  interfaces: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips: Array<{ address: string; gateway?: string; interface?: number; version?: string }>;
  routes: Array<{ dst: string; gw?: string }>;
  dns: unknown;
}

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', agentSocket: node.t.socket, ...extra };
}

/** The environment a runtime sets for an attachment verb. */
function env(command: string, pod: string, netns: string | undefined, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: `${node.name}-${pod}`,
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/usr/lib/cni',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod}`,
    ...extra,
  };
}

/** Makes a pod netns and attaches it; returns the netns path and the result. */
async function addPod(pod: string): Promise<{ netns: string; netnsName: string; result: Result }> {
  const ns = await node.podNetns(pod);
  const result = cniOk<Result>(await node.cni(env('ADD', pod, ns.path), conf()))!;
  return { netns: ns.path, netnsName: ns.name, result };
}

function ipOf(result: Result): string {
  return result.ips[0]!.address.split('/')[0]!;
}

async function podAddrs(netnsName: string, dev = 'eth0'): Promise<string[]> {
  const r = await run('ip', ['-n', netnsName, '-j', 'addr', 'show', 'dev', dev], { allowFail: true });
  if (r.code !== 0) return [];
  const links = JSON.parse(r.stdout) as Array<{ addr_info?: Array<{ family: string; local: string; prefixlen: number }> }>;
  return (links[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

async function allocated(): Promise<number> {
  return (await node.t.client.get<{ ipam: { allocated: number } }>('/v1/status')).ipam.allocated;
}

async function endpointFor(pod: string) {
  return (await node.endpoints()).find((e) => e.containerID === `${node.name}-${pod}`);
}

test('VERSION reports the spec versions the plugin speaks', async () => {
  for (const stdin of ['{"cniVersion":"1.1.0"}', '{"cniVersion":"0.3.1"}', '']) {
    const out = cniOk<{ cniVersion: string; supportedVersions: string[] }>(await node.cni({ CNI_COMMAND: 'VERSION' }, stdin));
    assert.deepEqual(out, { cniVersion: '1.1.0', supportedVersions: SUPPORTED }, `stdin ${JSON.stringify(stdin)}`);
  }
});

let p1: { netns: string; netnsName: string; result: Result };

test('ADD gives the pod an address, and the result describes it', async () => {
  p1 = await addPod('p1');
  const r = p1.result;
  assert.equal(r.cniVersion, '1.1.0');
  assert.equal(r.interfaces.length, 2);
  const [host, pod] = r.interfaces;
  assert.match(host!.name, /^lxc[0-9a-f]{11}$/);
  assert.equal(host!.sandbox, undefined, 'the host veth has no sandbox');
  assert.match(host!.mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(pod!.name, 'eth0');
  assert.equal(pod!.sandbox, p1.netns);
  assert.match(pod!.mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(r.ips.length, 1);
  assert.match(r.ips[0]!.address, /^10\.201\.0\.\d+\/32$/);
  assert.notEqual(ipOf(r), GATEWAY);
  assert.equal(r.ips[0]!.gateway, GATEWAY);
  assert.equal(r.ips[0]!.interface, 1, 'the address belongs to the pod interface');
  assert.equal(r.ips[0]!.version, undefined, '1.x results have no per-IP version');
  assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: GATEWAY }]);

  // What the pod really has.
  assert.deepEqual(await podAddrs(p1.netnsName), [r.ips[0]!.address]);
  const link = JSON.parse((await run('ip', ['-n', p1.netnsName, '-j', 'link', 'show', 'dev', 'eth0'])).stdout) as Array<{ address: string; operstate: string }>;
  assert.equal(link[0]!.address, pod!.mac);
  const routes = JSON.parse((await run('ip', ['-n', p1.netnsName, '-j', 'route', 'show', 'default'])).stdout) as Array<{ gateway?: string; dev: string }>;
  assert.deepEqual(routes.map((x) => [x.gateway, x.dev]), [[GATEWAY, 'eth0']]);
  // And the node: the host veth with the advertised MAC, a route to the pod, and traffic.
  const hostLink = JSON.parse((await node.t.inNode('ip', '-j', 'link', 'show', 'dev', host!.name)).stdout) as Array<{ address: string }>;
  assert.equal(hostLink[0]!.address, host!.mac);
  assert.match((await node.t.inNode('ip', 'route', 'show', `${ipOf(r)}/32`)).stdout, new RegExp(`dev ${host!.name}`));
  assert.ok(await node.t.ping(node.t.nodeNs, ipOf(r)), 'the node reaches the pod');
  assert.ok(await node.t.ping(p1.netnsName, GATEWAY), 'the pod reaches its gateway');

  const ep = await endpointFor('p1');
  assert.ok(ep, 'the agent lists the endpoint');
  assert.equal(ep.ipv4, ipOf(r));
  assert.equal(ep.hostIfName, host!.name);
  assert.equal(`${ep.podNamespace}/${ep.podName}`, 'default/p1', 'K8S_POD_* from CNI_ARGS reach the endpoint');
});

test('ADD twice is idempotent', async () => {
  const before = await allocated();
  const again = cniOk<Result>(await node.cni(env('ADD', 'p1', p1.netns), conf()))!;
  assert.deepEqual(again, p1.result);
  assert.equal(await allocated(), before, 'no second address');
  assert.equal((await node.endpoints()).filter((e) => e.containerID === `${node.name}-p1`).length, 1);
  assert.deepEqual(await podAddrs(p1.netnsName), [p1.result.ips[0]!.address]);
});

test('ADD with an older cniVersion answers in that version’s result format', async () => {
  const old = cniOk<Result>(await node.cni(env('ADD', 'p1', p1.netns), conf({ cniVersion: '0.4.0' })))!;
  assert.equal(old.cniVersion, '0.4.0');
  assert.equal(old.ips[0]!.version, '4');
  assert.equal(old.ips[0]!.address, p1.result.ips[0]!.address);
});

test('ADD of the same attachment into another netns is refused', async () => {
  const other = await node.podNetns('p1-other');
  const e = cniError(await node.cni(env('ADD', 'p1', other.path), conf()));
  assert.equal(e.code, 100);
  assert.match(e.msg, /exists with netns/);
  assert.deepEqual(await podAddrs(other.name), [], 'nothing was attached to the other netns');
  await run('ip', ['netns', 'del', other.name]);
});

test('CHECK passes for an intact attachment', async () => {
  const r = await node.cni(env('CHECK', 'p1', p1.netns), conf({ prevResult: p1.result }));
  assert.equal(cniOk(r), undefined, 'CHECK prints nothing on success');
});

test('CHECK fails when prevResult does not match the attachment, or is missing', async () => {
  const wrong = structuredClone(p1.result);
  wrong.ips[0]!.address = '10.201.0.250/32';
  const e = cniError(await node.cni(env('CHECK', 'p1', p1.netns), conf({ prevResult: wrong })));
  assert.equal(e.code, 100);
  assert.match(e.msg, /address/);
  const missing = cniError(await node.cni(env('CHECK', 'p1', p1.netns), conf()));
  assert.equal(missing.code, 7);
  assert.match(missing.msg, /prevResult/);
  const old = cniError(await node.cni(env('CHECK', 'p1', p1.netns), conf({ cniVersion: '0.3.1', prevResult: p1.result })));
  assert.equal(old.code, 1, 'CHECK does not exist before 0.4.0');
});

test('CHECK fails when the pod lost its address', async () => {
  const addr = p1.result.ips[0]!.address;
  await run('ip', ['-n', p1.netnsName, 'addr', 'del', addr, 'dev', 'eth0']);
  try {
    const e = cniError(await node.cni(env('CHECK', 'p1', p1.netns), conf({ prevResult: p1.result })));
    assert.equal(e.code, 100);
    assert.match(e.msg, new RegExp(`does not have address ${addr.split('/')[0]!.replaceAll('.', '\\.')}`));
  } finally {
    await run('ip', ['-n', p1.netnsName, 'addr', 'add', addr, 'dev', 'eth0']);
  }
  cniOk(await node.cni(env('CHECK', 'p1', p1.netns), conf({ prevResult: p1.result })));
});

test('CHECK fails after the pod’s interface was removed; DEL then cleans up', async () => {
  const hostIf = p1.result.interfaces[0]!.name;
  await run('ip', ['-n', p1.netnsName, 'link', 'del', 'eth0']);
  await eventually('host veth gone with its peer', async () => !(await node.nodeLinks()).includes(hostIf));
  const e = cniError(await node.cni(env('CHECK', 'p1', p1.netns), conf({ prevResult: p1.result })));
  assert.equal(e.code, 100);
  assert.match(e.msg, new RegExp(`${hostIf}.*missing`));
  const before = await allocated();
  cniOk(await node.cni(env('DEL', 'p1', p1.netns), conf({ prevResult: p1.result })));
  assert.equal(await endpointFor('p1'), undefined);
  assert.equal(await allocated(), before - 1);
  await run('ip', ['netns', 'del', p1.netnsName]);
});

test('DEL detaches the pod and is idempotent', async () => {
  const p = await addPod('p2');
  const hostIf = p.result.interfaces[0]!.name;
  const ip = ipOf(p.result);
  const before = await allocated();
  for (let i = 0; i < 2; i++) {
    const r = await node.cni(env('DEL', 'p2', p.netns), conf({ prevResult: p.result }));
    assert.equal(cniOk(r), undefined, `DEL #${i + 1} succeeds and prints nothing`);
    assert.equal(await endpointFor('p2'), undefined);
    assert.ok(!(await node.nodeLinks()).includes(hostIf), 'host veth removed');
    assert.deepEqual(await podAddrs(p.netnsName), [], 'the pod has no eth0 any more');
    assert.equal((await node.t.inNode('ip', 'route', 'show', `${ip}/32`)).stdout.trim(), '', 'route to the pod removed');
    assert.equal(await allocated(), before - 1, 'address released once');
  }
  assert.equal(await node.t.ping(node.t.nodeNs, ip), false, 'the old address answers no more');
  // A container the agent never heard of: nothing to do, still success.
  cniOk(await node.cni(env('DEL', 'never-added', p.netns), conf()));
  await run('ip', ['netns', 'del', p.netnsName]);
});

test('DEL succeeds with CNI_NETNS absent or empty', async () => {
  for (const [pod, netns] of [['p3', undefined], ['p4', '']] as const) {
    const p = await addPod(pod);
    const r: PluginOutput = await node.cni(env('DEL', pod, netns), conf({ prevResult: p.result }));
    cniOk(r);
    assert.equal(await endpointFor(pod), undefined, `${pod}: endpoint removed`);
    assert.ok(!(await node.nodeLinks()).includes(p.result.interfaces[0]!.name), `${pod}: host veth removed`);
    await run('ip', ['netns', 'del', p.netnsName]);
  }
});

test('DEL after the netns was deleted succeeds and frees the address', async () => {
  const p = await addPod('p5');
  const ip = ipOf(p.result);
  const hostIf = p.result.interfaces[0]!.name;
  const before = await allocated();
  await run('ip', ['netns', 'del', p.netnsName]);
  // The runtime still passes the old path.
  cniOk(await node.cni(env('DEL', 'p5', p.netns), conf({ prevResult: p.result })));
  assert.equal(await endpointFor('p5'), undefined, 'GET /v1/endpoints no longer lists it');
  assert.ok(!(await node.endpoints()).some((e) => e.ipv4 === ip), `${ip} is not in use`);
  assert.equal(await allocated(), before - 1, 'the address went back to the pool');
  await eventually('host veth gone', async () => !(await node.nodeLinks()).includes(hostIf));
  assert.equal((await node.t.inNode('ip', 'route', 'show', `${ip}/32`)).stdout.trim(), '');
  // A repeated DEL (the runtime retrying) still succeeds.
  cniOk(await node.cni(env('DEL', 'p5', p.netns), conf()));
});

test('ADD accepts a netns given as /proc/PID/ns/net', async () => {
  const holder = node.track(spawn('unshare', ['--net', 'sleep', '300'], { stdio: 'ignore' }));
  try {
    const netns = `/proc/${holder.pid}/ns/net`;
    await eventually('the holder is in its own netns', async () => fs.readlinkSync(netns) !== fs.readlinkSync('/proc/self/ns/net'));
    const r = cniOk<Result>(await node.cni(env('ADD', 'proc', netns), conf()))!;
    assert.equal(r.interfaces[1]!.sandbox, netns);
    const addrs = (await run('nsenter', [`--net=${netns}`, '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    assert.match(addrs, new RegExp(` ${r.ips[0]!.address.replaceAll('.', '\\.')} `));
    assert.ok(await node.t.ping(node.t.nodeNs, ipOf(r)));
    cniOk(await node.cni(env('CHECK', 'proc', netns), conf({ prevResult: r })));
    cniOk(await node.cni(env('DEL', 'proc', netns), conf()));
    assert.equal(await endpointFor('proc'), undefined);
  } finally {
    holder.kill('SIGKILL');
  }
});

test('concurrent ADDs get distinct addresses, and all of them work', async () => {
  const names = Array.from({ length: 8 }, (_, i) => `c${i}`);
  const nss: Array<{ name: string; path: string }> = [];
  for (const n of names) nss.push(await node.podNetns(n));
  const before = await allocated();
  const results = await Promise.all(names.map((n, i) => node.cni(env('ADD', n, nss[i]!.path), conf())));
  const ips = results.map((r) => ipOf(cniOk<Result>(r)!));
  assert.equal(new Set(ips).size, names.length, `distinct addresses: ${ips.join(' ')}`);
  assert.equal(await allocated(), before + names.length);
  for (const [i, ns] of nss.entries()) {
    assert.deepEqual(await podAddrs(ns.name), [`${ips[i]}/32`]);
  }
  // Pod to pod, across the concurrently made endpoints.
  assert.ok(await node.t.ping(nss[0]!.name, ips[7]!), 'c0 reaches c7');
  assert.ok(await node.t.ping(nss[7]!.name, ips[0]!), 'c7 reaches c0');
  const dels = await Promise.all(names.map((n, i) => node.cni(env('DEL', n, nss[i]!.path), conf())));
  for (const d of dels) cniOk(d);
  assert.equal(await allocated(), before);
  for (const ns of nss) await run('ip', ['netns', 'del', ns.name]);
});

test('a failed ADD rolls back: no veth, no address, no endpoint', async () => {
  const ns = await node.podNetns('taken');
  // The pod already has an eth0 (another plugin's, say): the veth cannot be made.
  await run('ip', ['-n', ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer']);
  const before = await allocated();
  const linksBefore = await node.nodeLinks();
  const e = cniError(await node.cni(env('ADD', 'taken', ns.path), conf()));
  assert.equal(e.code, 999);
  assert.match(e.msg, /create endpoint .*taken\/eth0: .*File exists/);
  assert.equal(await allocated(), before, 'the address went back');
  assert.equal(await endpointFor('taken'), undefined);
  assert.deepEqual(await node.nodeLinks(), linksBefore, 'no host veth left');
  assert.deepEqual(await podAddrs(ns.name), [], "the pod's own eth0 got no address");
  assert.equal((await run('ip', ['-n', ns.name, 'link', 'show', 'dev', 'eth0'], { allowFail: true })).code, 0, "and is still there");
  // DEL after the failed ADD (what the runtime does next) is fine.
  cniOk(await node.cni(env('DEL', 'taken', ns.path), conf()));
  await run('ip', ['netns', 'del', ns.name]);
});

test('GC removes the attachments that are not in cni.dev/valid-attachments', async () => {
  const g1 = await addPod('g1');
  const g2 = await addPod('g2');
  const g3 = await addPod('g3');
  const stale = [g2, g3];
  const keep = (await node.endpoints())
    .filter((e) => !stale.some((s) => s.result.interfaces[0]!.name === e.hostIfName))
    .map((e) => ({ containerID: e.containerID, ifname: e.ifName }));
  assert.ok(keep.some((k) => k.containerID === `${node.name}-g1`));
  const before = await allocated();

  const r = await node.cni({ CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, conf({ 'cni.dev/valid-attachments': keep }));
  assert.equal(cniOk(r), undefined, 'GC prints nothing on success');

  const links = await node.nodeLinks();
  for (const s of stale) {
    assert.ok(!links.includes(s.result.interfaces[0]!.name), `stale host veth ${s.result.interfaces[0]!.name} removed`);
    assert.deepEqual(await podAddrs(s.netnsName), [], 'the stale pod lost its interface');
    assert.ok(!(await node.endpoints()).some((e) => e.ipv4 === ipOf(s.result)), `${ipOf(s.result)} released`);
  }
  assert.equal(await allocated(), before - 2);
  assert.ok(links.includes(g1.result.interfaces[0]!.name), 'the valid attachment keeps its veth');
  assert.ok(await node.t.ping(node.t.nodeNs, ipOf(g1.result)), 'and its traffic');
  cniOk(await node.cni(env('CHECK', 'g1', g1.netns), conf({ prevResult: g1.result })));

  // Nothing stale left: a second GC changes nothing.
  cniOk(await node.cni({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': keep })));
  assert.equal(await allocated(), before - 2);

  // GC needs the list (an absent list is not "nothing is valid") and a 1.1.0 configuration.
  const noList = cniError(await node.cni({ CNI_COMMAND: 'GC' }, conf()));
  assert.equal(noList.code, 7);
  const old = cniError(await node.cni({ CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] })));
  assert.equal(old.code, 1);
  assert.equal(old.cniVersion, '1.0.0', 'the error is reported in the configuration’s version');
  assert.ok(links.includes(g1.result.interfaces[0]!.name) && (await endpointFor('g1')), 'refused GCs removed nothing');
  for (const s of stale) await run('ip', ['netns', 'del', s.netnsName]);
});

test('STATUS succeeds while the agent is up', async () => {
  assert.equal(cniOk(await node.cni({ CNI_COMMAND: 'STATUS' }, conf())), undefined);
  const old = cniError(await node.cni({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.0.0' })));
  assert.equal(old.code, 1, 'STATUS does not exist before 1.1.0');
});

test('malformed invocations get the spec’s error codes and change nothing', async () => {
  const ns = await node.podNetns('bad');
  const count = (await node.endpoints()).length;
  const cases: Array<[string, Record<string, string | undefined>, unknown, number, RegExp]> = [
    ['garbage on stdin', env('ADD', 'bad', ns.path), 'this is {not json', 6, /decoding network config/],
    ['stdin is a JSON array', env('ADD', 'bad', ns.path), '[1,2]', 6, /not a JSON object/],
    ['no CNI_COMMAND', env('ADD', 'bad', ns.path, { CNI_COMMAND: undefined }), conf(), 4, /CNI_COMMAND/],
    ['unknown CNI_COMMAND', env('ADD', 'bad', ns.path, { CNI_COMMAND: 'FROB' }), conf(), 4, /CNI_COMMAND.*FROB|FROB/],
    ['no CNI_CONTAINERID', env('ADD', 'bad', ns.path, { CNI_CONTAINERID: undefined }), conf(), 4, /CNI_CONTAINERID/],
    ['no CNI_IFNAME', env('ADD', 'bad', ns.path, { CNI_IFNAME: undefined }), conf(), 4, /CNI_IFNAME/],
    ['no CNI_NETNS', env('ADD', 'bad', undefined), conf(), 4, /CNI_NETNS/],
    ['empty CNI_NETNS', env('ADD', 'bad', ''), conf(), 4, /CNI_NETNS/],
    ['relative CNI_NETNS', env('ADD', 'bad', 'mbc-bad'), conf(), 4, /CNI_NETNS: must be an absolute path/],
    ['malformed CNI_ARGS', env('ADD', 'bad', ns.path, { CNI_ARGS: 'K8S_POD_NAME' }), conf(), 4, /CNI_ARGS/],
    ['bad container ID', env('ADD', 'bad', ns.path, { CNI_CONTAINERID: '../etc' }), conf(), 4, /CNI_CONTAINERID/],
    ['interface name too long', env('ADD', 'bad', ns.path, { CNI_IFNAME: 'a-very-long-ifname0' }), conf(), 4, /CNI_IFNAME/],
    ['unknown cniVersion', env('ADD', 'bad', ns.path), conf({ cniVersion: '9.9.9' }), 1, /9\.9\.9/],
    ['no cniVersion', env('ADD', 'bad', ns.path), conf({ cniVersion: undefined }), 1, /cniVersion/],
    ['ipam section', env('ADD', 'bad', ns.path), conf({ ipam: { type: 'host-local' } }), 2, /ipam/],
    ['netns that does not exist', env('ADD', 'bad', '/var/run/netns/mbc-no-such-netns'), conf(), 3, /does not exist/],
    ['CNI_NETNS that is not a netns', env('ADD', 'bad', '/etc/hostname'), conf(), 4, /\/etc\/hostname is not a network namespace/],
  ];
  for (const [what, e, stdin, code, msg] of cases) {
    const err = cniError(await node.cni(e, stdin));
    assert.equal(err.code, code, `${what}: code (${err.msg})`);
    assert.match(err.msg, msg, `${what}: message`);
  }
  // Several missing variables are named together.
  const both = cniError(await node.cni(env('ADD', 'bad', undefined, { CNI_IFNAME: undefined }), conf()));
  assert.equal(both.code, 4);
  assert.match(both.msg, /CNI_NETNS/);
  assert.match(both.msg, /CNI_IFNAME/);

  assert.equal((await node.endpoints()).length, count, 'no endpoint was created by a failed call');
  assert.deepEqual(await podAddrs(ns.name), []);
  await run('ip', ['netns', 'del', ns.name]);
});

test('without an agent: STATUS says 50, ADD says 5; both recover when it is back', async () => {
  const ns = await node.podNetns('late');
  const nowhere = conf({ agentSocket: `${node.workDir}/no-agent.sock` });
  const st = cniError(await node.cni({ CNI_COMMAND: 'STATUS' }, nowhere));
  assert.equal(st.code, 50);

  await node.t.stopAgent('SIGTERM');
  try {
    const status = cniError(await node.cni({ CNI_COMMAND: 'STATUS' }, conf()));
    assert.equal(status.code, 50);
    assert.match(status.msg, /agent/);
    const add = cniError(await node.cni(env('ADD', 'late', ns.path), conf()));
    assert.equal(add.code, 5);
    assert.match(add.msg, /cannot reach the agent/);
    assert.deepEqual(await podAddrs(ns.name), [], 'no interface appeared');
  } finally {
    await node.startAgent();
  }
  cniOk(await node.cni({ CNI_COMMAND: 'STATUS' }, conf()));
  const r = cniOk<Result>(await node.cni(env('ADD', 'late', ns.path), conf()))!;
  assert.deepEqual(await podAddrs(ns.name), [r.ips[0]!.address], 'the retried ADD works');
  // Endpoints made before the restart survive it.
  const g1 = await endpointFor('g1');
  assert.ok(g1, 'g1 restored');
  assert.ok(await node.t.ping(node.t.nodeNs, g1.ipv4));
  cniOk(await node.cni(env('DEL', 'late', ns.path), conf()));
  cniOk(await node.cni(env('DEL', 'g1', netnsPath(`${node.name}-g1`)), conf()));
  assert.deepEqual(await node.endpoints(), [], 'every endpoint of this file was deleted');
  await run('ip', ['netns', 'del', ns.name]);
  await run('ip', ['netns', 'del', `${node.name}-g1`]);
});

test('nothing is left behind', async () => {
  await node.destroy();
  await node.assertNothingLeaked();
});
