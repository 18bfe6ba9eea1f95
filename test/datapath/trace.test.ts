// Trace events and their aggregation (bpf/include/trace.h and its emit sites
// in bpf_lxc and bpf_host), in the kernel and without the agent. The test
// loads the Datapath into its own pin dir, builds two "pods" (netns + veth),
// a node address and a "world" netns behind an uplink veth, writes mb_lxc,
// mb_config and a NodePort frontend by hand, and reads the ring buffer.
//
// Exact event sequences come from hand-made frames: a pod's injector
// (trace-inject.ts) sends them from its eth0 through from_endpoint; the
// pods are "deaf" meanwhile (a blackhole route to the other pod in each
// netns), so their kernels never answer (no RST, no ICMP error): every
// packet on the wire is one the test wrote. Real
// connections (policy-peer.ts) cover the node-stack and NodePort paths.
//
// Everything is named mbg-<pid>-* / mbg<pid36>*, addressed in 10.225.0.0/16
// (blackholed on the host) and 198.18.25.0/24 (the uplink), and removed
// also on failure.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  MB_BACKEND_ACTIVE, MB_BE_F_LOCAL, MB_CFG_F_NO_DROP, MB_CFG_F_NO_POLICY, MB_CFG_F_NO_TRACE, MB_DIR_EGRESS, MB_DIR_INGRESS,
  MB_DROP_POLICY, MB_EP_F_INGRESS_POLICY, MB_EVENT_DROP, MB_EVENT_POLICY, MB_EVENT_TRACE, MB_EVF_NEW,
  MB_EVF_REPLY, MB_EVF_REPLY_KNOWN, MB_ID_HOST, MB_ID_WORLD, MB_LB_SCOPE_EXT, MB_METRIC_EVENT_LOST, MB_SVC_F_NODEPORT, MB_TRACE_FROM_ENDPOINT,
  MB_TRACE_FROM_NETWORK, MB_TRACE_TO_ENDPOINT, MB_TRACE_TO_NETWORK, MB_TRACE_TO_STACK, event as eventCodec,
  type RawEvent,
} from '../../src/datapath/abi.ts';
import { Datapath, DEFAULT_BPF_DIR } from '../../src/datapath/datapath.ts';
import { RingBufferReader } from '../../src/datapath/ringbuf.ts';
import { run } from '../../src/endpoint/exec.ts';
import { makeHandPod, makeHandWorld, NetnsChild } from './hand-node.ts';
import { sleep, waitFor } from './helpers.ts';

const PID = process.pid;
const PID36 = PID.toString(36);
const PEER = path.join(import.meta.dirname, 'policy-peer.ts');
const INJECT = path.join(import.meta.dirname, 'trace-inject.ts');
const PIN_DIR = `/sys/fs/bpf/mbg-${PID}`;
const BPF_DIR = DEFAULT_BPF_DIR;

const TEST_CIDR = '10.225.0.0/16';
const NODE_IF = `mbg${PID36}nd`;
const NODE_IP = '10.225.0.1';
const UPLINK_IF = `mbg${PID36}up`;
const UPLINK_IP = '198.18.25.1';
const WORLD_IP = '198.18.25.2';
const WORLD_NS = `mbg-${PID}-world`;
const NODEPORT = 30080;

const TCP = 6;
const UDP = 17;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

const MB_DROP_INVALID_SOURCE = 1; // abi.h (abi.ts names it only in DROP_REASONS)
const AGG = { none: 0, lowest: 1, low: 2, medium: 3, maximum: 4 } as const;
type Level = keyof typeof AGG;


// --- processes in the pods -------------------------------------------------------

interface Pod {
  name: 'a' | 'b';
  ip: string;
  lxcId: number;
  identity: number;
  netns: string;
  hostIf: string;
  ifindex: number;
  mac: string;
  hostMac: string;
  peer: NetnsChild;
  inject: NetnsChild;
}

const POD_DEFS = [
  { name: 'a', ip: '10.225.1.10', lxcId: 21, identity: 2021 },
  { name: 'b', ip: '10.225.1.20', lxcId: 22, identity: 2022 },
] as const;

