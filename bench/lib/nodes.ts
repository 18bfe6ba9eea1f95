// The two nodes compared, each isolated in its own network namespace on this
// machine, and made pods the same way: a netns, then one CNI ADD through the
// same CniRuntime (plugins run inside the node netns, as a runtime on that
// node would run them).
//
//  - membrane: the sandbox Topology (node + world netns, the agent inside the
//    node netns) and Membrane's conflist; pods are delivered by the eBPF tc
//    program with bpf_redirect_peer.
//  - bridge:   a bare node netns and Debian's reference plugins: `bridge`
//    (a Linux bridge, isGateway, no masquerade) with `host-local` IPAM.
//
// Safety: everything lives in netns named mbb-*; the host gets blackhole
// routes for every CIDR used here (the Topology adds its own), so no packet
// for these addresses can leave the machine. destroy() removes it all.
import fs from 'node:fs';
import path from 'node:path';
import { CniRuntime, type Conflist } from '../../src/sandbox/cni-runtime.ts';
import { REPO, SYSTEM_CNI_DIR, Topology } from '../../src/sandbox/topology.ts';
import { exec, must, netnsPath } from './proc.ts';

export type Side = 'membrane' | 'bridge';
export const SIDES: readonly Side[] = ['membrane', 'bridge'];

export const WORK_DIR = '/var/lib/mbb-bench';
export const PIN_DIR = '/sys/fs/bpf/mbb-bench';
export const MEMBRANE_CIDR = '10.210.0.0/24';
export const BRIDGE_CIDR = '10.211.0.0/24';
/** The membrane Topology's uplink subnet (node .1, world .100); blackholed on the host. */
export const MEMBRANE_UPLINK = '10.212.0';

export interface BenchPod {
  name: string;
  netnsName: string;
  containerID: string;
  ip: string;
  result: unknown;
}

export interface BenchNode {
  readonly side: Side;
  readonly nodeNs: string;
  readonly cni: CniRuntime;
  readonly conflist: Conflist;
  readonly pods: Map<string, BenchPod>;
  /** Creates the pod's netns (not timed), then times the CNI ADD alone. */
  addPod(name: string): Promise<{ pod: BenchPod; ms: number }>;
  /** Times the CNI DEL alone, then removes the netns (not timed). */
  delPod(pod: BenchPod): Promise<number>;
  destroy(): Promise<void>;
}

const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/** What a Kubernetes runtime passes (IgnoreUnknown lets Go plugins accept the K8S_ keys). */
function cniArgs(name: string): Record<string, string> {
  return { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: name };
}

abstract class BaseNode implements BenchNode {
  abstract readonly side: Side;
  abstract readonly nodeNs: string;
  abstract readonly cni: CniRuntime;
  abstract readonly conflist: Conflist;
  readonly pods = new Map<string, BenchPod>();

  protected netnsName(name: string): string {
    return `mbb-${this.side[0]}-${name}`;
  }

  async addPod(name: string): Promise<{ pod: BenchPod; ms: number }> {
    const netnsName = this.netnsName(name);
    await must('ip', ['netns', 'add', netnsName]);
    const pod: BenchPod = { name, netnsName, containerID: `mbb-${this.side}-${name}`, ip: '', result: undefined };
    this.pods.set(name, pod);
    const t0 = process.hrtime.bigint();
    pod.result = await this.cni.add(this.conflist, { containerID: pod.containerID, netns: netnsPath(netnsName), ifName: 'eth0', args: cniArgs(name) });
    const ms = msSince(t0);
    pod.ip = ((pod.result as { ips?: Array<{ address: string }> }).ips?.[0]?.address ?? '').split('/')[0]!;
    if (!pod.ip) throw new Error(`${this.side}: ADD of ${name} returned no address: ${JSON.stringify(pod.result)}`);
    return { pod, ms };
  }

  async delPod(pod: BenchPod): Promise<number> {
    const t0 = process.hrtime.bigint();
    await this.cni.del(this.conflist, { containerID: pod.containerID, netns: netnsPath(pod.netnsName), ifName: 'eth0', args: cniArgs(pod.name) }, pod.result);
    const ms = msSince(t0);
    await exec('ip', ['netns', 'del', pod.netnsName]);
    this.pods.delete(pod.name);
    return ms;
  }

  protected async deletePodNetns(): Promise<void> {
    for (const p of this.pods.values()) await exec('ip', ['netns', 'del', p.netnsName]);
    this.pods.clear();
  }

  abstract destroy(): Promise<void>;
}

export class MembraneNode extends BaseNode {
  readonly side = 'membrane' as const;
  readonly topology: Topology;
  private constructor(t: Topology) {
    super();
    this.topology = t;
  }
  get nodeNs(): string {
    return this.topology.nodeNs;
  }
  get cni(): CniRuntime {
    return this.topology.cni;
  }
  get conflist(): Conflist {
    return this.topology.conflist;
  }
  get agentPid(): number | undefined {
    return this.topology.agent?.pid;
  }

  /** Node netns, world netns, agent; `register` gets the node before anything can fail, for cleanup. */
  static async create(register: (n: BenchNode) => void): Promise<MembraneNode> {
    const workDir = path.join(WORK_DIR, 'membrane');
    const t = await Topology.create({ name: 'mbb-m', podCidr: MEMBRANE_CIDR, uplink: MEMBRANE_UPLINK, workDir, pinDir: PIN_DIR });
    const n = new MembraneNode(t);
    register(n);
    await t.startAgent();
    return n;
  }

  async destroy(): Promise<void> {
    await this.deletePodNetns();
    await this.topology.destroy(); // agent, node/world netns, host blackholes, pins
    fs.rmSync(this.topology.spec.workDir, { recursive: true, force: true });
  }
}

export class BridgeNode extends BaseNode {
  readonly side = 'bridge' as const;
  readonly nodeNs = 'mbb-b-node';
  readonly cni: CniRuntime;
  readonly conflist: Conflist;
  readonly ipamDir = path.join(WORK_DIR, 'bridge-ipam');

  private constructor() {
    super();
    this.cni = new CniRuntime({ path: [path.join(REPO, 'bin'), SYSTEM_CNI_DIR], nodeNetns: netnsPath(this.nodeNs) });
    // Debian's plugins are CNI 1.1.1 releases: spec ≤ 1.0.0.
    this.conflist = {
      cniVersion: '1.0.0',
      name: 'mbb-bridge',
      plugins: [
        {
          type: 'bridge',
          bridge: 'mbb-br0',
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: BRIDGE_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.ipamDir },
        },
      ],
    };
  }

  static async create(register: (n: BenchNode) => void): Promise<BridgeNode> {
    const n = new BridgeNode();
    register(n);
    await must('ip', ['route', 'replace', 'blackhole', BRIDGE_CIDR]);
    await must('ip', ['netns', 'add', n.nodeNs]);
    await must('ip', ['-n', n.nodeNs, 'link', 'set', 'lo', 'up']);
    return n;
  }

  async destroy(): Promise<void> {
    await this.deletePodNetns();
    await exec('ip', ['netns', 'del', this.nodeNs]);
    await exec('ip', ['route', 'del', 'blackhole', BRIDGE_CIDR]);
    fs.rmSync(this.ipamDir, { recursive: true, force: true });
  }
}
