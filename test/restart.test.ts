// The agent can die at any moment: pinned maps and attached programs keep
// traffic flowing while it is gone, and a restarted agent restores every
// endpoint and reconciles without interrupting established connections.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { EndpointJSON } from '../src/agent/api-types.ts';
import { endpointInfo, endpointKey } from '../src/datapath/abi.ts';
import { BpfMap } from '../src/datapath/map.ts';
import { NODE_BIN, sleep, type Pod, type Topology } from '../src/sandbox/topology.ts';
import { leftovers, makeTopology } from './helpers/env.ts';

const PREFIX = 'mbr';
let t: Topology;
let a: Pod;
let b: Pod;

before(async () => {
  t = await makeTopology(PREFIX, '10.203.0.0/24', '203.0.113');
  await t.startAgent();
  a = await t.addPod('x', 'a', { server: true });
  b = await t.addPod('x', 'b', { server: true });
});

after(async () => {
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), []);
});

/** Runs the stream client in pod `from` against `to`'s echo server. */
function stream(from: Pod, to: Pod): { child: ChildProcess; rtt: () => number; output: () => string } {
  const child = spawn('ip', ['netns', 'exec', from.netnsName, NODE_BIN, path.join(import.meta.dirname, 'helpers/stream-client.ts'), to.ip, '7'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    output: () => out,
    rtt: () => {
      const m = [...out.matchAll(/^rtt (\d+)$/gm)].pop();
      return m ? Number(m[1]) : 0;
    },
  };
}

async function progress(s: ReturnType<typeof stream>, ms: number): Promise<number> {
  const start = s.rtt();
  await sleep(ms);
  return s.rtt() - start;
}

function lxcEntries(pinDir: string): string {
  return fs.existsSync(path.join(pinDir, 'mb_lxc')) ? 'pinned' : 'missing';
}

test('SIGKILL and restart during a running TCP stream: the stream never stops', async () => {
  const s = stream(a, b);
  try {
    await sleep(500);
    assert.ok((await progress(s, 300)) > 5, `stream did not start: ${s.output()}`);
    const before = await t.endpoints();

    await t.stopAgent('SIGKILL');
    assert.equal(lxcEntries(t.spec.pinDir), 'pinned', 'maps must stay pinned while the agent is gone');
    assert.ok((await progress(s, 700)) > 20, `stream stalled while the agent was down: ${s.output().slice(-300)}`);

    await t.startAgent();
    assert.ok((await progress(s, 500)) > 20, 'stream stalled after the restart');

    const restored = await t.endpoints();
    const strip = (e: EndpointJSON) => ({ id: e.id, ip: e.ipv4, hostIf: e.hostIfName, ifindex: e.hostIfIndex, state: e.state });
    assert.deepEqual(restored.map(strip), before.map(strip), 'endpoints restored as they were');
    for (const ep of restored) {
      await t.client.get(`/v1/endpoints/${encodeURIComponent(ep.containerID)}/${ep.ifName}/check`);
    }
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
  const done = /done (\d+) errors (\d+)/.exec(s.output());
  assert.ok(done, s.output().slice(-500));
  assert.equal(Number(done[2]), 0, `the stream saw errors: ${s.output().split('\n').filter((l) => l.startsWith('error')).join('; ')}`);
  assert.ok(Number(done[1]) > 100);
});

test('a clean shutdown (SIGTERM) removes the socket and leaves the datapath running', async () => {
  await t.stopAgent('SIGTERM');
  assert.equal(fs.existsSync(t.socket), false, 'socket removed');
  assert.match(fs.readFileSync(t.logFile, 'utf8'), /agent stopped; the datapath keeps running/);
  assert.equal(lxcEntries(t.spec.pinDir), 'pinned');
  assert.ok(await t.probe(a.netnsName, 'tcp', b.ip, 7), 'pods still talk with no agent');
  assert.ok(await t.ping(b.netnsName, a.ip));
  await t.startAgent();
});

test('a restarted agent reconciles: new pods work, stale state left by a crash is removed', async () => {
  // Leave junk a crash could leave: an orphan veth with our naming and a
  // datapath entry no endpoint explains.
  await t.inNode('ip', 'link', 'add', 'lxc00000000bad', 'type', 'veth', 'peer', 'name', 'lxcpeer0bad');
  await t.stopAgent('SIGKILL');
  const lxc = BpfMap.openPinned(path.join(t.spec.pinDir, 'mb_lxc'), endpointKey, endpointInfo);
  try {
    lxc.update({ ip4: '10.203.0.200' }, { ifindex: 999, lxc_id: 999, identity: 0, flags: 0, mac: '0a:58:00:00:00:01', node_mac: '0a:5a:00:00:00:01' });
    await t.startAgent();
    assert.equal(lxc.lookup({ ip4: '10.203.0.200' }), undefined, 'stale datapath entry removed');
    assert.ok(lxc.lookup({ ip4: a.ip }), 'live entries kept');
  } finally {
    lxc.close();
  }
  const links = (await t.inNode('ip', '-o', 'link', 'show')).stdout;
  assert.equal(links.includes('lxc00000000bad'), false, 'orphan veth removed');
  const c = await t.addPod('x', 'c', { server: true });
  assert.ok(await t.probe(a.netnsName, 'tcp', c.ip, 7));
  assert.ok(await t.probe(c.netnsName, 'udp', b.ip, 7));
});

test('ADD/DEL cycles leak neither file descriptors nor addresses in the agent', async () => {
  const pid = (await t.client.get<{ agent: { pid: number } }>('/v1/status')).agent.pid;
  const fds = () => fs.readdirSync(`/proc/${pid}/fd`).length;
  const status = () => t.client.get<{ ipam: { allocated: number } }>('/v1/status');
  await t.addPod('y', 'warm');
  await t.delPod('y', 'warm');
  const fdBefore = fds();
  const ipBefore = (await status()).ipam.allocated;
  for (let i = 0; i < 15; i++) {
    await t.addPod('y', `p${i}`);
    await t.delPod('y', `p${i}`);
  }
  assert.equal((await status()).ipam.allocated, ipBefore);
  assert.ok(fds() <= fdBefore + 2, `agent fds grew from ${fdBefore} to ${fds()}`);
});