let dp: Datapath;
let reader: RingBufferReader | undefined;
const events: RawEvent[] = [];
const pods = {} as Record<'a' | 'b', Pod>;
let world: NetnsChild;
let uplinkIfindex = 0;
const cleanups: Array<() => void | Promise<void>> = [];

async function sh(cmd: string, ...args: string[]): Promise<string> {
  return (await run(cmd, args)).stdout;
}

async function shQuiet(cmd: string, ...args: string[]): Promise<void> {
  await run(cmd, args, { allowFail: true });
}


async function makePod(def: (typeof POD_DEFS)[number], n: number): Promise<Pod> {
  const netns = `mbg-${PID}-${def.name}`;
  const hostIf = `mbg${PID36}${def.name}`;
  const mac = `02:25:00:00:0${n}:02`;
  const hostMac = `02:25:00:00:0${n}:01`;
  const ifindex = await makeHandPod({ netns, hostIf, ip: def.ip, nodeIp: NODE_IP, mac, hostMac }, cleanups);
  const peer = new NetnsChild(netns, [PEER, '80', '']);
  cleanups.push(() => peer.kill());
  const inject = new NetnsChild(netns, [INJECT, 'eth0']);
  cleanups.push(() => inject.kill());
  await Promise.all([peer.ready, inject.ready]);
  return { ...def, netns, hostIf, ifindex, mac, hostMac, peer, inject };
}

async function makeWorld(): Promise<void> {
  uplinkIfindex = await makeHandWorld({ netns: WORLD_NS, uplinkIf: UPLINK_IF, uplinkIp: UPLINK_IP, worldIp: WORLD_IP }, cleanups);
  world = new NetnsChild(WORLD_NS, [PEER, '', '']);
  cleanups.push(() => world.kill());
  await world.ready;
}

function openReader(): RingBufferReader {
  const r = new RingBufferReader(dp.eventsFd, (buf) => events.push(eventCodec.decode(buf)));
  reader = r;
  return r;
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'trace.test.ts loads eBPF programs and creates netns: run it as root');
  assert.ok(fs.existsSync(path.join(BPF_DIR, 'bpf_lxc.o')), `${BPF_DIR}/bpf_lxc.o is missing: run 'make build' first`);

  await sh('ip', 'route', 'add', 'blackhole', TEST_CIDR);
  cleanups.push(() => shQuiet('ip', 'route', 'del', 'blackhole', TEST_CIDR));
  await sh('ip', 'link', 'add', NODE_IF, 'type', 'veth', 'peer', 'name', `${NODE_IF}p`);
  cleanups.push(() => shQuiet('ip', 'link', 'del', NODE_IF));
  await sh('ip', 'addr', 'add', `${NODE_IP}/32`, 'dev', NODE_IF);
  await sh('ip', 'link', 'set', `${NODE_IF}p`, 'up');
  await sh('ip', 'link', 'set', NODE_IF, 'up');

  fs.mkdirSync(PIN_DIR);
  cleanups.push(() => fs.rmSync(PIN_DIR, { recursive: true, force: true }));
  dp = Datapath.load({ pinDir: PIN_DIR, bpfDir: BPF_DIR });
  cleanups.push(() => dp.close());
  openReader();
  cleanups.push(() => reader?.close());

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
  const links = (await sh('ip', '-o', 'link', 'show')).split('\n').filter((l) => l.includes(`mbg${PID36}`));
  const netns = (await sh('ip', 'netns', 'list')).split('\n').filter((l) => l.startsWith(`mbg-${PID}-`));
  const routes = (await sh('ip', 'route', 'show', TEST_CIDR)).trim();
  assert.deepEqual({ links, netns, routes, pins: fs.existsSync(PIN_DIR) }, { links: [], netns: [], routes: '', pins: false }, 'the test left something behind');
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
});

// --- the maps ----------------------------------------------------------------------

/** The endpoints as the agent would write them. */
function writeEndpoints(flags: Partial<Record<'a' | 'b', number>> = {}): void {
  for (const p of Object.values(pods)) {
    dp.endpoints.update({ ip4: p.ip }, { ifindex: p.ifindex, lxc_id: p.lxcId, identity: p.identity, flags: flags[p.name] ?? 0, mac: p.mac, node_mac: p.hostMac });
  }
}

let deafNow = false;

