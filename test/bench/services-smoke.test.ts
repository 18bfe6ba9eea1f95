// The services benchmark's kube-proxy rules are valid and route: a tiny
// ruleset (3 services) from the generators is loaded into a scratch node
// netns with iptables-restore (both backends) and with nft -f, and a client
// netns reaches a backend netns through a ClusterIP and through a NodePort,
// the backend seeing the client (ClusterIP, no masquerade inside the cluster
// CIDR) or the node (NodePort, masqueraded), as with kube-proxy.
//
// Needs root. Names mbk2-*; addresses 10.215.0.248/29 (links) and
// 10.112.255.0/24 (ClusterIPs), blackholed on the host while the test runs;
// everything is removed in `after`, also when a test fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { makeServiceSet, type ServiceSet } from '../../bench/lib/kube-services.ts';
import { jumpsRestore, syncRestore } from '../../bench/lib/kube-proxy-iptables.ts';
import { syncScript, TABLE } from '../../bench/lib/kube-proxy-nftables.ts';
import { run } from '../../src/endpoint/exec.ts';
import { NODE_BIN } from '../../src/sandbox/topology.ts';
import { leftovers, requireRoot } from '../helpers/env.ts';

const P = 'mbk2';
const NODE = `${P}-node`;
const CLIENT = `${P}-cli`;
const BACKEND = `${P}-be`;
const LINKS = '10.215.0.248/29';
const SERVICES = '10.112.255.0/24';
const NODE_CLI = '10.215.0.249';
const CLI_IP = '10.215.0.250';
const NODE_BE = '10.215.0.253';
const BE_IP = '10.215.0.254';
const ECHO = 7101;

let set: ServiceSet;
let server: ChildProcess | undefined;

const inNs = (ns: string, cmd: string, args: string[], input?: string) => run('ip', ['netns', 'exec', ns, cmd, ...args], input === undefined ? {} : { input });

/** Connects from the client netns, sends a line, returns what the backend saw as the client. */
async function connect(host: string, port: number): Promise<string> {
  const js = `const s=require('net').connect(${port},'${host}',()=>s.write('who\\n'));let d='';s.setTimeout(3000,()=>{console.log('TIMEOUT');process.exit(2)});s.on('data',b=>{d+=b;if(d.includes('\\n')){console.log(d.trim());s.end();process.exit(0)}});s.on('error',e=>{console.log(e.code);process.exit(1)});`;
  const r = await run('ip', ['netns', 'exec', CLIENT, NODE_BIN, '-e', js], { allowFail: true });
  return r.stdout.trim();
}

async function cleanup(): Promise<void> {
  server?.kill('SIGKILL');
  for (const ns of [CLIENT, BACKEND, NODE]) await run('ip', ['netns', 'del', ns], { allowFail: true });
  for (const c of [LINKS, SERVICES]) await run('ip', ['route', 'del', 'blackhole', c], { allowFail: true });
}

