// The NetworkPolicy conformance model of upstream's test/e2e/network/netpol
// (model.go), on one Membrane node:
//  - namespaces x, y, z, labelled `ns: <name>` (Membrane, like Kubernetes,
//    adds kubernetes.io/metadata.name);
//  - pods a, b, c in each, labelled `pod: <name>`, one container per port and
//    protocol with upstream's port names (serve-80-tcp, serve-80-udp,
//    serve-81-tcp, serve-81-udp); each pod runs pod-server --serve 80,81,
//    which answers on those ports with the pod's name;
//  - a ClusterIP Service per pod (s-<ns>-<pod>, selector pod=<pod>, ports 80
//    and 81 over TCP and UDP), as upstream probes through services.
// Every probe goes from a pod to the target pod's ClusterIP: the socket LB
// translates at connect()/sendmsg(), so policy judges the backend pod.
//
// A case states its expected matrices per (protocol, port) as Reachability
// (written by hand from upstream's expectations), and check() probes all 81
// pairs for each, in parallel (one probe-matrix process per client pod), until
// the observation matches or the deadline passes; then it fails with the
// expected, observed and comparison tables in upstream's layout.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { run } from '../../src/endpoint/exec.ts';
import type { ProbeMatrixResponse, ProbeOutcome, ProbeTarget } from '../../src/sandbox/probe-matrix.ts';
import { DIST, inCgroup, NODE_BIN, netnsPath, REPO, sleep, type Pod, type Topology } from '../../src/sandbox/topology.ts';
import type { DecodedEvent } from '../../src/observe/events.ts';
import { leftovers, makeTopology } from '../helpers/env.ts';
import { Reachability, TruthTable, type PodId } from './truthtable.ts';

export const PREFIX = 'mbq';
export const POD_CIDR = '10.217.0.0/16';
export const SERVICE_CIDR = '10.96.17.0/24';
export const UPLINK = '198.18.17';
export const MEMBRANE_BIN = path.join(REPO, 'bin', 'membrane');

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const PODS: readonly PodId[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));
export const PORTS = [80, 81] as const;

/**
 * Besides the pods, the entity tests use the node itself (`host`: a server
 * in the node netns on the node's uplink address) and the outside (`world`:
 * a server in the topology's world netns). The world dials pods by pod IP
 * (it has no socket LB; it routes the pod CIDR to the node), everybody else
 * dials pods through their ClusterIP.
 */
export const HOST = 'host';
export const WORLD = 'world';
export const EVERYONE: readonly PodId[] = [...PODS, HOST, WORLD];

export type Combo = 'tcp/80' | 'tcp/81' | 'udp/80' | 'udp/81';
export const COMBOS: readonly Combo[] = ['tcp/80', 'tcp/81', 'udp/80', 'udp/81'];
export type Expectations = Partial<Record<Combo, Reachability>>;

/** The same expectation for every protocol and port. */
export function everyPort(r: Reachability): Expectations {
  return { 'tcp/80': r, 'tcp/81': r, 'udp/80': r, 'udp/81': r };
}

/** A fresh all-allowed (or all-denied) expectation over the nine pods. */
export function reach(initial = true): Reachability {
  return new Reachability(PODS, initial);
}

/** The same over the pods, the node and the world (needs a model created with edges). */
export function reachEveryone(initial = true): Reachability {
  return new Reachability(EVERYONE, initial);
}

// --- manifests ---------------------------------------------------------------
// Names and label values are quoted: YAML 1.1, which Kubernetes and Membrane
// read, takes an unquoted `y` or `n` for a boolean (namespace y!).

function labelsYaml(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(', ')}}`;
}

export function namespaceManifest(ns: string, extra: Record<string, string> = {}): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${JSON.stringify(ns)}, labels: ${labelsYaml({ ns, ...extra })}}
`;
}

/** A container port beyond upstream's four (its own container). */
export interface ExtraPort {
  name: string;
  port: number;
  protocol: 'TCP' | 'UDP';
}

