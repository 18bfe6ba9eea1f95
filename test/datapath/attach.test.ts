// Attaching programs where packets and sockets pass: tc on clsact, XDP in
// generic mode, cgroup-v2 connect4. Every attachment is checked three ways:
// our query, the system's own tools (tc, ip, bpftool), and traffic — packets
// counted by the program, connections it refuses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { struct } from '../../src/datapath/codec.ts';
import { cgroupAttach, cgroupDetach } from '../../src/datapath/cgroup.ts';
import { BpfMap } from '../../src/datapath/map.ts';
import { setLibbpfLogSink } from '../../src/datapath/libbpf.ts';
import { loadObject, programInfo, type LoadedObject } from '../../src/datapath/object.ts';
import { tcAttach, tcDestroyHook, tcDetach, tcQuery } from '../../src/datapath/tc.ts';
import { xdpAttach, xdpDetach, xdpQuery } from '../../src/datapath/xdp.ts';
import { MembraneError } from '../../src/errors.ts';
import {
  CFG,
  SLOT,
  TEST_PROGS,
  assertNoLeftovers,
  makeCgroup,
  makePinDir,
  makeVeth,
  requireObjects,
  requireRoot,
  sh,
  waitFor,
  type Defer,
  type VethPair,
  deferrer,
} from './helpers.ts';

const execFileP = promisify(execFile);

const u32 = struct<{ i: number }>('__u32', [['i', 'u32']]);
const u64 = struct<{ v: bigint }>('__u64', [['v', 'u64']]);

const UDP_PORT = 47001;

interface Loaded {
  obj: LoadedObject;
  counts: BpfMap<{ i: number }, { v: bigint }>;
  count(slot: number): number;
  configure(slot: number, value: number): void;
  progId(name: string): number;
}

/** Loads the test programs with t_counts pinned under a fresh pin dir. */
function load(defer: Defer): Loaded {
  const pins = makePinDir();
  defer(pins.remove);
  const obj = loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: ['t_counts'] });
  defer(() => obj.close());
  const counts = new BpfMap(obj.mapFd('t_counts'), 't_counts', u32, u64);
  const config = new BpfMap(obj.mapFd('t_config'), 't_config', u32, u64);
  config.update({ i: CFG.udpPort }, { v: BigInt(UDP_PORT) });
  return {
    obj,
    counts,
    count: (slot) => Number(counts.lookup({ i: slot })?.v ?? -1n),
    configure: (slot, value) => config.update({ i: slot }, { v: BigInt(value) }),
    progId: (name) => programInfo(obj.programFd(name)).id,
  };
}

function veth(defer: Defer): VethPair {
  const v = makeVeth();
  defer(v.remove);
  return v;
}

/** `tc -j filter show` for one direction of a device. */
function tcFilters(dev: string, dir: 'ingress' | 'egress'): { kind: string; options?: { handle?: string; bpf_name?: string; prog?: { id: number }; 'direct-action'?: boolean } }[] {
  return JSON.parse(sh('tc', '-j', 'filter', 'show', 'dev', dev, dir) || '[]');
}

function qdiscKinds(dev: string): string[] {
  return (JSON.parse(sh('tc', '-j', 'qdisc', 'show', 'dev', dev)) as { kind: string }[]).map((q) => q.kind);
}

/** What libbpf prints; routine operations must print no warnings. */
const libbpfWarnings: string[] = [];

before(() => {
  requireRoot();
  requireObjects();
  setLibbpfLogSink((level, line) => void (level === 'warn' && libbpfWarnings.push(line)));
});

after(() => assertNoLeftovers());

