// The per-packet load balancer (bpf_host at tc, bpf_xdp at XDP, reverse NAT
// in bpf_lxc) on a real topology: an external client in the world netns
// reaches NodePort, LoadBalancer and external-IP frontends on the node's
// uplink; backends are pods (and, for the remote-backend path, the world
// itself). The LB maps are programmed straight through the agent's pins
// (nodeport-maps.ts), so this tests the datapath alone. Every suite runs
// twice: tc only, then with the agent's --lb-acceleration xdp.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import {
  endpointInfo, endpointKey,
  MB_BACKEND_ACTIVE, MB_BACKEND_TERMINATING, MB_CT_DIR_FWD, MB_CT_DIR_REV, MB_CT_F_CLOSING, MB_CT_F_DSR, MB_CT_F_SEEN_REPLY, MB_CT_F_SNAT,
  MB_DROP_NAT_NO_PORT, MB_DROP_NO_LOCAL_BACKEND, MB_DROP_NO_SERVICE, MB_SVC_F_DSR, MB_SVC_F_EXTERNAL_IP, MB_SVC_F_LOADBALANCER, MB_SVC_F_LOCAL,
  MB_SVC_F_MAGLEV, MB_SVC_F_NODEPORT, type Ct4Entry, type Ct4Key,
} from '../../src/datapath/abi.ts';
import { PINNED_MAPS } from '../../src/datapath/datapath.ts';
import { BpfMap } from '../../src/datapath/map.ts';
import { loadObject, type LoadedObject } from '../../src/datapath/object.ts';
import { progTestRun } from '../../src/datapath/testrun.ts';
import { NODE_BIN, sleep, startServer, type Pod, type Topology } from '../../src/sandbox/topology.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';
import { hashTuple, IPPROTO_TCP, IPPROTO_UDP, LbMaps, type Frontend } from './nodeport-maps.ts';
import { frame, parse, parseIcmp } from './nodeport-packets.ts';
import { BPF_BUILD } from './helpers.ts';

const PREFIX = 'mbn';
const POD_CIDR = '10.205.0.0/24';
const UPLINK = '198.18.5';
const LB_RANGE = '198.18.205.0/24'; // LoadBalancer and external IPs: routed to the node by the world
const LB_IP = '198.18.205.10';
const EXTERNAL_IP = '198.18.205.11';
const MAGLEV_SIZE = 251;
const CLIENT = path.join(import.meta.dirname, 'nodeport-client.ts');

let t: Topology;
let maps: LbMaps;
const pods: Pod[] = [];
const podName = new Map<string, string>(); // ip -> "x/a"

// Backends: pods a, b, c on each port; the world's own server for the remote path.
const HTTP = [1, 2, 3];
const WHO = [4, 5, 6];
const ECHO = [7, 8, 9];
const REMOTE = 10;

let nodeIp = '';
const fe = (port: number, proto = IPPROTO_TCP, addr = nodeIp): Frontend => ({ addr, port, proto });

interface ClientResult {
  ok: boolean;
  pod?: string;
  client?: string;
  peer?: string;
  peerPort?: number;
  localPort?: number;
  bytes?: number;
  code?: string;
  ms: number;
}