/** Upstream's pod: one container per (port, protocol), container ports named serve-<port>-<proto>; `ports` adds containers. */
export function podManifest(ns: string, pod: string, extra: Record<string, string> = {}, ports: readonly ExtraPort[] = []): string {
  const containers = PORTS.flatMap((port) =>
    (['TCP', 'UDP'] as const).map(
      (proto) => `  - name: cont-${port}-${proto.toLowerCase()}
    image: pod-server
    ports: [{name: serve-${port}-${proto.toLowerCase()}, containerPort: ${port}, protocol: ${proto}}]`,
    ),
  );
  ports.forEach((p, i) =>
    containers.push(`  - name: extra-${i}
    image: pod-server
    ports: [{name: ${p.name}, containerPort: ${p.port}, protocol: ${p.protocol}}]`),
  );
  return `apiVersion: v1
kind: Pod
metadata: {name: ${JSON.stringify(pod)}, namespace: ${JSON.stringify(ns)}, labels: ${labelsYaml({ pod, ...extra })}}
spec:
  containers:
${containers.join('\n')}
`;
}

export function serviceName(id: PodId): string {
  const [ns, pod] = id.split('/');
  return `s-${ns}-${pod}`;
}

export function serviceManifest(id: PodId): string {
  const [ns, pod] = id.split('/');
  const ports = PORTS.flatMap((port) =>
    (['TCP', 'UDP'] as const).map((proto) => `  - {name: service-port-${proto.toLowerCase()}-${port}, protocol: ${proto}, port: ${port}, targetPort: ${port}}`),
  );
  return `apiVersion: v1
kind: Service
metadata: {name: ${serviceName(id)}, namespace: ${JSON.stringify(ns)}}
spec:
  selector: {pod: ${JSON.stringify(pod)}}
  ports:
${ports.join('\n')}
`;
}

export function joinManifests(...docs: string[]): string {
  return docs.join('---\n');
}

// --- the model ------------------------------------------------------------------

export interface CheckOptions {
  /** Keep probing until this long after the start (default 10 s): verdicts follow apply within seconds. */
  deadlineMs?: number;
  /** Per-probe timeout (a dropped packet shows as a timeout). */
  timeoutMs?: number;
}

export interface Observation {
  tables: Map<Combo, TruthTable>;
  /** Per combo, per "from->to": the probe's outcome. */
  outcomes: Map<Combo, Map<string, ProbeOutcome>>;
}

