// Socket-level load balancing (bpf/bpf_sock.c) on a real topology: the agent
// attaches connect4/sendmsg4/recvmsg4/getpeername4 to the topology's own
// cgroup, pods and node commands run inside it, and the tests write the
// service maps directly (test/datapath/socklb-maps.ts).
//
// ClusterIPs from a pod and from the node over TCP, UDP and connected UDP
// reach a backend pod; the application sees the service as its peer; new
// connections spread over the backends; unconnected UDP keeps one backend
// per socket; sessionAffinity sticks per network namespace and expires;
// a terminating backend keeps its open connection and gets no new one; a
// frontend without backends refuses at once; other scopes, other protocols
// and processes outside the cgroup are left alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { MB_BACKEND_ACTIVE, MB_BACKEND_TERMINATING, MB_LB_SCOPE_EXT, type Lb4AffinityKey } from '../../src/datapath/abi.ts';
import { run } from '../../src/endpoint/exec.ts';
import { DIST, inCgroup, NODE_BIN, type Pod, type ProbeResult, type Topology } from '../../src/sandbox/topology.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';
import { LbMaps, TCP, UDP } from './socklb-maps.ts';

const PREFIX = 'mbs';
const SERVICE_CIDR = '10.96.6.0/24';
const CLIENT = path.join(import.meta.dirname, 'socklb-client.ts');
const PROBE = path.join(DIST, 'sandbox/probe.js');

// ClusterIPs
const SVC = '10.96.6.10'; // :80 http, :7 tcp echo, :7 udp echo, :53 udp who
const SVC_AFFINITY = '10.96.6.20';
const SVC_TERMINATING = '10.96.6.30';
const SVC_EMPTY = '10.96.6.40';
const SVC_NOWHERE = '10.96.6.99'; // no frontend at all

let t: Topology;
let maps: LbMaps;
let backends: Pod[]; // x/a, x/b, x/c: the pod servers
let client: Pod;
let client2: Pod;
const BACKEND_NAMES = ['x/a', 'x/b', 'x/c'];

/** Backend ids per pod index i: one per (port, protocol) the pod serves. */
const HTTP = (i: number) => 10 + i;
const ECHO_TCP = (i: number) => 20 + i;
const ECHO_UDP = (i: number) => 30 + i;
const WHO = (i: number) => 40 + i;

interface ClientAnswer {
  pod?: string;
  client?: string;
  peer?: string;
  peerPort?: number;
  localPort?: number;
  connectedTo?: string;
  connectedPort?: number;
  error?: string;
  code?: string;
}