/** Deaf pods: each has a blackhole route to the other, so its kernel answers nothing the injectors send. */
async function deaf(on: boolean): Promise<void> {
  if (on === deafNow) return;
  const { a, b } = pods;
  for (const [p, other] of [[a, b], [b, a]] as const) {
    if (on) await sh('ip', '-n', p.netns, 'route', 'replace', 'blackhole', `${other.ip}/32`);
    else await shQuiet('ip', '-n', p.netns, 'route', 'del', 'blackhole', `${other.ip}/32`);
  }
  deafNow = on;
}

function nodeConfig(level: Level, flags = 0, intervalS = 5): void {
  dp.writeNodeConfig({ node_ip4: UPLINK_IP, maglev_size: 251, snat_port_min: 0, snat_port_max: 0, flags, aggregation: AGG[level], agg_interval_s: intervalS });
}

function clear<K>(m: { keys(): Iterable<K>; delete(k: K): boolean }): void {
  for (const k of [...m.keys()]) m.delete(k);
}

function programNodePort(): void {
  const b = pods.b;
  dp.lbBackends.update({ backend_id: 1 }, { addr: b.ip, port: 80, proto: TCP, state: MB_BACKEND_ACTIVE, flags: MB_BE_F_LOCAL });
  dp.lbServices.update({ addr: UPLINK_IP, dport: NODEPORT, slot: 1, proto: TCP, scope: MB_LB_SCOPE_EXT }, { backend_id: 1, count: 0, rev_nat_id: 0, flags: 0, affinity_timeout: 0 });
  dp.lbRevnat.update({ rev_nat_id: 1 }, { addr: UPLINK_IP, port: NODEPORT });
  dp.lbServices.update({ addr: UPLINK_IP, dport: NODEPORT, slot: 0, proto: TCP, scope: MB_LB_SCOPE_EXT }, { backend_id: 0, count: 1, rev_nat_id: 1, flags: MB_SVC_F_NODEPORT, affinity_timeout: 0 });
}

/** A clean slate at an aggregation level: no connections, no aggregation state, no events. */
async function setup(level: Level, opts: { deaf?: boolean; flags?: number; intervalS?: number; ep?: Partial<Record<'a' | 'b', number>> } = {}): Promise<void> {
  await deaf(opts.deaf ?? false);
  clear(dp.policy);
  clear(dp.policyConntrack);
  clear(dp.conntrack);
  clear(dp.aggregation);
  dp.ipcache.update({ prefixlen: 0, ip4: '0.0.0.0' }, { identity: MB_ID_WORLD, cidr_identity: 0 });
  for (const def of POD_DEFS) dp.ipcache.update({ prefixlen: 32, ip4: def.ip }, { identity: def.identity, cidr_identity: 0 });
  for (const ip of [NODE_IP, UPLINK_IP]) dp.ipcache.update({ prefixlen: 32, ip4: ip }, { identity: MB_ID_HOST, cidr_identity: 0 });
  writeEndpoints(opts.ep);
  nodeConfig(level, opts.flags ?? 0, opts.intervalS ?? 5);
  reader?.drain();
  events.length = 0;
}

beforeEach(async () => {
  if (dp) await setup('none');
});

function metric(reason: number, dir: number): bigint {
  return (dp.metrics.lookupPerCpu({ reason, dir }) ?? []).reduce((s, v) => s + v.packets, 0n);
}

// --- hand-made frames ------------------------------------------------------------

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

function ipBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A frame from pod `from` (out of its eth0 toward the node) to `to`. */
function frame(from: Pod, to: string, proto: number, sport: number, dport: number, tcpFlags = 0, srcIp = from.ip): Buffer {
  const l4 = Buffer.alloc(proto === TCP ? 20 : 8);
  l4.writeUInt16BE(sport, 0);
  l4.writeUInt16BE(dport, 2);
  if (proto === TCP) {
    l4.writeUInt32BE(1000, 4);
    l4.writeUInt8(0x50, 12); // data offset 5 words
    l4.writeUInt8(tcpFlags, 13);
    l4.writeUInt16BE(65535, 14);
  } else {
    l4.writeUInt16BE(8, 4);
  }
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(proto, 9);
  ipBytes(srcIp).copy(ip, 12);
  ipBytes(to).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  const eth = Buffer.alloc(14);
  macBytes(from.hostMac).copy(eth, 0);
  macBytes(from.mac).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, l4]);
}

