// The services control plane against a real agent: manifests applied with
// `membrane apply -f`, what the pinned maps then hold, the CLI's views of
// them, selector backends following real pods, maintenance marks, agent
// restarts that keep every id and converge, deletes, and manifests that are
// refused whole.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { ServiceJSON } from '../../src/agent/api-types.ts';
import { lb4Backend, lb4BackendKey, lb4Key, lb4Service } from '../../src/datapath/abi.ts';
import { BpfMap } from '../../src/datapath/map.ts';
import { run } from '../../src/endpoint/exec.ts';
import { REPO, type Topology } from '../../src/sandbox/topology.ts';
import { dumpLoadBalancer, readMaglevTable, type LbDump, type LbFrontendDump } from '../../src/service/lbdump.ts';
import { maglevTable } from '../../src/service/maglev.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';

const PREFIX = 'mbv';
const SERVICE_CIDR = '10.96.7.0/24';
const MAGLEV_M = 251;
let t: Topology;
let dir: string;

/** Runs bin/membrane against the topology's agent. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(path.join(REPO, 'bin/membrane'), args, { allowFail: true, env: { ...process.env as Record<string, string>, MEMBRANE_SOCKET: t.socket } });
}

async function applyFile(name: string, text: string, verb: 'apply' | 'delete' = 'apply') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return cli(verb, '-f', file);
}

function lb(): LbDump {
  return dumpLoadBalancer(t.spec.pinDir);
}

function frontend(d: LbDump, addr: string, port: number, scope: 'internal' | 'external', protocol = 'TCP'): LbFrontendDump | undefined {
  return d.frontends.find((f) => f.address === addr && f.port === port && f.scope === scope && f.protocol === protocol);
}

function slotAddrs(f: LbFrontendDump | undefined): string[] {
  return (f?.backends ?? []).map((b) => ('address' in b ? `${b.address}:${b.port}` : `#${b.id}`));
}

const WEB = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  sessionAffinity: ClientIP
  externalIPs: [198.18.9.201]
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
- addresses: [10.207.1.5]
  nodeName: other-node
- addresses: [10.207.1.6]
  nodeName: other-node
- addresses: [10.207.1.7]
  conditions: {ready: false, serving: true, terminating: true}
- addresses: [10.207.1.8]
  conditions: {ready: false, serving: false}
`;

before(async () => {
  t = await makeTopology(PREFIX, '10.207.0.0/24', '198.18.7', [], { serviceCidr: SERVICE_CIDR });
  dir = t.spec.workDir;
  await t.startAgent(['--maglev-table-size', String(MAGLEV_M)]);
});

after(async () => {
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), []);
});

describe('apply: Service and EndpointSlice into the maps', () => {
  test('membrane apply -f programs ClusterIP, NodePort and external IP frontends with their backends', async () => {
    const r = await applyFile('web.yaml', WEB);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/shop/web created\nendpointslice/shop/web-1 created\n');

    const d = lb();
    const cip = frontend(d, '10.96.7.17', 80, 'internal');
    assert.ok(cip, `ClusterIP allocated from the upper band of ${SERVICE_CIDR}:\n${JSON.stringify(d.frontends.map((f) => `${f.address}:${f.port}`))}`);
    assert.deepEqual(cip.flags, ['cluster-ip', 'affinity']);
    assert.equal(cip.affinityTimeout, 10800);
    assert.deepEqual(slotAddrs(cip), ['10.207.1.5:8080', '10.207.1.6:8080'], 'active backends only, in address order');
    assert.equal(frontend(d, '10.96.7.17', 80, 'external'), undefined, 'ClusterIP is socket LB only');

    const npExt = frontend(d, '198.18.7.1', 30080, 'external')!;
    const npInt = frontend(d, '198.18.7.1', 30080, 'internal')!;
    assert.deepEqual(npExt.flags, ['nodeport', 'affinity', 'maglev']);
    assert.deepEqual(npInt.flags, ['nodeport', 'affinity']);
    assert.equal(npExt.revNatId, npInt.revNatId, 'one rev-NAT id per frontend');
    assert.deepEqual(slotAddrs(npExt), ['10.207.1.5:8080', '10.207.1.6:8080']);
    assert.ok(frontend(d, '198.18.9.201', 80, 'external'), 'external IP, per-packet LB');
    assert.ok(frontend(d, '198.18.9.201', 80, 'internal'), 'external IP, socket LB');
    assert.deepEqual(slotAddrs(frontend(d, '10.96.7.17', 53, 'internal', 'UDP')), ['10.207.1.5:5353', '10.207.1.6:5353']);
    const udpNodePort = d.frontends.find((f) => f.protocol === 'UDP' && f.address === '198.18.7.1');
    assert.ok(udpNodePort, 'the UDP port got a NodePort allocated');

    // Backends: the terminating one is kept (no slot), the one that is not serving is not.
    const states = d.backends.map((b) => `${b.address}:${b.port}/${b.protocol} ${b.state}`).sort();
    assert.deepEqual(states, [
      '10.207.1.5:5353/UDP active', '10.207.1.5:8080/TCP active', '10.207.1.6:5353/UDP active', '10.207.1.6:8080/TCP active',
      '10.207.1.7:5353/UDP terminating', '10.207.1.7:8080/TCP terminating',
    ]);
    const revnat = d.revNat.find((x) => x.id === npExt.revNatId);
    assert.deepEqual(revnat, { id: npExt.revNatId, address: '198.18.7.1', port: 30080 });
  });

  test('the Maglev table in the kernel is the one every node computes for the same backends', () => {
    const npExt = frontend(lb(), '198.18.7.1', 30080, 'external')!;
    assert.ok(npExt.maglev, 'external frontends get a table');
    assert.equal(npExt.maglev.entries, MAGLEV_M);
    const kernel = readMaglevTable(npExt.maglev.mapId);
    const ids = npExt.backends.map((b) => b.id);
    const want = maglevTable(['10.207.1.5:8080', '10.207.1.6:8080'], { tableSize: MAGLEV_M });
    assert.deepEqual([...kernel], [...want].map((i) => ids[i]));
    const share = ids.map((id) => kernel.filter((x) => x === id).length);
    assert.ok(Math.abs(share[0]! - share[1]!) <= 2, `even split: ${share}`);
  });

  test('apply again: unchanged, nothing rewritten, allocations kept', async () => {
    const before = lb();
    const r = await applyFile('web.yaml', WEB);
    assert.equal(r.stdout, 'service/shop/web unchanged\nendpointslice/shop/web-1 unchanged\n');
    assert.deepEqual(lb(), before);
  });

  test('membrane service list / get show frontends, type and backends with state', async () => {
    const list = await cli('service', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +BACKENDS$/m);
    assert.match(list.stdout, /^shop\/web +NodePort +10\.96\.7\.17 +198\.18\.9\.201 +80:30080\/TCP,53:\d+\/UDP +4 active, 2 terminating$/m);
    const get = await cli('service', 'get', 'shop/web');
    assert.match(get.stdout, /^ {2}198\.18\.7\.1:30080\/TCP +NodePort +external +\d+ +nodeport,affinity,maglev +10\.207\.1\.5:8080 10\.207\.1\.6:8080$/m);
    assert.match(get.stdout, /^ {2}http +10\.207\.1\.7:8080\/TCP +terminating +remote +- +EndpointSlice/m);
    const json = JSON.parse((await cli('service', 'get', 'shop/web', '-o', 'json')).stdout) as ServiceJSON;
    assert.equal(json.clusterIP, '10.96.7.17');
    assert.equal(json.frontends.find((f) => f.type === 'NodePort' && f.protocol === 'TCP')!.external!.backends.length, 2);
    const missing = await cli('service', 'get', 'shop/nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no service shop\/nope/);
  });

  test('membrane bpf lb list reads the pinned maps without the agent', async () => {
    const r = await cli('bpf', 'lb', 'list', '--pin-dir', t.spec.pinDir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^198\.18\.7\.1:30080\/TCP +ext +\d+ +nodeport,affinity,maglev +251 \(id \d+\) +10\.207\.1\.5:8080 #\d+ active$/m);
    assert.match(r.stdout, /Backends without new connections[\s\S]*10\.207\.1\.7:8080\/TCP +terminating/);
    const json = JSON.parse((await cli('bpf', 'lb', 'list', '--pin-dir', t.spec.pinDir, '-o', 'json')).stdout) as LbDump;
    assert.deepEqual(json, lb());
    const ct = await cli('bpf', 'ct', 'list', '--pin-dir', t.spec.pinDir);
    assert.equal(ct.code, 0, ct.stderr);
    const nopins = await cli('bpf', 'lb', 'list', '--pin-dir', '/sys/fs/bpf/mbv-nothing-here');
    assert.equal(nopins.code, 1);
    assert.match(nopins.stderr, /ENOENT.*is an agent running with --pin-dir/);
  });
});

describe('backends from real pods and operator marks', () => {
  const pod = (name: string, labels: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: ${JSON.stringify(labels)}}
spec:
  containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]
`;
  const SELECTED = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
`;

  test('a selector service follows local endpoints: pod added, relabelled, deleted', async () => {
    assert.equal((await applyFile('api.yaml', `${pod('api-1', { app: 'api' })}---\n${pod('api-2', { app: 'api' })}---\n${SELECTED}`)).code, 0);
    const api = (await t.client.get<ServiceJSON>('/v1/services/shop/api'));
    const cip = api.clusterIP!;
    assert.deepEqual(slotAddrs(frontend(lb(), cip, 80, 'internal')), [], 'no endpoints yet');
    const p1 = await t.addPod('shop', 'api-1');
    const p2 = await t.addPod('shop', 'api-2');
    const sorted = [p1.ip, p2.ip].sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3])).map((ip) => `${ip}:8080`);
    assert.deepEqual(slotAddrs(frontend(lb(), cip, 80, 'internal')), sorted, 'named port resolved through the Pod manifest');
    const be = lb().backends.find((b) => b.address === p1.ip)!;
    assert.deepEqual(be.flags, ['local']);

    await applyFile('relabel.yaml', pod('api-2', { app: 'other' }));
    assert.deepEqual(slotAddrs(frontend(lb(), cip, 80, 'internal')), [`${p1.ip}:8080`], 'relabelled pod leaves');
    await t.delPod('shop', 'api-1');
    assert.deepEqual(slotAddrs(frontend(lb(), cip, 80, 'internal')), [], 'deleted pod leaves');
    assert.equal(lb().backends.some((b) => b.address === p1.ip), false);
  });

  test('backend-state maintenance: no slot, entry kept, mark survives a restart; active restores it', async () => {
    const r = await cli('service', 'backend-state', '10.207.1.5:8080', 'maintenance');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'backend 10.207.1.5:8080 maintenance (services: shop/web)\n');
    const check = () => {
      const d = lb();
      return { slots: slotAddrs(frontend(d, '10.96.7.17', 80, 'internal')), state: d.backends.find((b) => b.address === '10.207.1.5' && b.port === 8080)?.state };
    };
    assert.deepEqual(check(), { slots: ['10.207.1.6:8080'], state: 'maintenance' });
    await t.stopAgent('SIGTERM');
    await t.startAgent(['--maglev-table-size', String(MAGLEV_M)]);
    assert.deepEqual(check(), { slots: ['10.207.1.6:8080'], state: 'maintenance' }, 'stored: survives the restart');
    await cli('service', 'backend-state', '10.207.1.5:8080', 'active');
    assert.deepEqual(check(), { slots: ['10.207.1.5:8080', '10.207.1.6:8080'], state: 'active' });
    const bad = await cli('service', 'backend-state', '10.207.1.99:8080', 'maintenance');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no service has the backend 10\.207\.1\.99:8080/);
    const typo = await cli('service', 'backend-state', '10.207.1.5', 'maintenance');
    assert.match(typo.stderr, /is not ADDR:PORT/);
  });
});

describe('agent restarts', () => {
  function ids(d: LbDump) {
    return {
      frontends: d.frontends.map((f) => `${f.address}:${f.port}/${f.protocol} ${f.scope} rev ${f.revNatId} [${f.backends.map((b) => b.id).join(',')}] ${f.maglev?.mapId ?? '-'}`),
      backends: d.backends.map((b) => `${b.id} ${b.address}:${b.port}/${b.protocol} ${b.state}`),
    };
  }

  test('SIGKILL and restart: every id and Maglev table kept, nothing rewritten', async () => {
    const before = ids(lb());
    await t.stopAgent('SIGKILL');
    await t.startAgent(['--maglev-table-size', String(MAGLEV_M)]);
    assert.deepEqual(ids(lb()), before);
    const status = await t.client.get<{ services: { lastSync: { writes: number }; error?: string } }>('/v1/status');
    assert.equal(status.services.lastSync.writes, 0, 'the maps already held the desired state');
    assert.equal(status.services.error, undefined);
  });

  test('a restart converges maps changed behind its back: stale entries go, wrong ones are fixed, the rest stays', async () => {
    const before = ids(lb());
    await t.stopAgent('SIGTERM');
    const pin = (n: string) => path.join(t.spec.pinDir, n);
    const svc = BpfMap.openPinned(pin('mb_lb4_svc'), lb4Key, lb4Service);
    const be = BpfMap.openPinned(pin('mb_lb4_backend'), lb4BackendKey, lb4Backend);
    try {
      svc.update({ addr: '10.96.7.99', dport: 80, slot: 0, proto: 6, scope: 1 }, { backend_id: 0, count: 1, rev_nat_id: 999, flags: 1, affinity_timeout: 0 });
      svc.update({ addr: '10.96.7.99', dport: 80, slot: 1, proto: 6, scope: 1 }, { backend_id: 4242, count: 0, rev_nat_id: 0, flags: 0, affinity_timeout: 0 });
      be.update({ backend_id: 4242 }, { addr: '10.207.9.9', port: 1, proto: 6, state: 0, flags: 0 });
      const head = { addr: '10.96.7.17', dport: 80, slot: 0, proto: 6, scope: 1 };
      svc.update(head, { ...svc.lookup(head)!, flags: 0 }); // flags lost
      svc.delete({ addr: '10.96.7.17', dport: 80, slot: 2, proto: 6, scope: 1 }); // a slot lost
    } finally {
      svc.close();
      be.close();
    }
    await t.startAgent(['--maglev-table-size', String(MAGLEV_M)]);
    assert.deepEqual(ids(lb()), before);
    const status = await t.client.get<{ services: { lastSync: { writes: number } } }>('/v1/status');
    assert.equal(status.services.lastSync.writes, 5, '2 stale entries and a stale backend deleted, a head and a slot rewritten');
  });
});

describe('validation: a manifest is applied whole or not at all', () => {
  const ok = `apiVersion: v1
kind: Service
metadata: {name: fine, namespace: shop}
spec: {ports: [{port: 80}]}
---
`;
  async function refused(name: string, text: string, ...reasons: RegExp[]) {
    const before = { maps: lb(), services: await t.client.get<ServiceJSON[]>('/v1/services') };
    const r = await applyFile(name, ok + text);
    assert.equal(r.code, 1, `refused: ${r.stdout}`);
    for (const re of reasons) assert.match(r.stderr, re);
    assert.deepEqual(await t.client.get<ServiceJSON[]>('/v1/services'), before.services, 'nothing stored');
    assert.deepEqual(lb(), before.maps, 'nothing programmed');
    assert.equal((await t.client.get<ServiceJSON[]>('/v1/services')).some((s) => s.name === 'fine'), false);
  }

  test('a bad field', async () => {
    await refused('bad.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: shop}\nspec: {ports: [{port: 80, protocol: tcp}]}\n',
      /doc 2 \(Service shop\/bad\): spec\.ports\[0\]\.protocol: unsupported value "tcp": must be one of "TCP", "UDP", "SCTP" \(did you mean "TCP"\?\)/);
  });

  test('a clusterIP outside --service-cidr', async () => {
    await refused('range.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: out, namespace: shop}\nspec: {clusterIP: 10.96.8.10, ports: [{port: 80}]}\n',
      /doc 2 \(Service shop\/out\): spec\.clusterIP: 10\.96\.8\.10 is outside the service CIDR 10\.96\.7\.0\/24/);
  });

  test('a nodePort another service holds, and a clusterIP another service holds', async () => {
    await refused('dup.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: dup, namespace: shop}\nspec: {type: NodePort, clusterIP: 10.96.7.17, ports: [{port: 80, nodePort: 30080}]}\n',
      /doc 2 \(Service shop\/dup\): spec\.clusterIP: 10\.96\.7\.17 is already allocated to Service shop\/web/,
      /doc 2 \(Service shop\/dup\): spec\.ports\[0\]\.nodePort: 30080 is already allocated to Service shop\/web/);
  });
});

describe('delete', () => {
  test('membrane delete -f removes frontends, backends, rev-NAT entries and Maglev tables', async () => {
    const before = lb();
    const web = before.frontends.filter((f) => f.address === '10.96.7.17' || f.address === '198.18.9.201' || (f.address === '198.18.7.1'));
    assert.ok(web.length > 0);
    const r = await applyFile('web.yaml', WEB, 'delete');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/shop/web deleted\nendpointslice/shop/web-1 deleted\n');
    const after = lb();
    assert.deepEqual(after.frontends.filter((f) => f.address === '10.96.7.17' || f.address === '198.18.9.201' || f.address === '198.18.7.1'), []);
    assert.equal(after.backends.some((b) => b.address.startsWith('10.207.1.')), false);
    assert.equal(after.revNat.some((r) => r.address === '198.18.7.1'), false);
    // The ClusterIP is free again: a new service gets it.
    await applyFile('again.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: again, namespace: shop}\nspec: {ports: [{port: 80}]}\n');
    assert.equal((await t.client.get<ServiceJSON>('/v1/services/shop/again')).clusterIP, '10.96.7.17');
  });
});