/** Runs socklb-client.ts in a netns, inside the topology's cgroup; its last JSON line. */
async function clientRun<T>(netnsName: string, ...args: string[]): Promise<T> {
  const [cmd, ...rest] = inCgroup(t.cgroup, ['ip', 'netns', 'exec', netnsName, NODE_BIN, CLIENT, ...args]);
  const r = await run(cmd!, rest, { allowFail: true });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`socklb-client ${args.join(' ')} printed no result (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
}

/** The probe run in a netns but outside the topology's cgroup (no socket LB). */
async function probeOutside(netnsName: string, proto: string, host: string, port: number): Promise<ProbeResult> {
  const r = await run('ip', ['netns', 'exec', netnsName, NODE_BIN, PROBE, proto, host, String(port), '1000'], { allowFail: true });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ProbeResult;
}

function counts(pods: Array<string | undefined>): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of pods) m.set(p ?? '(none)', (m.get(p ?? '(none)') ?? 0) + 1);
  return m;
}

before(async () => {
  t = await makeTopology(PREFIX, '10.206.0.0/24', '198.18.6', [SERVICE_CIDR]);
  await t.startAgent(); // refuses an agent whose socket LB is not on t.cgroup
  backends = [];
  for (const name of ['a', 'b', 'c']) backends.push(await t.addPod('x', name, { server: true }));
  client = await t.addPod('x', 'client');
  client2 = await t.addPod('x', 'client2');
  maps = new LbMaps(t.spec.pinDir);
  backends.forEach((p, i) => {
    maps.setBackend(HTTP(i), p.ip, 8080, TCP);
    maps.setBackend(ECHO_TCP(i), p.ip, 7, TCP);
    maps.setBackend(ECHO_UDP(i), p.ip, 7, UDP);
    maps.setBackend(WHO(i), p.ip, 8081, UDP);
  });
  const all = (f: (i: number) => number) => backends.map((_, i) => f(i));
  maps.setFrontend({ addr: SVC, port: 80, proto: TCP, revNatId: 1, backends: all(HTTP) });
  maps.setFrontend({ addr: SVC, port: 7, proto: TCP, revNatId: 2, backends: all(ECHO_TCP) });
  maps.setFrontend({ addr: SVC, port: 7, proto: UDP, revNatId: 3, backends: all(ECHO_UDP) });
  maps.setFrontend({ addr: SVC, port: 53, proto: UDP, revNatId: 4, backends: all(WHO) });
});

after(async () => {
  maps?.close();
  const cgroup = t?.cgroup;
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), [], 'the topology left something behind');
  if (cgroup) assert.equal(fs.existsSync(cgroup), false, `cgroup ${cgroup} left behind`);
});

describe('socket LB: ClusterIP', () => {
  test('the agent attached the four programs to the topology cgroup, not to the root', async () => {
    const r = await run('bpftool', ['-j', 'cgroup', 'show', t.cgroup]);
    const names = (JSON.parse(r.stdout) as Array<{ name: string; attach_type: string }>).map((p) => `${p.attach_type}:${p.name}`).sort();
    assert.deepEqual(names, ['cgroup_inet4_connect:sock4_connect', 'cgroup_inet4_getpeername:sock4_getpeername', 'cgroup_udp4_recvmsg:sock4_recvmsg', 'cgroup_udp4_sendmsg:sock4_sendmsg']);
  });

  test('TCP from a pod reaches a backend; the application sees the service as its peer, the backend sees the pod', async () => {
    const http = await t.probeJson(client.netnsName, 'http', SVC, 80);
    assert.equal(http.ok, true, JSON.stringify(http));
    assert.ok(BACKEND_NAMES.includes(http.pod!), `answered by ${http.pod}`);
    assert.equal(http.peer, SVC, 'getpeername shows the ClusterIP');
    assert.equal(http.client, client.ip, 'no SNAT: the backend sees the pod');

    const echo = await t.probeJson(client.netnsName, 'tcp', SVC, 7);
    assert.equal(echo.ok, true, JSON.stringify(echo));
    assert.equal(echo.peer, SVC);
    assert.equal(echo.peerPort, 7);

    // the reverse entry: (socket, backend) -> frontend
    const rev = [...maps.sockRevnat.entries()].filter(([k]) => k.port === 8080);
    assert.ok(rev.length > 0, 'a socket reverse-NAT entry for the HTTP backend');
    for (const [k, v] of rev) {
      assert.ok(backends.some((p) => p.ip === k.addr), `keyed by a backend address (${k.addr})`);
      assert.deepEqual(v, { addr: SVC, port: 80, rev_nat_id: 1 });
    }
  });

  test('UDP from a pod: unconnected (sendmsg/recvmsg) and connected (connect/getpeername)', async () => {
    const echo = await t.probeJson(client.netnsName, 'udp', SVC, 7);
    assert.equal(echo.ok, true, JSON.stringify(echo));
    assert.equal(echo.peer, SVC, 'recvmsg shows the ClusterIP as the source');
    assert.equal(echo.peerPort, 7);

    const whoami = await t.probeJson(client.netnsName, 'udp-who', SVC, 53);
    assert.equal(whoami.ok, true, JSON.stringify(whoami));
    assert.ok(BACKEND_NAMES.includes(whoami.pod!));
    assert.equal(whoami.peer, SVC);
    assert.equal(whoami.peerPort, 53);
    assert.equal(whoami.client, client.ip);

    const conn = await clientRun<ClientAnswer>(client.netnsName, 'udp-connected', SVC, '53');
    assert.ok(BACKEND_NAMES.includes(conn.pod!), JSON.stringify(conn));
    assert.equal(conn.peer, SVC, 'recvmsg on the connected socket');
    assert.equal(conn.peerPort, 53);
    assert.equal(conn.connectedTo, SVC, 'getpeername on the connected socket');
    assert.equal(conn.connectedPort, 53);
  });

  test('from the node over TCP, UDP and connected UDP', async () => {
    for (const [proto, port] of [['http', 80], ['tcp', 7], ['udp', 7], ['udp-who', 53]] as const) {
      const r = await t.probeJson(t.nodeNs, proto, SVC, port);
      assert.equal(r.ok, true, `${proto}: ${JSON.stringify(r)}`);
      assert.equal(r.peer, SVC, `${proto}: the node's application sees the ClusterIP`);
      if (proto === 'http' || proto === 'udp-who') assert.ok(BACKEND_NAMES.includes(r.pod!), `${proto}: answered by ${r.pod}`);
    }
    const conn = await clientRun<ClientAnswer>(t.nodeNs, 'udp-connected', SVC, '53');
    assert.ok(BACKEND_NAMES.includes(conn.pod!), JSON.stringify(conn));
    assert.equal(conn.connectedTo, SVC);
  });

  test('new TCP connections spread over every backend', async () => {
    const { results } = await clientRun<{ results: ClientAnswer[] }>(client.netnsName, 'http-many', SVC, '80', '60');
    assert.equal(results.length, 60);
    assert.deepEqual(results.filter((r) => r.error), []);
    assert.ok(results.every((r) => r.peer === SVC));
    const seen = counts(results.map((r) => r.pod));
    assert.deepEqual([...seen.keys()].sort(), BACKEND_NAMES, `spread: ${JSON.stringify([...seen])}`);
    for (const [pod, n] of seen) assert.ok(n >= 5, `${pod} got only ${n} of 60`);
  });

  test('unconnected UDP: one socket keeps its backend, sockets spread', async () => {
    const { sockets } = await clientRun<{ sockets: ClientAnswer[][] }>(client.netnsName, 'udp-sockets', SVC, '53', '24', '4');
    assert.equal(sockets.length, 24);
    for (const answers of sockets) {
      assert.deepEqual(answers.filter((a) => a.error), []);
      assert.equal(new Set(answers.map((a) => a.pod)).size, 1, `one socket, one backend: ${answers.map((a) => a.pod).join(',')}`);
      assert.ok(answers.every((a) => a.peer === SVC && a.peerPort === 53));
    }
    const perSocket = sockets.map((answers) => answers[0]!.pod);
    assert.ok(new Set(perSocket).size >= 2, `24 sockets all on one backend: ${perSocket.join(',')}`);
  });
});

