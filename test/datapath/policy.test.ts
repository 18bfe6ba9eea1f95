// Network policy in the datapath (bpf/include/policy.h: bpf_lxc's
// from_endpoint and to_endpoint, bpf_host's delivery of translated packets),
// in the kernel and without the agent: the agent's policy manager owns
// mb_policy and would overwrite what a test writes. The test loads the
// Datapath into its own pin dir, builds three "pods" (netns + veth, as
// src/endpoint/plumbing.ts does), a node address on a dummy device and a
// "world" netns behind an uplink veth, and writes mb_lxc, mb_ipcache,
// mb_policy, mb_config and the NodePort maps by hand. It asserts what can be
// observed: connections that pass or time out, the mb_pct4 entries, and the
// policy verdict and drop events read from the ring buffer.
//
// Everything it makes is named mbp-<pid>-* / mbp<pid36>*, addressed in
// 10.216.0.0/16 (blackholed on the host), and removed also on failure.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  MB_BACKEND_ACTIVE, MB_BE_F_LOCAL, MB_CFG_F_HOST_POLICY, MB_CFG_F_POLICY_AUDIT, MB_DIR_EGRESS, MB_DIR_INGRESS, MB_DROP_POLICY,
  MB_DROP_POLICY_DENY, MB_EP_F_AUDIT, MB_EP_F_EGRESS_POLICY, MB_EP_F_INGRESS_POLICY, MB_ID_ANY, MB_ID_CIDR_MIN, MB_ID_HOST, MB_ID_WORLD,
  MB_LB_SCOPE_EXT, MB_PCT_F_SEEN_REPLY, MB_POLICY_F_DENY, MB_SVC_F_NODEPORT, type Pct4Entry, type Pct4Key, type PolicyKey,
} from '../../src/datapath/abi.ts';
import { Datapath, DEFAULT_BPF_DIR } from '../../src/datapath/datapath.ts';
import { RingBufferReader } from '../../src/datapath/ringbuf.ts';
import { tcQuery } from '../../src/datapath/tc.ts';
import { xdpDetach } from '../../src/datapath/xdp.ts';
import { run } from '../../src/endpoint/exec.ts';
import { makeHandPod, makeHandWorld, NetnsChild, type Answer } from './hand-node.ts';
import { decodeEvent, WallClock, type DecodedEvent } from '../../src/observe/events.ts';

const PID = process.pid;
const PID36 = PID.toString(36);
const PEER = path.join(import.meta.dirname, 'policy-peer.ts');
const PIN_DIR = `/sys/fs/bpf/mbp-${PID}`;
const BPF_DIR = DEFAULT_BPF_DIR;

const TEST_CIDR = '10.216.0.0/16';
const NODE_IF = `mbp${PID36}nd`;
const NODE_IP = '10.216.0.1'; // the node's address toward its pods (the pods' gateway)
const UPLINK_IF = `mbp${PID36}up`;
const UPLINK_IP = '10.216.250.1'; // the node's address toward the world: NodePort and SNAT
const WORLD_IP = '10.216.250.2';
const WORLD_NS = `mbp-${PID}-world`;
const NODEPORT_TCP = 30080;
const NODEPORT_UDP = 30053;

const TCP = 6;
const UDP = 17;
/** Waits: for what must pass, and for what must not (a passing packet answers within milliseconds). */
const PASS_MS = 3000;
const BLOCK_MS = 600;

const TCP_PORTS = [80, 443, 8079, 8080, 8087, 8088];
const UDP_PORTS = [53, 8053];

/** The CIDR identity of 10.216.1.0/24, which holds pods a and b (not c). */
const CIDR_ID = MB_ID_CIDR_MIN + 1;
const CIDR_NET = '10.216.1.0';

/** A policy-peer.ts process in a netns: echo servers and a client on command. */
class Peer extends NetnsChild {
  constructor(netns: string, tcpPorts: number[], udpPorts: number[]) {
    super(netns, [PEER, tcpPorts.join(','), udpPorts.join(',')]);
  }
}

interface Pod {
  name: string;
  ip: string;
  lxcId: number;
  identity: number;
  netns: string;
  hostIf: string;
  ifindex: number;
  mac: string;
  hostMac: string;
  peer: Peer;
}

const POD_DEFS = [
  { name: 'a', ip: '10.216.1.10', lxcId: 11, identity: 1011, cidr: CIDR_ID },
  { name: 'b', ip: '10.216.1.20', lxcId: 12, identity: 1012, cidr: CIDR_ID },
  { name: 'c', ip: '10.216.2.30', lxcId: 13, identity: 1013, cidr: 0 },
] as const;