async function inject(from: Pod, frames: Buffer[], repeat = 1): Promise<void> {
  const a = await from.inject.command({ frames: frames.map((f) => f.toString('hex')), repeat });
  assert.equal(a.ok, true, a.error);
}

/** The hand-made TCP exchange: a opens, sends a line, b answers, a closes. */
const EXCHANGE: Array<['ab' | 'ba', number]> = [
  ['ab', SYN],
  ['ba', SYN | ACK],
  ['ab', ACK],
  ['ab', PSH | ACK],
  ['ba', ACK],
  ['ba', PSH | ACK],
  ['ab', ACK],
  ['ab', FIN | ACK],
  ['ba', FIN | ACK],
  ['ab', ACK],
];

/** Sends the exchange one packet at a time (each is traced before its write returns). */
async function exchange(clientPort: number, serverPort: number, steps = EXCHANGE): Promise<void> {
  const { a, b } = pods;
  for (const [dir, flags] of steps) {
    if (dir === 'ab') await inject(a, [frame(a, b.ip, TCP, clientPort, serverPort, flags)]);
    else await inject(b, [frame(b, a.ip, TCP, serverPort, clientPort, flags)]);
  }
  await settle();
}

/** Lets the ring buffer's last records arrive, then reads them. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
  reader?.drain();
}

const POINT_NAMES: Record<number, string> = {
  [MB_TRACE_FROM_ENDPOINT]: 'from-endpoint',
  [MB_TRACE_TO_ENDPOINT]: 'to-endpoint',
  [MB_TRACE_TO_STACK]: 'to-stack',
  [MB_TRACE_FROM_NETWORK]: 'from-network',
  [MB_TRACE_TO_NETWORK]: 'to-network',
};

function tcpFlagNames(f: number): string {
  const names: string[] = [];
  for (const [bit, n] of [[SYN, 'SYN'], [ACK, 'ACK'], [PSH, 'PSH'], [FIN, 'FIN'], [RST, 'RST']] as const) if (f & bit) names.push(n);
  return names.join('|') || '-';
}

function evFlagNames(f: number): string {
  if (!(f & MB_EVF_REPLY_KNOWN)) return f & MB_EVF_NEW ? 'unknown new' : 'unknown';
  return `${f & MB_EVF_REPLY ? 'reply' : 'orig'}${f & MB_EVF_NEW ? ' new' : ''}`;
}

/** One trace event as a line: point, tuple, TCP flags, direction flags. */
function line(e: RawEvent): string {
  return `${POINT_NAMES[e.subtype] ?? e.subtype} ${e.saddr}:${e.sport}>${e.daddr}:${e.dport} ${tcpFlagNames(e.tcp_flags)} ${evFlagNames(e.flags)}`;
}

function traces(): RawEvent[] {
  reader?.drain();
  return events.filter((e) => e.type === MB_EVENT_TRACE);
}

/** What the exchange should show: for each reported step, the events at from-endpoint (level none) and to-endpoint. */
function expected(clientPort: number, serverPort: number, reported: number[], withReceive: boolean): string[] {
  const { a, b } = pods;
  const out: string[] = [];
  EXCHANGE.forEach(([dir, flags], i) => {
    const [s, d] = dir === 'ab' ? [`${a.ip}:${clientPort}`, `${b.ip}:${serverPort}`] : [`${b.ip}:${serverPort}`, `${a.ip}:${clientPort}`];
    const reply = dir === 'ba' ? 'reply' : 'orig';
    if (withReceive) out.push(`from-endpoint ${s}>${d} ${tcpFlagNames(flags)} ${reply}`);
    if (reported.includes(i)) out.push(`to-endpoint ${s}>${d} ${tcpFlagNames(flags)} ${reply}${i === 0 ? ' new' : ''}`);
  });
  return out;
}

// --- the tests ------------------------------------------------------------------------

