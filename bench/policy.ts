// Network policy: Membrane vs the same NetworkPolicies as an iptables/ipset
// engine writes them (kube-router's network policy controller), side by
// side in one run on this machine, with the same pods on each side.
//
//  - membrane: the agent; pods through Membrane's CNI plugin, their labels
//    from Pod objects and the policies from NetworkPolicy objects, both
//    through `membrane apply -f`.
//  - iptables: pods through the bridge CNI plugin on a Linux bridge with
//    br_netfilter; kube-router's chains and ipsets for the same policies,
//    loaded with the commands of its full sync (iptables-save, ipset save,
//    ipset restore, iptables-restore of the filter table, stale set destroys).
//
// Measured:
//  (a) the time to compute and program `--spread` policies over all the
//      endpoints (Membrane: `membrane apply -f` spawn to exit — it answers
//      once the maps hold the entries — with the agent's own account of its
//      sync; iptables: the sync's commands, the rule text generated
//      beforehand);
//  (b) the new-connection rate between two pods (connect, 1-byte round trip,
//      close, one at a time, for a fixed time) with no policy, and with each
//      of `--sizes` rules between them (every one selecting the server, the
//      last allowing the client on the measured port), rounds interleaved:
//      configurations in rotating order, both sides back to back. Before each
//      measurement a port that no rule allows must not connect (and must,
//      with no policy), and the measured port must.
// Measures only; asserts nothing about speed.
//
//   node bench/policy.ts [--quick] [--endpoints 1000] [--apps 100]
//       [--sizes 10,1000] [--spread 1000] [--rounds 5] [--seconds 5]
//       [--program-reps 3] [--sides membrane,iptables] [--iptables legacy|nft]
//       [--no-bare] [--agent-cpus LIST] [--out DIR]
//
// Called by bench/run.sh (`make bench`), which also cleans up if this process
// dies. Results: DIR/policy-<time>.json, DIR/policy-latest.json and
// DIR/policy-latest.md; the markdown also goes to stdout.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Daemons, destroyAll, exec, runWithCleanup, sleep, machineFacts } from './lib/proc.ts';
import { median, round } from './lib/stats.ts';
import { buildC, tuneClient, noWrap, type Wrap } from './lib/svc-traffic.ts';
import { fullSync, type KubeRouterOptions } from './policy/kube-router.ts';
import { KubeRouterNode, type IptablesBackend, type SyncTiming } from './policy/kr-node.ts';
import { MembraneNode } from './policy/membrane-node.ts';
import { type ResolverTiming, timeResolver } from './policy/resolver.ts';
import { aimsMarkdown, type Config, configName, configSides, connTable, latencyTable, policyAims, type ProgramSample, programTable, type RateSample, type Side, summarizeConfigs } from './policy/report.ts';
import { type Bins, connRate, probe, type ProbeResult, startServers } from './policy/traffic.ts';
import { type BenchPolicy, CLIENT, makePods, manifest, namespaceObject, type PlacedPod, podObject, policyObject, rulesPolicies, SERVER, spreadPolicies, type WorkloadSpec } from './policy/workload.ts';
import type { EndpointJSON } from '../src/agent/api-types.ts';
import { writeJsonAtomic } from '../src/kvstore/atomic-file.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// --- names and addresses (never 192.0.2.0/24: the host's own network) -------
const PREFIX = 'mbw';
const WORK_DIR = '/var/lib/mbw-bench';
const PIN_DIR = '/sys/fs/bpf/mbw-bench';
const SERVICE_CIDR = '10.96.18.0/24';
const CIDRS = { membrane: '10.218.0.0/20', membraneUplink: '10.218.255', iptables: '10.219.0.0/20' };
/** Blackholes this script owns (the Membrane topology owns its own: pod CIDR, uplink, service CIDR). */
const HOST_BLACKHOLES = [CIDRS.iptables];
const KR_PREFIX = 'MBW-';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    endpoints: { type: 'string' },
    apps: { type: 'string' },
    sizes: { type: 'string' },
    spread: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'program-reps': { type: 'string' },
    sides: { type: 'string', default: 'membrane,iptables' },
    iptables: { type: 'string', default: 'legacy' },
    'no-bare': { type: 'boolean', default: false },
    'agent-cpus': { type: 'string' },
    'no-paused': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(HERE, 'out') },
  },
});
const quick = opts.quick ?? false;
const P = {
  endpoints: Number(opts.endpoints ?? (quick ? 100 : 1000)),
  apps: Number(opts.apps ?? (quick ? 10 : 100)),
  /** Rules between the pair besides "no policy". */
  sizes: (opts.sizes ?? '10,1000').split(',').map(Number),
  /** Policies of the programming test, spread over the endpoints. */
  spread: Number(opts.spread ?? 1000),
  rounds: Number(opts.rounds ?? (quick ? 2 : 5)),
  seconds: Number(opts.seconds ?? (quick ? 2 : 5)),
  warmupSeconds: quick ? 0.5 : 1,
  programReps: Number(opts['program-reps'] ?? (quick ? 1 : 3)),
  bare: !(opts['no-bare'] ?? false),
  /** Also measure Membrane at the largest size with its agent paused (nothing reads the events). */
  paused: !(opts['no-paused'] ?? false),
  iptables: opts.iptables as IptablesBackend,
  /** Pin the agent's threads to these CPUs (taskset list); default: not pinned, as a user runs it. */
  agentCpus: opts['agent-cpus'],
  port: 7101,
  deniedPort: 7102,
  /** Pods made at once on each side (not timed). */
  podConcurrency: 4,
};
const SIDES = opts.sides!.split(',') as Side[];
if (P.iptables !== 'legacy' && P.iptables !== 'nft') throw new Error('--iptables is legacy or nft');
for (const s of SIDES) if (s !== 'membrane' && s !== 'iptables') throw new Error(`unknown side ${s}`);
const SPEC: WorkloadSpec = { namespace: 'bench', endpoints: P.endpoints, apps: P.apps, port: P.port, deniedPort: P.deniedPort };

