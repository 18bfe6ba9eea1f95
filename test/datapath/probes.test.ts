// Feature probes: on this machine they agree with bpftool's own probes, and
// a missing feature becomes a sentence that says what to do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isBpffs, kernelRelease, probeFeatures, requireFeatures, type Feature } from '../../src/datapath/probes.ts';
import { assertNoLeftovers, BPFFS, catchError, deferrer, makePinDir, requireRoot, sh } from './helpers.ts';

before(() => requireRoot());
after(() => assertNoLeftovers());


const feature = (name: string, ok: boolean, required: boolean, detail: string): Feature => ({ name, ok, required, detail });

describe('probeFeatures on this machine', () => {
  test('every probe agrees with bpftool feature probe, and the required ones pass', () => {
    const features = probeFeatures(path.join(BPFFS, 'membrane'));
    const byName = new Map(features.map((f) => [f.name, f]));
    assert.deepEqual(
      [...byName.keys()].sort(),
      ['bpffs', 'btf', 'cgroup-sock-addr', 'lpm-trie', 'lru-hash', 'redirect-peer', 'ringbuf', 'root', 'tc-bpf', 'xdp'],
    );

    const bt = JSON.parse(sh('bpftool', 'feature', 'probe', 'kernel', '-j')) as {
      program_types: Record<string, boolean>;
      map_types: Record<string, boolean>;
      helpers: Record<string, string[]>;
    };
    const expected: Record<string, boolean> = {
      root: process.getuid?.() === 0,
      bpffs: fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === BPFFS && l.split(' ')[2] === 'bpf'),
      btf: fs.existsSync('/sys/kernel/btf/vmlinux'),
      'tc-bpf': bt.program_types.have_sched_cls_prog_type === true,
      xdp: bt.program_types.have_xdp_prog_type === true,
      'cgroup-sock-addr': bt.program_types.have_cgroup_sock_addr_prog_type === true,
      ringbuf: bt.map_types.have_ringbuf_map_type === true,
      'lru-hash': bt.map_types.have_lru_hash_map_type === true,
      'lpm-trie': bt.map_types.have_lpm_trie_map_type === true,
      'redirect-peer': (bt.helpers.sched_cls_available_helpers ?? []).includes('bpf_redirect_peer'),
    };
    for (const [name, ok] of Object.entries(expected)) {
      const f = byName.get(name);
      assert.ok(f, `probe ${name} ran`);
      assert.equal(f.ok, ok, `probe ${name}: ours says ${f.ok}, the system says ${ok} (${f.detail})`);
      assert.ok(f.detail.length > 0);
    }
    for (const name of ['root', 'bpffs', 'tc-bpf', 'redirect-peer', 'ringbuf']) assert.equal(byName.get(name)!.required, true, `${name} is required`);
    // This machine is meant to run Membrane: everything required is there.
    for (const f of features) if (f.required) assert.equal(f.ok, true, `${f.name}: ${f.detail}`);
    assert.doesNotThrow(() => requireFeatures(features));
    assert.equal(byName.get('ringbuf')!.detail, 'BPF ring buffer');
    assert.equal(byName.get('bpffs')!.detail, `bpffs mounted for ${path.join(BPFFS, 'membrane')}`);
  });

  test('a pin dir off bpffs fails the bpffs probe with the mount command', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mbtest-${process.pid}-`));
    try {
      const pinDir = path.join(dir, 'membrane');
      const features = probeFeatures(pinDir);
      const bpffs = features.find((f) => f.name === 'bpffs');
      assert.ok(bpffs);
      assert.equal(bpffs.ok, false);
      assert.equal(bpffs.detail, `bpffs is not mounted at ${dir} — mount it: mount -t bpf bpf ${dir}`);
      const err = catchError(() => requireFeatures(features));
      assert.equal(err.code, 'BPFFS_NOT_MOUNTED');
      assert.equal(err.message, `bpffs is not mounted at ${dir} — mount it: mount -t bpf bpf ${dir}`);
      assert.deepEqual(err.details.missing, ['bpffs']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('kernelRelease reads the running kernel', () => {
    const [maj, min] = kernelRelease();
    assert.equal(`${maj}.${min}`, /^(\d+\.\d+)/.exec(os.release())![1]);
  });
});

describe('requireFeatures', () => {
  test('a missing required feature becomes its sentence, not an errno', () => {
    const err = catchError(() =>
      requireFeatures([
        feature('root', true, true, 'running as root'),
        feature('tcx', false, true, 'tcx needs Linux ≥ 6.6 (this is 6.1)'),
        feature('lpm-trie', false, false, 'kernel lacks LPM trie maps'),
      ]),
    );
    assert.equal(err.code, 'KERNEL_FEATURE_MISSING');
    assert.equal(err.message, 'tcx needs Linux ≥ 6.6 (this is 6.1)');
    assert.deepEqual(err.details.missing, ['tcx']);
    assert.deepEqual(err.toJSON(), { code: 'KERNEL_FEATURE_MISSING', message: 'tcx needs Linux ≥ 6.6 (this is 6.1)', details: { missing: ['tcx'] } });
  });

  test('several missing features are named in one error', () => {
    const err = catchError(() =>
      requireFeatures([
        feature('ringbuf', false, true, 'BPF ring buffers need Linux ≥ 5.8 (this is 5.4)'),
        feature('redirect-peer', false, true, 'bpf_redirect_peer needs Linux ≥ 5.10 (this is 5.4)'),
      ]),
    );
    assert.equal(err.message, 'BPF ring buffers need Linux ≥ 5.8 (this is 5.4); bpf_redirect_peer needs Linux ≥ 5.10 (this is 5.4)');
    assert.deepEqual(err.details.missing, ['ringbuf', 'redirect-peer']);
  });

  test('not being root is reported first, with its own code', () => {
    const err = catchError(() =>
      requireFeatures([
        feature('bpffs', false, true, 'bpffs is not mounted at /sys/fs/bpf'),
        feature('root', false, true, 'not root — Membrane loads eBPF programs and changes links: run it as root'),
      ]),
    );
    assert.equal(err.code, 'NOT_ROOT');
    assert.match(err.message, /not root — Membrane loads eBPF programs and changes links: run it as root/);
  });

  test('missing optional features do not stop the agent', () => {
    assert.doesNotThrow(() => requireFeatures([feature('xdp', false, false, 'kernel lacks XDP'), feature('root', true, true, 'running as root')]));
    assert.doesNotThrow(() => requireFeatures([]));
  });
});

describe('isBpffs', () => {
  test('bpffs paths, existing or not, are bpffs', () => {
    assert.equal(isBpffs(BPFFS), true);
    assert.equal(isBpffs(`${BPFFS}/membrane`), true);
    assert.equal(isBpffs(`${BPFFS}/mbtest-${process.pid}-not-created/deeper`), true);
  });

  test('a non-bpffs directory is not bpffs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mbtest-${process.pid}-`));
    try {
      assert.equal(isBpffs(dir), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(isBpffs('/'), false);
    assert.equal(isBpffs('/sys/fs'), false);
    assert.equal(isBpffs(`${BPFFS}-lookalike/membrane`), false, 'a name that only starts like the mount point');
  });

  test('a tmpfs mounted inside bpffs is not bpffs; a bpffs mounted elsewhere is', async (t) => {
    const defer = deferrer(t);
    const pins = makePinDir();
    defer(pins.remove);
    const inner = path.join(pins.dir, 'tmp');
    fs.mkdirSync(inner);
    sh('mount', '-t', 'tmpfs', 'mbtest', inner);
    defer(() => void sh('umount', inner));
    assert.equal(isBpffs(pins.dir), true);
    assert.equal(isBpffs(inner), false, 'the deepest mount decides');
    assert.equal(isBpffs(path.join(inner, 'membrane')), false);

    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), `mbtest-${process.pid}-`));
    defer(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
    assert.equal(isBpffs(elsewhere), false);
    sh('mount', '-t', 'bpf', 'bpf', elsewhere);
    defer(() => void sh('umount', elsewhere));
    assert.equal(isBpffs(elsewhere), true);
    assert.equal(isBpffs(path.join(elsewhere, 'membrane')), true);
  });
});
