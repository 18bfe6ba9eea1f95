// The iptables side of the policy benchmark: a node the way a kube-router
// user has it, isolated in network namespaces. Pods on a Linux bridge
// (Debian's reference `bridge` CNI plugin with `host-local` IPAM — the
// plugin kube-router itself configures for its pods, on `kube-bridge`),
// br_netfilter on so that bridged pod-to-pod packets pass the FORWARD hook
// (kube-router's `-m physdev --physdev-is-bridged` jumps exist for exactly
// that), and kube-router's NetworkPolicy rules loaded with the commands its
// full sync runs: iptables-save, ipset save, ipset restore, iptables-restore
// of the whole filter table, then a destroy per stale ipset.
//
// Safety: everything lives in netns named <prefix>-*; every chain and ipset
// is named MBW-* (and iptables tables and ipsets are per network namespace:
// none of this reaches the host's). The caller blackholes the pod CIDR on
// the host.
import fs from 'node:fs';
import path from 'node:path';
import { CniRuntime, type Conflist } from '../../src/sandbox/cni-runtime.ts';
import { REPO, SYSTEM_CNI_DIR } from '../../src/sandbox/topology.ts';
import { exec, inNetns, must, netnsPath } from '../lib/proc.ts';
import { baseRestore, type KubeRouterOptions, type SyncInput } from './kube-router.ts';
import type { BenchPod, PlacedPod } from './workload.ts';

export type IptablesBackend = 'legacy' | 'nft';

export interface KrNodeSpec {
  /** netns prefix: node "<prefix>-node", pods "<prefix>-<pod>". */
  prefix: string;
  podCidr: string;
  /** Linux bridge name (≤ 15 chars). */
  bridge: string;
  workDir: string;
  backend: IptablesBackend;
  kubeRouter: Omit<KubeRouterOptions, 'version'>;
}

/** One full sync, each command timed spawn to exit (ms). */
export interface SyncTiming {
  iptablesSave: number;
  ipsetSave: number;
  ipsetRestore: number;
  iptablesRestore: number;
  /** ipset save + one `ipset destroy` per stale set (kube-router's cleanupStaleIPSets). */
  staleSets: number;
  staleSetCount: number;
  total: number;
  /** Input sizes, bytes. */
  ipsetBytes: number;
  filterBytes: number;
}

export class KubeRouterNode {
  readonly spec: KrNodeSpec;
  readonly nodeNs: string;
  readonly cni: CniRuntime;
  readonly conflist: Conflist;
  readonly pods = new Map<string, PlacedPod & { netnsName: string; containerID: string }>();