let dp: Datapath;
let reader: RingBufferReader;
const events: DecodedEvent[] = [];
const pods: Record<'a' | 'b' | 'c', Pod> = {} as Record<'a' | 'b' | 'c', Pod>;
let world: Peer;
let uplinkIfindex = 0;
/** Cleanups in the order they were registered; run backwards in after(), each even when another fails. */
const cleanups: Array<() => void | Promise<void>> = [];

async function sh(cmd: string, ...args: string[]): Promise<string> {
  return (await run(cmd, args)).stdout;
}

async function shQuiet(cmd: string, ...args: string[]): Promise<void> {
  await run(cmd, args, { allowFail: true });
}


/** A pod: netns, veth (pod side eth0), /32 address routed through the node, and its peer process. */
async function makePod(def: (typeof POD_DEFS)[number], n: number): Promise<Pod> {
  const netns = `mbp-${PID}-${def.name}`;
  const hostIf = `mbp${PID36}${def.name}`;
  const mac = `02:16:00:00:0${n}:02`;
  const hostMac = `02:16:00:00:0${n}:01`;
  const ifindex = await makeHandPod({ netns, hostIf, ip: def.ip, nodeIp: NODE_IP, mac, hostMac }, cleanups);
  const peer = new Peer(netns, TCP_PORTS, UDP_PORTS);
  cleanups.push(() => peer.kill());
  await peer.ready;
  return { name: def.name, ip: def.ip, lxcId: def.lxcId, identity: def.identity, netns, hostIf, ifindex, mac, hostMac, peer };
}

/** The world: a netns behind the uplink veth, the node at UPLINK_IP. */
async function makeWorld(): Promise<void> {
  uplinkIfindex = await makeHandWorld({ netns: WORLD_NS, uplinkIf: UPLINK_IF, uplinkIp: UPLINK_IP, worldIp: WORLD_IP }, cleanups);
  world = new Peer(WORLD_NS, [], []);
  cleanups.push(() => world.kill());
  await world.ready;
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'policy.test.ts loads eBPF programs and creates netns: run it as root');
  assert.ok(fs.existsSync(path.join(BPF_DIR, 'bpf_lxc.o')), `${BPF_DIR}/bpf_lxc.o is missing: run 'make build' first`);

  await sh('ip', 'route', 'add', 'blackhole', TEST_CIDR);
  cleanups.push(() => shQuiet('ip', 'route', 'del', 'blackhole', TEST_CIDR));
  // The node's address sits on a veth of its own (no dummy module everywhere); both ends up, the other end idle.
  await sh('ip', 'link', 'add', NODE_IF, 'type', 'veth', 'peer', 'name', `${NODE_IF}p`);
  cleanups.push(() => shQuiet('ip', 'link', 'del', NODE_IF));
  await sh('ip', 'addr', 'add', `${NODE_IP}/32`, 'dev', NODE_IF);
  await sh('ip', 'link', 'set', `${NODE_IF}p`, 'up');
  await sh('ip', 'link', 'set', NODE_IF, 'up');

  fs.mkdirSync(PIN_DIR);
  cleanups.push(() => fs.rmSync(PIN_DIR, { recursive: true, force: true }));
  dp = Datapath.load({ pinDir: PIN_DIR, bpfDir: BPF_DIR });
  cleanups.push(() => dp.close());
  const clock = new WallClock();
  reader = new RingBufferReader(dp.eventsFd, (buf) => events.push(decodeEvent(buf, clock)));
  cleanups.push(() => reader.close());

  let n = 1;
  for (const def of POD_DEFS) {
    const p = await makePod(def, n++);
    pods[def.name] = p;
    dp.attachEndpoint(p.ifindex);
  }
  await makeWorld();
  dp.attachDevice(uplinkIfindex, 'tc');
  programNodePort();
});

after(async () => {
  const errors: unknown[] = [];
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }
  const links = (await sh('ip', '-o', 'link', 'show')).split('\n').filter((l) => l.includes(`mbp${PID36}`));
  const netns = (await sh('ip', 'netns', 'list')).split('\n').filter((l) => l.startsWith(`mbp-${PID}-`));
  const routes = (await sh('ip', 'route', 'show', TEST_CIDR)).trim();
  assert.deepEqual({ links, netns, routes, pins: fs.existsSync(PIN_DIR) }, { links: [], netns: [], routes: '', pins: false }, 'the test left something behind');
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
});

// --- the maps ----------------------------------------------------------------------

function podFlags(p: Pod, flags: number): void {
  dp.endpoints.update({ ip4: p.ip }, { ifindex: p.ifindex, lxc_id: p.lxcId, identity: p.identity, flags, mac: p.mac, node_mac: p.hostMac });
}

function nodeConfig(flags: number): void {
  dp.writeNodeConfig({ node_ip4: UPLINK_IP, maglev_size: 251, snat_port_min: 0, snat_port_max: 0, flags, aggregation: 0, agg_interval_s: 5 });
}