before(async () => {
  requireRoot();
  await cleanup(); // leftovers of a killed run
  try {
    for (const c of [LINKS, SERVICES]) await run('ip', ['route', 'replace', 'blackhole', c]);
    for (const ns of [NODE, CLIENT, BACKEND]) {
      await run('ip', ['netns', 'add', ns]);
      await inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    await run('ip', ['link', 'add', 'c0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLIENT]);
    await run('ip', ['link', 'add', 'b0', 'netns', NODE, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', BACKEND]);
    await inNs(NODE, 'sh', ['-ec', `ip addr add ${NODE_CLI}/30 dev c0; ip addr add ${NODE_BE}/30 dev b0; ip link set c0 up; ip link set b0 up; sysctl -qw net.ipv4.ip_forward=1`]);
    await inNs(CLIENT, 'sh', ['-ec', `ip addr add ${CLI_IP}/30 dev eth0; ip link set eth0 up; ip route add default via ${NODE_CLI}`]);
    await inNs(BACKEND, 'sh', ['-ec', `ip addr add ${BE_IP}/30 dev eth0; ip link set eth0 up; ip route add default via ${NODE_BE}`]);
    // The backend answers with the address it saw the connection come from.
    server = spawn('ip', ['netns', 'exec', BACKEND, NODE_BIN, '-e', `require('net').createServer(s=>s.once('data',()=>s.end(s.remoteAddress+'\\n'))).listen(${ECHO},'0.0.0.0',()=>console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.once('data', () => resolve());
      server!.once('exit', (code) => reject(new Error(`backend server exited with ${code}`)));
    });
    set = makeServiceSet({ count: 3, backends: 2, serviceCidr: SERVICES, fillerCidr: '10.112.255.128/25', nodePortEvery: 0, nodePortBase: 30000, port: 80, targetPort: ECHO, measuredEndpoints: [BE_IP] });
  } catch (err) {
    await cleanup();
    throw err;
  }
});

after(async () => {
  await cleanup();
  assert.deepEqual(await leftovers(P), []);
  const routes = (await run('ip', ['route', 'show', 'type', 'blackhole'])).stdout;
  for (const c of [LINKS, SERVICES]) assert.ok(!routes.includes(c), `blackhole ${c} removed`);
});

/** ClusterIP from the client keeps the client's address; NodePort from the client is masqueraded to the node. */
async function assertRoutes(mode: string): Promise<void> {
  const m = set.measured;
  assert.equal(await connect(m.clusterIP, m.port), CLI_IP, `${mode}: ClusterIP ${m.clusterIP}:${m.port} reaches the backend, which sees the client`);
  assert.equal(await connect(NODE_CLI, m.nodePort!), NODE_BE, `${mode}: NodePort ${NODE_CLI}:${m.nodePort} reaches the backend, masqueraded to the node`);
  const other = set.services.find((s) => s !== m)!;
  assert.notEqual(await connect(other.clusterIP, other.port), CLI_IP, `${mode}: a filler service does not lead to the backend`);
}

describe("kube-proxy's rules from the generators, in a scratch node", () => {
  test('the services set: 3 services, the measured one a NodePort to the backend', () => {
    assert.equal(set.services.length, 3);
    assert.deepEqual(set.measured.endpoints, [BE_IP]);
    assert.equal(set.measured.nodePort, 30000);
  });

  for (const backend of ['legacy', 'nft'] as const) {
    test(`iptables (${backend}): iptables-restore --noflush --counters accepts the rules, and they route`, async () => {
      const restore = `iptables-${backend}-restore`;
      try {
        await inNs(NODE, restore, ['--noflush'], jumpsRestore());
        await inNs(NODE, restore, ['--noflush', '--counters'], syncRestore(set.services, { clusterCidr: LINKS }));
        const saved = (await inNs(NODE, `iptables-${backend}-save`, ['-t', 'nat'])).stdout;
        assert.match(saved, /-A KUBE-SERVICES .* -j KUBE-SVC-/);
        assert.match(saved, /-m statistic --mode random --probability 0\.50000000000 -j KUBE-SEP-/);
        await assertRoutes(`iptables-${backend}`);
      } finally {
        for (const t of ['nat', 'filter']) {
          await inNs(NODE, `iptables-${backend}`, ['-t', t, '-F']);
          await inNs(NODE, `iptables-${backend}`, ['-t', t, '-X']);
        }
      }
    });
  }

  test('nftables: nft -f accepts the ruleset, and it routes', async () => {
    try {
      await inNs(NODE, 'nft', ['-f', '-'], syncScript(set.services, { clusterCidr: LINKS, serviceCidrs: [SERVICES], nodePortIps: [NODE_CLI] }));
      const listed = (await inNs(NODE, 'nft', ['list', 'map', 'ip', TABLE, 'service-ips'])).stdout;
      assert.match(listed, new RegExp(`${set.measured.clusterIP.replaceAll('.', '\\.')} \\. tcp \\. 80 : goto service-`));
      await assertRoutes('nftables');
    } finally {
      await run('ip', ['netns', 'exec', NODE, 'nft', 'delete', 'table', 'ip', TABLE], { allowFail: true });
    }
  });
});