  private constructor(spec: KrNodeSpec) {
    this.spec = spec;
    this.nodeNs = `${spec.prefix}-node`;
    this.cni = new CniRuntime({ path: [path.join(REPO, 'bin'), SYSTEM_CNI_DIR], nodeNetns: netnsPath(this.nodeNs) });
    this.conflist = {
      cniVersion: '1.0.0',
      name: `${spec.prefix}-bridge`,
      plugins: [
        {
          type: 'bridge',
          bridge: spec.bridge,
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: spec.podCidr }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(spec.workDir, 'ipam') },
        },
      ],
    };
  }

  get restoreBin(): string {
    return `iptables-${this.spec.backend}-restore`;
  }
  get saveBin(): string {
    return `iptables-${this.spec.backend}-save`;
  }
  get iptablesBin(): string {
    return `iptables-${this.spec.backend}`;
  }

  /** The node netns with br_netfilter on and kube-router's base chains (what it sets up at start); `register` first, for cleanup. */
  static async create(spec: KrNodeSpec, register: (n: KubeRouterNode) => void): Promise<KubeRouterNode> {
    const n = new KubeRouterNode(spec);
    register(n);
    fs.mkdirSync(spec.workDir, { recursive: true });
    await must('ip', ['netns', 'add', n.nodeNs]);
    await inNetns(n.nodeNs, 'sh', ['-ec', ['ip link set lo up', 'sysctl -qw net.ipv4.ip_forward=1', 'sysctl -qw net.bridge.bridge-nf-call-iptables=1'].join('\n')]);
    await n.base();
    return n;
  }

  /** Creates the pod's netns and attaches it with the bridge plugin. */
  async addPod(pod: BenchPod): Promise<PlacedPod> {
    const netnsName = `${this.spec.prefix}-${pod.name}`;
    await must('ip', ['netns', 'add', netnsName]);
    const containerID = netnsName;
    const placed = { ...pod, ip: '', netnsName, containerID };
    this.pods.set(pod.name, placed);
    const result = (await this.cni.add(this.conflist, { containerID, netns: netnsPath(netnsName), ifName: 'eth0', args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name } })) as { ips?: Array<{ address: string }> };
    placed.ip = (result.ips?.[0]?.address ?? '').split('/')[0]!;
    if (!placed.ip) throw new Error(`bridge: ADD of ${pod.name} returned no address`);
    await inNetns(netnsName, 'ip', ['link', 'set', 'lo', 'up']);
    return placed;
  }

  netnsOf(name: string): string {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p.netnsName;
  }

  /** kube-router's base chains only (its state at start, before the first sync); the benchmark's ipsets destroyed. Not timed. */
  async base(): Promise<void> {
    await inNetns(this.nodeNs, this.restoreBin, ['-w', '-T', 'filter'], { input: baseRestore({ ...this.spec.kubeRouter, version: '0' }) });
    await this.destroySets();
  }

  /** No filter rules at all: the bridge alone, as without kube-router. Not timed. */
  async bare(): Promise<void> {
    await inNetns(this.nodeNs, this.restoreBin, ['-w', '-T', 'filter'], { input: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' });
    await this.destroySets();
  }

  async listSets(): Promise<string[]> {
    const r = await inNetns(this.nodeNs, 'ipset', ['list', '-n']);
    return r.stdout.split('\n').filter((s) => s.startsWith(this.spec.kubeRouter.prefix));
  }

  async destroySets(): Promise<void> {
    for (const s of await this.listSets()) await inNetns(this.nodeNs, 'ipset', ['destroy', s]);
  }

  /**
   * One full sync as kube-router runs it: iptables-save -t filter, ipset
   * save, ipset restore -exist (sets first: rules refer to them),
   * iptables-restore -w -T filter of the whole table, then ipset save and
   * one ipset destroy per set of ours that the sync no longer uses.
   * kube-router's own computation (listing pods, matching selectors,
   * writing the text) is not timed: `input` is generated beforehand.
   */
  async sync(input: SyncInput): Promise<SyncTiming> {
    const ns = this.nodeNs;
    const save = await inNetns(ns, this.saveBin, ['-t', 'filter']);
    const ipsetSave = await inNetns(ns, 'ipset', ['save']);
    const ipsetRestore = await inNetns(ns, 'ipset', ['restore', '-exist'], { input: input.ipset, timeoutMs: 600_000 });
    const restore = await inNetns(ns, this.restoreBin, ['-w', '-T', 'filter'], { input: input.filter, timeoutMs: 600_000 });
    const stale0 = process.hrtime.bigint();
    const saved = await inNetns(ns, 'ipset', ['save']);
    const prefix = this.spec.kubeRouter.prefix;
    const stale = saved.stdout
      .split('\n')
      .filter((l) => l.startsWith('create '))
      .map((l) => l.split(' ')[1]!)
      .filter((s) => (s.startsWith(`${prefix}SRC-`) || s.startsWith(`${prefix}DST-`)) && !input.sets.has(s));
    // One `ipset destroy` process per set, as kube-router runs them (a shell in the netns loops, so
    // that no nsenter is added to each).
    if (stale.length) await inNetns(ns, 'sh', ['-c', 'for s in "$@"; do ipset destroy "$s" || exit 1; done', 'sh', ...stale], { timeoutMs: 1_800_000 });
    const staleMs = Number(process.hrtime.bigint() - stale0) / 1e6;
    const total = save.ms + ipsetSave.ms + ipsetRestore.ms + restore.ms + staleMs;
    return {
      iptablesSave: save.ms,
      ipsetSave: ipsetSave.ms,
      ipsetRestore: ipsetRestore.ms,
      iptablesRestore: restore.ms,
      staleSets: staleMs,
      staleSetCount: stale.length,
      total,
      ipsetBytes: Buffer.byteLength(input.ipset),
      filterBytes: Buffer.byteLength(input.filter),
    };
  }

  /** Rules in the node's filter table (iptables-save lines starting with -A). */
  async ruleCount(): Promise<number> {
    const r = await inNetns(this.nodeNs, this.saveBin, ['-t', 'filter']);
    return r.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
  }

  async destroy(): Promise<void> {
    // Pod netns first (their veths go with them), then the node (bridge, tables and sets go with it).
    for (const p of this.pods.values()) await exec('ip', ['netns', 'del', p.netnsName]);
    this.pods.clear();
    await exec('ip', ['netns', 'del', this.nodeNs]);
    fs.rmSync(this.spec.workDir, { recursive: true, force: true });
  }
}
