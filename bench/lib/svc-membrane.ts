// The Membrane node of the services benchmark: the sandbox Topology (node
// and world netns, the agent in the node netns with the socket LB on the
// topology's cgroup and the per-packet LB on the uplink), pods through
// Membrane's CNI plugin, services through `membrane apply -f` of Service and
// EndpointSlice manifests — the path a user takes. `apply` returns once the
// agent has written the load-balancer maps, so its wall time is "from apply
// to maps written".
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../src/agent/client.ts';
import type { ServicesStatus } from '../../src/service/manager.ts';
import { DIST, inCgroup, NODE_BIN, Topology } from '../../src/sandbox/topology.ts';
import { type BenchService, type ManifestFormat, manifests } from './kube-services.ts';
import type { SvcPod } from './kp-node.ts';
import { exec, inNetns } from './proc.ts';

export type Acceleration = 'none' | 'xdp';

export interface MembraneSpec {
  name: string;
  podCidr: string;
  uplink: string;
  serviceCidr: string;
  workDir: string;
  pinDir: string;
}

export interface MembraneProgram {
  /** `membrane apply -f FILE` wall time, spawn to exit: apply → maps written. */
  ms: number;
  bytes: number;
  /** The agent's last sync (compute the desired state and plan; write the maps). */
  sync?: ServicesStatus['lastSync'];
  /** Entries in mb_lb4_svc after the apply. */
  svcEntries?: number;
}

interface StatusJSON {
  services: ServicesStatus;
  maps: Array<{ name: string; entries: number; maxEntries: number }>;
}

export class MembraneServiceNode {
  readonly side = 'membrane' as const;
  readonly t: Topology;
  readonly pods = new Map<string, SvcPod>();
  acceleration: Acceleration = 'none';
  /** The agent's API with room for 10 000 services (the topology's own client gives up after 20 s). */
  readonly api: AgentClient;

  private constructor(t: Topology) {
    this.t = t;
    this.api = new AgentClient({ socketPath: t.socket, timeoutMs: 900_000 });
  }

  get nodeNs(): string {
    return this.t.nodeNs;
  }
  get worldNs(): string {
    return this.t.worldNs;
  }
  get nodeIp(): string {
    return this.t.nodeIp;
  }
  get worldIp(): string {
    return this.t.worldIp;
  }
  get socket(): string {
    return this.t.socket;
  }
  /** Processes of this node's pods join the topology's cgroup, where the socket LB is attached. */
  wrap = (argv: string[]): string[] => inCgroup(this.t.cgroup, argv);

  static async create(spec: MembraneSpec, register: (n: MembraneServiceNode) => void, acceleration: Acceleration): Promise<MembraneServiceNode> {
    const t = await Topology.create({ name: spec.name, podCidr: spec.podCidr, uplink: spec.uplink, serviceCidr: spec.serviceCidr, workDir: spec.workDir, pinDir: spec.pinDir });
    const n = new MembraneServiceNode(t);
    register(n);
    await n.startAgent(acceleration);
    return n;
  }

  /** (Re)starts the agent with the per-packet LB in tc (none) or XDP mode; the services stay. */
  async startAgent(acceleration: Acceleration): Promise<void> {
    await this.t.stopAgent();
    await this.t.startAgent(['--lb-acceleration', acceleration, '--lb-mode', 'snat']);
    this.acceleration = acceleration;
  }

  async addPod(name: string): Promise<SvcPod> {
    const p = await this.t.addPod('bench', name);
    const pod = { name, netnsName: p.netnsName, ip: p.ip };
    this.pods.set(name, pod);
    await inNetns(p.netnsName, 'ip', ['link', 'set', 'lo', 'up']);
    return pod;
  }

  async status(): Promise<StatusJSON> {
    return this.api.get<StatusJSON>('/v1/status');
  }

  /** `membrane apply -f` of the services' manifests, timed; then the agent's own account of the sync. */
  async program(services: readonly BenchService[], format: ManifestFormat = 'yaml'): Promise<MembraneProgram> {
    const file = path.join(this.t.spec.workDir, `services.${format}`);
    const text = manifests(services, format);
    fs.writeFileSync(file, text);
    const r = await this.cli(['apply', '-f', file, '-o', 'json']);
    const st = await this.status();
    const svc = st.maps.find((m) => m.name === 'mb_lb4_svc');
    return { ms: r.ms, bytes: Buffer.byteLength(text), ...(st.services.lastSync ? { sync: st.services.lastSync } : {}), ...(svc ? { svcEntries: svc.entries } : {}) };
  }

  /** Posts the same manifest straight to the agent (no CLI process): the agent's part of an apply. */
  async programDirect(services: readonly BenchService[], format: ManifestFormat = 'yaml'): Promise<{ ms: number }> {
    const text = manifests(services, format);
    const t0 = process.hrtime.bigint();
    await this.api.post('/v1/apply', { manifest: text, source: 'bench' });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }

  /** Deletes the services (the API's /v1/delete, what `membrane delete -f` sends), timed. */
  async clear(services: readonly BenchService[]): Promise<{ ms: number }> {
    if (services.length === 0) return { ms: 0 };
    const t0 = process.hrtime.bigint();
    await this.api.post('/v1/delete', { manifest: manifests(services, 'json'), source: 'bench' });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }

  /** The CLI, as a user runs it (bin/membrane: node dist/cli/main.js), inside the node netns. */
  async cli(args: string[]) {
    const r = await exec('nsenter', [`--net=/var/run/netns/${this.nodeNs}`, '--', NODE_BIN, path.join(DIST, 'cli/main.js'), ...args, '--socket', this.socket], { timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`membrane ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
    return r;
  }

  async destroy(): Promise<void> {
    try {
      await this.t.destroy(); // pods, agent, node/world netns, cgroup, host blackholes, pins
    } catch (err) {
      // Topology.destroy stops at the first failure (a cgroup whose killed
      // processes have not left yet): finish its work here.
      process.stderr.write(`membrane topology cleanup: ${(err as Error).message}; finishing it\n`);
      const spec = this.t.spec;
      for (const ns of [...[...this.pods.values()].map((p) => p.netnsName), this.t.nodeNs, this.t.worldNs]) await exec('ip', ['netns', 'del', ns]);
      for (const c of [spec.podCidr, `${spec.uplink}.0/24`, ...(spec.serviceCidr ? [spec.serviceCidr] : [])]) await exec('ip', ['route', 'del', 'blackhole', c]);
      fs.rmSync(spec.pinDir, { recursive: true, force: true });
      for (let i = 0; i < 100 && fs.existsSync(this.t.cgroup); i++) {
        try {
          fs.rmdirSync(this.t.cgroup);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    fs.rmSync(this.t.spec.workDir, { recursive: true, force: true });
  }
}