describe('socket LB: sessionAffinity ClientIP', () => {
  const REV = 5;
  const affinityKeys = () => [...maps.affinity.entries()].filter(([k]) => k.rev_nat_id === REV);
  let clientKey: Lb4AffinityKey | undefined; // the first client pod's entry

  before(() => {
    maps.setFrontend({ addr: SVC_AFFINITY, port: 80, proto: TCP, revNatId: REV, backends: backends.map((_, i) => HTTP(i)), affinityTimeout: 60 });
  });

  test('connections from one pod stick to one backend; the entry is per network namespace', async () => {
    const one = await clientRun<{ results: ClientAnswer[] }>(client.netnsName, 'http-many', SVC_AFFINITY, '80', '15');
    const pods1 = new Set(one.results.map((r) => r.pod));
    assert.equal(pods1.size, 1, `client went to ${[...pods1].join(',')}`);
    assert.ok(BACKEND_NAMES.includes([...pods1][0]!));
    assert.ok(one.results.every((r) => r.peer === SVC_AFFINITY));
    const entries1 = affinityKeys();
    assert.equal(entries1.length, 1);
    assert.equal(entries1[0]![0].netns, 1, 'keyed by the netns cookie');
    assert.equal(entries1[0]![1].backend_id, HTTP(BACKEND_NAMES.indexOf([...pods1][0]!)));
    clientKey = entries1[0]![0];

    const two = await clientRun<{ results: ClientAnswer[] }>(client2.netnsName, 'http-many', SVC_AFFINITY, '80', '15');
    assert.equal(new Set(two.results.map((r) => r.pod)).size, 1);
    assert.equal(affinityKeys().length, 2, 'a second pod has its own entry');
  });

  test('an entry is used while fresh and replaced once the timeout has passed', async () => {
    const key = clientKey!;
    // Backend 99: pod a's HTTP server, active but in no slot — only the
    // affinity entry can lead there. Slots: b and c.
    maps.setBackend(99, backends[0]!.ip, 8080, TCP);
    maps.setFrontend({ addr: SVC_AFFINITY, port: 80, proto: TCP, revNatId: REV, backends: [HTTP(1), HTTP(2)], affinityTimeout: 60 });
    const now = process.hrtime.bigint(); // CLOCK_MONOTONIC, as bpf_ktime_get_ns
    const whoAnswers = async () => (await clientRun<{ results: ClientAnswer[] }>(client.netnsName, 'http-many', SVC_AFFINITY, '80', '3')).results.map((r) => r.pod);

    maps.affinity.update(key, { last_used_ns: now, backend_id: 99 });
    assert.deepEqual(await whoAnswers(), ['x/a', 'x/a', 'x/a'], 'a fresh entry wins over the slots');

    maps.affinity.update(key, { last_used_ns: now - 61_000_000_000n, backend_id: 99 });
    const after = await whoAnswers();
    assert.ok(after.every((p) => p === after[0] && (p === 'x/b' || p === 'x/c')), `expired entry replaced: ${after.join(',')}`);
    const renewed = maps.affinity.lookup(key)!;
    assert.equal(renewed.backend_id, HTTP(BACKEND_NAMES.indexOf(after[0]!)));
    assert.ok(renewed.last_used_ns > now);
    maps.backend.delete({ backend_id: 99 });
  });

  test('an entry pointing at a backend that is no longer active is not used', async () => {
    const key = clientKey!;
    maps.affinity.update(key, { last_used_ns: process.hrtime.bigint(), backend_id: HTTP(0) });
    maps.setBackend(HTTP(0), backends[0]!.ip, 8080, TCP, MB_BACKEND_TERMINATING);
    try {
      const { results } = await clientRun<{ results: ClientAnswer[] }>(client.netnsName, 'http-many', SVC_AFFINITY, '80', '3');
      assert.ok(results.every((r) => r.pod === 'x/b' || r.pod === 'x/c'), results.map((r) => r.pod).join(','));
    } finally {
      maps.setBackend(HTTP(0), backends[0]!.ip, 8080, TCP, MB_BACKEND_ACTIVE);
    }
  });
});