describe('tc on clsact', () => {
  test('attach creates clsact and our filter; query returns the program id; packets are counted', async (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const v = veth(defer);
    defer(() => tcDestroyHook(v.ifindexA));

    assert.equal(tcQuery(v.ifindexA, 'ingress'), undefined, 'nothing attached yet');
    assert.ok(!qdiscKinds(v.a).includes('clsact'));

    const id = tcAttach(v.ifindexA, 'ingress', p.obj.programFd('tc_count_a'));
    assert.equal(id, p.progId('tc_count_a'), 'attach returns the kernel id of the program');
    assert.equal(tcQuery(v.ifindexA, 'ingress'), id);
    assert.equal(tcQuery(v.ifindexA, 'egress'), undefined, 'egress is a separate slot');

    // What iproute2 sees.
    assert.ok(qdiscKinds(v.a).includes('clsact'));
    const bpfFilters = tcFilters(v.a, 'ingress').filter((f) => f.options?.prog);
    assert.equal(bpfFilters.length, 1);
    assert.equal(bpfFilters[0]!.options!.prog!.id, id);
    assert.equal(bpfFilters[0]!.options!['direct-action'], true);
    assert.match(bpfFilters[0]!.options!.bpf_name ?? '', /tc_count_a/);

    await v.sendUdp(25, UDP_PORT);
    await waitFor(() => p.count(SLOT.tcA) === 25, 'tc_count_a to count 25 packets');
    await v.sendUdp(5, UDP_PORT + 1); // another port: not ours to count
    await v.sendUdp(5, UDP_PORT);
    await waitFor(() => p.count(SLOT.tcA) === 30, 'tc_count_a to count 30 packets');
  });

  test('a second attach replaces the filter atomically: under traffic, every packet is seen by one program or the other', async (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const v = veth(defer);
    defer(() => tcDestroyHook(v.ifindexA));
    const idA = tcAttach(v.ifindexA, 'ingress', p.obj.programFd('tc_count_a'));

    // A sender that runs until told to stop and reports how many it sent.
    const stop = `/tmp/mbtest-${process.pid}-stop-${Math.random().toString(36).slice(2)}`;
    defer(() => fs.rmSync(stop, { force: true }));
    const sender = execFileP('ip', [
      'netns', 'exec', v.netns, 'bash', '-c',
      `n=0; while [ ! -e ${stop} ]; do echo x > /dev/udp/10.99.0.2/${UDP_PORT}; n=$((n + 1)); done; echo $n`,
    ]);
    let sent: number;
    try {
      await waitFor(() => p.count(SLOT.tcA) >= 200, 'traffic through tc_count_a');
      const idB = tcAttach(v.ifindexA, 'ingress', p.obj.programFd('tc_count_b'));
      assert.notEqual(idB, idA);
      assert.equal(idB, p.progId('tc_count_b'));
      assert.equal(tcQuery(v.ifindexA, 'ingress'), idB);
      await waitFor(() => p.count(SLOT.tcB) >= 200, 'traffic through tc_count_b');
    } finally {
      fs.writeFileSync(stop, '');
      sent = Number((await sender).stdout.trim());
    }
    assert.ok(sent >= 400, `the sender sent ${sent} packets`);
    // No gap (a packet neither counted) and no overlap (one counted twice).
    await waitFor(() => p.count(SLOT.tcA) + p.count(SLOT.tcB) === sent, `${sent} packets counted by A+B`);
    const filters = tcFilters(v.a, 'ingress').filter((f) => f.options?.prog);
    assert.equal(filters.length, 1, 'one filter, replaced in place');
    assert.equal(filters[0]!.options!.prog!.id, tcQuery(v.ifindexA, 'ingress'));
  });

  test('the attachment outlives the loaded object; the pinned counters keep counting', async (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const v = veth(defer);
    defer(() => tcDestroyHook(v.ifindexA));
    const obj = loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: ['t_counts', 't_config'] });
    let id: number;
    try {
      new BpfMap(obj.mapFd('t_config'), 't_config', u32, u64).update({ i: CFG.udpPort }, { v: BigInt(UDP_PORT) });
      id = tcAttach(v.ifindexA, 'ingress', obj.programFd('tc_count_a'));
    } finally {
      obj.close(); // the agent exits
    }
    assert.equal(tcQuery(v.ifindexA, 'ingress'), id, 'the filter holds the program');
    const counts = BpfMap.openPinned(`${pins.dir}/t_counts`, u32, u64);
    defer(() => counts.close());
    await v.sendUdp(7, UDP_PORT);
    await waitFor(() => counts.lookup({ i: SLOT.tcA })?.v === 7n, '7 packets counted after the object was closed');
  });

  test('detach removes only our filter; detaching again reports false; destroy removes clsact', async (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const v = veth(defer);
    defer(() => tcDestroyHook(v.ifindexA));
    libbpfWarnings.length = 0;
    tcAttach(v.ifindexA, 'ingress', p.obj.programFd('tc_count_a'));
    tcAttach(v.ifindexA, 'egress', p.obj.programFd('tc_count_b')); // clsact exists already: an expected EEXIST
    // Somebody else's filter on the same hook, at another priority.
    sh('tc', 'filter', 'add', 'dev', v.a, 'ingress', 'prio', '5', 'u32', 'match', 'u32', '0', '0');

    assert.equal(tcDetach(v.ifindexA, 'ingress'), true);
    assert.equal(tcQuery(v.ifindexA, 'ingress'), undefined);
    assert.equal(tcQuery(v.ifindexA, 'egress'), p.progId('tc_count_b'), 'the other direction is untouched');
    const left = tcFilters(v.a, 'ingress');
    assert.ok(left.some((f) => f.kind === 'u32'), 'the other filter survives our detach');
    assert.ok(!left.some((f) => f.options?.prog), 'no BPF filter left on ingress');

    const before = p.count(SLOT.tcA);
    await v.sendUdp(10, UDP_PORT);
    // Give the packets time to arrive; the count must not move.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.count(SLOT.tcA), before, 'a detached program counts nothing');

    assert.equal(tcDetach(v.ifindexA, 'ingress'), false, 'nothing left to detach');

    tcDestroyHook(v.ifindexA);
    assert.ok(!qdiscKinds(v.a).includes('clsact'), 'clsact is gone');
    assert.equal(tcQuery(v.ifindexA, 'egress'), undefined);
    assert.equal(tcDetach(v.ifindexA, 'egress'), false, 'detach without clsact reports false');
    tcDestroyHook(v.ifindexA); // idempotent
    // Expected answers ("already there", "nothing attached") are not warnings in the agent's log.
    assert.deepEqual(libbpfWarnings, []);
  });

  test('attaching to a device that does not exist says so', (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    assert.throws(() => tcAttach(0x7ffffff0, 'ingress', p.obj.programFd('tc_count_a')), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.code, 'BPF_SYSCALL_FAILED');
      assert.match(err.message, /^create clsact qdisc on ifindex 2147483632: ENODEV \(19\) — the network device does not exist$/);
      return true;
    });
  });
});