const log = (s: string) => process.stderr.write(`${s}\n`);
const daemons = new Daemons();

interface SideState {
  name: Side;
  wrap: Wrap;
  pods: PlacedPod[];
  clientNs: string;
  serverIp: string;
  /** What is programmed now: a rules count, 'spread', or 'bare'. */
  current: string;
  currentPolicies: BenchPolicy[];
  destroy(): Promise<void>;
}

const made: SideState[] = [];
let membrane: MembraneNode | undefined;
let kube: KubeRouterNode | undefined;
async function cleanup(): Promise<void> {
  await daemons.killAll();
  if (membrane && fs.existsSync(membrane.t.logFile)) {
    fs.mkdirSync(opts.out!, { recursive: true });
    fs.copyFileSync(membrane.t.logFile, path.join(opts.out!, 'policy-agent.log'));
  }
  await destroyAll(made, (i) => made[i]!.name, log);
  for (const c of HOST_BLACKHOLES) await exec('ip', ['route', 'del', 'blackhole', c]);
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
}

const krOptions: Omit<KubeRouterOptions, 'version'> = { prefix: KR_PREFIX, serviceCidrs: [SERVICE_CIDR] };
let syncCounter = 0n;
/** kube-router's sync version: the sync's start in ns (made unique). */
const krVersion = () => String(BigInt(Date.now()) * 1_000_000n + syncCounter++);

