// A kube-proxy node for the services benchmark, isolated in network
// namespaces: pods wired the way a kube-proxy user wires them (Debian's
// reference `bridge` plugin with `host-local` IPAM, br_netfilter on, as
// Kubernetes requires), kube-proxy's rules loaded in the node netns — its
// iptables mode (iptables-restore --noflush --counters, as kube-proxy runs
// it) or its nftables mode (nft -f) — and a "world" netns on an uplink veth
// that sends NodePort traffic.
//
// Membrane's pod datapath hands pod-to-pod replies past netfilter, which
// would break kube-proxy's un-DNAT; a kube-proxy node therefore gets the
// bridge, the CNI plugin kube-proxy users actually pair it with.
//
// Safety: everything lives in netns named mbk-*; the caller blackholes every
// CIDR on the host (the pod CIDR, the uplink, the service CIDR).
import fs from 'node:fs';
import path from 'node:path';
import { CniRuntime, type Conflist } from '../../src/sandbox/cni-runtime.ts';
import { REPO, SYSTEM_CNI_DIR } from '../../src/sandbox/topology.ts';
import type { BenchService } from './kube-services.ts';
import { jumpsRestore, syncRestore } from './kube-proxy-iptables.ts';
import { syncScript, TABLE } from './kube-proxy-nftables.ts';
import { exec, inNetns, must, netnsPath } from './proc.ts';

export type KubeProxyMode = 'iptables' | 'nftables';
/** iptables backend: the kernel's x_tables (iptables-legacy) or nf_tables (iptables-nft). */
export type IptablesBackend = 'legacy' | 'nft';

export interface SvcPod {
  name: string;
  netnsName: string;
  ip: string;
}

export interface KubeProxyNodeSpec {
  /** netns prefix, e.g. "mbk-i": node "<prefix>-node", world "<prefix>-world", pods "<prefix>-<pod>". */
  prefix: string;
  mode: KubeProxyMode;
  iptablesBackend?: IptablesBackend;
  podCidr: string;
  /** Uplink: node and world addresses with their prefix length, e.g. 198.18.14.1/25. */
  nodeAddr: string;
  worldAddr: string;
  serviceCidr: string;
  /** Linux bridge name (≤ 15 chars). */
  bridge: string;
  workDir: string;
}

export interface ProgramTiming {
  /** Wall time of the load command (iptables-restore / nft -f), spawn to exit. */
  ms: number;
  /** Size of the input, bytes. */
  bytes: number;
  /** Wall time to generate the input (kube-proxy's own Go would do this; not part of ms). */
  generateMs: number;
}

const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

export class KubeProxyNode {
  readonly spec: KubeProxyNodeSpec;
  readonly nodeNs: string;
  readonly worldNs: string;
  readonly cni: CniRuntime;
  readonly conflist: Conflist;
  readonly pods = new Map<string, SvcPod & { containerID: string; result: unknown }>();
  readonly ipamDir: string;

