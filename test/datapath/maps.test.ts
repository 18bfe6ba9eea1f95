// Typed map access in the kernel: the codecs encode what the kernel stores,
// iteration sees every key once, batch calls change many entries in one
// syscall, per-CPU maps show one value per possible CPU, and values written
// by a BPF program decode through the same codecs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { endpointInfo, endpointKey, metricsKey, metricsValue, type EndpointInfo, type EndpointKey } from '../../src/datapath/abi.ts';
import { struct } from '../../src/datapath/codec.ts';
import { BPF_EXIST, BPF_NOEXIST, BpfMap } from '../../src/datapath/map.ts';
import { progTestRun } from '../../src/datapath/testrun.ts';
import { MembraneError } from '../../src/errors.ts';
import { deferrer, makePinDir, sh, udpFrame, useTestObject } from './helpers.ts';

const BPF_MAP_TYPE_HASH = 1;
const BPF_MAP_TYPE_PERCPU_HASH = 5;

const loaded = useTestObject();

function hashMap(): BpfMap<EndpointKey, EndpointInfo> {
  const m = new BpfMap(loaded().mapFd('t_hash'), 't_hash', endpointKey, endpointInfo);
  // Each test starts from an empty map.
  for (const k of [...m.keys()]) m.delete(k);
  return m;
}