describe('socket LB: backend changes', () => {
  test('a terminating backend keeps its open connection and gets no new ones', async () => {
    maps.setFrontend({ addr: SVC_TERMINATING, port: 80, proto: TCP, revNatId: 6, backends: [HTTP(0), HTTP(1)] });
    const [cmd, ...args] = inCgroup(t.cgroup, ['ip', 'netns', 'exec', client.netnsName, NODE_BIN, CLIENT, 'keepalive', SVC_TERMINATING, '80']);
    const holder = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: holder.stdout! })[Symbol.asyncIterator]();
    const nextAnswer = async () => JSON.parse(((await lines.next()).value as string | undefined) ?? '{}') as ClientAnswer;
    try {
      const first = await nextAnswer();
      assert.ok(first.pod === 'x/a' || first.pod === 'x/b', JSON.stringify(first));
      assert.equal(first.peer, SVC_TERMINATING);
      const i = BACKEND_NAMES.indexOf(first.pod!);
      const other = 1 - i;

      // the backend terminates: it keeps its backend entry, loses its slot
      maps.setBackend(HTTP(i), backends[i]!.ip, 8080, TCP, MB_BACKEND_TERMINATING);
      maps.setFrontend({ addr: SVC_TERMINATING, port: 80, proto: TCP, revNatId: 6, backends: [HTTP(other)] });

      const { results } = await clientRun<{ results: ClientAnswer[] }>(client.netnsName, 'http-many', SVC_TERMINATING, '80', '12');
      assert.deepEqual(counts(results.map((r) => r.pod)), new Map([[BACKEND_NAMES[other]!, 12]]), 'new connections avoid the terminating backend');

      holder.stdin!.write('next\n');
      const second = await nextAnswer();
      assert.equal(second.pod, first.pod, 'the open connection still reaches its backend');
      assert.equal(second.localPort, first.localPort, 'over the same connection');
      assert.equal(second.peer, SVC_TERMINATING);
    } finally {
      holder.stdin!.end();
      holder.kill('SIGKILL');
      backends.forEach((p, j) => maps.setBackend(HTTP(j), p.ip, 8080, TCP));
    }
  });

  test('no backend: TCP connect, UDP sendmsg and UDP connect fail with ECONNREFUSED at once', async () => {
    maps.setFrontend({ addr: SVC_EMPTY, port: 80, proto: TCP, revNatId: 7, backends: [] });
    maps.setFrontend({ addr: SVC_EMPTY, port: 53, proto: UDP, revNatId: 8, backends: [] });
    for (const ns of [client.netnsName, t.nodeNs]) {
      const tcp = await t.probeJson(ns, 'tcp', SVC_EMPTY, 80, 3000);
      assert.equal(tcp.ok, false);
      assert.equal(tcp.code, 'ECONNREFUSED', JSON.stringify(tcp));
      assert.ok(tcp.ms < 500, `refused after ${tcp.ms} ms, not at once`);

      const udp = await t.probeJson(ns, 'udp', SVC_EMPTY, 53, 3000);
      assert.equal(udp.ok, false);
      assert.equal(udp.code, 'ECONNREFUSED', JSON.stringify(udp));
      assert.ok(udp.ms < 500, `refused after ${udp.ms} ms, not at once`);

      const conn = await clientRun<ClientAnswer>(ns, 'udp-connected', SVC_EMPTY, '53');
      assert.equal(conn.code, 'ECONNREFUSED', JSON.stringify(conn));
    }
    // a backend appears: the same frontend works
    maps.setFrontend({ addr: SVC_EMPTY, port: 80, proto: TCP, revNatId: 7, backends: [HTTP(2)] });
    const r = await t.probeJson(client.netnsName, 'http', SVC_EMPTY, 80);
    assert.equal(r.pod, 'x/c', JSON.stringify(r));
  });
});