async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function makeSides(): Promise<SideState[]> {
  const pods = makePods(SPEC);
  const sides: SideState[] = [];
  for (const name of SIDES) {
    const t0 = Date.now();
    const placed: PlacedPod[] = [];
    if (name === 'membrane') {
      const state: SideState = { name, wrap: noWrap, pods: placed, clientNs: '', serverIp: '', current: 'none', currentPolicies: [], destroy: async () => membrane?.destroy() };
      membrane = await MembraneNode.create(
        { name: `${PREFIX}-m`, podCidr: CIDRS.membrane, uplink: CIDRS.membraneUplink, serviceCidr: SERVICE_CIDR, workDir: path.join(WORK_DIR, 'membrane'), pinDir: PIN_DIR },
        () => made.push(state),
      );
      state.wrap = membrane.wrap;
      if (P.agentCpus !== undefined) await membrane.pinAgent(P.agentCpus);
      await membrane.applyPods(SPEC.namespace, pods);
      await pool(pods, P.podConcurrency, async (p) => {
        placed.push(await membrane!.addPod(p));
      });
      state.clientNs = membrane.netnsOf(CLIENT);
      sides.push(state);
    } else {
      const state: SideState = { name, wrap: noWrap, pods: placed, clientNs: '', serverIp: '', current: 'base', currentPolicies: [], destroy: async () => kube?.destroy() };
      kube = await KubeRouterNode.create(
        { prefix: `${PREFIX}-i`, podCidr: CIDRS.iptables, bridge: `${PREFIX}-br0`, workDir: path.join(WORK_DIR, 'iptables'), backend: P.iptables, kubeRouter: krOptions },
        () => made.push(state),
      );
      await pool(pods, P.podConcurrency, async (p) => {
        placed.push(await kube!.addPod(p));
      });
      state.clientNs = kube.netnsOf(CLIENT);
      sides.push(state);
    }
    const s = sides.at(-1)!;
    // kube-router walks its pods in the workload's order: keep it.
    const order = new Map(pods.map((p, i) => [p.name, i]));
    s.pods.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    if (s.pods.length !== pods.length) throw new Error(`${name}: ${s.pods.length} pods made of ${pods.length}`);
    s.serverIp = s.pods.find((p) => p.name === SERVER)!.ip;
    log(`  ${name}: ${pods.length} pods in ${round((Date.now() - t0) / 1000)} s`);
  }
  return sides;
}

function serverNs(s: SideState): string {
  return s.name === 'membrane' ? membrane!.netnsOf(SERVER) : kube!.netnsOf(SERVER);
}

/** kube-router's sync of `policies` (the rule text generated first, not timed). */
async function krSync(s: SideState, policies: readonly BenchPolicy[], current: string): Promise<SyncTiming> {
  const input = fullSync(s.pods, s.pods, policies, { ...krOptions, version: krVersion() });
  const t = await kube!.sync(input);
  s.current = current;
  s.currentPolicies = [...policies];
  return t;
}

const krParts = (t: SyncTiming) => ({ 'iptables-save': t.iptablesSave, 'ipset save': t.ipsetSave, 'ipset restore': t.ipsetRestore, 'iptables-restore': t.iptablesRestore, 'stale ipset destroys': t.staleSets });

/**
 * Brings a side to a configuration from a node without policies (Membrane:
 * the previous policies deleted; iptables: kube-router's sync with no
 * policies), then programs it; the programming is recorded.
 */
