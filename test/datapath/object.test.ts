// Loading objects: programs and maps come up, the verifier's log travels in
// the error when it rejects a program, and pinned maps are reused across
// loads (the agent-restart promise of DESIGN.md §2.2).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { endpointInfo, endpointKey, metricsKey, metricsValue } from '../../src/datapath/abi.ts';
import { BpfMap, mapInfo } from '../../src/datapath/map.ts';
import { setLibbpfLogSink } from '../../src/datapath/libbpf.ts';
import { loadObject, programInfo } from '../../src/datapath/object.ts';
import { assertNoLeftovers, BAD_PROG, catchError, deferrer, makePinDir, openFds, requireObjects, requireRoot, sh, TEST_PROGS } from './helpers.ts';

const BPF_PROG_TYPE_SCHED_CLS = 3;
const BPF_PROG_TYPE_XDP = 6;
const BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 18;
const BPF_MAP_TYPE_HASH = 1;

const PROGRAMS = ['xdp_count', 'tc_count_a', 'tc_count_b', 'tc_events', 'tc_percpu', 'cg_connect4'];

/** libbpf's diagnostics for this file's deliberate failures, kept off stderr. */
const libbpfLog: { level: string; line: string }[] = [];

before(() => {
  requireRoot();
  requireObjects();
  setLibbpfLogSink((level, line) => libbpfLog.push({ level, line }));
});

after(() => assertNoLeftovers());


describe('loadObject', () => {
  test('loads every program and map of an object, with kernel-side names and types', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const obj = loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: [] });
    defer(() => obj.close());

    assert.deepEqual([...obj.programs()].sort(), [...PROGRAMS].sort());
    for (const m of ['t_hash', 't_percpu', 't_counts', 't_config', 't_events']) assert.ok(obj.maps().includes(m), `map ${m} listed`);

    const expectType: Record<string, number> = { xdp_count: BPF_PROG_TYPE_XDP, tc_count_a: BPF_PROG_TYPE_SCHED_CLS, cg_connect4: BPF_PROG_TYPE_CGROUP_SOCK_ADDR };
    for (const [name, type] of Object.entries(expectType)) {
      const info = programInfo(obj.programFd(name));
      assert.equal(info.name, name);
      assert.equal(info.type, type, `${name} has program type ${type}`);
      assert.ok(info.id > 0);
    }
    const hash = mapInfo(obj.mapFd('t_hash'));
    assert.equal(hash.name, 't_hash');
    assert.equal(hash.type, BPF_MAP_TYPE_HASH);
    assert.equal(hash.keySize, endpointKey.size);
    assert.equal(hash.valueSize, endpointInfo.size);
    assert.equal(hash.maxEntries, 256);

    // Nothing pinned unless asked.
    assert.deepEqual(fs.readdirSync(pins.dir), []);
    assert.throws(() => obj.programFd('nope'), /has no program named nope/);
    assert.throws(() => obj.mapFd('nope'), /has no map named nope/);
  });

  test('close() releases every fd the load opened', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const before = openFds();
    const obj = loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: ['t_hash'] });
    assert.ok(openFds() >= before + PROGRAMS.length + 5, 'programs and maps hold fds while loaded');
    obj.close();
    obj.close(); // idempotent
    assert.equal(openFds(), before);
  });

  test('a program the verifier rejects fails with BPF_LOAD_FAILED and the verifier log in details', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const before = openFds();
    const err = catchError(() => loadObject({ file: BAD_PROG, pinDir: pins.dir, pin: [] }));
    assert.equal(err.code, 'BPF_LOAD_FAILED');
    assert.match(err.message, /load bad_prog\.o: EACCES/);
    assert.match(err.message, /the verifier rejected a program \(log in details\.verifierLog\)/);
    assert.equal(err.details.errno, 13);
    const log = err.details.verifierLog;
    assert.equal(typeof log, 'string');
    assert.match(log as string, /^--- bad_unchecked_read ---$/m, 'the log names the rejected program');
    assert.match(log as string, /invalid access to packet/);
    assert.match(log as string, /R1 offset is outside of the packet/);
    // The JSON form an API client sees keeps the log too.
    assert.match(JSON.stringify(err.toJSON()), /invalid access to packet/);
    assert.equal(openFds(), before, 'a failed load leaves no fds open');
  });

  test("libbpf's own diagnostics go to the log sink (set in before()), not to stderr", (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    libbpfLog.length = 0;
    assert.throws(() => loadObject({ file: BAD_PROG, pinDir: pins.dir, pin: [] }), /BPF_LOAD_FAILED|verifier rejected/);
    const warnings = libbpfLog.filter((l) => l.level === 'warn').map((l) => l.line);
    // libbpf formats these with printf-style arguments: the sink gets them expanded.
    assert.ok(
      warnings.some((w) => w.includes("prog 'bad_unchecked_read': failed to load: -13")),
      `libbpf's warning arrived formatted:\n${warnings.join('')}`,
    );
    assert.ok(warnings.some((w) => w.includes(`failed to load object '${BAD_PROG}'`)));
  });

  test('a missing object file is named with the command that builds it', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const missing = path.join(pins.dir, 'nothing.o');
    const err = catchError(() => loadObject({ file: missing, pinDir: pins.dir, pin: [] }));
    assert.equal(err.message, `eBPF object ${missing} is missing — build it with 'make build'`);
  });

  test('asking to pin a map the object lacks is an error that names the map', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const err = catchError(() => loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: ['t_nosuchmap'] }));
    assert.match(err.message, /test_progs\.o has no map named t_nosuchmap/);
    assert.deepEqual(fs.readdirSync(pins.dir), []);
  });
});