function ep(i: number): [EndpointKey, EndpointInfo] {
  const hex = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
  return [
    { ip4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    { ifindex: 100 + i, lxc_id: i, identity: 5000 + i, flags: i % 2, mac: `02:00:00:00:${hex(i >> 8)}:${hex(i)}`, node_mac: `06:00:00:00:${hex(i >> 8)}:${hex(i)}` },
  ];
}

function possibleCpus(): number {
  // "0-3" or "0,2-5": count every listed CPU
  const text = fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  let n = 0;
  for (const part of text.split(',')) {
    const [lo, hi] = part.split('-').map(Number);
    n += hi === undefined ? 1 : hi - lo! + 1;
  }
  return n;
}

describe('hash map through the ABI codecs', () => {
  test('update, lookup and delete round-trip; the kernel holds the C layout', () => {
    const m = hashMap();
    const [k, v] = ep(0x0203);
    assert.equal(m.lookup(k), undefined, 'absent keys look up as undefined');
    m.update(k, v);
    assert.deepEqual(m.lookup(k), v);

    // The bytes the kernel holds, read back by id with bpftool (independent of our decoder).
    const dump = JSON.parse(sh('bpftool', 'map', 'dump', 'id', String(m.info().id), '-j')) as { key: string[]; value: string[] }[];
    assert.equal(dump.length, 1);
    const bytes = (a: string[]) => Buffer.from(a.map((h) => parseInt(h, 16)));
    assert.deepEqual(bytes(dump[0]!.key), Buffer.from([10, 0, 2, 3]), 'address in network byte order');
    assert.deepEqual(bytes(dump[0]!.value), endpointInfo.encode(v));
    assert.equal(bytes(dump[0]!.value).readUInt32LE(0), v.ifindex);
    assert.equal(bytes(dump[0]!.value).subarray(16, 22).toString('hex'), v.mac.replaceAll(':', ''));

    assert.equal(m.delete(k), true);
    assert.equal(m.lookup(k), undefined);
    assert.equal(m.delete(k), false, 'deleting an absent key reports false');
  });

  test('update flags: NOEXIST refuses to overwrite, EXIST refuses to create', () => {
    const m = hashMap();
    const [k, v] = ep(1);
    assert.throws(() => m.update(k, v, BPF_EXIST), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.code, 'BPF_SYSCALL_FAILED');
      assert.equal(err.message, 'update map t_hash: ENOENT (2)');
      return true;
    });
    m.update(k, v, BPF_NOEXIST);
    assert.throws(() => m.update(k, { ...v, lxc_id: 999 }, BPF_NOEXIST), /update map t_hash: EEXIST \(17\)/);
    assert.equal(m.lookup(k)?.lxc_id, v.lxc_id, 'the refused update changed nothing');
    m.update(k, { ...v, lxc_id: 999 }, BPF_EXIST);
    assert.equal(m.lookup(k)?.lxc_id, 999);
  });

  test('keys, entries and count see every entry exactly once', () => {
    const m = hashMap();
    const want = new Map<string, EndpointInfo>();
    for (let i = 1; i <= 150; i++) {
      const [k, v] = ep(i * 7);
      m.update(k, v);
      want.set(k.ip4, v);
    }
    const keys = [...m.keys()].map((k) => k.ip4);
    assert.equal(keys.length, 150);
    assert.equal(new Set(keys).size, 150, 'no key twice');
    assert.deepEqual(new Set(keys), new Set(want.keys()));
    const entries = new Map([...m.entries()].map(([k, v]) => [k.ip4, v]));
    assert.deepEqual(entries, want);
    assert.equal(m.count(), 150);
  });

  test('iteration survives deleting the entries it walks', () => {
    const m = hashMap();
    for (let i = 1; i <= 40; i++) m.update(...ep(i));
    let seen = 0;
    for (const k of m.keys()) {
      assert.equal(m.delete(k), true);
      seen++;
    }
    assert.equal(seen, 40);
    assert.equal(m.count(), 0);
  });

  test('updateBatch writes many entries in one call; deleteBatch removes them', () => {
    const m = hashMap();
    const batch = Array.from({ length: 200 }, (_, i) => ep(i + 1));
    m.updateBatch(batch);
    assert.equal(m.count(), 200);
    for (const [k, v] of [batch[0]!, batch[99]!, batch[199]!]) assert.deepEqual(m.lookup(k), v);

    // A batch overwrites; the kernel has no NOEXIST/EXIST for batches, and we say so.
    const changed = ep(1);
    changed[1].lxc_id = 4242;
    m.updateBatch([changed]);
    assert.equal(m.lookup(changed[0])?.lxc_id, 4242);
    assert.throws(() => m.updateBatch([ep(1)], BPF_NOEXIST), /batch update map t_hash: the kernel accepts no BPF_NOEXIST\/BPF_EXIST for batch updates/);
    assert.equal(m.lookup(changed[0])?.lxc_id, 4242);
    assert.equal(m.count(), 200);

    const gone = batch.slice(0, 120).map(([k]) => k);
    assert.equal(m.deleteBatch(gone), 120);
    assert.equal(m.count(), 80);
    for (const k of gone) assert.equal(m.lookup(k), undefined);
    assert.deepEqual(m.lookup(batch[150]![0]), batch[150]![1]);

    // The kernel stops at the first absent key and says how many it removed.
    const mixed = [batch[120]![0], batch[121]![0], { ip4: '203.0.113.1' }, batch[122]![0]];
    assert.equal(m.deleteBatch(mixed), 2);
    assert.equal(m.count(), 78);
    assert.deepEqual(m.lookup(batch[122]![0]), batch[122]![1], 'keys after the absent one stay');

    assert.equal(m.deleteBatch([]), 0);
    m.updateBatch([]);
    assert.equal(m.count(), 78);
  });

  test('info() reports what the kernel knows about the map', () => {
    const info = hashMap().info();
    assert.equal(info.name, 't_hash');
    assert.equal(info.type, BPF_MAP_TYPE_HASH);
    assert.equal(info.keySize, 4);
    assert.equal(info.valueSize, 28);
    assert.equal(info.maxEntries, 256);
    assert.ok(info.id > 0);
  });

  test('a full map refuses new keys with E2BIG', () => {
    const m = hashMap();
    m.updateBatch(Array.from({ length: 256 }, (_, i) => ep(i + 1)));
    assert.throws(() => m.update(...ep(5000)), /update map t_hash: E2BIG/);
    assert.equal(m.count(), 256);
    m.update(...ep(1)); // overwriting an existing key still works
  });

  test('codecs that do not match the map are refused before any access', () => {
    const fd = loaded().mapFd('t_hash');
    const small = struct<{ a: number }>('too_small', [['a', 'u32']]);
    assert.throws(() => new BpfMap(fd, 't_hash', endpointKey, small), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.message, 'map t_hash does not match its codecs: values are 28 bytes but too_small is 4');
      return true;
    });
    assert.throws(() => new BpfMap(fd, 't_hash', endpointKey, endpointInfo, { perCpu: true }), /t_hash does not match its codecs: it is not a per-CPU map/);
    const pfd = loaded().mapFd('t_percpu');
    assert.throws(() => new BpfMap(pfd, 't_percpu', metricsKey, metricsValue, { perCpu: false }), /it is a per-CPU map/);
  });
});