/** The ipcache as the agent would write it: pods, the node's addresses (host), the policy CIDR (world). */
function writeIpcache(): void {
  for (const k of [...dp.ipcache.keys()]) dp.ipcache.delete(k);
  for (const def of POD_DEFS) dp.ipcache.update({ prefixlen: 32, ip4: def.ip }, { identity: def.identity, cidr_identity: def.cidr });
  for (const ip of [NODE_IP, UPLINK_IP]) dp.ipcache.update({ prefixlen: 32, ip4: ip }, { identity: MB_ID_HOST, cidr_identity: 0 });
  dp.ipcache.update({ prefixlen: 24, ip4: CIDR_NET }, { identity: MB_ID_WORLD, cidr_identity: CIDR_ID });
  dp.ipcache.update({ prefixlen: 0, ip4: '0.0.0.0' }, { identity: MB_ID_WORLD, cidr_identity: 0 });
}

function clear<K, V>(m: { keys(): Iterable<K>; delete(k: K): boolean }): void {
  for (const k of [...m.keys()]) m.delete(k);
}

interface Rule {
  pod: Pod;
  dir: 'ingress' | 'egress';
  identity: number;
  proto?: number;
  port?: number;
  /** Leading bits of `port` that must match (default 16). */
  bits?: number;
  rule: number;
  deny?: boolean;
}

function policyKey(r: Rule): PolicyKey {
  const prefixlen = r.proto === undefined ? 64 : r.port === undefined ? 80 : 80 + (r.bits ?? 16);
  return { prefixlen, lxc_id: r.pod.lxcId, dir: r.dir === 'ingress' ? MB_DIR_INGRESS : MB_DIR_EGRESS, identity: r.identity, proto: r.proto ?? 0, dport: r.port ?? 0 };
}

function addRule(r: Rule): void {
  dp.policy.update(policyKey(r), { rule_id: r.rule, flags: r.deny ? MB_POLICY_F_DENY : 0 });
}

function removeRule(r: Rule): void {
  assert.ok(dp.policy.delete(policyKey(r)), 'the rule was there');
}

/** A clean slate: pod flags, node flags, no policy entries, no connections, no events. */
function setup(flags: Partial<Record<'a' | 'b' | 'c', number>>, rules: Rule[] = [], cfg = 0): void {
  clear(dp.policy);
  clear(dp.policyConntrack);
  clear(dp.conntrack);
  clear(dp.lbAffinity);
  writeIpcache();
  nodeConfig(cfg);
  for (const name of ['a', 'b', 'c'] as const) podFlags(pods[name], flags[name] ?? 0);
  for (const r of rules) addRule(r);
  reader.drain();
  events.length = 0;
}

beforeEach(() => {
  if (dp) setup({});
});

function programNodePort(): void {
  const b = pods.b;
  const fe = (port: number, proto: number, backend: number, revNat: number, bePort: number) => {
    dp.lbBackends.update({ backend_id: backend }, { addr: b.ip, port: bePort, proto, state: MB_BACKEND_ACTIVE, flags: MB_BE_F_LOCAL });
    dp.lbServices.update({ addr: UPLINK_IP, dport: port, slot: 1, proto, scope: MB_LB_SCOPE_EXT }, { backend_id: backend, count: 0, rev_nat_id: 0, flags: 0, affinity_timeout: 0 });
    dp.lbRevnat.update({ rev_nat_id: revNat }, { addr: UPLINK_IP, port });
    dp.lbServices.update({ addr: UPLINK_IP, dport: port, slot: 0, proto, scope: MB_LB_SCOPE_EXT }, { backend_id: 0, count: 1, rev_nat_id: revNat, flags: MB_SVC_F_NODEPORT, affinity_timeout: 0 });
  };
  fe(NODEPORT_TCP, TCP, 1, 1, 80);
  fe(NODEPORT_UDP, UDP, 2, 2, 53);
}

// --- traffic -------------------------------------------------------------------------

type Proto = 'tcp' | 'udp';

async function probe(from: Pod | Peer, proto: Proto, host: string, port: number, expect: boolean): Promise<Answer> {
  const peer = from instanceof Peer ? from : from.peer;
  return peer.command({ op: proto, host, port, timeout: expect ? PASS_MS : BLOCK_MS });
}

/** Asserts that a connection passes (or does not); returns its local port. */
async function expectConn(from: Pod | Peer, proto: Proto, to: Pod | string, port: number, pass: boolean): Promise<number> {
  const host = typeof to === 'string' ? to : to.ip;
  const a = await probe(from, proto, host, port, pass);
  const what = `${from instanceof Peer ? 'world' : from.name} -> ${typeof to === 'string' ? to : to.name}:${port}/${proto}`;
  if (pass) assert.equal(a.ok, true, `${what} should pass: ${a.error}`);
  else assert.equal(a.ok, false, `${what} should be blocked, but it passed`);
  reader.drain();
  return a.localPort ?? 0;
}