describe('aggregation of a known TCP exchange (pod to pod)', () => {
  // Which of EXCHANGE's 10 packets each level reports at to-endpoint.
  const ALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const cases: Array<[Level, number[]]> = [
    ['none', ALL],
    ['lowest', ALL],
    // first per direction, or a TCP flag new in its direction (ACK and PSH count)
    ['low', [0, 1, 2, 3, 5, 7, 8]],
    // first per direction, or SYN/FIN/RST new in its direction
    ['medium', [0, 1, 7, 8]],
    ['maximum', [0, 1, 7, 8]],
  ];
  for (const [level, reported] of cases) {
    // The client port above the server's, and below it: the lookup order
    // guesses the direction from the ports; both guesses must end alike.
    for (const [cport, sport] of [[40000, 8080], [1000, 5000]] as const) {
      test(`${level}: exactly the events of ${reported.length} of 10 packets at to-endpoint${level === 'none' ? ', all 10 at from-endpoint' : ', none at from-endpoint'} (ports ${cport} -> ${sport})`, async () => {
        await setup(level, { deaf: true });
        await exchange(cport, sport);
        const got = traces();
        assert.deepEqual(got.map(line), expected(cport, sport, reported, level === 'none'));
        const { a, b } = pods;
        for (const e of got) {
          assert.equal(e.proto, TCP);
          assert.equal(e.orig_daddr, '0.0.0.0', 'not translated');
          if (e.subtype === MB_TRACE_TO_ENDPOINT) {
            const dst = e.daddr === b.ip ? b : a;
            const src = dst === b ? a : b;
            assert.deepEqual([e.source, e.dir, e.ifindex, e.src_identity, e.dst_identity], [dst.lxcId, MB_DIR_INGRESS, dst.ifindex, src.identity, dst.identity], line(e));
          } else {
            const src = e.saddr === a.ip ? a : b;
            const dst = src === a ? b : a;
            assert.deepEqual([e.source, e.dir, e.ifindex, e.src_identity, e.dst_identity], [src.lxcId, MB_DIR_EGRESS, src.ifindex, src.identity, dst.identity], line(e));
          }
        }
        // One mb_agg4 entry, keyed by the connection's original direction.
        const entries = [...dp.aggregation.entries()];
        assert.equal(entries.length, 1, JSON.stringify(entries, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
        const [k, v] = entries[0]!;
        assert.deepEqual(k, { saddr: a.ip, daddr: b.ip, sport: cport, dport: sport, proto: TCP });
        const mask = level === 'low' ? 0xff : SYN | FIN | RST;
        if (level !== 'none' && level !== 'lowest') {
          assert.equal(v.flags_seen_fwd, (SYN | ACK | PSH | FIN) & mask, 'flags reported, original direction');
          assert.equal(v.flags_seen_rev, (SYN | ACK | PSH | FIN) & mask, 'flags reported, reply direction');
        }
      });
    }
  }

  test('a SYN on a tuple seen before starts the connection over: reported again at maximum', async () => {
    await setup('maximum', { deaf: true });
    await exchange(40001, 8080);
    events.length = 0;
    await exchange(40001, 8080, EXCHANGE.slice(0, 3));
    assert.deepEqual(traces().map(line), expected(40001, 8080, [0, 1], false).slice(0, 2));
  });

  for (const [level, again] of [['low', true], ['medium', true], ['maximum', false]] as const) {
    test(`${level}: a direction quiet in reports for the interval (1 s) is reported again: ${again}`, async () => {
      await setup(level, { deaf: true, intervalS: 1 });
      await exchange(40002, 8080, EXCHANGE.slice(0, 4));
      const before = traces().length;
      await exchange(40002, 8080, [['ab', ACK]]);
      assert.equal(traces().length, before, 'within the interval: not reported');
      await new Promise((r) => setTimeout(r, 1100));
      await exchange(40002, 8080, [['ab', ACK], ['ab', ACK]]);
      const { a, b } = pods;
      const extra = traces().slice(before).map(line);
      assert.deepEqual(extra, again ? [`to-endpoint ${a.ip}:40002>${b.ip}:8080 ACK orig`] : []);
    });
  }

  test('UDP at medium: the first datagram of each direction, with is_reply on the answer', async () => {
    const { a, b } = pods;
    await setup('medium', { deaf: true });
    await inject(a, [frame(a, b.ip, UDP, 5353, 53)]);
    await inject(a, [frame(a, b.ip, UDP, 5353, 53)]);
    await inject(b, [frame(b, a.ip, UDP, 53, 5353)]);
    await inject(b, [frame(b, a.ip, UDP, 53, 5353)]);
    await inject(a, [frame(a, b.ip, UDP, 5353, 53)]);
    await settle();
    assert.deepEqual(traces().map(line), [
      `to-endpoint ${a.ip}:5353>${b.ip}:53 - orig new`,
      `to-endpoint ${b.ip}:53>${a.ip}:5353 - reply`,
    ]);
  });
});

describe('switches', () => {
  test('trace events off (MB_CFG_F_NO_TRACE): no trace event at level none', async () => {
    await setup('none', { deaf: true, flags: MB_CFG_F_NO_TRACE });
    await exchange(40010, 8080);
    assert.deepEqual(traces().map(line), []);
  });

  test('drop events off (MB_CFG_F_NO_DROP): a spoofed packet is dropped and counted, without an event; traces stay', async () => {
    const { a, b } = pods;
    await setup('none', { deaf: true, flags: MB_CFG_F_NO_DROP });
    const before = metric(MB_DROP_INVALID_SOURCE, MB_DIR_EGRESS);
    await inject(a, [frame(a, b.ip, UDP, 1234, 53, 0, '10.225.9.9')]);
    await inject(a, [frame(a, b.ip, UDP, 1234, 53)]);
    await settle();
    assert.equal(metric(MB_DROP_INVALID_SOURCE, MB_DIR_EGRESS), before + 1n, 'counted in mb_metrics');
    assert.deepEqual(events.filter((e) => e.type === MB_EVENT_DROP), [], 'no drop event');
    assert.equal(traces().length, 2, 'the legitimate datagram is traced at from-endpoint and to-endpoint');
    // Switched back on, the same drop has its event.
    nodeConfig('none');
    await inject(a, [frame(a, b.ip, UDP, 1234, 53, 0, '10.225.9.9')]);
    await settle();
    assert.equal(events.filter((e) => e.type === MB_EVENT_DROP && e.subtype === MB_DROP_INVALID_SOURCE).length, 1);
  });

  test('policy-verdict events off (MB_CFG_F_NO_POLICY): a policy drop has its drop event only; drops off: its verdict only', async () => {
    const { a, b } = pods;
    await setup('medium', { deaf: true, flags: MB_CFG_F_NO_POLICY, ep: { b: MB_EP_F_INGRESS_POLICY } });
    const before = metric(MB_DROP_POLICY, MB_DIR_INGRESS);
    await inject(a, [frame(a, b.ip, TCP, 40020, 8080, SYN)]);
    await settle();
    assert.deepEqual(events.map((e) => e.type), [MB_EVENT_DROP], 'the drop event, no verdict, no trace of a dropped packet');
    nodeConfig('medium', MB_CFG_F_NO_DROP);
    events.length = 0;
    await inject(a, [frame(a, b.ip, TCP, 40020, 8080, SYN)]);
    await settle();
    assert.deepEqual(events.map((e) => e.type), [MB_EVENT_POLICY]);
    assert.equal(metric(MB_DROP_POLICY, MB_DIR_INGRESS), before + 2n, 'both drops counted');
  });
});

describe('wake-ups (bpf/include/events.h)', () => {
  test('events are submitted without waking the reader until the ring fills past 1/8; the timer drains the rest', async () => {
    const { a, b } = pods;
    await setup('none', { deaf: true });
    reader?.close();
    reader = undefined;
    let woken = 0;
    // Epoll only (no timer): it reads only when the datapath wakes it.
    const r = new RingBufferReader(dp.eventsFd, (buf) => {
      if (eventCodec.decode(buf).sport === 7778) woken++;
    }, { drainEveryMs: 0 });
    try {
      // Whatever an earlier test left is read once the fd is polled; then the ring is empty.
      await sleep(100);
      r.drain();
      await sleep(100);
      await inject(a, [frame(a, b.ip, UDP, 7778, 53)], 10); // 20 events: far below the watermark
      await sleep(300);
      assert.equal(woken, 0, 'no wake-up for a few events');
      // 1/8 of the ring is 8 192 records of 64 bytes: the datagram that crosses it wakes the reader.
      await inject(a, [frame(a, b.ip, UDP, 7778, 53)], 4200);
      await waitFor(() => woken >= 8192, 'a wake-up at the watermark', 5000);
      assert.ok(woken <= 20 + 8400, `read ${woken}`);
    } finally {
      r.close();
    }
    // A reader with the default timer reads a lone event without any wake-up.
    events.length = 0;
    openReader();
    await inject(a, [frame(a, b.ip, UDP, 7779, 53)]);
    await waitFor(() => events.some((e) => e.sport === 7779), 'the timer drained the lone event', 2000);
  });
});

describe('lost events', () => {
  test('with nobody reading, a full ring buffer loses events and counts each (mb_metrics reason 0xff)', async () => {
    const { a, b } = pods;
    await setup('none', { deaf: true });
    reader?.close();
    reader = undefined;
    try {
      // 56-byte events in records with an 8-byte header: 64 bytes; the kernel
      // never lets the producer catch up with the consumer exactly, so one
      // record's room stays free.
      const capacity = dp.eventsInfo().maxEntries / 64 - 1;
      const datagrams = Math.ceil(capacity / 2) + 5000; // two events each (from-endpoint, to-endpoint)
      const lostBefore = metric(MB_METRIC_EVENT_LOST, 0);
      await inject(a, [frame(a, b.ip, UDP, 7777, 53)], datagrams);
      const lost = metric(MB_METRIC_EVENT_LOST, 0) - lostBefore;
      let read = 0;
      const r = new RingBufferReader(dp.eventsFd, (buf) => {
        const e = eventCodec.decode(buf);
        if (e.type === MB_EVENT_TRACE && e.sport === 7777) read++;
      });
      try {
        r.drain();
      } finally {
        r.close();
      }
      assert.equal(lost, BigInt(2 * datagrams - capacity), `lost ${lost}, read ${read}`);
      assert.equal(read, capacity, 'the ring buffer held as many as it could');
      assert.equal(BigInt(read) + lost, BigInt(2 * datagrams), 'every event was either delivered or counted lost');
    } finally {
      openReader();
    }
  });
});

describe('translated and stack-delivered traffic (real connections)', () => {
  test('NodePort to a local backend: to-endpoint client -> backend and to-network backend -> client, the frontend as orig dst; at medium only SYN/FIN/RST', async () => {
    const { b } = pods;
    await setup('medium');
    const ans = await world.command({ op: 'tcp', host: UPLINK_IP, port: NODEPORT, timeout: 3000 });
    assert.equal(ans.ok, true, ans.error);
    await new Promise((r) => setTimeout(r, 300)); // the FINs
    const port = ans.localPort!;
    const got = traces().filter((e) => e.saddr === WORLD_IP || e.daddr === WORLD_IP);
    for (const e of got) {
      assert.equal(e.orig_daddr, UPLINK_IP, line(e));
      assert.equal(e.orig_dport, NODEPORT, line(e));
      assert.notEqual(e.tcp_flags & (SYN | FIN | RST), 0, `medium reports no plain ACK: ${line(e)}`);
    }
    const syn = got.filter((e) => e.tcp_flags & SYN);
    assert.deepEqual(syn.map(line), [
      `to-endpoint ${WORLD_IP}:${port}>${b.ip}:80 SYN orig new`,
      `to-network ${b.ip}:80>${WORLD_IP}:${port} SYN|ACK reply`,
    ]);
    assert.deepEqual([syn[0]!.source, syn[0]!.dir, syn[0]!.ifindex, syn[0]!.dst_identity], [b.lxcId, MB_DIR_INGRESS, b.ifindex, b.identity]);
    assert.deepEqual([syn[1]!.source, syn[1]!.dir, syn[1]!.ifindex, syn[1]!.src_identity], [b.lxcId, MB_DIR_EGRESS, uplinkIfindex, b.identity]);
    const fins = got.filter((e) => e.tcp_flags & FIN).map((e) => `${POINT_NAMES[e.subtype]} ${evFlagNames(e.flags)}`);
    assert.deepEqual(fins.sort(), ['to-endpoint orig', 'to-network reply']);
  });

  test('NodePort at none: from-network shows the packet as it arrived (client -> frontend), not translated yet', async () => {
    const { b } = pods;
    await setup('none');
    const ans = await world.command({ op: 'tcp', host: UPLINK_IP, port: NODEPORT, timeout: 3000 });
    assert.equal(ans.ok, true, ans.error);
    const port = ans.localPort!;
    const got = traces().filter((e) => e.tcp_flags & SYN).map((e) => `${line(e)} orig=${e.orig_daddr}:${e.orig_dport} if=${e.ifindex}`);
    assert.equal(got.length, 4, got.join('\n'));
    assert.equal(got[0], `from-network ${WORLD_IP}:${port}>${UPLINK_IP}:${NODEPORT} SYN orig orig=0.0.0.0:0 if=${uplinkIfindex}`);
    assert.equal(got[1], `to-endpoint ${WORLD_IP}:${port}>${b.ip}:80 SYN orig new orig=${UPLINK_IP}:${NODEPORT} if=${b.ifindex}`);
    // The backend's SYN-ACK as it leaves the pod, toward the SNAT address (its port is the datapath's choice): a reply by its flags.
    const snat = [...dp.conntrack.keys()].find((k) => k.saddr === b.ip && k.dir === 1)?.dport;
    assert.equal(got[2], `from-endpoint ${b.ip}:80>${UPLINK_IP}:${snat} SYN|ACK reply orig=0.0.0.0:0 if=${b.ifindex}`);
    assert.equal(got[3], `to-network ${b.ip}:80>${WORLD_IP}:${port} SYN|ACK reply orig=${UPLINK_IP}:${NODEPORT} if=${uplinkIfindex}`);
  });

  test('pod to the node: to-stack on the way up, the answer to-endpoint from the stack (to_endpoint), a reply', async () => {
    const { a } = pods;
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => server.listen(0, NODE_IP, r));
    try {
      await setup('medium');
      const port = (server.address() as net.AddressInfo).port;
      const ans = await a.peer.command({ op: 'tcp', host: NODE_IP, port, timeout: 3000 });
      assert.equal(ans.ok, true, ans.error);
      const cport = ans.localPort!;
      const syn = traces().filter((e) => e.tcp_flags & SYN);
      assert.deepEqual(syn.map(line), [
        `to-stack ${a.ip}:${cport}>${NODE_IP}:${port} SYN orig new`,
        `to-endpoint ${NODE_IP}:${port}>${a.ip}:${cport} SYN|ACK reply`,
      ]);
      assert.deepEqual([syn[0]!.source, syn[0]!.dir, syn[0]!.ifindex, syn[0]!.src_identity], [a.lxcId, MB_DIR_EGRESS, a.ifindex, a.identity]);
      assert.deepEqual([syn[1]!.source, syn[1]!.dir, syn[1]!.ifindex, syn[1]!.dst_identity], [a.lxcId, MB_DIR_INGRESS, a.ifindex, a.identity]);
    } finally {
      await new Promise((r) => server.close(() => r(undefined)));
    }
  });
});

// from-network for a packet that is not the load balancer's (ICMP): traced at none with its type/code.
describe('from-network, not for the load balancer', () => {
  test('an ICMP echo from the world to the node: from-network at none, with type 8 code 0; nothing at lowest', async () => {
    await setup('none');
    await run('ip', ['netns', 'exec', WORLD_NS, 'ping', '-c', '1', '-W', '2', UPLINK_IP]);
    const icmp = traces().filter((e) => e.proto === 1 && e.subtype === MB_TRACE_FROM_NETWORK);
    assert.equal(icmp.length, 1, icmp.map(line).join('\n'));
    assert.deepEqual([icmp[0]!.saddr, icmp[0]!.daddr, icmp[0]!.dport, icmp[0]!.ifindex], [WORLD_IP, UPLINK_IP, 8 << 8, uplinkIfindex]);
    await setup('lowest');
    await run('ip', ['netns', 'exec', WORLD_NS, 'ping', '-c', '1', '-W', '2', UPLINK_IP]);
    assert.deepEqual(traces().filter((e) => e.subtype === MB_TRACE_FROM_NETWORK).map(line), []);
  });
});
