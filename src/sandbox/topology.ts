// A node on this machine, isolated in network namespaces: the node itself
// (where the agent runs and pods attach), a "world" namespace on an uplink
// that stands for the outside, and pods made through the real CNI plugin.
// Used by `membrane sandbox`, the integration tests and the benchmarks.
//
// Safety: nothing here can send a packet off the machine. The node netns has
// no route beyond the uplink subnet, the world netns has no routes at all,
// and the host gets blackhole routes for every address the topology uses.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../agent/client.ts';
import type { EndpointJSON } from '../agent/api-types.ts';
import { run } from '../endpoint/exec.ts';
import { MembraneError } from '../errors.ts';
import { routeClashes } from '../endpoint/node-network.ts';
import { CniRuntime, type Conflist } from './cni-runtime.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE_BIN = fs.existsSync(path.join(REPO, '.tools/node/bin/node')) ? path.join(REPO, '.tools/node/bin/node') : process.execPath;
export const DIST = path.join(REPO, 'dist');
export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export interface TopologySpec {
  /** Short prefix for netns names (≤ 8 chars), unique per topology. */
  name: string;
  podCidr: string;
  /** Uplink subnet /24 base, e.g. "198.18.0": node .1, world .100 */
  uplink: string;
  /** Extra blackholes on the host (service CIDRs and the like). */
  blackholes?: string[];
  /** Where agent state, pins, socket and logs go. */
  workDir: string;
  pinDir: string;
  /** Agent API socket (default: <workDir>/agent.sock). */
  socket?: string;
  /** The agent's service CIDR (blackholed on the host like the other ranges). */
  serviceCidr?: string;
}

/** Where cgroup v2 is mounted on this machine (hybrid: .../unified). */
export const CGROUP2_ROOT = fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';

/** Result of a probe (src/sandbox/probe.ts): what came back, as the application saw it. */
export interface ProbeResult {
  ok: boolean;
  proto: string;
  /** The peer address the application saw (getpeername / datagram source). */
  peer?: string;
  peerPort?: number;
  /** http and udp-who: the pod server's name and the client address it saw. */
  pod?: string;
  client?: string;
  error?: string;
  /** errno name on failure (ECONNREFUSED, ...), or TIMEOUT. */
  code?: string;
  ms: number;
}

export interface Pod {
  namespace: string;
  name: string;
  netnsName: string;
  netns: string;
  containerID: string;
  ip: string;
  result: unknown;
  server?: ChildProcess;
}

export const MEMBRANE_CONFLIST = (socket: string, chain: Conflist['plugins'] = [], cniVersion = '1.1.0'): Conflist => ({
  cniVersion,
  name: 'membrane',
  plugins: [{ type: 'membrane-cni', agentSocket: socket }, ...chain],
});

export class Topology {
  readonly spec: TopologySpec;
  readonly nodeNs: string;
  readonly worldNs: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly logFile: string;
  /**
   * A cgroup-v2 directory of this topology: the agent attaches socket LB
   * there (never at the machine's root), and pod servers, probes and the
   * commands run with inPod/inNode join it, so they see the socket LB as
   * processes of a real node would.
   */
  readonly cgroup: string;
  readonly pods = new Map<string, Pod>();
  agent: ChildProcess | undefined;
  worldServer: ChildProcess | undefined;
  readonly cni: CniRuntime;
  readonly client: AgentClient;
  conflist: Conflist;

  private constructor(spec: TopologySpec) {
    this.spec = spec;
    this.nodeNs = `${spec.name}-node`;
    this.worldNs = `${spec.name}-world`;
    this.socket = spec.socket ?? path.join(spec.workDir, 'agent.sock');
    this.stateDir = path.join(spec.workDir, 'state');
    this.logFile = path.join(spec.workDir, 'agent.log');
    this.cgroup = path.join(CGROUP2_ROOT, `membrane-${spec.name}`);
    this.cni = new CniRuntime({ path: [path.join(REPO, 'bin'), SYSTEM_CNI_DIR], nodeNetns: netnsPath(this.nodeNs) });
    this.client = new AgentClient({ socketPath: this.socket, timeoutMs: 20_000 });
    this.conflist = MEMBRANE_CONFLIST(this.socket);
  }