/** From the node itself (this process, source NODE_IP by the pod routes). */
async function nodeConn(proto: Proto, to: Pod, port: number, pass: boolean): Promise<number> {
  const timeout = pass ? PASS_MS : BLOCK_MS;
  const r = await new Promise<{ ok: boolean; localPort?: number; error?: string }>((resolve) => {
    if (proto === 'tcp') {
      const s = net.connect({ host: to.ip, port });
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ ok: false, error: 'timeout' });
      }, timeout);
      s.once('connect', () => s.write('ping\n'));
      s.once('data', () => {
        clearTimeout(timer);
        const localPort = s.localPort;
        s.destroy();
        resolve({ ok: true, ...(localPort === undefined ? {} : { localPort }) });
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        resolve({ ok: false, error: e.message });
      });
    } else {
      const s = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        resolve({ ok: false, error: 'timeout' });
      }, timeout);
      s.on('message', () => {
        clearTimeout(timer);
        const localPort = s.address().port;
        s.close();
        resolve({ ok: true, localPort });
      });
      s.send('ping', port, to.ip);
    }
  });
  if (pass) assert.equal(r.ok, true, `node -> ${to.name}:${port}/${proto} should pass: ${r.error}`);
  else assert.equal(r.ok, false, `node -> ${to.name}:${port}/${proto} should be blocked, but it passed`);
  reader.drain();
  return r.localPort ?? 0;
}

/** A TCP echo server on the node's address, for pods to connect to. */
async function nodeServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, NODE_IP, resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

// --- events ---------------------------------------------------------------------------

type EventMatch = Partial<DecodedEvent>;

function matches(e: DecodedEvent, m: EventMatch): boolean {
  return Object.entries(m).every(([k, v]) => e[k as keyof DecodedEvent] === v);
}

function find(m: EventMatch): DecodedEvent[] {
  reader.drain();
  return events.filter((e) => matches(e, m));
}

function show(): string {
  return events.map((e) => JSON.stringify({ ...e, time: undefined })).join('\n');
}

/** Exactly `n` events match (default: at least one). */
function expectEvent(m: EventMatch, n?: number): DecodedEvent {
  const hits = find(m);
  if (n === undefined) assert.ok(hits.length >= 1, `no event matches ${JSON.stringify(m)}; events:\n${show()}`);
  else assert.equal(hits.length, n, `${hits.length} events match ${JSON.stringify(m)}, expected ${n}; events:\n${show()}`);
  return hits[0]!;
}

function expectNoEvent(m: EventMatch): void {
  assert.deepEqual(find(m), [], `unexpected event(s) matching ${JSON.stringify(m)}`);
}

function pctEntries(): Array<[Pct4Key, Pct4Entry]> {
  return [...dp.policyConntrack.entries()];
}

function dropCount(reason: number, dir: number): bigint {
  return (dp.metrics.lookupPerCpu({ reason, dir }) ?? []).reduce((s, v) => s + v.packets, 0n);
}

const ING = MB_EP_F_INGRESS_POLICY;
const EGR = MB_EP_F_EGRESS_POLICY;

// --- the tests ------------------------------------------------------------------------

describe('attachment', () => {
  test('each pod veth has from_endpoint at tc ingress and to_endpoint at tc egress, both of this load', () => {
    for (const p of Object.values(pods)) {
      assert.equal(dp.endpointProgramCurrent(p.ifindex), true, p.hostIf);
      assert.notEqual(tcQuery(p.ifindex, 'ingress'), undefined);
      assert.notEqual(tcQuery(p.ifindex, 'egress'), undefined);
      assert.notEqual(tcQuery(p.ifindex, 'ingress'), tcQuery(p.ifindex, 'egress'));
    }
  });
});