/** Runs the client in the world netns (`extra`: the local port, or MiB for bulk). */
async function client(mode: 'http' | 'udp' | 'bulk', host: string, port: number, extra?: number): Promise<ClientResult> {
  const started = performance.now();
  const child = spawn('ip', ['netns', 'exec', t.worldNs, NODE_BIN, CLIENT, mode, host, String(port), ...(extra ? [String(extra)] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  const ms = performance.now() - started;
  try {
    return { ...(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ClientResult), ms };
  } catch {
    return { ok: false, code: `no output: ${stderr.trim()}`, ms };
  }
}

/** A TCP connection to an echo frontend held open by a client process. */
class Held {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>> = [];
  #waiters: Array<() => void> = [];
  constructor(host: string, port: number) {
    this.child = spawn('ip', ['netns', 'exec', t.worldNs, NODE_BIN, CLIENT, 'hold', host, String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.lines.push(JSON.parse(l) as Record<string, unknown>);
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  async next(pred: (l: Record<string, unknown>) => boolean, ms = 3000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`held connection: nothing matching after ${ms} ms; got ${JSON.stringify(this.lines)}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
  close(): void {
    this.child.kill('SIGKILL');
  }
}

function ctFind(pred: (k: Ct4Key, v: Ct4Entry) => boolean): Array<[Ct4Key, Ct4Entry]> {
  return maps.conntrack().filter(([k, v]) => pred(k, v));
}

function fwdEntry(clientPort: number, f: Frontend): Ct4Entry | undefined {
  return maps.ct.lookup({ saddr: t.worldIp, daddr: f.addr, sport: clientPort, dport: f.port, proto: f.proto, dir: MB_CT_DIR_FWD });
}

function flushConntrack(): void {
  for (const k of [...maps.ct.keys()]) maps.ct.delete(k);
}

/** Programs every frontend of the suite (EXT scope). */
function programServices(): void {
  const np = MB_SVC_F_NODEPORT;
  maps.setFrontend(fe(30080), { revNatId: 1, flags: np, active: HTTP });
  maps.setFrontend(fe(30053, IPPROTO_UDP), { revNatId: 2, flags: np, active: WHO });
  maps.setFrontend(fe(30081), { revNatId: 3, flags: np | MB_SVC_F_DSR, active: HTTP });
  maps.setFrontend(fe(30054, IPPROTO_UDP), { revNatId: 4, flags: np | MB_SVC_F_DSR, active: WHO });
  maps.setFrontend(fe(30082), { revNatId: 5, flags: np | MB_SVC_F_LOCAL, active: HTTP });
  maps.setFrontend(fe(80, IPPROTO_TCP, LB_IP), { revNatId: 6, flags: MB_SVC_F_LOADBALANCER, active: HTTP });
  maps.setFrontend(fe(53, IPPROTO_UDP, EXTERNAL_IP), { revNatId: 7, flags: MB_SVC_F_EXTERNAL_IP, active: WHO });
  maps.setFrontend(fe(30083), { revNatId: 8, flags: np | MB_SVC_F_MAGLEV, active: HTTP });
  maps.setFrontend(fe(30055, IPPROTO_UDP), { revNatId: 9, flags: np | MB_SVC_F_MAGLEV, active: WHO });
  maps.setFrontend(fe(30007), { revNatId: 10, flags: np | MB_SVC_F_MAGLEV, active: ECHO });
  maps.setFrontend(fe(30099), { revNatId: 11, flags: np, active: [] });
  maps.setFrontend(fe(30098), { revNatId: 12, flags: np | MB_SVC_F_LOCAL, active: [] });
  maps.setFrontend(fe(30090), { revNatId: 13, flags: np, active: [REMOTE] });
  maps.setFrontend(fe(30091, IPPROTO_UDP), { revNatId: 14, flags: np | MB_SVC_F_DSR, active: [REMOTE + 1] });
  maps.setFrontend(fe(30008), { revNatId: 15, flags: np | MB_SVC_F_DSR, active: ECHO });
  maps.setFrontend(fe(30085), { revNatId: 16, flags: np, active: [HTTP[0]!] });
}

function programBackends(): void {
  pods.forEach((p, i) => {
    maps.setBackend({ id: HTTP[i]!, addr: p.ip, port: 8080, proto: IPPROTO_TCP });
    maps.setBackend({ id: WHO[i]!, addr: p.ip, port: 8081, proto: IPPROTO_UDP });
    maps.setBackend({ id: ECHO[i]!, addr: p.ip, port: 7, proto: IPPROTO_TCP });
  });
  maps.setBackend({ id: REMOTE, addr: t.worldIp, port: 8080, proto: IPPROTO_TCP, local: false });
  maps.setBackend({ id: REMOTE + 1, addr: t.worldIp, port: 8081, proto: IPPROTO_UDP, local: false });
}

/** TCP resets the backend pods sent (TcpOutRsts, summed). */
async function podResets(): Promise<number> {
  let n = 0;
  for (const p of pods) {
    const lines = (await t.inPod(p, 'cat', '/proc/net/snmp')).stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
    const names = lines[0]!.split(' ');
    n += Number(lines[1]!.split(' ')[names.indexOf('OutRsts')]);
  }
  return n;
}

/** veth XDP counters of the node's uplink (ethtool -S), summed over queues. */
async function xdpStats(): Promise<Record<string, number>> {
  const out = (await t.inNode('ethtool', '-S', 'uplink')).stdout;
  const stats: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^\s*rx_queue_\d+_(xdp_\w+):\s*(\d+)/.exec(line);
    if (m) stats[m[1]!] = (stats[m[1]!] ?? 0) + Number(m[2]);
  }
  return stats;
}

async function startAgent(mode: 'tc' | 'xdp'): Promise<void> {
  await t.stopAgent();
  await t.startAgent(['--maglev-table-size', String(MAGLEV_SIZE), ...(mode === 'xdp' ? ['--lb-acceleration', 'xdp'] : [])]);
  const link = JSON.parse((await t.inNode('ip', '-j', '-d', 'link', 'show', 'uplink')).stdout) as Array<{ xdp?: unknown }>;
  assert.equal(link[0]!.xdp !== undefined, mode === 'xdp', `XDP on uplink in ${mode} mode`);
}

before(async () => {
  t = await makeTopology(PREFIX, POD_CIDR, UPLINK, [LB_RANGE]);
  nodeIp = t.nodeIp;
  await t.startAgent(['--maglev-table-size', String(MAGLEV_SIZE)]);
  for (const name of ['a', 'b', 'c']) {
    const p = await t.addPod('x', name, { server: true });
    pods.push(p);
    podName.set(p.ip, `x/${name}`);
  }
  t.worldServer = await startServer(t.worldNs, 'world');
  // LoadBalancer and external IPs are routed to the node, as an upstream router would.
  await t.inWorld('ip', 'route', 'add', LB_RANGE, 'via', t.nodeIp);
  maps = new LbMaps(t.spec.pinDir);
  assert.equal(maps.nodeConfig().node_ip4, t.nodeIp, 'the agent wrote the node IP for SNAT');
  programBackends();
  programServices();
});

after(async () => {
  maps?.close();
  await t?.destroy();
  assert.deepEqual(await leftovers(PREFIX), [], 'the topology left something behind');
});

for (const mode of ['tc', 'xdp'] as const) {
  describe(`per-packet LB, ${mode} mode`, () => {
    before(async () => {
      await startAgent(mode);
      programBackends();
      programServices();
      flushConntrack();
    });

    test('NodePort TCP with SNAT: the backend sees the node, the client sees the frontend', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const r = await client('http', nodeIp, 30080);
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.client, nodeIp, 'SNAT: the backend sees the node address');
        assert.equal(r.peer, nodeIp, 'the reply comes from the frontend');
        assert.ok(pods.some((p) => `x/${p.name}` === r.pod), r.pod);
        seen.add(r.pod!);
      }
      assert.ok(seen.size >= 2, `new connections spread over backends, got ${[...seen].join(', ')}`);
    });

    test('NodePort UDP with SNAT', async () => {
      const r = await client('udp', nodeIp, 30053);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.client, nodeIp);
      assert.equal(r.peer, nodeIp);
      assert.equal(r.peerPort, 30053, 'the reply comes from the frontend port');
    });

    test('DSR and externalTrafficPolicy Local keep the client address (TCP and UDP)', async () => {
      for (const port of [30081, 30082]) {
        const r = await client('http', nodeIp, port);
        assert.equal(r.ok, true, `${port}: ${JSON.stringify(r)}`);
        assert.equal(r.client, t.worldIp, `${port}: the backend sees the client`);
        assert.equal(r.peer, nodeIp);
      }
      const u = await client('udp', nodeIp, 30054);
      assert.equal(u.ok, true, JSON.stringify(u));
      assert.equal(u.client, t.worldIp);
      assert.equal(u.peer, nodeIp);
      assert.equal(u.peerPort, 30054);
    });

    test('LoadBalancer IP and external IP that are not node addresses', async () => {
      const r = await client('http', LB_IP, 80);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.peer, LB_IP);
      assert.equal(r.client, nodeIp);
      const u = await client('udp', EXTERNAL_IP, 53);
      assert.equal(u.ok, true, JSON.stringify(u));
      assert.equal(u.peer, EXTERNAL_IP);
      assert.equal(u.peerPort, 53);
    });

    test('conntrack: FWD and REV entries with the same value, visible in mb_ct4', async () => {
      const r = await client('http', nodeIp, 30080);
      assert.equal(r.ok, true, JSON.stringify(r));
      const f = fwdEntry(r.localPort!, fe(30080));
      assert.ok(f, 'FWD entry client -> frontend');
      const backend = pods.find((p) => `x/${p.name}` === r.pod)!;
      assert.equal(f.backend_addr, backend.ip);
      assert.equal(f.backend_port, 8080);
      assert.equal(f.nat_addr, nodeIp);
      assert.ok(f.nat_port >= 61000 && f.nat_port <= 65535, `SNAT port ${f.nat_port} in the agent's range`);
      assert.equal(f.client_addr, t.worldIp);
      assert.equal(f.client_port, r.localPort);
      assert.equal(f.fe_port, 30080);
      assert.equal(f.rev_nat_id, 1);
      assert.ok(f.flags & MB_CT_F_SNAT);
      assert.ok(f.flags & MB_CT_F_SEEN_REPLY);
      assert.ok(f.packets >= 3n, `client packets counted: ${f.packets}`);
      await sleep(100); // the last FIN/ACK
      const rev = maps.ct.lookup({ saddr: backend.ip, daddr: nodeIp, sport: 8080, dport: f.nat_port, proto: IPPROTO_TCP, dir: MB_CT_DIR_REV });
      assert.ok(rev, 'REV entry backend -> node:port');
      assert.equal(rev.client_port, r.localPort);
      assert.ok(rev.packets >= 3n, `backend packets counted: ${rev.packets}`);
      assert.ok(rev.flags & MB_CT_F_CLOSING, 'FIN seen');
      assert.ok((fwdEntry(r.localPort!, fe(30080))!.flags & MB_CT_F_CLOSING) !== 0);

      const d = await client('http', nodeIp, 30081);
      const fd = fwdEntry(d.localPort!, fe(30081))!;
      assert.ok(fd.flags & MB_CT_F_DSR);
      assert.equal(fd.nat_addr, t.worldIp, 'DSR: no SNAT');
      assert.equal(fd.nat_port, d.localPort);
      assert.ok(maps.ct.lookup({ saddr: fd.backend_addr, daddr: t.worldIp, sport: 8080, dport: d.localPort!, proto: IPPROTO_TCP, dir: MB_CT_DIR_REV }));
    });

    test('Maglev: the backend is the table’s for the tuple hash, the same again after conntrack is gone', async () => {
      const table = maps.tables.get(8)!;
      const hits = new Map<number, number>();
      for (let i = 0; i < 12; i++) {
        const lport = 40000 + i * 7 + (mode === 'xdp' ? 1000 : 0);
        const r = await client('http', nodeIp, 30083, lport);
        assert.equal(r.ok, true, JSON.stringify(r));
        const want = table[hashTuple(t.worldIp, nodeIp, lport, 30083, IPPROTO_TCP) % MAGLEV_SIZE]!;
        assert.equal(fwdEntry(lport, fe(30083))?.backend_id, want, `local port ${lport}`);
        assert.equal(r.pod, podName.get(pods[HTTP.indexOf(want)]!.ip));
        hits.set(want, (hits.get(want) ?? 0) + 1);
      }
      assert.ok(hits.size >= 2, 'different tuples, different backends');
      // UDP: the same source port twice, conntrack flushed in between: same backend.
      for (const lport of [45001, 45002, 45003]) {
        const first = await client('udp', nodeIp, 30055, lport);
        flushConntrack();
        const again = await client('udp', nodeIp, 30055, lport);
        assert.equal(first.ok && again.ok, true, JSON.stringify([first, again]));
        assert.equal(again.pod, first.pod, `local port ${lport}`);
        const want = maps.tables.get(9)![hashTuple(t.worldIp, nodeIp, lport, 30055, IPPROTO_UDP) % MAGLEV_SIZE]!;
        assert.equal(first.pod, podName.get(pods[WHO.indexOf(want)]!.ip));
      }
    });

    test('a terminating backend keeps its established connection and gets no new ones', async () => {
      const held = new Held(nodeIp, 30007);
      try {
        const hello = await held.next((l) => typeof l.localPort === 'number');
        assert.equal(hello.peer, nodeIp);
        held.send('one');
        await held.next((l) => l.echo === 'one');
        const victim = fwdEntry(hello.localPort as number, fe(30007))!.backend_id;
        const i = ECHO.indexOf(victim);
        assert.ok(i >= 0);
        // The service manager's move: state terminating, out of the slots and the Maglev table.
        maps.setBackend({ id: victim, addr: pods[i]!.ip, port: 7, proto: IPPROTO_TCP, state: MB_BACKEND_TERMINATING });
        const rest = ECHO.filter((id) => id !== victim);
        maps.setFrontend(fe(30007), { revNatId: 10, flags: MB_SVC_F_NODEPORT | MB_SVC_F_MAGLEV, active: rest });
        held.send('two');
        await held.next((l) => l.echo === 'two');
        assert.equal(fwdEntry(hello.localPort as number, fe(30007))!.backend_id, victim, 'still on the terminating backend');
        for (let n = 0; n < 8; n++) {
          const other = new Held(nodeIp, 30007);
          try {
            const h = await other.next((l) => typeof l.localPort === 'number');
            assert.notEqual(fwdEntry(h.localPort as number, fe(30007))!.backend_id, victim, 'a new connection avoids the terminating backend');
          } finally {
            other.close();
          }
        }
        held.send('three');
        await held.next((l) => l.echo === 'three');
      } finally {
        held.close();
        maps.setBackend({ id: ECHO[0]!, addr: pods[0]!.ip, port: 7, proto: IPPROTO_TCP, state: MB_BACKEND_ACTIVE });
        programBackends();
        maps.setFrontend(fe(30007), { revNatId: 10, flags: MB_SVC_F_NODEPORT | MB_SVC_F_MAGLEV, active: ECHO });
      }
    });

    test('no backend: the connection is refused at once (ICMP port unreachable) and the drop is counted', async () => {
      const before = maps.dropped(MB_DROP_NO_SERVICE);
      const xdpBefore = mode === 'xdp' ? await xdpStats() : {};
      const r = await client('http', nodeIp, 30099);
      assert.equal(r.ok, false);
      assert.equal(r.code, 'ECONNREFUSED', JSON.stringify(r));
      assert.ok(r.ms < 1500, `refused fast (${Math.round(r.ms)} ms incl. node start-up)`);
      assert.ok(maps.dropped(MB_DROP_NO_SERVICE) > before, 'metric for reason 5');
      const events = await t.client.get<Array<{ type: string; reason: string; dport: number; saddr: string }>>('/v1/events?last=50');
      assert.ok(events.some((e) => e.type === 'drop' && e.reason === 'SERVICE_BACKEND_NOT_FOUND' && e.dport === 30099), JSON.stringify(events.slice(-5)));
      if (mode === 'xdp') {
        const xdpAfter = await xdpStats();
        // Sent back by XDP itself (a redirect to the same device: see xmit() in bpf_xdp.c).
        assert.ok((xdpAfter.xdp_redirect ?? 0) > (xdpBefore.xdp_redirect ?? 0), `XDP sent the reject: ${JSON.stringify(xdpAfter)}`);
      }
    });

    test('externalTrafficPolicy Local without a local backend: dropped, counted', async () => {
      const before = maps.dropped(MB_DROP_NO_LOCAL_BACKEND);
      const r = await client('http', nodeIp, 30098);
      assert.equal(r.ok, false);
      assert.equal(r.code, 'TIMEOUT', JSON.stringify(r));
      assert.ok(maps.dropped(MB_DROP_NO_LOCAL_BACKEND) > before);
    });

    test('a backend behind the device (not on this node): forwarded out again and its replies translated back', async () => {
      const xdpBefore = mode === 'xdp' ? await xdpStats() : {};
      const r = await client('http', nodeIp, 30090);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.pod, 'world');
      assert.equal(r.client, nodeIp, 'SNAT');
      assert.equal(r.peer, nodeIp);
      // DSR toward a backend elsewhere falls back to SNAT (no way to carry the frontend yet).
      const u = await client('udp', nodeIp, 30091);
      assert.equal(u.ok, true, JSON.stringify(u));
      assert.equal(u.client, nodeIp);
      assert.equal(u.peerPort, 30091);
      const e = ctFind((k, v) => k.dir === MB_CT_DIR_FWD && v.backend_id === REMOTE + 1 && v.client_port === u.localPort);
      assert.equal(e.length, 1);
      assert.ok(e[0]![1].flags & MB_CT_F_SNAT);
      if (mode === 'xdp') {
        const xdpAfter = await xdpStats();
        assert.ok((xdpAfter.xdp_redirect ?? 0) >= (xdpBefore.xdp_redirect ?? 0) + 4, `XDP forwarded both ways: ${JSON.stringify(xdpAfter)}`);
      }
    });

    test('bulk TCP both ways (GSO/TSO packets from the pods), SNAT and DSR, in parallel: no connection is ever reset', async () => {
      // One flow's packets are handled on several CPUs at once: a conntrack
      // entry must never look expired to one CPU because another stamped it.
      const rstsBefore = await podResets();
      for (const port of [30007, 30008]) {
        const rs = await Promise.all([1, 2, 3, 4].map(() => client('bulk', nodeIp, port, 8)));
        for (const r of rs) {
          assert.equal(r.ok, true, `${port}: ${JSON.stringify(r)}`);
          assert.equal(r.bytes, 8 * 1024 * 1024);
        }
      }
      assert.equal(await podResets(), rstsBefore, 'the backends sent no RST');
    });

    if (mode === 'tc') {
      test('a client whose packets are CHECKSUM_PARTIAL (veth with tx offload): tc translates and rejects them too', async () => {
        await t.inWorld('ethtool', '-K', 'eth0', 'tx', 'on');
        try {
          for (const port of [30080, 30081, 30090]) {
            const r = await client('http', nodeIp, port);
            assert.equal(r.ok, true, `${port}: ${JSON.stringify(r)}`);
          }
          assert.equal((await client('bulk', nodeIp, 30007, 8)).ok, true);
          assert.equal((await client('http', nodeIp, 30099)).code, 'ECONNREFUSED');
        } finally {
          await t.inWorld('ethtool', '-K', 'eth0', 'tx', 'off');
        }
      });
    }

    test('the node’s own traffic and non-frontends are untouched', async () => {
      assert.equal(await t.ping(t.worldNs, nodeIp), true);
      assert.equal((await client('http', nodeIp, 30199)).code, 'ECONNREFUSED', 'a port that is no frontend reaches the node stack (RST)');
      assert.equal(await t.probe(pods[0]!.netnsName, 'http', t.worldIp, 8080), true, 'pod to world still masqueraded');
    });
  });
}

describe('translation, packet by packet (BPF_PROG_TEST_RUN of the programs on the agent’s maps)', () => {
  const XDP_PASS = 2;
  const XDP_REDIRECT = 4;
  const TC_ACT_OK = 0;
  const TC_ACT_REDIRECT = 7;
  const objects: LoadedObject[] = [];
  const progs: Record<string, number> = {};
  let podMacs: Map<string, string>;

  before(() => {
    for (const [file, prog] of [['bpf_xdp', 'xdp_entry'], ['bpf_host', 'from_netdev']] as const) {
      const o = loadObject({ file: path.join(BPF_BUILD, `${file}.o`), pinDir: t.spec.pinDir, pin: PINNED_MAPS });
      objects.push(o);
      progs[prog] = o.programFd(prog);
    }
    const lxc = BpfMap.openPinned(path.join(t.spec.pinDir, 'mb_lxc'), endpointKey, endpointInfo);
    podMacs = new Map(pods.map((p) => [p.ip, lxc.lookup({ ip4: p.ip })!.mac]));
    lxc.close();
  });
  after(() => {
    for (const o of objects) o.close();
  });

  const cases = [
    { prog: 'xdp_entry', sentBack: XDP_REDIRECT, untouched: XDP_PASS, port: 2000 },
    { prog: 'from_netdev', sentBack: TC_ACT_REDIRECT, untouched: TC_ACT_OK, port: 3000 },
  ] as const;
  /** Runs a program on a frame to a local backend; XDP's output starts with its metadata: the mark for tc. */
  function runForwarded(prog: string, pkt: Buffer): Buffer {
    const r = progTestRun(progs[prog]!, pkt);
    if (prog === 'from_netdev') {
      assert.equal(r.retval, TC_ACT_REDIRECT, 'bpf_redirect_peer');
      return r.dataOut;
    }
    assert.equal(r.retval, XDP_PASS);
    assert.equal(r.dataOut.subarray(0, 4).toString(), 'MBX1', 'marked for tc as translated');
    return r.dataOut.subarray(4);
  }

  for (const c of cases) {
    test(`${c.prog}: SNAT of a TCP SYN, checksums right to the bit`, () => {
      const p = parse(runForwarded(c.prog, frame({ saddr: t.worldIp, daddr: nodeIp, sport: c.port, dport: 30080, proto: 6 })));
      assert.equal(p.saddr, nodeIp);
      assert.ok(podMacs.has(p.daddr), p.daddr);
      assert.equal(p.dport, 8080);
      assert.ok(p.sport >= 61000 && p.sport <= 65535, String(p.sport));
      assert.equal(p.ttl, 63, 'forwarded: TTL decremented');
      assert.equal(p.ipCsumOk, true, 'IPv4 checksum');
      assert.equal(p.l4CsumOk, true, 'TCP checksum');
      // tc hands the packet to the pod itself; XDP leaves the MACs to tc.
      if (c.prog === 'from_netdev') assert.equal(p.dstMac, podMacs.get(p.daddr));
      const f = fwdEntry(c.port, fe(30080))!;
      assert.equal(f.nat_port, p.sport);
      assert.equal(f.backend_addr, p.daddr);
    });

    test(`${c.prog}: UDP with a checksum and UDP without one (0 stays 0), DSR keeps the client`, () => {
      const payload = Buffer.from('membrane udp payload, odd length!');
      for (const udpCsum of [true, false]) {
        const sport = c.port + (udpCsum ? 1 : 2);
        const out = runForwarded(c.prog, frame({ saddr: t.worldIp, daddr: nodeIp, sport, dport: 30054, proto: 17 }, { payload, udpCsum }));
        const p = parse(out);
        assert.equal(p.saddr, t.worldIp, 'DSR: no SNAT');
        assert.equal(p.sport, sport);
        assert.ok(podMacs.has(p.daddr));
        assert.equal(p.dport, 8081);
        assert.equal(p.ipCsumOk, true);
        assert.equal(p.l4CsumOk, udpCsum ? true : 'none');
        assert.equal(out.subarray(out.length - payload.length).toString(), payload.toString());
      }
    });

    test(`${c.prog}: no backend — ICMP port unreachable built from the packet, sent back`, () => {
      const syn = frame({ saddr: t.worldIp, daddr: nodeIp, sport: c.port + 3, dport: 30099, proto: 6 }, { payload: Buffer.alloc(100, 1) });
      const r = progTestRun(progs[c.prog]!, syn);
      assert.equal(r.retval, c.sentBack);
      const icmp = parseIcmp(r.dataOut);
      assert.equal(icmp.type, 3);
      assert.equal(icmp.code, 3);
      assert.equal(icmp.saddr, nodeIp, 'from the frontend');
      assert.equal(icmp.daddr, t.worldIp);
      assert.equal(icmp.dstMac, '02:00:00:00:00:02', 'MACs swapped');
      assert.equal(icmp.srcMac, '02:00:00:00:00:01');
      assert.equal(icmp.ipCsumOk, true);
      assert.equal(icmp.icmpCsumOk, true);
      assert.deepEqual(icmp.inner, syn.subarray(14, 14 + 20 + 8), 'the original IP header and 8 bytes');
      assert.equal(icmp.length, 14 + 20 + 8 + 28);
    });

    test(`${c.prog}: a connection stamped by another CPU after this one read the clock is alive, not expired`, () => {
      const tuple = { saddr: t.worldIp, daddr: nodeIp, sport: c.port + 5, dport: 30080, proto: 6 } as const;
      const first = parse(runForwarded(c.prog, frame(tuple)));
      const key = { saddr: t.worldIp, daddr: nodeIp, sport: tuple.sport, dport: 30080, proto: IPPROTO_TCP, dir: MB_CT_DIR_FWD };
      const e = maps.ct.lookup(key)!;
      // bpf_ktime_get_ns and process.hrtime are both CLOCK_MONOTONIC.
      maps.ct.update(key, { ...e, last_seen_ns: process.hrtime.bigint() + 5_000_000_000n });
      const next = parse(runForwarded(c.prog, frame(tuple, { flags: 0x10 })));
      assert.equal(next.sport, first.sport);
      assert.equal(next.daddr, first.daddr);
      assert.equal(maps.ct.lookup(key)!.packets, 2n, 'the same entry counted the second packet');
    });

    test(`${c.prog}: SNAT ports run out (drop, reason 6), and a dead connection’s port is taken over`, () => {
      const cfg = maps.nodeConfig();
      flushConntrack();
      maps.config.update({ key: 0 }, { ...cfg, snat_port_min: 61000, snat_port_max: 61000 });
      try {
        const syn = (sport: number) => frame({ saddr: t.worldIp, daddr: nodeIp, sport, dport: 30085, proto: 6 });
        const a = parse(runForwarded(c.prog, syn(c.port + 6)));
        assert.equal(a.sport, 61000);
        const before = maps.dropped(MB_DROP_NAT_NO_PORT);
        const r = progTestRun(progs[c.prog]!, syn(c.port + 7));
        assert.equal(r.retval, c.prog === 'xdp_entry' ? 1 /* XDP_DROP */ : 2 /* TC_ACT_SHOT */);
        assert.equal(maps.dropped(MB_DROP_NAT_NO_PORT), before + 1n);
        // The first connection closed 20 s ago: its port is free to take.
        const revKey = { saddr: a.daddr, daddr: nodeIp, sport: 8080, dport: 61000, proto: IPPROTO_TCP, dir: MB_CT_DIR_REV };
        const rev = maps.ct.lookup(revKey)!;
        maps.ct.update(revKey, { ...rev, flags: rev.flags | MB_CT_F_CLOSING, last_seen_ns: process.hrtime.bigint() - 20_000_000_000n });
        const b = parse(runForwarded(c.prog, syn(c.port + 7)));
        assert.equal(b.sport, 61000);
        assert.equal(maps.ct.lookup(revKey)!.client_port, c.port + 7, 'the REV entry is the new connection’s');
        assert.equal(fwdEntry(c.port + 6, fe(30085)), undefined, 'the dead connection’s FWD entry is gone');
      } finally {
        maps.config.update({ key: 0 }, cfg);
        flushConntrack();
      }
    });

    test(`${c.prog}: a packet for no frontend is left alone`, () => {
      const pkt = frame({ saddr: t.worldIp, daddr: nodeIp, sport: c.port + 4, dport: 22, proto: 6 });
      const r = progTestRun(progs[c.prog]!, pkt);
      assert.equal(r.retval, c.untouched);
      assert.deepEqual(r.dataOut, pkt);
    });
  }
});