describe('per-CPU hash map', () => {
  function percpu() {
    const m = new BpfMap(loaded().mapFd('t_percpu'), 't_percpu', metricsKey, metricsValue, { perCpu: true });
    for (const k of [...m.keys()]) m.delete(k);
    return m;
  }

  test('has one value per possible CPU, and update writes each of them', () => {
    const m = percpu();
    assert.equal(m.info().type, BPF_MAP_TYPE_PERCPU_HASH);
    assert.equal(m.cpus, possibleCpus());
    m.update({ reason: 3, dir: 2 }, { packets: 11n, bytes: 2n ** 40n + 1n });
    const all = m.lookupPerCpu({ reason: 3, dir: 2 });
    assert.ok(all);
    assert.equal(all.length, possibleCpus());
    for (const v of all) assert.deepEqual(v, { packets: 11n, bytes: 2n ** 40n + 1n });
    assert.deepEqual([...m.entriesPerCpu()].map(([k]) => k), [{ reason: 3, dir: 2 }]);
    assert.equal(m.lookupPerCpu({ reason: 3, dir: 1 }), undefined);
  });

  test('counters a program writes decode through the codecs and sum to the runs', () => {
    const m = percpu();
    const frame = udpFrame('10.0.0.1', '10.0.0.2', 1000, 2000);
    const prog = loaded().programFd('tc_percpu');
    progTestRun(prog, frame, { repeat: 25 });
    progTestRun(prog, frame, { repeat: 15 });
    const all = m.lookupPerCpu({ reason: 7, dir: 1 });
    assert.ok(all, 'the program created its key');
    const packets = all.reduce((s, v) => s + v.packets, 0n);
    const bytes = all.reduce((s, v) => s + v.bytes, 0n);
    assert.equal(packets, 40n);
    assert.equal(bytes, 40n * BigInt(frame.length));
    assert.deepEqual([...m.keys()], [{ reason: 7, dir: 1 }]);
  });

  test('per-CPU values that are not a multiple of 8 bytes are laid out in 8-byte slots', (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const pin = `${pins.dir}/t_odd`;
    sh('bpftool', 'map', 'create', pin, 'type', 'percpu_hash', 'key', '4', 'value', '12', 'entries', '4', 'name', 't_odd');
    const key = struct<{ k: number }>('odd_key', [['k', 'u32']]);
    const value = struct<{ a: number; b: number; c: number }>('odd_value', [['a', 'u32'], ['b', 'u32'], ['c', 'u32']]);
    const m = BpfMap.openPinned(pin, key, value);
    defer(() => m.close());
    assert.equal(m.cpus, possibleCpus(), 'per-CPU is detected from the map type');
    m.update({ k: 1 }, { a: 1, b: 2, c: 3 });
    const all = m.lookupPerCpu({ k: 1 });
    assert.ok(all);
    assert.equal(all.length, possibleCpus());
    for (const v of all) assert.deepEqual(v, { a: 1, b: 2, c: 3 });
    // bpftool agrees on what each CPU holds
    const dump = JSON.parse(sh('bpftool', 'map', 'dump', 'pinned', pin, '-j')) as { values: { cpu: number; value: string[] }[] }[];
    assert.equal(dump[0]!.values.length, possibleCpus());
    for (const v of dump[0]!.values) assert.deepEqual(v.value.map((h) => parseInt(h, 16)), [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
  });

  test('batch update and delete work on per-CPU values too', () => {
    const m = percpu();
    const entries = Array.from({ length: 10 }, (_, i) => [{ reason: i, dir: 1 }, { packets: BigInt(i), bytes: BigInt(i * 100) }] as const);
    m.updateBatch(entries);
    assert.equal(m.count(), 10);
    for (const [k, v] of entries) {
      const all = m.lookupPerCpu(k);
      assert.ok(all);
      for (const got of all) assert.deepEqual(got, v);
    }
    assert.equal(m.deleteBatch(entries.slice(0, 4).map(([k]) => k)), 4);
    assert.equal(m.count(), 6);
  });
});