describe('pod to pod', () => {
  test('without policy everything passes unreported; only TCP SYNs are noted (so that a later policy knows who connected)', async () => {
    const { a, b, c } = pods;
    await expectConn(a, 'tcp', b, 80, true);
    await expectConn(b, 'udp', c, 53, true);
    await expectConn(c, 'tcp', a, 8080, true);
    const noted = pctEntries().map(([k, v]) => `${k.saddr}>${k.daddr}:${k.dport}/${k.proto} rule ${v.rule_id}`).sort();
    assert.deepEqual(noted, [`${a.ip}>${b.ip}:80/6 rule 0`, `${c.ip}>${a.ip}:8080/6 rule 0`].sort(), 'one entry per TCP connection, in its direction; none for UDP');
    expectNoEvent({ type: 'policy-verdict' });
    expectNoEvent({ type: 'drop' });
  });

  test('default deny: an ingress policy with no entries drops TCP and UDP, with verdict and drop events and the counter', async () => {
    const { a, b } = pods;
    setup({ b: ING });
    const before = dropCount(MB_DROP_POLICY, MB_DIR_INGRESS);
    await expectConn(a, 'tcp', b, 80, false);
    await expectConn(a, 'udp', b, 53, false);
    const common = { source: b.lxcId, direction: 'ingress', saddr: a.ip, daddr: b.ip, srcIdentity: a.identity, dstIdentity: b.identity } as const;
    expectEvent({ type: 'policy-verdict', ...common, verdict: 'DENIED', reason: 'none', ruleId: 0, proto: 'TCP', dport: 80, ifindex: a.ifindex });
    expectEvent({ type: 'drop', ...common, reason: 'POLICY_DENIED', proto: 'TCP', dport: 80 });
    expectEvent({ type: 'policy-verdict', ...common, verdict: 'DENIED', proto: 'UDP', dport: 53 });
    expectEvent({ type: 'drop', ...common, reason: 'POLICY_DENIED', proto: 'UDP', dport: 53 });
    assert.ok(dropCount(MB_DROP_POLICY, MB_DIR_INGRESS) >= before + 2n, 'counted under POLICY_DENIED, ingress');
    assert.deepEqual(pctEntries(), [], 'nothing denied is tracked');
    // b's egress is not enforced: b still reaches a.
    await expectConn(b, 'tcp', a, 80, true);
  });

  test('ingress L3: b lets a in on any port and protocol, not c; one ALLOWED event per new connection', async () => {
    const { a, b, c } = pods;
    setup({ b: ING }, [{ pod: b, dir: 'ingress', identity: a.identity, rule: 101 }]);
    const port = await expectConn(a, 'tcp', b, 80, true);
    await expectConn(a, 'tcp', b, 8088, true);
    const uport = await expectConn(a, 'udp', b, 53, true);
    await expectConn(c, 'tcp', b, 80, false);
    await expectConn(c, 'udp', b, 53, false);
    expectEvent({ type: 'policy-verdict', source: b.lxcId, direction: 'ingress', verdict: 'ALLOWED', reason: 'L3-Only', ruleId: 101, sport: port, dport: 80, srcIdentity: a.identity, dstIdentity: b.identity }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', proto: 'UDP', sport: uport, dport: 53, ruleId: 101 }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'DENIED', saddr: c.ip, srcIdentity: c.identity, dport: 80 });
    const entry = dp.policyConntrack.lookup({ saddr: a.ip, daddr: b.ip, sport: port, dport: 80, proto: TCP });
    assert.ok(entry, 'the connection is tracked by its tuple');
    assert.equal(entry.rule_id, 101);
    assert.equal(entry.src_identity, a.identity);
    assert.equal(entry.dst_identity, b.identity);
    assert.equal(entry.flags & MB_PCT_F_SEEN_REPLY, MB_PCT_F_SEEN_REPLY, 'the reply was seen');
  });

  test('egress L4: a may reach b on TCP 80 only; the rest of its egress is dropped at a', async () => {
    const { a, b, c } = pods;
    setup({ a: EGR }, [{ pod: a, dir: 'egress', identity: b.identity, proto: TCP, port: 80, rule: 201 }]);
    const port = await expectConn(a, 'tcp', b, 80, true);
    await expectConn(a, 'tcp', b, 8080, false);
    await expectConn(a, 'udp', b, 53, false);
    await expectConn(a, 'tcp', c, 80, false);
    expectEvent({ type: 'policy-verdict', source: a.lxcId, direction: 'egress', verdict: 'ALLOWED', reason: 'L3-L4', ruleId: 201, sport: port, dport: 80, srcIdentity: a.identity, dstIdentity: b.identity, ifindex: a.ifindex }, 1);
    expectEvent({ type: 'drop', source: a.lxcId, direction: 'egress', reason: 'POLICY_DENIED', daddr: b.ip, dport: 8080 });
    expectEvent({ type: 'drop', source: a.lxcId, direction: 'egress', reason: 'POLICY_DENIED', daddr: c.ip, dstIdentity: c.identity });
    // Ingress is not a's concern: others reach a.
    await expectConn(c, 'tcp', a, 80, true);
    await expectConn(b, 'udp', a, 53, true);
  });

  test('a port range as prefixes: any identity to TCP 8080-8087 (8080/13)', async () => {
    const { a, b, c } = pods;
    setup({ b: ING }, [{ pod: b, dir: 'ingress', identity: MB_ID_ANY, proto: TCP, port: 8080, bits: 13, rule: 301 }]);
    await expectConn(a, 'tcp', b, 8080, true);
    await expectConn(c, 'tcp', b, 8087, true);
    await expectConn(a, 'tcp', b, 8079, false);
    await expectConn(a, 'tcp', b, 8088, false);
    await expectConn(a, 'udp', b, 8053, false);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'L4-Only', ruleId: 301, saddr: c.ip, dport: 8087, srcIdentity: c.identity }, 1);
    expectEvent({ type: 'drop', reason: 'POLICY_DENIED', dport: 8088 });
  });

  test('any identity, any protocol: everything in, reported as "all"', async () => {
    const { a, b, c } = pods;
    setup({ b: ING }, [{ pod: b, dir: 'ingress', identity: MB_ID_ANY, rule: 401 }]);
    await expectConn(a, 'tcp', b, 443, true);
    await expectConn(c, 'udp', b, 8053, true);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'all', ruleId: 401, saddr: a.ip, dport: 443 }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'all', ruleId: 401, saddr: c.ip, dport: 8053 }, 1);
  });

  test('a CIDR identity matches the pods in its range (a, b in 10.216.1.0/24), not c', async () => {
    const { a, b, c } = pods;
    setup({ b: ING, c: EGR }, [
      { pod: b, dir: 'ingress', identity: CIDR_ID, proto: TCP, port: 80, rule: 501 },
      { pod: c, dir: 'egress', identity: CIDR_ID, rule: 502 },
    ]);
    await expectConn(a, 'tcp', b, 80, true);
    await expectConn(c, 'tcp', b, 80, false);
    expectEvent({ type: 'policy-verdict', source: b.lxcId, verdict: 'ALLOWED', reason: 'L3-L4', ruleId: 501, saddr: a.ip, srcIdentity: a.identity }, 1);
    expectEvent({ type: 'policy-verdict', source: b.lxcId, verdict: 'DENIED', saddr: c.ip });
    // c's egress toward the CIDR (a is in it; the node is not).
    await expectConn(c, 'udp', a, 53, true);
    expectEvent({ type: 'policy-verdict', source: c.lxcId, direction: 'egress', verdict: 'ALLOWED', reason: 'L3-Only', ruleId: 502, daddr: a.ip, dstIdentity: a.identity }, 1);
  });

  test('deny wins: over an allow of any identity, and a CIDR deny over an identity allow', async () => {
    const { a, b, c } = pods;
    setup({ b: ING }, [
      { pod: b, dir: 'ingress', identity: MB_ID_ANY, rule: 601 },
      { pod: b, dir: 'ingress', identity: a.identity, proto: TCP, port: 80, rule: 602, deny: true },
      { pod: b, dir: 'ingress', identity: c.identity, rule: 603 },
      { pod: b, dir: 'ingress', identity: CIDR_ID, proto: UDP, rule: 604, deny: true },
    ]);
    const before = dropCount(MB_DROP_POLICY_DENY, MB_DIR_INGRESS);
    await expectConn(a, 'tcp', b, 80, false);
    await expectConn(a, 'tcp', b, 443, true);
    await expectConn(c, 'tcp', b, 80, true);
    await expectConn(a, 'udp', b, 53, false); // a is in the denied CIDR
    await expectConn(c, 'udp', b, 53, true); // c is not
    expectEvent({ type: 'policy-verdict', verdict: 'DENIED', reason: 'L3-L4', ruleId: 602, saddr: a.ip, dport: 80 });
    expectEvent({ type: 'drop', reason: 'POLICY_DENY', saddr: a.ip, dport: 80, direction: 'ingress', source: b.lxcId });
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'all', ruleId: 601, saddr: a.ip, dport: 443 }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'L3-Only', ruleId: 603, saddr: c.ip, dport: 80 }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'DENIED', reason: 'L3-L4', ruleId: 604, saddr: a.ip, proto: 'UDP' });
    assert.ok(dropCount(MB_DROP_POLICY_DENY, MB_DIR_INGRESS) >= before + 2n, 'counted under POLICY_DENY');
  });

  test('audit mode of an endpoint: denied traffic passes, reported as AUDIT, without drop events', async () => {
    const { a, b } = pods;
    setup({ b: ING | MB_EP_F_AUDIT, a: EGR | MB_EP_F_AUDIT }, [{ pod: a, dir: 'egress', identity: b.identity, proto: TCP, rule: 701, deny: true }]);
    const port = await expectConn(a, 'tcp', b, 80, true);
    await expectConn(a, 'udp', b, 53, true);
    expectEvent({ type: 'policy-verdict', verdict: 'AUDIT', source: a.lxcId, direction: 'egress', reason: 'L3-L4', ruleId: 701, sport: port }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'AUDIT', source: b.lxcId, direction: 'ingress', reason: 'none', ruleId: 0, sport: port }, 1);
    expectEvent({ type: 'policy-verdict', verdict: 'AUDIT', source: b.lxcId, proto: 'UDP' }, 1);
    expectNoEvent({ type: 'drop' });
    assert.ok(dp.policyConntrack.lookup({ saddr: a.ip, daddr: b.ip, sport: port, dport: 80, proto: TCP }), 'an audited connection is tracked');
  });

  test('node-wide audit mode (mb_config POLICY_AUDIT) does the same for every endpoint', async () => {
    const { a, b } = pods;
    setup({ b: ING }, [], MB_CFG_F_POLICY_AUDIT);
    await expectConn(a, 'tcp', b, 80, true);
    expectEvent({ type: 'policy-verdict', verdict: 'AUDIT', source: b.lxcId, dport: 80 }, 1);
    expectNoEvent({ type: 'drop' });
    nodeConfig(0);
    await expectConn(a, 'tcp', b, 80, false);
  });

  test("replies of an allowed connection pass the other side's default deny; the other way round is a new connection, dropped", async () => {
    const { a, b } = pods;
    setup({ a: EGR, b: ING | EGR }, [
      { pod: a, dir: 'egress', identity: b.identity, rule: 801 },
      { pod: b, dir: 'ingress', identity: a.identity, rule: 802 },
    ]);
    const port = await expectConn(a, 'tcp', b, 80, true);
    await expectConn(a, 'udp', b, 53, true);
    // one event per enforced direction for the new connection, none for its replies
    expectEvent({ type: 'policy-verdict', sport: port, direction: 'egress', source: a.lxcId, ruleId: 801 }, 1);
    expectEvent({ type: 'policy-verdict', sport: port, direction: 'ingress', source: b.lxcId, ruleId: 802 }, 1);
    expectEvent({ type: 'policy-verdict', saddr: b.ip }, 0);
    const e = dp.policyConntrack.lookup({ saddr: a.ip, daddr: b.ip, sport: port, dport: 80, proto: TCP });
    assert.equal(e?.rule_id, 801, 'the entry names the egress rule');
    await expectConn(b, 'tcp', a, 80, false);
    await expectConn(b, 'udp', a, 53, false);
    expectEvent({ type: 'drop', source: b.lxcId, direction: 'egress', reason: 'POLICY_DENIED', saddr: b.ip, daddr: a.ip, dport: 80 });
  });

  test('removing the allow entry cuts an open connection at its next packet; putting it back lets the connection go on', async () => {
    const { a, b } = pods;
    const allow: Rule = { pod: b, dir: 'ingress', identity: a.identity, proto: TCP, port: 80, rule: 901 };
    setup({ b: ING }, [allow]);
    const open = await a.peer.command({ op: 'open', host: b.ip, port: 80, timeout: PASS_MS });
    assert.equal(open.ok, true, open.error);
    try {
      const first = await a.peer.command({ op: 'send', conn: open.id, timeout: PASS_MS });
      assert.equal(first.ok, true, first.error);
      removeRule(allow);
      const cut = await a.peer.command({ op: 'send', conn: open.id, timeout: 1000 });
      assert.equal(cut.ok, false, 'the next packet after the revocation was dropped');
      expectEvent({ type: 'drop', reason: 'POLICY_DENIED', source: b.lxcId, sport: open.localPort, dport: 80 });
      addRule(allow);
      // TCP retransmits the lost line; both lines come through.
      const again = await a.peer.command({ op: 'send', conn: open.id, timeout: 8000 });
      assert.equal(again.ok, true, again.error);
    } finally {
      await a.peer.command({ op: 'close', conn: open.id });
    }
  });
});