describe('XDP', () => {
  test('generic-mode attach, query and detach on a veth; packets are counted only while attached', async (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const v = veth(defer);
    defer(() => xdpDetach(v.ifindexA, 'generic'));

    assert.equal(xdpQuery(v.ifindexA), 0);
    xdpAttach(v.ifindexA, p.obj.programFd('xdp_count'), 'generic');
    const id = p.progId('xdp_count');
    assert.equal(xdpQuery(v.ifindexA), id);
    const link = JSON.parse(sh('ip', '-d', '-j', 'link', 'show', 'dev', v.a)) as { xdp?: { mode: number; prog?: { id: number } } }[];
    assert.equal(link[0]!.xdp?.prog?.id, id, 'ip link shows our program');
    assert.equal(link[0]!.xdp?.mode, 2, 'XDP_ATTACHED_SKB: generic mode');

    await v.sendUdp(12, UDP_PORT);
    await waitFor(() => p.count(SLOT.xdp) === 12, 'xdp_count to count 12 packets');

    xdpDetach(v.ifindexA, 'generic');
    assert.equal(xdpQuery(v.ifindexA), 0);
    const linkAfter = JSON.parse(sh('ip', '-d', '-j', 'link', 'show', 'dev', v.a)) as { xdp?: unknown }[];
    assert.equal(linkAfter[0]!.xdp, undefined);
    await v.sendUdp(6, UDP_PORT);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.count(SLOT.xdp), 12, 'a detached program counts nothing');
  });

  test('a tc program cannot be attached as XDP, and the error names the device', (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const v = veth(defer);
    assert.throws(() => xdpAttach(v.ifindexA, p.obj.programFd('tc_count_a'), 'generic'), /^KernelError: attach XDP program on ifindex \d+: EINVAL \(22\)$/);
    assert.equal(xdpQuery(v.ifindexA), 0);
  });
});

