// The test topology itself must never disturb the machine it runs on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { run } from '../src/endpoint/exec.ts';
import { CGROUP2_ROOT } from '../src/sandbox/topology.ts';
import { routeClashes } from '../src/endpoint/node-network.ts';
import { leftovers, makeTopology, requireRoot } from './helpers/env.ts';

test('a topology whose ranges overlap a network of this machine is refused, and routes stay as they were', async () => {
  requireRoot();
  const before = (await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout;
  // 127.0.0.0/8 is on every Linux machine (table local).
  assert.deepEqual(await routeClashes(['10.204.0.0/24']), []);
  assert.match((await routeClashes(['127.1.0.0/24']))[0] ?? '', /127\.1\.0\.0\/24 overlaps local 127\.0\.0\.0\/8 dev lo table local/);
  await assert.rejects(makeTopology('mbo', '127.1.0.0/24', '198.18.9'), /overlap this machine's own networks/);
  assert.equal((await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout, before);
  assert.deepEqual(await leftovers('mbo'), []);
});

test('the agent refuses a pod CIDR that overlaps a network its node uses, and changes nothing', async () => {
  const t = await makeTopology('mbo2', '10.205.0.0/24', '198.18.10');
  try {
    const before = (await t.inNode('ip', '-4', 'route', 'show', 'table', 'all')).stdout;
    await assert.rejects(t.startAgent(['--pod-cidr', '198.18.10.0/25']), /pod CIDR 198\.18\.10\.0\/25 overlaps a network this node already uses .*dev uplink.* — start the agent with another --pod-cidr/s);
    assert.equal((await t.inNode('ip', '-4', 'route', 'show', 'table', 'all')).stdout, before);
  } finally {
    await t.destroy();
  }
  assert.deepEqual(await leftovers('mbo2'), []);
});

test('a test agent whose socket LB lands outside its topology cgroup is stopped and its links removed', async () => {
  const t = await makeTopology('mbo3', '10.209.0.0/24', '198.18.11');
  const elsewhere = `${CGROUP2_ROOT}/membrane-mbo3-elsewhere`;
  fs.mkdirSync(elsewhere);
  try {
    await assert.rejects(t.startAgent(['--cgroup-root', elsewhere]), /attached socket LB outside .*membrane-mbo3 .*is --cgroup-root honoured/);
    const attached = JSON.parse((await run('bpftool', ['-j', 'cgroup', 'show', elsewhere])).stdout.trim() || '[]') as unknown[];
    assert.deepEqual(attached, [], 'nothing stays attached to the other cgroup');
    assert.equal(t.agent, undefined, 'the agent was stopped');
  } finally {
    await t.destroy();
    fs.rmdirSync(elsewhere);
  }
  assert.deepEqual(await leftovers('mbo3'), []);
});

test('a second topology of the same name is refused and leaves the first one whole', async () => {
  const t = await makeTopology('mbo4', '10.221.0.0/24', '198.18.21');
  try {
    await assert.rejects(makeTopology('mbo4', '10.221.0.0/24', '198.18.21'), /a topology named mbo4 exists already/);
    assert.equal((await t.inNode('ip', '-4', 'addr', 'show', 'dev', 'uplink')).code, 0, "the first topology's node is still there");
    assert.match((await run('ip', ['route', 'show', '10.221.0.0/24'])).stdout, /blackhole/, 'and its blackhole route');
  } finally {
    await t.destroy();
  }
  assert.deepEqual(await leftovers('mbo4'), []);
});