describe('node to pod (to_endpoint)', () => {
  test('the node reaches a pod under default deny: host traffic is allowed unjudged, and tracked so the replies pass egress policy', async () => {
    const { b } = pods;
    setup({ b: ING | EGR });
    const port = await nodeConn('tcp', b, 80, true);
    await nodeConn('udp', b, 53, true);
    expectNoEvent({ type: 'policy-verdict' });
    expectNoEvent({ type: 'drop' });
    const e = dp.policyConntrack.lookup({ saddr: NODE_IP, daddr: b.ip, sport: port, dport: 80, proto: TCP });
    assert.ok(e, 'to_endpoint made an entry for the connection');
    assert.equal(e.src_identity, MB_ID_HOST);
  });

  test('with MB_CFG_F_HOST_POLICY the node is judged as identity host', async () => {
    const { b } = pods;
    setup({ b: ING }, [], MB_CFG_F_HOST_POLICY);
    await nodeConn('tcp', b, 80, false);
    expectEvent({ type: 'policy-verdict', verdict: 'DENIED', source: b.lxcId, direction: 'ingress', saddr: NODE_IP, srcIdentity: MB_ID_HOST, dstIdentity: b.identity, ifindex: b.ifindex, dport: 80 });
    expectEvent({ type: 'drop', reason: 'POLICY_DENIED', source: b.lxcId, direction: 'ingress', saddr: NODE_IP, ifindex: b.ifindex });
    addRule({ pod: b, dir: 'ingress', identity: MB_ID_HOST, proto: TCP, port: 80, rule: 1001 });
    const port = await nodeConn('tcp', b, 80, true);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'L3-L4', ruleId: 1001, sport: port, srcIdentity: MB_ID_HOST }, 1);
    await nodeConn('udp', b, 53, false);
  });

  test('a source the ipcache does not know is world, and judged without MB_CFG_F_HOST_POLICY', async () => {
    const { b } = pods;
    setup({ b: ING });
    dp.ipcache.delete({ prefixlen: 32, ip4: NODE_IP });
    await nodeConn('tcp', b, 80, false);
    expectEvent({ type: 'policy-verdict', verdict: 'DENIED', saddr: NODE_IP, srcIdentity: MB_ID_WORLD });
    addRule({ pod: b, dir: 'ingress', identity: MB_ID_WORLD, rule: 1101 });
    await nodeConn('tcp', b, 80, true);
    expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'L3-Only', ruleId: 1101, srcIdentity: MB_ID_WORLD }, 1);
  });

  test("a pod's egress policy judges its connections to the node; the node's answers pass to_endpoint as replies", async () => {
    const { a } = pods;
    const server = await nodeServer();
    try {
      // MB_CFG_F_HOST_POLICY: the node's answers would be judged (and denied) if they were not replies.
      setup({ a: ING | EGR }, [], MB_CFG_F_HOST_POLICY);
      await expectConn(a, 'tcp', NODE_IP, server.port, false);
      expectEvent({ type: 'drop', source: a.lxcId, direction: 'egress', daddr: NODE_IP, dstIdentity: MB_ID_HOST });
      addRule({ pod: a, dir: 'egress', identity: MB_ID_HOST, proto: TCP, rule: 1201 });
      // a's ingress is default deny: the node's SYN-ACK gets through only as a reply.
      const port = await expectConn(a, 'tcp', NODE_IP, server.port, true);
      expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', source: a.lxcId, direction: 'egress', ruleId: 1201, sport: port }, 1);
      expectNoEvent({ type: 'policy-verdict', direction: 'ingress' });
    } finally {
      await server.close();
    }
  });
});