/** Starts pod-server with --serve 80,81 in a netns (optionally inside a cgroup) and waits until it listens. */
export function startModelServer(netnsName: string, label: string, cgroup: string | undefined, bind?: string): Promise<ChildProcess> {
  const argv = inCgroup(cgroup, [NODE_BIN, path.join(DIST, 'sandbox/pod-server.js'), label, '--serve', PORTS.join(','), ...(bind ? ['--bind', bind] : [])]);
  const child = spawn('nsenter', [`--net=${netnsPath(netnsName)}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server in ${netnsName} did not start: ${stderr}`)), 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      child.stdout!.destroy();
      resolve(child);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server in ${netnsName} exited with ${code}: ${stderr}`));
    });
  });
}

/** Runs probe-matrix in a netns (inside the topology's cgroup unless cgroup is undefined). */
export async function probeFrom(netnsName: string, cgroup: string | undefined, targets: ProbeTarget[], timeoutMs = 1000): Promise<ProbeOutcome[]> {
  const request = JSON.stringify({ targets, timeoutMs });
  const [cmd, ...args] = inCgroup(cgroup, ['ip', 'netns', 'exec', netnsName, NODE_BIN, path.join(DIST, 'sandbox/probe-matrix.js'), request]);
  const r = await run(cmd!, args, { allowFail: true });
  try {
    return (JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProbeMatrixResponse).results;
  } catch {
    throw new Error(`probe-matrix in ${netnsName} printed no result (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

function comboOf(c: Combo): { proto: 'tcp' | 'udp'; port: number } {
  const [proto, port] = c.split('/');
  return { proto: proto as 'tcp' | 'udp', port: Number(port) };
}

export class NetpolModel {
  readonly t: Topology;
  readonly pods = new Map<PodId, Pod>();
  readonly clusterIPs = new Map<PodId, string>();
  /** Policy manifests applied by the current case: deleted by reset(). */
  readonly #applied: string[] = [];
  /** Pods and namespaces relabelled by the current case: restored by reset(). */
  readonly #relabelled = new Set<string>();
  readonly #extra = new Map<PodId, Pod>();
  #edges = false;
  /** Set by policy(): the next check() must see no leak in its first round (see check()). */
  #policyJustApplied = false;
  #nodeServer: ChildProcess | undefined;

  private constructor(t: Topology) {
    this.t = t;
  }

  /** Topology, agent, namespaces, pods (through CNI), servers and services; destroys everything made if any step fails. */
  static async create(opts: { agentArgs?: string[]; edges?: boolean } = {}): Promise<NetpolModel> {
    // A topology with this prefix that exists already belongs to another run (or is a leftover):
    // never create over it, since a failed create destroys everything with the prefix.
    const found = await leftovers(PREFIX);
    assert.deepEqual(found, [], `the ${PREFIX} topology exists already (another run of test/policy, or a leftover to remove by hand)`);
    const t = await makeTopology(PREFIX, POD_CIDR, UPLINK, undefined, { serviceCidr: SERVICE_CIDR });
    const m = new NetpolModel(t);
    try {
      await t.startAgent(opts.agentArgs ?? []);
      await m.apply(
        joinManifests(
          ...NAMESPACES.map((ns) => namespaceManifest(ns)),
          ...PODS.map((id) => podManifest(id.split('/')[0]!, id.split('/')[1]!)),
          ...PODS.map((id) => serviceManifest(id)),
        ),
      );
      for (const id of PODS) {
        const [ns, name] = id.split('/') as [string, string];
        const pod = await t.addPod(ns, name);
        pod.server = await startModelServer(pod.netnsName, id, t.cgroup);
        m.pods.set(id, pod);
      }
      for (const id of PODS) {
        const [ns] = id.split('/');
        const svc = await t.client.get<{ clusterIP?: string; spec?: { clusterIP?: string } }>(`/v1/services/${ns}/${serviceName(id)}`);
        const ip = svc.clusterIP ?? svc.spec?.clusterIP;
        assert.ok(ip, `service ${serviceName(id)} has a cluster IP: ${JSON.stringify(svc)}`);
        m.clusterIPs.set(id, ip);
      }
      if (opts.edges) {
        // The world routes the pod CIDR to the node (only inside the world netns).
        await t.inWorld('ip', 'route', 'add', POD_CIDR, 'via', t.nodeIp);
        t.worldServer = await startModelServer(t.worldNs, WORLD, undefined);
        // Bound to the node's address: its UDP answers come from the address that pods dial
        // (bound to 0.0.0.0 they would come from the pod gateway, the route's source).
        m.#nodeServer = await startModelServer(t.nodeNs, HOST, t.cgroup, t.nodeIp);
        m.#edges = true;
      }
    } catch (err) {
      m.#nodeServer?.kill('SIGKILL');
      await t.destroy().catch(() => undefined);
      throw err;
    }
    return m;
  }

  async destroy(): Promise<void> {
    this.#nodeServer?.kill('SIGKILL');
    await this.t.destroy();
  }

  pod(id: PodId): Pod {
    const p = this.pods.get(id);
    assert.ok(p, `no pod ${id}`);
    return p;
  }

  /** POST /v1/apply (what `membrane apply -f` sends). */
  async apply(manifest: string): Promise<unknown> {
    return this.t.client.post('/v1/apply', { manifest, source: 'netpol-model.yaml' });
  }

  async delete(manifest: string): Promise<unknown> {
    return this.t.client.post('/v1/delete', { manifest, source: 'netpol-model.yaml' });
  }

  /** `membrane apply|delete -f FILE` with the real CLI: exit code and output. */
  async cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(MEMBRANE_BIN, [...args, '--socket', this.t.socket], { allowFail: true });
  }

  /** Applies policies for the current case; reset() deletes them. */
  async policy(...manifests: string[]): Promise<void> {
    const m = joinManifests(...manifests);
    this.#applied.push(m);
    await this.apply(m);
    this.#policyJustApplied = true;
  }

  /** Relabels a pod with `membrane apply` of its changed manifest (upstream's AddPodLabels); `ports` adds container ports. */
  async relabelPod(id: PodId, extra: Record<string, string>, ports: readonly ExtraPort[] = []): Promise<void> {
    const [ns, pod] = id.split('/') as [string, string];
    this.#relabelled.add(`pod ${id}`);
    this.#policyJustApplied = false;
    await this.apply(podManifest(ns, pod, extra, ports));
  }

  /**
   * A pod beyond the model (manifest first, then the CNI ADD, as a kubelet
   * does), with its server; removeExtraPod() or destroy() removes it. Not
   * part of the matrix: probe it with probe().
   */
  async addExtraPod(id: PodId): Promise<Pod> {
    const [ns, name] = id.split('/') as [string, string];
    await this.apply(podManifest(ns, name));
    const pod = await this.t.addPod(ns, name);
    pod.server = await startModelServer(pod.netnsName, id, this.t.cgroup);
    this.#extra.set(id, pod);
    return pod;
  }

  async removeExtraPod(id: PodId): Promise<void> {
    const [ns, name] = id.split('/') as [string, string];
    await this.t.delPod(ns, name);
    await this.delete(podManifest(ns, name));
    this.#extra.delete(id);
  }

  /** Probes from one member (a model pod, an extra pod, the node or the world) to the given targets. */
  async probe(from: PodId, targets: ProbeTarget[], timeoutMs = 1000): Promise<ProbeOutcome[]> {
    const { netns, cgroup } = this.#origin(from);
    return probeFrom(netns, cgroup, targets, timeoutMs);
  }

  /** Relabels a namespace (upstream's AddNamespaceLabel). */
  async relabelNamespace(ns: string, extra: Record<string, string>): Promise<void> {
    this.#relabelled.add(`namespace ${ns}`);
    this.#policyJustApplied = false;
    await this.apply(namespaceManifest(ns, extra));
  }

  /** Removes what the case applied: its policies (deleted), its relabellings (original manifests applied again). */
  async reset(): Promise<void> {
    const errors: string[] = [];
    for (const m of this.#applied.splice(0).reverse()) await this.delete(m).catch((e: Error) => errors.push(e.message));
    for (const what of [...this.#relabelled]) {
      const [kind, ref] = what.split(' ') as [string, string];
      const doc = kind === 'pod' ? podManifest(ref.split('/')[0]!, ref.split('/')[1]!) : namespaceManifest(ref);
      await this.apply(doc).catch((e: Error) => errors.push(e.message));
    }
    this.#relabelled.clear();
    if (errors.length > 0) throw new Error(`reset failed: ${errors.join('; ')}`);
  }

  /** Where `item` probes from: its netns, and the cgroup its prober joins (socket LB) — none for the world. */
  #origin(item: PodId): { netns: string; cgroup: string | undefined } {
    if (item === WORLD) return { netns: this.t.worldNs, cgroup: undefined };
    if (item === HOST) return { netns: this.t.nodeNs, cgroup: this.t.cgroup };
    return { netns: (this.#extra.get(item) ?? this.pod(item)).netnsName, cgroup: this.t.cgroup };
  }

  /** The address `from` dials to reach `to`. */
  address(from: PodId, to: PodId): string {
    if (to === WORLD) return this.t.worldIp;
    if (to === HOST) return this.t.nodeIp;
    return from === WORLD ? this.pod(to).ip : this.clusterIPs.get(to)!;
  }

  /** One observation of every (from, to) over `items` for each combo, all probes in parallel (one prober per client). */
  async observe(combos: readonly Combo[], timeoutMs = 1000, items: readonly PodId[] = PODS): Promise<Observation> {
    if (items.some((i) => i === HOST || i === WORLD)) assert.ok(this.#edges, 'the host and world need NetpolModel.create({ edges: true })');
    const tables = new Map<Combo, TruthTable>(combos.map((c) => [c, new TruthTable(items)]));
    const outcomes = new Map<Combo, Map<string, ProbeOutcome>>(combos.map((c) => [c, new Map()]));
    await Promise.all(
      items.map(async (from) => {
        const targets: ProbeTarget[] = [];
        for (const c of combos) {
          const { proto, port } = comboOf(c);
          for (const to of items) targets.push({ id: `${c} ${to}`, host: this.address(from, to), port, proto });
        }
        const { netns, cgroup } = this.#origin(from);
        const results = await probeFrom(netns, cgroup, targets, timeoutMs);
        for (const r of results) {
          const [c, to] = r.id.split(' ') as [Combo, PodId];
          // An answer from another server than the target's is a wrong answer, not a connection.
          const right = r.ok && r.pod === to;
          tables.get(c)!.set(from, to, right);
          outcomes.get(c)!.set(`${from}->${to}`, right || !r.ok ? r : { ...r, ok: false, error: `answered by ${r.pod}, not ${to}` });
        }
      }),
    );
    return { tables, outcomes };
  }

  /**
   * Probes until every combo's observed matrix equals the expected one, or
   * fails at the deadline with upstream-style tables. Returns how many
   * rounds it took (1: right at the first probe after the change).
   *
   * Right after policy() — the agent writes the maps before `membrane apply`
   * answers — the first round must not connect anything the expectation
   * blocks: such a leak fails at once. A probe that fails where a connection
   * is expected is retried until the deadline (a busy machine can delay one
   * past its timeout); so are leaks after relabelling, which the agent applies
   * in its next sync.
   */
  async check(expectations: Expectations, opts: CheckOptions = {}): Promise<{ rounds: number; ms: number }> {
    const started = Date.now();
    const deadline = started + (opts.deadlineMs ?? 10_000);
    const combos = COMBOS.filter((c) => expectations[c]);
    assert.ok(combos.length > 0, 'check() needs at least one expectation');
    const expected = new Map(combos.map((c) => [c, expectations[c]!.table()]));
    const items = expected.get(combos[0]!)!.items;
    assert.ok(combos.every((c) => expected.get(c)!.items.join() === items.join()), 'every expectation of one check() covers the same pods');
    let rounds = 0;
    for (;;) {
      rounds++;
      const obs = await this.observe(combos, opts.timeoutMs, items);
      const wrong = combos.filter((c) => expected.get(c)!.diff(obs.tables.get(c)!).length > 0);
      if (rounds === 1 && this.#policyJustApplied) {
        this.#policyJustApplied = false;
        const leaks = combos.filter((c) => expected.get(c)!.diff(obs.tables.get(c)!).some((d) => d.expected === false));
        if (leaks.length > 0) assert.fail(`connected what the policy blocks, probed right after membrane apply answered:\n${report(expected, obs, leaks, rounds, Date.now() - started)}`);
      }
      if (wrong.length === 0) {
        // Said, not failed: verdicts may take a moment to follow an apply (labels: a sync).
        if (rounds > 1) process.stderr.write(`# check: matched after ${rounds} rounds, ${Date.now() - started} ms\n`);
        return { rounds, ms: Date.now() - started };
      }
      if (Date.now() > deadline) assert.fail(report(expected, obs, wrong, rounds, Date.now() - started));
      await sleep(200);
    }
  }

  /** GET /v1/events?last=N */
  async events(last = 4096): Promise<DecodedEvent[]> {
    return this.t.client.get<DecodedEvent[]>(`/v1/events?last=${last}`);
  }
}

/** The failure text: per wrong combo, upstream's expected/observed/comparison tables and each wrong cell with its probe's outcome. */
export function report(expected: Map<Combo, TruthTable>, obs: Observation, wrong: readonly Combo[], rounds: number, ms: number): string {
  const parts = [`reachability differs after ${rounds} round(s), ${ms} ms, in ${wrong.join(', ')}`];
  for (const c of wrong) {
    const exp = expected.get(c)!;
    const got = obs.tables.get(c)!;
    const cmp = new TruthTable(exp.items);
    for (const from of exp.items) for (const to of exp.items) cmp.set(from, to, exp.get(from, to) === got.get(from, to));
    const cells = exp.diff(got).map((d) => {
      const o = obs.outcomes.get(c)!.get(`${d.from}->${d.to}`);
      const why = o ? (o.ok ? `answered by ${o.pod}` : `${o.code ?? ''} ${o.error ?? ''}`.trim()) : 'not probed';
      return `  ${d.from} -> ${d.to}: expected ${d.expected ? 'connected' : 'blocked'}, observed ${d.observed ? 'connected' : 'blocked'} (${why})`;
    });
    parts.push(`\n=== ${c} ===\nexpected:\n${exp.pretty()}\n\nobserved:\n${got.pretty()}\n\ncomparison (. same, X different):\n${cmp.pretty()}\n\nwrong cells:\n${cells.join('\n')}`);
  }
  return parts.join('\n');
}