describe('socket LB: what it leaves alone', () => {
  test('a frontend of another scope or another protocol is not translated', async () => {
    const c = backends[2]!;
    // c:8080/TCP exists only for external traffic; c:8081 only for TCP
    maps.setFrontend({ addr: c.ip, port: 8080, proto: TCP, scope: MB_LB_SCOPE_EXT, revNatId: 10, backends: [HTTP(0)] });
    maps.setFrontend({ addr: c.ip, port: 8081, proto: TCP, revNatId: 11, backends: [HTTP(0)] });
    try {
      const http = await t.probeJson(client.netnsName, 'http', c.ip, 8080);
      assert.equal(http.pod, 'x/c', `EXT scope translated: ${JSON.stringify(http)}`);
      const udp = await t.probeJson(client.netnsName, 'udp-who', c.ip, 8081);
      assert.equal(udp.pod, 'x/c', `TCP frontend applied to UDP: ${JSON.stringify(udp)}`);
    } finally {
      maps.deleteFrontend(c.ip, 8080, TCP, MB_LB_SCOPE_EXT);
      maps.deleteFrontend(c.ip, 8081, TCP);
    }
  });

  test('an address that is no frontend is not touched (no reverse entry, the kernel answers)', async () => {
    const before = maps.sockRevnat.count();
    const r = await t.probeJson(client.netnsName, 'tcp', SVC_NOWHERE, 80, 1000);
    assert.equal(r.ok, false);
    assert.notEqual(r.code, 'ECONNREFUSED', 'only frontends without backends are refused by the socket LB');
    assert.equal(maps.sockRevnat.count(), before);
  });

  test('processes outside the cgroup are not load-balanced', async () => {
    const a = backends[0]!;
    // a's own address becomes a frontend with b behind it — for the cgroup only
    maps.setFrontend({ addr: a.ip, port: 8080, proto: TCP, revNatId: 12, backends: [HTTP(1)] });
    try {
      const inside = await t.probeJson(client.netnsName, 'http', a.ip, 8080);
      assert.equal(inside.pod, 'x/b', JSON.stringify(inside));
      assert.equal(inside.peer, a.ip);
      for (const ns of [client.netnsName, t.nodeNs]) {
        const outside = await probeOutside(ns, 'http', a.ip, 8080);
        assert.equal(outside.pod, 'x/a', `${ns} outside the cgroup: ${JSON.stringify(outside)}`);
        const svc = await probeOutside(ns, 'tcp', SVC, 7);
        assert.equal(svc.ok, false, `${ns} outside the cgroup reached the ClusterIP: ${JSON.stringify(svc)}`);
      }
    } finally {
      maps.deleteFrontend(a.ip, 8080, TCP);
    }
  });
});