describe('NodePort to a local backend (bpf_host)', () => {
  for (const mode of ['tc', 'xdp'] as const) {
    test(`${mode}: judged with the original client's identity (world, not the SNAT address), tracked by the translated tuple`, async (t) => {
      const { a, b } = pods;
      if (mode === 'xdp') {
        dp.attachDevice(uplinkIfindex, 'xdp', 'native');
        t.after(() => xdpDetach(uplinkIfindex));
      }
      // b: only a may come in; egress default deny (the replies must pass as replies).
      setup({ b: ING | EGR }, [{ pod: b, dir: 'ingress', identity: a.identity, rule: 1301 }]);
      await expectConn(world, 'tcp', UPLINK_IP, NODEPORT_TCP, false);
      await expectConn(world, 'udp', UPLINK_IP, NODEPORT_UDP, false);
      expectEvent({ type: 'policy-verdict', verdict: 'DENIED', source: b.lxcId, direction: 'ingress', saddr: WORLD_IP, srcIdentity: MB_ID_WORLD, daddr: b.ip, dport: 80, ifindex: uplinkIfindex });
      expectEvent({ type: 'drop', reason: 'POLICY_DENIED', source: b.lxcId, saddr: WORLD_IP, proto: 'UDP', dport: 53 });

      addRule({ pod: b, dir: 'ingress', identity: MB_ID_WORLD, proto: TCP, port: 80, rule: 1302 });
      addRule({ pod: b, dir: 'ingress', identity: MB_ID_WORLD, proto: UDP, port: 53, rule: 1303 });
      clear(dp.conntrack);
      const port = await expectConn(world, 'tcp', UPLINK_IP, NODEPORT_TCP, true);
      await expectConn(world, 'udp', UPLINK_IP, NODEPORT_UDP, true);
      expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', reason: 'L3-L4', ruleId: 1302, saddr: WORLD_IP, sport: port, srcIdentity: MB_ID_WORLD, daddr: b.ip, dport: 80 }, 1);
      expectEvent({ type: 'policy-verdict', verdict: 'ALLOWED', ruleId: 1303, saddr: WORLD_IP, proto: 'UDP' }, 1);
      const tracked = pctEntries().filter(([k]) => k.daddr === b.ip && k.dport === 80);
      assert.equal(tracked.length, 1, `one entry for the connection to b:80, got ${tracked.length}`);
      assert.equal(tracked[0]![0].saddr, UPLINK_IP, 'keyed by the translated (SNAT) tuple');
      assert.equal(tracked[0]![1].src_identity, MB_ID_WORLD);
      assert.equal(tracked[0]![1].flags & MB_PCT_F_SEEN_REPLY, MB_PCT_F_SEEN_REPLY, "b's reply passed as a reply");
    });
  }
});