  /** Every CIDR the topology uses: blackholed on the host while it exists. */
  #cidrs(): string[] {
    return [this.spec.podCidr, `${this.spec.uplink}.0/24`, ...(this.spec.serviceCidr ? [this.spec.serviceCidr] : []), ...(this.spec.blackholes ?? [])];
  }

  get nodeIp(): string {
    return `${this.spec.uplink}.1`;
  }
  get worldIp(): string {
    return `${this.spec.uplink}.100`;
  }

  /** A handle on a topology made earlier (by another process) with the same spec. */
  static attach(spec: TopologySpec): Topology {
    return new Topology(spec);
  }

  static async create(spec: TopologySpec): Promise<Topology> {
    const t = new Topology(spec);
    const cidrs = t.#cidrs();
    // Never shadow a network this machine really uses.
    const clashes = await routeClashes(cidrs);
    if (clashes.length > 0) {
      throw new MembraneError('CONFLICT', `the topology's addresses overlap this machine's own networks (${clashes.join('; ')}) — choose other ranges`);
    }
    // Another run's topology of the same name: refuse before touching anything
    // (cleaning up after a failed create would tear the other one down).
    const existing = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
    if (existing.includes(t.nodeNs) || existing.includes(t.worldNs)) {
      throw new MembraneError('CONFLICT', `a topology named ${spec.name} exists already (netns ${t.nodeNs}) — another run is using it, or a crashed one left it: remove it with 'ip netns del ${t.nodeNs}; ip netns del ${t.worldNs}'`);
    }
    fs.mkdirSync(spec.workDir, { recursive: true });
    try {
      for (const cidr of cidrs) {
        await run('ip', ['route', 'replace', 'blackhole', cidr]);
      }
      fs.mkdirSync(t.cgroup, { recursive: true });
      await run('ip', ['netns', 'add', t.nodeNs]);
      await run('ip', ['netns', 'add', t.worldNs]);
      await run('ip', ['link', 'add', 'name', 'uplink', 'netns', t.nodeNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', t.worldNs]);
      await t.inNode('ip', 'link', 'set', 'lo', 'up');
      await t.inNode('ip', 'addr', 'add', `${t.nodeIp}/24`, 'dev', 'uplink');
      await t.inNode('ip', 'link', 'set', 'uplink', 'up');
      await t.inWorld('ip', 'link', 'set', 'lo', 'up');
      await t.inWorld('ip', 'addr', 'add', `${t.worldIp}/24`, 'dev', 'eth0');
      await t.inWorld('ip', 'link', 'set', 'eth0', 'up');
      // The world is a host on a wire: full checksums (no CHECKSUM_PARTIAL
      // skbs), and GRO on, which gives its veth the NAPI context that an XDP
      // redirect from the node's side (ndo_xdp_xmit) needs to deliver into.
      await t.inWorld('ethtool', '-K', 'eth0', 'tx', 'off', 'gro', 'on');
    } catch (err) {
      await t.destroy();
      throw err;
    }
    return t;
  }

  /** Runs a command in the node netns, inside the topology's cgroup. */
  inNode(...cmd: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return runIn(this.cgroup, ['ip', 'netns', 'exec', this.nodeNs, ...cmd]);
  }
  inWorld(...cmd: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return run('ip', ['netns', 'exec', this.worldNs, ...cmd]);
  }

  /** Starts the agent inside the node netns and waits until it answers. */
  async startAgent(extra: string[] = [], opts: { detached?: boolean } = {}): Promise<ChildProcess> {
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(
      'nsenter',
      [`--net=${netnsPath(this.nodeNs)}`, '--', NODE_BIN, path.join(DIST, 'cli/main.js'), 'agent',
        '--socket', this.socket, '--state-dir', this.stateDir, '--pin-dir', this.spec.pinDir,
        '--pod-cidr', this.spec.podCidr, '--node-name', this.nodeNs, '--cgroup-root', this.cgroup, '--devices', 'uplink',
        ...(this.spec.serviceCidr ? ['--service-cidr', this.spec.serviceCidr] : []), ...extra],
      { stdio: ['ignore', log, log], detached: opts.detached ?? false },
    );
    fs.closeSync(log);
    this.agent = child;
    let started = false;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => {
        if (!started) reject(new Error(`agent exited with ${code} during start; log:\n${tail(this.logFile)}`));
      }),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await Promise.race([this.client.get('/v1/healthz'), exited]);
        started = true;
        await this.#requireConfinedSocketLb();
        return child;
      } catch (err) {
        if (Date.now() > deadline || !String((err as Error).message).includes('cannot reach')) throw err;
        await sleep(50);
      }
    }
  }

  /**
   * Safety: a test agent's socket LB must act on this topology's cgroup
   * only. Links attached anywhere else (the machine's root would
   * load-balance every process on it) are removed at once, which detaches
   * them, and the agent is stopped with an error.
   */
  async #requireConfinedSocketLb(): Promise<void> {
    const want = Number(fs.statSync(this.cgroup, { bigint: true }).ino); // a cgroup's id is its inode
    const wrong: string[] = [];
    const linkDir = path.join(this.spec.pinDir, 'links');
    for (const pin of fs.existsSync(linkDir) ? fs.readdirSync(linkDir) : []) {
      const r = await run('bpftool', ['-j', 'link', 'show', 'pinned', path.join(linkDir, pin)], { allowFail: true });
      const info = r.code === 0 ? (JSON.parse(r.stdout) as { cgroup_id?: number }) : {};
      if (info.cgroup_id !== undefined && info.cgroup_id !== want) wrong.push(`${pin} on cgroup ${info.cgroup_id}`);
    }
    if (wrong.length === 0) return;
    fs.rmSync(linkDir, { recursive: true, force: true });
    await this.stopAgent('SIGKILL');
    throw new MembraneError('INTERNAL', `the agent attached socket LB outside ${this.cgroup} (${wrong.join(', ')}); removed — is --cgroup-root honoured?`);
  }

  /** Stops the agent with a signal and waits for it to exit. */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const a = this.agent;
    if (!a || a.exitCode !== null || a.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => a.once('exit', () => resolve()));
    a.kill(signal);
    await exited;
    this.agent = undefined;
  }

  /** Creates a pod netns and attaches it through the CNI plugin (as a runtime would). */
  async addPod(namespace: string, name: string, opts: { server?: boolean; detached?: boolean; capabilities?: Record<string, unknown> } = {}): Promise<Pod> {
    const netnsName = `${this.spec.name}-${namespace}-${name}`.slice(0, 60);
    await run('ip', ['netns', 'add', netnsName]);
    const containerID = `${this.spec.name}-${namespace}-${name}`;
    const pod: Pod = { namespace, name, netnsName, netns: netnsPath(netnsName), containerID, ip: '', result: undefined };
    this.pods.set(`${namespace}/${name}`, pod);
    pod.result = await this.cni.add(this.conflist, {
      containerID,
      netns: pod.netns,
      ifName: 'eth0',
      args: { K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name },
      ...(opts.capabilities ? { capabilities: opts.capabilities } : {}),
    });
    pod.ip = ((pod.result as { ips: Array<{ address: string }> }).ips[0]?.address ?? '').split('/')[0]!;
    if (opts.server) pod.server = await startServer(netnsName, `${namespace}/${name}`, { detached: opts.detached ?? false, cgroup: this.cgroup });
    return pod;
  }

  async delPod(namespace: string, name: string): Promise<void> {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return;
    pod.server?.kill('SIGKILL');
    await this.cni.del(this.conflist, { containerID: pod.containerID, netns: pod.netns, ifName: 'eth0' }, pod.result);
    await run('ip', ['netns', 'del', pod.netnsName], { allowFail: true });
    this.pods.delete(`${namespace}/${name}`);
  }

  /** Runs a command in a pod's netns, inside the topology's cgroup. */
  inPod(pod: Pod, ...cmd: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return runIn(this.cgroup, ['ip', 'netns', 'exec', pod.netnsName, ...cmd], { allowFail: true });
  }

  /** A probe (tcp|udp|http) from a netns to host:port; resolves true when it got its echo back. */
  async probe(netnsName: string, proto: 'tcp' | 'udp' | 'http', host: string, port: number, timeoutMs = 1500): Promise<boolean> {
    return (await this.probeJson(netnsName, proto, host, port, timeoutMs)).ok;
  }

  /**
   * A probe with its details: the peer the application saw, the backend
   * that answered (http, udp-who), the errno on failure. Probes from any
   * netns but the world's run inside the topology's cgroup (socket LB).
   */
  async probeJson(netnsName: string, proto: 'tcp' | 'udp' | 'udp-who' | 'http', host: string, port: number, timeoutMs = 1500): Promise<ProbeResult> {
    const argv = [NODE_BIN, path.join(DIST, 'sandbox/probe.js'), proto, host, String(port), String(timeoutMs)];
    const r = await runIn(netnsName === this.worldNs ? undefined : this.cgroup, ['ip', 'netns', 'exec', netnsName, ...argv], { allowFail: true });
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProbeResult;
    } catch {
      return { ok: false, proto, error: `probe printed no result (exit ${r.code}): ${r.stderr.trim()}`, ms: 0 };
    }
  }

  async ping(netnsName: string, host: string): Promise<boolean> {
    const r = await run('ip', ['netns', 'exec', netnsName, 'ping', '-c', '1', '-W', '1', '-q', host], { allowFail: true });
    return r.code === 0;
  }

  async endpoints(): Promise<EndpointJSON[]> {
    return this.client.get<EndpointJSON[]>('/v1/endpoints');
  }

  /**
   * Removes everything: pods, agent, namespaces, cgroup, blackholes, pins.
   * Safe to call twice. Every step runs even when an earlier one fails (a
   * busy cgroup must not leave blackholes and pins behind); the failures
   * are thrown together at the end.
   */
  async destroy(): Promise<void> {
    const failures: string[] = [];
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        failures.push(`${what}: ${(err as Error).message}`);
      }
    };
    for (const pod of this.pods.values()) pod.server?.kill('SIGKILL');
    this.worldServer?.kill('SIGKILL');
    await step('stop the agent', () => this.stopAgent('SIGKILL'));
    for (const pod of this.pods.values()) await run('ip', ['netns', 'del', pod.netnsName], { allowFail: true });
    this.pods.clear();
    await run('ip', ['netns', 'del', this.nodeNs], { allowFail: true });
    await run('ip', ['netns', 'del', this.worldNs], { allowFail: true });
    await step(`remove cgroup ${this.cgroup}`, () => removeCgroup(this.cgroup));
    for (const cidr of this.#cidrs()) {
      await run('ip', ['route', 'del', 'blackhole', cidr], { allowFail: true });
    }
    await step(`remove ${this.spec.pinDir}`, () => fs.rmSync(this.spec.pinDir, { recursive: true, force: true }));
    if (failures.length > 0) throw new MembraneError('INTERNAL', `topology ${this.spec.name} cleanup: ${failures.join('; ')}`);
  }
}