describe('pinned maps', () => {
  test('a second load reuses the pinned maps and keeps their data; unpinned maps start empty', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const spec = { file: TEST_PROGS, pinDir: pins.dir, pin: ['t_hash', 't_counts'] };

    const first = loadObject(spec);
    let firstId: number;
    try {
      assert.deepEqual(fs.readdirSync(pins.dir).sort(), ['t_counts', 't_hash']);
      const hash = new BpfMap(first.mapFd('t_hash'), 't_hash', endpointKey, endpointInfo);
      hash.update({ ip4: '10.1.2.3' }, { ifindex: 7, lxc_id: 42, identity: 1000, flags: 1, mac: '02:00:00:00:00:01', node_mac: '02:00:00:00:00:02' });
      const percpu = new BpfMap(first.mapFd('t_percpu'), 't_percpu', metricsKey, metricsValue, { perCpu: true });
      percpu.update({ reason: 1, dir: 1 }, { packets: 5n, bytes: 500n });
      firstId = hash.info().id;
    } finally {
      first.close();
    }
    // The pin alone keeps the map alive.
    const pinnedId = JSON.parse(sh('bpftool', 'map', 'show', 'pinned', path.join(pins.dir, 't_hash'), '-j')) as { id: number };
    assert.equal(pinnedId.id, firstId);

    const second = loadObject(spec);
    defer(() => second.close());
    const hash = new BpfMap(second.mapFd('t_hash'), 't_hash', endpointKey, endpointInfo);
    assert.equal(hash.info().id, firstId, 'the same kernel map, not a copy');
    assert.deepEqual(hash.lookup({ ip4: '10.1.2.3' }), {
      ifindex: 7,
      lxc_id: 42,
      identity: 1000,
      flags: 1,
      mac: '02:00:00:00:00:01',
      node_mac: '02:00:00:00:00:02',
    });
    const percpu = new BpfMap(second.mapFd('t_percpu'), 't_percpu', metricsKey, metricsValue, { perCpu: true });
    assert.equal(percpu.count(), 0, 't_percpu was not pinned, so this load has a fresh one');
  });

  test('an incompatible pinned map fails the load with a sentence and is left untouched', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const stale = path.join(pins.dir, 't_hash');
    // An "older version" of t_hash: same name, 8-byte values.
    sh('bpftool', 'map', 'create', stale, 'type', 'hash', 'key', '4', 'value', '8', 'entries', '16', 'name', 't_hash');
    const staleId = (JSON.parse(sh('bpftool', 'map', 'show', 'pinned', stale, '-j')) as { id: number }).id;

    const before = openFds();
    const err = catchError(() => loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: ['t_hash'] }));
    assert.equal(err.code, 'BPF_LOAD_FAILED');
    assert.match(err.message, /load test_progs\.o: EINVAL/);
    assert.ok(
      err.message.includes(`a pinned map under ${pins.dir} may have an incompatible definition from an older version`),
      err.message,
    );
    assert.match(err.message, /if you accept losing the state it holds/);
    assert.doesNotMatch(err.message, /verifier rejected/);
    assert.ok(libbpfLog.some((l) => l.line.includes(`couldn't reuse pinned map at '${stale}': parameter mismatch`)), 'libbpf said why');
    assert.equal(openFds(), before);

    const after = JSON.parse(sh('bpftool', 'map', 'show', 'pinned', stale, '-j')) as { id: number; bytes_value: number };
    assert.equal(after.id, staleId, 'the stale pin was not replaced');
    assert.equal(after.bytes_value, 8);
  });

  test('openPinned reopens a pinned map after its object is closed, and owns that fd', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const obj = loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: ['t_hash'] });
    try {
      new BpfMap(obj.mapFd('t_hash'), 't_hash', endpointKey, endpointInfo).update(
        { ip4: '192.168.0.9' },
        { ifindex: 3, lxc_id: 9, identity: 0, flags: 0, mac: 'aa:bb:cc:dd:ee:ff', node_mac: '00:11:22:33:44:55' },
      );
    } finally {
      obj.close();
    }
    const before = openFds();
    const m = BpfMap.openPinned(path.join(pins.dir, 't_hash'), endpointKey, endpointInfo);
    assert.equal(openFds(), before + 1);
    assert.equal(m.lookup({ ip4: '192.168.0.9' })?.mac, 'aa:bb:cc:dd:ee:ff');
    m.close();
    assert.equal(openFds(), before);

    const err = catchError(() => BpfMap.openPinned(path.join(pins.dir, 'absent'), endpointKey, endpointInfo));
    assert.equal(err.code, 'BPF_SYSCALL_FAILED');
    assert.equal(err.message, `open pinned map ${path.join(pins.dir, 'absent')}: ENOENT`);
    assert.equal(openFds(), before);
  });
});