async function setConfig(s: SideState, want: string, policies: readonly BenchPolicy[], family: 'rules' | 'spread', programs: ProgramSample[]): Promise<void> {
  if (s.current === want) return;
  if (s.name === 'membrane') {
    const m = membrane!;
    if (s.currentPolicies.length) {
      const c = await m.clear(s.currentPolicies);
      programs.push({ side: 'membrane', family: s.current === 'spread' ? 'spread' : 'rules', action: 'remove', policies: s.currentPolicies.length, variant: 'delete (API)', ms: c.ms });
      s.currentPolicies = [];
    }
    if (policies.length) {
      const r = await m.program(policies, 'yaml');
      programs.push({ side: 'membrane', family, action: 'program', policies: policies.length, variant: 'apply -f YAML', ms: r.ms, parts: syncParts(r.status.sync), detail: { 'mb_policy entries': r.status.policyEntries ?? Number.NaN, 'mb_ipcache entries': r.status.ipcacheEntries ?? Number.NaN } });
      s.currentPolicies = [...policies];
    }
    s.current = want;
    return;
  }
  if (want === 'bare') {
    await kube!.bare();
    s.current = 'bare';
    s.currentPolicies = [];
    return;
  }
  if (s.current === 'bare' || s.current === 'base') {
    await kube!.base();
    await krSync(s, [], 'none');
  }
  if (s.current !== 'none') {
    const removed = { family: s.current === 'spread' ? ('spread' as const) : ('rules' as const), policies: s.currentPolicies.length };
    const t = await krSync(s, [], 'none');
    programs.push({ side: 'iptables', ...removed, action: 'remove', variant: 'kube-router sync', ms: t.total, parts: krParts(t), detail: { 'stale sets destroyed': t.staleSetCount } });
  }
  if (policies.length) {
    const t = await krSync(s, policies, want);
    const rules = await kube!.ruleCount();
    programs.push({ side: 'iptables', family, action: 'program', policies: policies.length, variant: 'kube-router sync', ms: t.total, parts: krParts(t), detail: { 'filter rules': rules, ipsets: (await kube!.listSets()).length, 'restore input bytes': t.filterBytes + t.ipsetBytes } });
  }
  s.current = want;
}

/** The agent's own account of its last policy sync, the numeric fields only (whatever it reports). */
function syncParts(sync: Record<string, unknown> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(sync ?? {})) if (typeof v === 'number' && /ms$/i.test(k)) out[`agent ${k}`] = v;
  return out;
}

