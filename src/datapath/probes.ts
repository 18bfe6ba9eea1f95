// Kernel feature probes. They run once at agent start and turn a missing
// feature into a sentence that says what to do, instead of a bare errno later.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KernelError } from '../errors.ts';
import { lib } from './libbpf.ts';

export interface Feature {
  name: string;
  ok: boolean;
  detail: string;
  /** A missing required feature stops the agent; optional ones only degrade. */
  required: boolean;
}

const BPF_PROG_TYPE_SCHED_CLS = 3;
const BPF_PROG_TYPE_XDP = 6;
const BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 18;
const BPF_MAP_TYPE_LPM_TRIE = 11;
const BPF_MAP_TYPE_LRU_HASH = 9;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_FUNC_redirect_peer = 155;

export function kernelRelease(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/**
 * True when `dir` (which need not exist yet) lies on a bpffs mount: the
 * mount that decides is the deepest mount point containing `dir`, so a tmpfs
 * mounted inside /sys/fs/bpf does not count as bpffs.
 */
export function isBpffs(dir: string): boolean {
  let mounts: string[];
  try {
    mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n');
  } catch {
    return false;
  }
  const target = path.resolve(dir);
  let best: { mnt: string; type: string } | undefined;
  for (const l of mounts) {
    const [, rawMnt, type] = l.split(' ');
    if (rawMnt === undefined || type === undefined) continue;
    // /proc/mounts escapes space, tab, newline and backslash as octal
    const mnt = rawMnt.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const contains = mnt === '/' || target === mnt || target.startsWith(`${mnt}/`);
    // later lines are mounted on top of earlier ones at the same point
    if (contains && (best === undefined || mnt.length >= best.mnt.length)) best = { mnt, type };
  }
  return best?.type === 'bpf';
}

function probe(name: string, required: boolean, fn: () => number, okDetail: string, failDetail: string): Feature {
  let rc: number;
  try {
    rc = fn();
  } catch (err) {
    return { name, ok: false, required, detail: `${failDetail} (${(err as Error).message})` };
  }
  return rc === 1 ? { name, ok: true, required, detail: okDetail } : { name, ok: false, required, detail: failDetail };
}

export function probeFeatures(pinDir: string): Feature[] {
  const features: Feature[] = [];
  const root = process.getuid?.() === 0;
  features.push({
    name: 'root',
    ok: root,
    required: true,
    detail: root ? 'running as root' : 'not root — Membrane loads eBPF programs and changes links: run it as root',
  });
  const bpffsDir = pinDir.split('/').slice(0, -1).join('/') || '/';
  const bpffs = isBpffs(pinDir) || isBpffs(bpffsDir);
  features.push({
    name: 'bpffs',
    ok: bpffs,
    required: true,
    detail: bpffs
      ? `bpffs mounted for ${pinDir}`
      : `bpffs is not mounted at ${bpffsDir} — mount it: mount -t bpf bpf ${bpffsDir}`,
  });
  const [maj, min] = kernelRelease();
  const btf = fs.existsSync('/sys/kernel/btf/vmlinux');
  features.push({ name: 'btf', ok: btf, required: false, detail: btf ? 'kernel BTF available' : 'no /sys/kernel/btf/vmlinux: kernel lacks BTF (CONFIG_DEBUG_INFO_BTF)' });
  if (!root) return features;
  const { bpf } = lib();
  features.push(
    probe('tc-bpf', true, () => bpf.libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, null) as number,
      'tc BPF programs', 'kernel lacks tc BPF programs (CONFIG_NET_CLS_BPF)'),
    probe('redirect-peer', true, () => bpf.libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_peer, null) as number,
      'bpf_redirect_peer', `bpf_redirect_peer needs Linux ≥ 5.10 (this is ${maj}.${min})`),
    probe('ringbuf', true, () => bpf.libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, null) as number,
      'BPF ring buffer', `BPF ring buffers need Linux ≥ 5.8 (this is ${maj}.${min})`),
    probe('lru-hash', false, () => bpf.libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LRU_HASH, null) as number,
      'LRU hash maps', 'kernel lacks LRU hash maps'),
    probe('lpm-trie', false, () => bpf.libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LPM_TRIE, null) as number,
      'LPM trie maps', 'kernel lacks LPM trie maps'),
    probe('xdp', false, () => bpf.libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, null) as number,
      'XDP programs', 'kernel lacks XDP'),
    probe('cgroup-sock-addr', false, () => bpf.libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, null) as number,
      'cgroup sock_addr programs (socket-level LB)', 'kernel lacks cgroup sock_addr programs'),
  );
  return features;
}

/** Throws one error naming every missing required feature. */
export function requireFeatures(features: Feature[]): void {
  const missing = features.filter((f) => f.required && !f.ok);
  if (missing.length === 0) return;
  const code = missing.some((f) => f.name === 'root') ? 'NOT_ROOT' : missing.some((f) => f.name === 'bpffs') ? 'BPFFS_NOT_MOUNTED' : 'KERNEL_FEATURE_MISSING';
  throw new KernelError(code, missing.map((f) => f.detail).join('; '), { details: { missing: missing.map((f) => f.name) } });
}