describe('cgroup connect4', () => {
  interface Cg {
    path: string;
  }
  function cgroup(defer: Defer): Cg {
    const cg = makeCgroup();
    defer(cg.remove);
    return cg;
  }

  /** A TCP listener on loopback; returns its port. */
  async function listener(defer: Defer): Promise<number> {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return (server.address() as net.AddressInfo).port;
  }

  /** connect() from a shell that moved itself into `cg`; resolves to 'ok' or the error text. */
  async function connectFrom(cg: Cg, port: number): Promise<string> {
    try {
      await execFileP('bash', ['-c', `echo $$ > ${cg.path}/cgroup.procs && exec 3<>/dev/tcp/127.0.0.1/${port}`]);
      return 'ok';
    } catch (err) {
      return (err as { stderr: string }).stderr;
    }
  }

  function bpftoolShow(path: string): { id: number; attach_type: string; name: string; attach_flags?: string }[] {
    const out = sh('bpftool', 'cgroup', 'show', path, '-j').trim();
    return out ? JSON.parse(out) : [];
  }

  test('attach to a fresh cgroup: bpftool sees it, connect() from inside is counted and can be refused', async (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const cg = cgroup(defer);
    const port = await listener(defer);
    const fd = p.obj.programFd('cg_connect4');
    defer(() => cgroupDetach(cg.path, 'connect4', fd));

    assert.deepEqual(bpftoolShow(cg.path), []);
    cgroupAttach(cg.path, 'connect4', fd);
    const shown = bpftoolShow(cg.path);
    assert.equal(shown.length, 1);
    assert.equal(shown[0]!.id, p.progId('cg_connect4'));
    // bpftool names the hook connect4 or, in older versions, cgroup_inet4_connect
    assert.match(shown[0]!.attach_type, /^(connect4|cgroup_inet4_connect)$/);
    assert.equal(shown[0]!.name, 'cg_connect4');
    assert.equal(shown[0]!.attach_flags, 'multi');

    assert.equal(await connectFrom(cg, port), 'ok');
    assert.equal(p.count(SLOT.connect), 1);
    assert.equal(p.count(SLOT.connectDenied), 0);

    p.configure(CFG.denyPort, port);
    assert.match(await connectFrom(cg, port), /Operation not permitted/);
    assert.equal(p.count(SLOT.connect), 2);
    assert.equal(p.count(SLOT.connectDenied), 1);

    // This process is not in the cgroup: the program neither sees nor refuses it.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    });
    assert.equal(p.count(SLOT.connect), 2);
  });

  test('detach removes the program: bpftool shows nothing and connect() is no longer seen', async (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const cg = cgroup(defer);
    const port = await listener(defer);
    const fd = p.obj.programFd('cg_connect4');
    cgroupAttach(cg.path, 'connect4', fd);
    defer(() => cgroupDetach(cg.path, 'connect4', fd));
    p.configure(CFG.denyPort, port);
    assert.match(await connectFrom(cg, port), /Operation not permitted/);

    cgroupDetach(cg.path, 'connect4', fd);
    assert.deepEqual(bpftoolShow(cg.path), []);
    assert.equal(await connectFrom(cg, port), 'ok', 'nothing refuses the connection any more');
    assert.equal(p.count(SLOT.connect), 1, 'only the attempt made while attached was seen');
    cgroupDetach(cg.path, 'connect4', fd); // detaching twice is harmless
  });

  test('a missing cgroup is named in the error', (t) => {
    const defer = deferrer(t);
    const p = load(defer);
    const missing = `/sys/fs/cgroup/unified/mbtest-${process.pid}-absent`;
    assert.throws(() => cgroupAttach(missing, 'connect4', p.obj.programFd('cg_connect4')), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.message, `cgroup ${missing} does not exist — is cgroup v2 mounted there?`);
      return true;
    });
  });
});