/** Before a measurement: the measured port connects; the denied port connects exactly when no policy applies. */
async function checkPolicy(s: SideState, bins: Bins, config: string): Promise<{ allowed: ProbeResult; denied: ProbeResult }> {
  const allowed = await probe(s.clientNs, s.wrap, bins, s.serverIp, P.port);
  const denied = await probe(s.clientNs, s.wrap, bins, s.serverIp, P.deniedPort);
  const open = config === 'none' || config === 'bare';
  if (allowed !== 'connected') throw new Error(`${s.name} (${config}): the measured port ${P.port} did not connect from the client (${allowed})`);
  if (open && denied !== 'connected') throw new Error(`${s.name} (${config}): port ${P.deniedPort} did not connect with no policy (${denied})`);
  if (!open && denied === 'connected') throw new Error(`${s.name} (${config}): port ${P.deniedPort}, which no rule allows, connected: the policy is not enforced`);
  return { allowed, denied };
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function measure(s: SideState, bins: Bins, config: string, roundNo: number, pauseAgent = false): Promise<RateSample> {
  const { allowed, denied } = await checkPolicy(s, bins, config.replace(/-paused$/, ''));
  const agent = s.name === 'membrane' ? membrane!.t.agent?.pid : undefined;
  const ev0 = agent && !pauseAgent ? await membrane!.eventCounts() : undefined;
  const cpu0 = cpuSeconds(agent);
  let r: Awaited<ReturnType<typeof connRate>>;
  if (pauseAgent) {
    // Nothing reads the ring buffer while the agent is stopped: once it is full the datapath's
    // event reservations fail and no reader is woken; policy is enforced as before (the maps stay).
    if (!agent) throw new Error('no agent to pause');
    process.kill(agent, 'SIGSTOP');
    try {
      r = await connRate(s.clientNs, s.wrap, bins, s.serverIp, P.port, P.seconds, P.warmupSeconds);
    } finally {
      process.kill(agent, 'SIGCONT');
    }
  } else {
    r = await connRate(s.clientNs, s.wrap, bins, s.serverIp, P.port, P.seconds, P.warmupSeconds);
  }
  const cpu = cpuSeconds(agent) - cpu0;
  const ev1 = ev0 ? await membrane!.eventCounts() : undefined;
  const eventsPerConn = ev0 && ev1 ? (ev1.received - ev0.received) / (r.connections + r.warmupConnections) : undefined;
  return {
    round: roundNo, side: s.name, config, rate: r.rate, p50Us: r.p50Us, p99Us: r.p99Us, connections: r.connections, seconds: r.seconds, allowed, denied,
    ...(agent ? { agentCpuS: cpu } : {}), ...(eventsPerConn !== undefined ? { eventsPerConn } : {}),
  };
}

async function meta(): Promise<Record<string, unknown>> {
  return {
    ...(await machineFacts({
      iptables: [`iptables-${P.iptables}`, ['--version']],
      ipset: ['ipset', ['--version']],
      commit: ['git', ['-C', path.join(HERE, '..'), 'log', '-1', '--format=%h %s']],
    })),
    params: P,
    sides: SIDES,
    cidrs: { ...CIDRS, service: SERVICE_CIDR },
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (netns, veths, eBPF, netfilter)');
  for (const f of ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', path.join(HERE, '..', 'dist/cli/main.js'), path.join(HERE, '..', 'build/bpf/bpf_lxc.o')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (make setup installs and builds everything)`);
  }
  for (const cmd of ['ipset', `iptables-${P.iptables}-restore`, `iptables-${P.iptables}-save`, 'taskset']) {
    if ((await exec('sh', ['-c', `command -v ${cmd}`])).code !== 0) throw new Error(`${cmd} is missing (apt-get install ipset iptables util-linux)`);
  }
  const started = Date.now();
  for (const c of HOST_BLACKHOLES) await exec('ip', ['route', 'replace', 'blackhole', c]);
  const bins: Bins = { tcpRr: await buildC('tcp_rr', path.join(opts.out!, 'bin')), conn: await buildC('policy_conn', path.join(opts.out!, 'bin')) };
  const info = await meta();

  log(`==> nodes and ${P.endpoints} pods on each: ${SIDES.join(', ')}`);
  const sides = await makeSides();
  for (const s of sides) {
    await tuneClient(s.clientNs);
    await startServers(daemons, serverNs(s), bins, s.wrap, [P.port, P.deniedPort]);
  }
  const programs: ProgramSample[] = [];
  for (const s of sides) {
    await setConfig(s, 'none', [], 'rules', programs);
    await checkPolicy(s, bins, 'none');
  }

  // (a) programming: the spread policies over all the endpoints, from a node without policies.
  const spread = spreadPolicies(SPEC, P.spread);
  log(`==> programming ${P.spread} policies over ${P.endpoints} endpoints (${P.programReps}×)`);
  for (let rep = 0; rep < P.programReps; rep++) {
    for (const s of sides.map((_, i) => sides[(i + rep) % sides.length]!)) {
      await setConfig(s, 'none', [], 'spread', programs);
      await setConfig(s, 'spread', spread, 'spread', programs);
      const last = programs.at(-1)!;
      log(`  ${s.name.padEnd(8)} ${round(last.ms)} ms ${Object.entries(last.parts ?? {}).map(([k, v]) => `${k} ${round(v)}`).join(', ')} | ${Object.entries(last.detail ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  }
  let breakdown: Record<string, number> | undefined;
  if (membrane) breakdown = await membraneBreakdown(sides.find((s) => s.name === 'membrane')!, spread, programs);

  // (b) connection rate, rounds interleaved.
  const largest = Math.max(...P.sizes);
  const configs: Config[] = [
    { kind: 'rules', rules: 0 },
    ...P.sizes.map((n) => ({ kind: 'rules', rules: n }) as Config),
    ...(P.paused && membrane ? [{ kind: 'rules', rules: largest, agentPaused: true } as Config] : []),
    ...(P.bare && kube ? [{ kind: 'bare' } as Config] : []),
  ];
  const samples: RateSample[] = [];
  log(`==> new connections, ${P.rounds} rounds of ${configs.map(configName).join(', ')}; ${P.seconds} s each`);
  for (let r = 0; r < P.rounds; r++) {
    const order = configs.map((_, i) => configs[(i + r) % configs.length]!);
    const line: string[] = [];
    for (const [ci, c] of order.entries()) {
      const name = configName(c);
      const policies = c.kind === 'rules' ? rulesPolicies(SPEC, c.rules) : [];
      // The state a side is in: the paused configuration holds the same policies as its size.
      const state = c.kind === 'rules' ? (c.rules === 0 ? 'none' : String(c.rules)) : 'bare';
      for (const s of sides.map((_, i) => sides[(i + r + ci) % sides.length]!)) {
        if (!configSides(c).includes(s.name)) continue;
        await setConfig(s, state, policies, 'rules', programs);
        await sleep(300);
        const x = await measure(s, bins, name, r, c.kind === 'rules' && c.agentPaused === true);
        samples.push(x);
        line.push(`${s.name[0]}:${name} ${round(x.rate)}`);
      }
    }
    log(`  round ${r + 1}/${P.rounds}: ${line.join('  ')} conn/s`);
  }

  // --- report ----------------------------------------------------------------
  const sum = summarizeConfigs(samples, configs);
  const aims = policyAims(sum, largest);
  const md = [
    `Policy: Membrane vs kube-router's iptables/ipset rules (iptables ${P.iptables}) — ${String(info.date).slice(0, 16).replace('T', ' ')} UTC, Linux ${info.kernel}, ${info.cpus} CPUs (${info.cpuModel}), Node ${info.node}; load average ${(info.loadavgAtStart as number[])[0]} at start, ${round(os.loadavg()[0]!)} at end`,
    '',
    `${P.endpoints} pods on each side (${P.apps} apps of fillers, the measured client and server in the middle of the pod list). ` +
      `New connections from the client pod to the server pod, one at a time (connect, 1-byte round trip, close) for ${P.seconds} s after ${P.warmupSeconds} s; ` +
      `medians over ${P.rounds} rounds (configurations in rotating order, both sides back to back); ratios are medians of per-round ratios. ` +
      `"N rules": N NetworkPolicies select the server, each with one rule (one peer selector, one TCP port); the last allows the client on the measured port.`,
    '',
    '### New connections between two pods',
    '',
    connTable(sum),
    'Latency of one connection (connect to echo, the close not included), and the CPU time Membrane\'s agent used during each run (it reads the datapath\'s events):',
    '',
    latencyTable(sum),
    `### Programming (${P.spread} policies spread over the ${P.endpoints} endpoints; and each rules set of the rounds), from a node without policies`,
    '',
    programTable(programs.filter((p) => p.action === 'program')),
    'Removing them again (Membrane: the NetworkPolicies deleted through the API; kube-router: the sync without them, its stale ipsets destroyed one by one):',
    '',
    programTable(programs.filter((p) => p.action === 'remove' && p.policies > 0)),
    breakdown ? `Membrane, one apply of the ${P.spread} spread policies taken apart (ms): ${Object.entries(breakdown).map(([k, v]) => `${k} ${round(v)}`).join('; ')}\n` : '',
    '### Aims',
    '',
    aimsMarkdown(aims),
  ].join('\n');
  const result = { meta: { ...info, durationS: Math.round((Date.now() - started) / 1000), loadavgAtEnd: os.loadavg().map(round) }, aims, summary: sum, samples, programs, membraneBreakdownMs: breakdown ?? null };
  fs.mkdirSync(opts.out!, { recursive: true });
  const stamp = String(info.date).replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  fs.writeFileSync(path.join(opts.out!, `policy-${stamp}.json`), json);
  fs.writeFileSync(path.join(opts.out!, 'policy-latest.json'), json);
  fs.writeFileSync(path.join(opts.out!, 'policy-latest.md'), md);
  process.stdout.write(`\n${md}`);
  log(`==> results: ${path.join(opts.out!, `policy-${stamp}.json`)} (also policy-latest.json, policy-latest.md); ${result.meta.durationS} s`);
}

/**
 * One apply of the spread set taken apart: the CLI process in all, the same
 * manifest posted straight to the agent (YAML and one JSON List), the
 * agent's own sync timings, a bare node start.
 */
async function membraneBreakdown(s: SideState, spread: readonly BenchPolicy[], programs: ProgramSample[]): Promise<Record<string, number>> {
  const m = membrane!;
  const out: Record<string, number> = {};
  await setConfig(s, 'none', [], 'spread', programs);
  const json = await m.program(spread, 'json');
  programs.push({ side: 'membrane', family: 'spread', action: 'program', policies: spread.length, variant: 'apply -f JSON List', ms: json.ms, parts: syncParts(json.status.sync) });
  out['membrane apply -f of one JSON List (CLI, spawn to exit)'] = json.ms;
  await m.clear(spread);
  const direct = await m.programDirect(spread, 'yaml');
  const st = await m.status();
  programs.push({ side: 'membrane', family: 'spread', action: 'program', policies: spread.length, variant: 'API, YAML', ms: direct.ms, parts: syncParts(st.sync) });
  out['the YAML posted straight to the agent (no CLI process)'] = direct.ms;
  for (const [k, v] of Object.entries(syncParts(st.sync))) out[`of which ${k}`] = v;
  await m.clear(spread);
  s.current = 'none';
  s.currentPolicies = [];
  out['bare node start (node -e 0)'] = (await exec('nsenter', [`--net=/var/run/netns/${m.nodeNs}`, '--', process.execPath, '-e', '0'])).ms;
  // The computation alone, in this process, on the agent's endpoints: median of 5.
  const eps = await m.api.get<EndpointJSON[]>('/v1/endpoints');
  const text = manifest([namespaceObject(SPEC.namespace), ...makePods(SPEC).map(podObject), ...spread.map(policyObject)], 'yaml');
  const runs: ResolverTiming[] = [];
  for (let i = 0; i < 5; i++) runs.push(timeResolver(text, eps));
  const med = (k: keyof ResolverTiming) => median(runs.map((r) => r[k]));
  out['in this process: parse + validate the YAML (pods and policies)'] = med('parseMs');
  out['in this process: identities and selector cache'] = med('identitiesMs');
  out['in this process: resolvePolicies (the resolver)'] = med('resolveMs');
  out['in this process: desiredIpcache'] = med('ipcacheMs');
  out['policy entries resolved'] = runs[0]!.entries;
  out['endpoints enforced'] = runs[0]!.enforced;
  // What the agent's sync does besides computing: its syscalls during one apply (strace -c, counts only:
  // strace slows them down), and one endpoint record written as setPolicyState writes it, timed here.
  Object.assign(out, await syscallsDuringApply(m, spread));
  const recDir = path.join(WORK_DIR, 'records');
  const rec = eps.find((e) => e.podName === SERVER) ?? eps[0]!;
  const w0 = performance.now();
  for (let i = 0; i < 200; i++) writeJsonAtomic(path.join(recDir, `${i}.json`), rec);
  out['one endpoint record written (writeJsonAtomic: write, fsync, rename, fsync dir), timed here, mean of 200'] = (performance.now() - w0) / 200;
  fs.rmSync(recDir, { recursive: true, force: true });
  return out;
}

/** Syscall counts of the agent (all threads) during one apply of `policies` from a node without them. */
async function syscallsDuringApply(m: MembraneNode, policies: readonly BenchPolicy[]): Promise<Record<string, number>> {
  const pid = m.t.agent?.pid;
  if (!pid || (await exec('sh', ['-c', 'command -v strace'])).code !== 0) return {};
  const child = spawn('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,bpf,openat', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  await sleep(500);
  try {
    await m.programDirect(policies, 'json');
  } finally {
    child.kill('SIGINT');
    await done;
    await m.clear(policies);
  }
  const out: Record<string, number> = {};
  for (const line of err.split('\n')) {
    const f = line.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors], syscall
    if (f.length >= 5 && /^\d/.test(f[0]!) && /^[a-z_0-9]+$/.test(f.at(-1)!) && f.at(-1) !== 'total') out[`agent syscalls during one apply (strace): ${f.at(-1)}`] = Number(f[3]);
  }
  return out;
}

await runWithCleanup('policy bench', main, cleanup, log);