  private constructor(spec: KubeProxyNodeSpec) {
    this.spec = spec;
    this.nodeNs = `${spec.prefix}-node`;
    this.worldNs = `${spec.prefix}-world`;
    this.ipamDir = path.join(spec.workDir, 'ipam');
    this.cni = new CniRuntime({ path: [path.join(REPO, 'bin'), SYSTEM_CNI_DIR], nodeNetns: netnsPath(this.nodeNs) });
    // Debian's plugins are CNI 1.1.1 releases: spec ≤ 1.0.0.
    this.conflist = {
      cniVersion: '1.0.0',
      name: `${spec.prefix}-bridge`,
      plugins: [
        {
          type: 'bridge',
          bridge: spec.bridge,
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: spec.podCidr }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.ipamDir },
        },
      ],
    };
  }

  get side(): KubeProxyMode {
    return this.spec.mode;
  }
  get nodeIp(): string {
    return this.spec.nodeAddr.split('/')[0]!;
  }
  get worldIp(): string {
    return this.spec.worldAddr.split('/')[0]!;
  }
  /** The iptables-restore binary of the chosen backend. */
  get restoreBin(): string {
    return this.spec.iptablesBackend === 'nft' ? 'iptables-nft-restore' : 'iptables-legacy-restore';
  }
  get iptablesBin(): string {
    return this.spec.iptablesBackend === 'nft' ? 'iptables-nft' : 'iptables-legacy';
  }

  /** Node and world netns, uplink, sysctls, kube-proxy's jump rules; `register` first, for cleanup. */
  static async create(spec: KubeProxyNodeSpec, register: (n: KubeProxyNode) => void): Promise<KubeProxyNode> {
    const n = new KubeProxyNode(spec);
    register(n);
    fs.mkdirSync(spec.workDir, { recursive: true });
    await must('ip', ['netns', 'add', n.nodeNs]);
    await must('ip', ['netns', 'add', n.worldNs]);
    await must('ip', ['link', 'add', 'name', 'uplink', 'netns', n.nodeNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.worldNs]);
    await inNetns(n.nodeNs, 'sh', ['-ec', [
      'ip link set lo up',
      `ip addr add ${spec.nodeAddr} dev uplink`,
      'ip link set uplink up',
      'sysctl -qw net.ipv4.ip_forward=1',
      // Kubernetes requires it: bridged pod-to-pod replies must pass conntrack to be un-DNATed.
      'sysctl -qw net.bridge.bridge-nf-call-iptables=1',
    ].join('\n')]);
    // The world is a host on a wire, as in the Membrane topology: full checksums, GRO on.
    await inNetns(n.worldNs, 'sh', ['-ec', ['ip link set lo up', `ip addr add ${spec.worldAddr} dev eth0`, 'ip link set eth0 up', 'ethtool -K eth0 tx off gro on >/dev/null'].join('\n')]);
    if (spec.mode === 'iptables') await inNetns(n.nodeNs, n.restoreBin, ['--noflush'], { input: jumpsRestore() });
    return n;
  }

  /** Creates the pod's netns and attaches it with the bridge plugin. */
  async addPod(name: string): Promise<SvcPod> {
    const netnsName = `${this.spec.prefix}-${name}`;
    await must('ip', ['netns', 'add', netnsName]);
    const containerID = `${this.spec.prefix}-${name}`;
    const pod = { name, netnsName, containerID, ip: '', result: undefined as unknown };
    this.pods.set(name, pod);
    pod.result = await this.cni.add(this.conflist, { containerID, netns: netnsPath(netnsName), ifName: 'eth0', args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: name } });
    pod.ip = ((pod.result as { ips?: Array<{ address: string }> }).ips?.[0]?.address ?? '').split('/')[0]!;
    if (!pod.ip) throw new Error(`${this.side}: ADD of ${name} returned no address`);
    await inNetns(netnsName, 'ip', ['link', 'set', 'lo', 'up']);
    return pod;
  }

  /** Removes kube-proxy's service rules (not timed; what a fresh node has). */
  async clear(): Promise<void> {
    if (this.spec.mode === 'nftables') {
      await exec('nsenter', [`--net=${netnsPath(this.nodeNs)}`, '--', 'nft', 'delete', 'table', 'ip', TABLE]);
      return;
    }
    for (const table of ['nat', 'filter']) {
      await inNetns(this.nodeNs, this.iptablesBin, ['-t', table, '-F']);
      await inNetns(this.nodeNs, this.iptablesBin, ['-t', table, '-X']);
    }
    await inNetns(this.nodeNs, this.restoreBin, ['--noflush'], { input: jumpsRestore() });
  }

  /**
   * One full sync of `services` as kube-proxy does it, on a node without
   * service rules: iptables-restore --noflush --counters, or nft -f, the
   * input on stdin. Times the load command alone.
   */
  async program(services: readonly BenchService[], timeoutMs = 1_800_000): Promise<ProgramTiming> {
    const g0 = process.hrtime.bigint();
    const input =
      this.spec.mode === 'iptables'
        ? syncRestore(services, { clusterCidr: this.spec.podCidr })
        : syncScript(services, { clusterCidr: this.spec.podCidr, serviceCidrs: [this.spec.serviceCidr], nodePortIps: [this.nodeIp] });
    const generateMs = msSince(g0);
    const [cmd, args] = this.spec.mode === 'iptables' ? [this.restoreBin, ['--noflush', '--counters']] : ['nft', ['-f', '-']];
    const r = await inNetns(this.nodeNs, cmd, args, { input, timeoutMs });
    return { ms: r.ms, bytes: Buffer.byteLength(input), generateMs };
  }

  async destroy(): Promise<void> {
    for (const p of this.pods.values()) await exec('ip', ['netns', 'del', p.netnsName]);
    this.pods.clear();
    await exec('ip', ['netns', 'del', this.nodeNs]);
    await exec('ip', ['netns', 'del', this.worldNs]);
    fs.rmSync(this.spec.workDir, { recursive: true, force: true });
  }
}
