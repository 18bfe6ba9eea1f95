// The Membrane side of the policy benchmark: the sandbox Topology (node and
// world netns, the agent in the node netns), pods through Membrane's CNI
// plugin, their labels from Pod objects and the policies from
// NetworkPolicy objects, both through `membrane apply -f` — the path a user
// takes. `apply` answers once the agent has written the maps, so its wall
// time is "from apply to the maps holding the entries"; the agent's status
// gives its own account of the sync (the resolver's time, the map writes).
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../src/agent/client.ts';
import { DIST, inCgroup, NODE_BIN, Topology } from '../../src/sandbox/topology.ts';
import { exec, inNetns } from '../lib/proc.ts';
import { type BenchPod, type BenchPolicy, manifest, type ManifestFormat, namespaceObject, type PlacedPod, podObject, policyObject } from './workload.ts';

export interface MembraneSpec {
  name: string;
  podCidr: string;
  uplink: string;
  serviceCidr: string;
  workDir: string;
  pinDir: string;
}

/** What the agent's status says of its last policy sync (whatever it reports, kept as is), and the map fill. */
export interface PolicyStatus {
  sync: Record<string, unknown> | undefined;
  policyEntries: number | undefined;
  ipcacheEntries: number | undefined;
}

export interface ProgramResult {
  /** `membrane apply -f FILE`, spawn to exit: apply → maps written. */
  ms: number;
  bytes: number;
  status: PolicyStatus;
}

interface StatusJSON {
  datapath?: { eventsReceived?: number; eventsLost?: string };
  policy?: { lastSync?: Record<string, unknown> } & Record<string, unknown>;
  maps?: Array<{ name: string; entries: number; maxEntries: number }>;
}

export class MembraneNode {
  readonly t: Topology;
  readonly pods = new Map<string, PlacedPod & { netnsName: string }>();
  /** The agent's API with room for big applies (the topology's own client gives up after 20 s). */
  readonly api: AgentClient;

  private constructor(t: Topology) {
    this.t = t;
    this.api = new AgentClient({ socketPath: t.socket, timeoutMs: 900_000 });
  }

  get nodeNs(): string {
    return this.t.nodeNs;
  }
  /** Processes of this node's pods join the topology's cgroup, as the sandbox runs them. */
  wrap = (argv: string[]): string[] => inCgroup(this.t.cgroup, argv);

  static async create(spec: MembraneSpec, register: (n: MembraneNode) => void, agentArgs: string[] = []): Promise<MembraneNode> {
    const t = await Topology.create({ name: spec.name, podCidr: spec.podCidr, uplink: spec.uplink, serviceCidr: spec.serviceCidr, workDir: spec.workDir, pinDir: spec.pinDir });
    const n = new MembraneNode(t);
    register(n);
    await t.startAgent(agentArgs);
    return n;
  }

  /** Pins every thread of the agent to CPUS (taskset list), e.g. away from the CPU the measured pods use. */
  async pinAgent(cpus: string): Promise<void> {
    const pid = this.t.agent?.pid;
    if (!pid) throw new Error('no agent to pin');
    const r = await exec('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
    if (r.code !== 0) throw new Error(`taskset of the agent: ${r.stderr.trim()}`);
  }

  /** The namespace and the Pod objects (labels), applied before the pods exist (not timed). */
  async applyPods(namespace: string, pods: readonly BenchPod[]): Promise<void> {
    await this.api.post('/v1/apply', { manifest: manifest([namespaceObject(namespace), ...pods.map(podObject)], 'json'), source: 'bench' });
  }

  /** Creates the pod's netns and attaches it through the CNI plugin, as a runtime would. */
  async addPod(pod: BenchPod): Promise<PlacedPod> {
    const p = await this.t.addPod(pod.namespace, pod.name);
    const placed = { ...pod, ip: p.ip, netnsName: p.netnsName };
    this.pods.set(pod.name, placed);
    await inNetns(p.netnsName, 'ip', ['link', 'set', 'lo', 'up']);
    return placed;
  }

  netnsOf(name: string): string {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p.netnsName;
  }

  /** Datapath events the agent has received and the ring buffer has lost since it started. */
  async eventCounts(): Promise<{ received: number; lost: number }> {
    const st = await this.api.get<StatusJSON>('/v1/status');
    return { received: st.datapath?.eventsReceived ?? Number.NaN, lost: Number(st.datapath?.eventsLost ?? Number.NaN) };
  }

  async status(): Promise<PolicyStatus> {
    const st = await this.api.get<StatusJSON>('/v1/status');
    const entries = (name: string) => st.maps?.find((m) => m.name === name)?.entries;
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    return { sync: st.policy?.lastSync ?? st.policy, policyEntries: entries('mb_policy') ?? num(st.policy?.entries), ipcacheEntries: entries('mb_ipcache') ?? num(st.policy?.ipcacheEntries) };
  }

  /** `membrane apply -f` of the policies' manifest, timed; then the agent's account of the sync and the map fill. */
  async program(policies: readonly BenchPolicy[], format: ManifestFormat = 'yaml'): Promise<ProgramResult> {
    const file = path.join(this.t.spec.workDir, `policies.${format}`);
    const text = manifest(policies.map(policyObject), format);
    fs.writeFileSync(file, text);
    const r = await this.cli(['apply', '-f', file, '-o', 'json']);
    return { ms: r.ms, bytes: Buffer.byteLength(text), status: await this.status() };
  }

  /** Deletes the policies (what `membrane delete -f` sends), timed. */
  async clear(policies: readonly BenchPolicy[]): Promise<{ ms: number }> {
    if (policies.length === 0) return { ms: 0 };
    const t0 = process.hrtime.bigint();
    await this.api.post('/v1/delete', { manifest: manifest(policies.map(policyObject), 'json'), source: 'bench' });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }

  /** The same manifest posted straight to the agent (no CLI process): the agent's part of an apply. */
  async programDirect(policies: readonly BenchPolicy[], format: ManifestFormat = 'yaml'): Promise<{ ms: number }> {
    const text = manifest(policies.map(policyObject), format);
    const t0 = process.hrtime.bigint();
    await this.api.post('/v1/apply', { manifest: text, source: 'bench' });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }

  /** The CLI, as a user runs it (node dist/cli/main.js), inside the node netns. */
  async cli(args: string[]) {
    const r = await exec('nsenter', [`--net=/var/run/netns/${this.nodeNs}`, '--', NODE_BIN, path.join(DIST, 'cli/main.js'), ...args, '--socket', this.t.socket], { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`membrane ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
    return r;
  }

  async destroy(): Promise<void> {
    try {
      await this.t.destroy(); // pods, agent, node/world netns, cgroup, host blackholes, pins (every step, failures reported together)
    } finally {
      fs.rmSync(this.t.spec.workDir, { recursive: true, force: true });
    }
  }
}