export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

/**
 * argv that runs `cmd` inside a cgroup-v2 directory: the shell moves itself
 * there, then execs the command (which inherits the cgroup). Join the cgroup
 * before `ip netns exec`: it remounts /sys, hiding /sys/fs/cgroup.
 */
export function inCgroup(cgroup: string | undefined, cmd: readonly string[]): string[] {
  if (!cgroup) return [...cmd];
  return ['sh', '-c', `echo $$ > '${cgroup}/cgroup.procs' && exec "$@"`, 'sh', ...cmd];
}

function runIn(cgroup: string | undefined, argv: readonly string[], opts: { allowFail?: boolean } = {}) {
  const [cmd, ...args] = inCgroup(cgroup, argv);
  return run(cmd!, args, opts);
}

/** Removes a cgroup directory once its processes are gone (killed ones take a moment). */
export async function removeCgroup(cgroup: string): Promise<void> {
  if (!fs.existsSync(cgroup)) return;
  const procs = path.join(cgroup, 'cgroup.procs');
  for (let i = 0; i < 50; i++) {
    for (const pid of fs.readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    try {
      fs.rmdirSync(cgroup);
      return;
    } catch {
      await sleep(50);
    }
  }
  fs.rmdirSync(cgroup); // throws with the reason
}

/** Starts the pod server in a netns and waits for it to listen. */
export function startServer(netnsName: string, label: string, opts: { detached?: boolean; cgroup?: string } = {}): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=${netnsPath(netnsName)}`, '--', ...inCgroup(opts.cgroup, [NODE_BIN, path.join(DIST, 'sandbox/pod-server.js'), label])], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: opts.detached ?? false,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server in ${netnsName} did not start`)), 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      child.stdout!.destroy();
      resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`server in ${netnsName} exited with ${code}`)));
  });
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
