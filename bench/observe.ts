// Observability: what watching the datapath costs, on this machine.
//
//  (1) Events per second the agent decodes and enriches on one core without
//      loss: a real agent (the sandbox Topology, the agent in the node netns,
//      every thread pinned to --agent-cpu) and a producer process on another
//      CPU (bench/observe/producer.ts) that pushes events into the agent's
//      pinned ring buffer mb_events through BPF_PROG_TEST_RUN of
//      bpf/bench_events.c — the datapath's own emit helper, records between
//      the node's real pods (bench/observe/workload.ts) — at increasing rates
//      for --step-seconds each. A rate is sustained when no event was lost
//      (mb_metrics reason 0xff: the ring buffer was full), the agent received
//      every event (GET /v1/status datapath.eventsReceived) and its backlog
//      when the producer stopped was under a quarter of the ring buffer.
//  (2) The agent's CPU (/proc/PID/stat, all threads) and memory (RSS, from
//      /proc/PID/status) idle and at --sustain-rates for --sustain-seconds.
//  (3) The datapath's cost of observation: new connections between two pods
//      (bench/policy_conn.c: connect, 1-byte round trip, close, one at a
//      time) with the agent started with --monitor-aggregation none,
//      maximum, medium (the default) and with every event kind disabled;
//      rounds interleaved (configurations in rotating order, the agent
//      restarted with each one's flags); ratios are medians of per-round
//      ratios against "events disabled" of the same round.
// Measures only; asserts nothing about speed.
//
//   node bench/observe.ts [--quick] [--parts events,resources,datapath]
//       [--rates 25000,50000,...] [--step-seconds 8] [--sustain-rates 10000,100000]
//       [--sustain-seconds 15] [--rounds 6] [--busy-rounds 4] [--configs disabled,none,maximum,medium] [--seconds 5] [--pods 8]
//       [--agent-cpu 0] [--producer-cpu N-1] [--nice -10] [--no-profile]
//       [--profile-seconds 5] [--bpf-dir build/bpf] [--out DIR]
//
// Called by bench/run.sh (`make bench`), which also cleans up if this process
// dies. Everything it makes is named mby-* (network namespaces, the cgroup
// membrane-mby-m, /sys/fs/bpf/mby-bench, /var/lib/mby-bench); pods in
// 10.226.0.0/16, uplink 198.18.26.0/24, services 10.96.26.0/24.
// Results: DIR/observe-<time>.json, DIR/observe-latest.json and
// DIR/observe-latest.md; the markdown also goes to stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Daemons, exec, machineFacts, runWithCleanup, sleep } from './lib/proc.ts';
import { median, round } from './lib/stats.ts';
import { buildC, RR_CPU, tuneClient } from './lib/svc-traffic.ts';
import { MembraneNode } from './policy/membrane-node.ts';
import { type Bins, connRate, probe, startServers } from './policy/traffic.ts';
import {
  aimsMarkdown, CONFIG_ARGS, CONFIG_LABEL, CONFIGS, type ConnConfig, type ConnSample, connTable, highestSustained, ladderTable, observeAims,
  type RateStep, type ResourceSample, resourceTable, summarizeConn, sustained,
} from './observe/report.ts';
import { categorize, parsePerfReport, perfSamples, type ProfileSummary, profileMarkdown } from './observe/profile.ts';
import { listManifest, MB_EVENTS_RING_RECORDS, NAMESPACE, namespaceObject, type PlacedEndpoint, podLabels, podObjects, type PodSpec, podSpecs, policyObject, serviceObjects, templates } from './observe/workload.ts';
import type { EndpointJSON } from '../src/agent/api-types.ts';
import { NODE_BIN } from '../src/sandbox/topology.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.join(HERE, '..');

// --- names and addresses (never 192.0.2.0/24: the host's own network) -------
const PREFIX = 'mby';
const WORK_DIR = '/var/lib/mby-bench';
const PIN_DIR = '/sys/fs/bpf/mby-bench';
const POD_CIDR = '10.226.0.0/16';
const UPLINK = '198.18.26';
const SERVICE_CIDR = '10.96.26.0/24';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    parts: { type: 'string', default: 'events,resources,datapath' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    'sustain-rates': { type: 'string', default: '10000,100000' },
    'sustain-seconds': { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    pods: { type: 'string' },
    'agent-cpu': { type: 'string', default: '0' },
    'producer-cpu': { type: 'string', default: String(RR_CPU) },
    'bpf-dir': { type: 'string', default: path.join(REPO, 'build/bpf') },
    configs: { type: 'string', default: CONFIGS.join(',') },
    'busy-rounds': { type: 'string' },
    nice: { type: 'string', default: '-10' },
    'no-profile': { type: 'boolean', default: false },
    'profile-seconds': { type: 'string' },
    out: { type: 'string', default: path.join(HERE, 'out') },
  },
});
const quick = opts.quick ?? false;
const P = {
  parts: opts.parts!.split(','),
  rates: (opts.rates ?? (quick ? '20000,100000,200000' : '25000,50000,100000,150000,200000,250000,300000,400000,500000,700000,1000000')).split(',').map(Number),
  stepSeconds: Number(opts['step-seconds'] ?? (quick ? 2 : 8)),
  sustainRates: opts['sustain-rates']!.split(',').map(Number),
  sustainSeconds: Number(opts['sustain-seconds'] ?? (quick ? 3 : 15)),
  rounds: Number(opts.rounds ?? (quick ? 2 : 6)),
  seconds: Number(opts.seconds ?? (quick ? 2 : 5)),
  warmupSeconds: quick ? 0.5 : 1,
  pods: Number(opts.pods ?? (quick ? 4 : 8)),
  agentCpu: opts['agent-cpu']!,
  producerCpu: opts['producer-cpu']!,
  /** A rate is sustained only if the agent was less than this many events behind when the producer stopped. */
  backlogLimit: MB_EVENTS_RING_RECORDS / 4,
  /** Ladder: stop after this many rates in a row that were not sustained. */
  stopAfterFailures: 2,
  /** Ladder: bisections between the highest sustained rate and the next offered one. */
  refine: quick ? 0 : 2,
  connPort: 7101,
  /**
   * Rounds of a second pass (events disabled, none, medium) with a SCHED_IDLE
   * busy loop on the agent's CPU, so that CPU never idles: each wake-up of
   * the agent then costs the pods' CPU a reschedule IPI (0: no second pass).
   */
  busyRounds: Number(opts['busy-rounds'] ?? (quick ? 0 : 4)),
  /** The connection-rate configurations (disabled is the baseline of the ratios). */
  configs: opts.configs!.split(',') as ConnConfig[],
  /**
   * Niceness of the measured processes (the agent's threads, the producer, the
   * client and server pods): the machine may run other work, and "one core"
   * should mean the agent gets that core.
   */
  nice: Number(opts.nice),
  /** A CPU profile of the agent at the first rate it did not sustain (where its time goes). */
  profile: !(opts['no-profile'] ?? false),
  profileSeconds: Number(opts['profile-seconds'] ?? (quick ? 2 : 5)),
  /** The compiled eBPF objects: the agent's and bench_events.o. */
  bpfDir: path.resolve(opts['bpf-dir']!),
};
const AGENT_ARGS = P.bpfDir === path.join(REPO, 'build/bpf') ? [] : ['--bpf-dir', P.bpfDir];
for (const c of P.configs) if (!CONFIGS.includes(c)) throw new Error(`unknown configuration ${c} (${CONFIGS.join(', ')})`);
for (const part of P.parts) if (!['events', 'resources', 'datapath'].includes(part)) throw new Error(`unknown part ${part}`);
if (P.pods < 2 || P.pods % 2) throw new Error('--pods is an even number ≥ 2');
if (P.agentCpu === P.producerCpu && os.cpus().length > 1) throw new Error('--agent-cpu and --producer-cpu must differ');

const log = (s: string) => process.stderr.write(`${s}\n`);
const daemons = new Daemons();
let node: MembraneNode | undefined;
let producer: Producer | undefined;
let spinner: ChildProcess | undefined;

async function cleanup(): Promise<void> {
  producer?.kill();
  spinner?.kill('SIGKILL');
  bpfStats(false);
  await daemons.killAll();
  if (node && fs.existsSync(node.t.logFile)) {
    fs.mkdirSync(opts.out!, { recursive: true });
    fs.copyFileSync(node.t.logFile, path.join(opts.out!, 'observe-agent.log'));
  }
  try {
    await node?.destroy();
  } catch (err) {
    log(`cleanup of the node: ${(err as Error).message}`);
  }
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
  fs.rmSync(PIN_DIR, { recursive: true, force: true });
}

// --- the producer process -----------------------------------------------------

interface ProducerRun {
  produced: number;
  seconds: number;
  calls: number;
  kernelNsPerEvent: number;
}

class Producer {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  #err = '';

  constructor(cpu: string) {
    this.#child = spawn('nice', ['-n', String(P.nice), 'taskset', '-c', cpu, NODE_BIN, path.join(HERE, 'observe/producer.ts'), '--pin-dir', PIN_DIR, '--obj', path.join(P.bpfDir, 'bench_events.o')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr!.on('data', (d: Buffer) => (this.#err = (this.#err + d.toString()).slice(-4000)));
    this.#lines = readline.createInterface({ input: this.#child.stdout! })[Symbol.asyncIterator]();
  }

  async call<T>(cmd: Record<string, unknown>): Promise<T> {
    this.#child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const next = await this.#lines.next();
    if (next.done) throw new Error(`the producer exited: ${this.#err.trim()}`);
    const r = JSON.parse(next.value) as T & { error?: string };
    if (r.error) throw new Error(`producer: ${r.error}`);
    return r;
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}

// --- the agent: counters from its API, CPU and memory from /proc -------------

interface Counts {
  received: number;
  lost: number;
}

async function counts(): Promise<Counts> {
  return node!.eventCounts();
}

function agentPid(): number {
  const pid = node?.t.agent?.pid;
  if (!pid) throw new Error('no agent');
  return pid;
}

/** CPU seconds (user + system, all threads) a process has used. */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // clock ticks (USER_HZ 100)
}

/** Interrupt counts of /proc/interrupts rows (RES: reschedule IPIs, IWI: irq work, CAL: function calls), summed over CPUs. */
function interrupts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/interrupts', 'utf8').split('\n')) {
    const m = /^\s*(RES|IWI|CAL):\s+([\d\s]+?)\s+[A-Za-z]/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().split(/\s+/).reduce((a, b) => a + Number(b), 0);
  }
  return out;
}

/** The ids of the tc programs on the host sides of these endpoints (node netns). */
async function endpointProgIds(hostIfs: readonly string[]): Promise<number[]> {
  const ids = new Set<number>();
  for (const dev of hostIfs) {
    const r = await exec('nsenter', [`--net=/var/run/netns/${node!.nodeNs}`, '--', 'bpftool', '-j', 'net', 'show', 'dev', dev]);
    if (r.code !== 0) continue;
    for (const sec of JSON.parse(r.stdout) as Array<Record<string, Array<{ prog_id?: number; id?: number }>>>) {
      for (const list of Object.values(sec)) for (const a of list ?? []) if (a.prog_id ?? a.id) ids.add((a.prog_id ?? a.id)!);
    }
  }
  return [...ids];
}

/** Run time (ns) and runs of programs since bpf stats were enabled (kernel.bpf_stats_enabled). */
async function progRunTime(ids: readonly number[]): Promise<{ ns: number; runs: number }> {
  let ns = 0;
  let runs = 0;
  for (const id of ids) {
    const r = await exec('bpftool', ['-j', 'prog', 'show', 'id', String(id)]);
    if (r.code !== 0) continue;
    const p = JSON.parse(r.stdout) as { run_time_ns?: number; run_cnt?: number };
    ns += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { ns, runs };
}

let statsWas: string | undefined;
/** kernel.bpf_stats_enabled on for the connection rounds (it is global: restored after, and in cleanup). */
function bpfStats(on: boolean): void {
  const f = '/proc/sys/kernel/bpf_stats_enabled';
  if (on) {
    statsWas ??= fs.readFileSync(f, 'utf8').trim();
    fs.writeFileSync(f, '1');
  } else if (statsWas !== undefined) {
    fs.writeFileSync(f, statsWas);
    statsWas = undefined;
  }
}

/** Nanoseconds the process's threads have spent waiting for a CPU while runnable (schedstat), summed. */
function runqueueWaitS(pid: number): number {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // a thread that just ended
    }
  }
  return ns / 1e9;
}

function memMiB(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** Every thread of the agent on --agent-cpu, at --nice. */
async function pinAgent(): Promise<void> {
  await node!.pinAgent(P.agentCpu);
  const pid = agentPid();
  const tids = fs.readdirSync(`/proc/${pid}/task`);
  const r = await exec('renice', ['-n', String(P.nice), '-p', ...tids]);
  if (r.code !== 0) throw new Error(`renice of the agent: ${r.stderr.trim()}`);
}

async function startAgent(args: string[], env: Record<string, string> = {}): Promise<void> {
  await node!.t.stopAgent('SIGTERM');
  const saved = { ...process.env };
  Object.assign(process.env, env); // Topology.startAgent passes this process's environment on
  try {
    await node!.t.startAgent([...AGENT_ARGS, ...args]);
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  await pinAgent();
}

/** Waits until the agent has every event (received + lost ≥ target) or nothing moved for `quietMs`. */
async function drain(c0: Counts, produced: number, quietMs = 1500): Promise<{ c: Counts; ms: number }> {
  const t0 = Date.now();
  let last = await counts();
  let lastChange = Date.now();
  for (;;) {
    if (last.received - c0.received + (last.lost - c0.lost) >= produced) break;
    if (Date.now() - lastChange > quietMs) break;
    await sleep(50);
    const c = await counts();
    if (c.received !== last.received) lastChange = Date.now();
    last = c;
  }
  return { c: last, ms: Date.now() - t0 };
}

// --- (1) the rate ladder --------------------------------------------------------

async function step(rate: number, seconds: number): Promise<RateStep> {
  const pid = agentPid();
  const c0 = await counts();
  const cpu0 = cpuSeconds(pid);
  const wait0 = runqueueWaitS(pid);
  const t0 = Date.now();
  const run = await producer!.call<ProducerRun>({ cmd: 'run', rate, seconds });
  const atEnd = await counts();
  const d = await drain(c0, run.produced);
  const wall = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const received = d.c.received - c0.received;
  return {
    rate, seconds: run.seconds, produced: run.produced, received, lost: d.c.lost - c0.lost,
    backlogAtEnd: Math.max(0, run.produced - (atEnd.received - c0.received) - (atEnd.lost - c0.lost)), agentRate: (atEnd.received - c0.received) / run.seconds, drainMs: d.ms,
    agentCpuPct: (100 * cpu) / wall, agentWaitPct: (100 * (runqueueWaitS(pid) - wait0)) / wall, cpuSecondsPerMillion: received ? (cpu / received) * 1e6 : Number.NaN,
    rssMiB: memMiB(pid).rss, producerNsPerEvent: run.kernelNsPerEvent,
  };
}

async function ladder(): Promise<{ steps: RateStep[]; best: { rate: number; firstFailure: number | undefined } }> {
  const steps: RateStep[] = [];
  const show = (s: RateStep) =>
    log(`  ${String(s.rate).padStart(8)}/s: produced ${s.produced}, received ${s.received}, lost ${s.lost}, backlog ${s.backlogAtEnd}, agent ${round(s.agentCpuPct)} % CPU (waited for it ${round(s.agentWaitPct)} %), ${round(s.rssMiB)} MiB → ${sustained(s, P.backlogLimit) ? 'sustained' : 'NOT sustained'}`);
  const one = async (rate: number) => {
    const s = await step(rate, P.stepSeconds);
    steps.push(s);
    show(s);
    await sleep(1000); // the agent settles (GC) before the next rate
    return sustained(s, P.backlogLimit);
  };
  let failures = 0;
  for (const rate of [...P.rates].sort((a, b) => a - b)) {
    failures = (await one(rate)) ? 0 : failures + 1;
    if (failures >= P.stopAfterFailures) break;
  }
  for (let i = 0; i < P.refine; i++) {
    const b = highestSustained(steps, P.backlogLimit);
    if (b.firstFailure === undefined || b.firstFailure <= b.rate) break;
    const mid = Math.round((b.rate + b.firstFailure) / 2 / 1000) * 1000;
    if (mid <= b.rate || mid >= b.firstFailure) break;
    await one(mid);
  }
  return { steps, best: highestSustained(steps, P.backlogLimit) };
}

/**
 * The agent restarted with `node --perf-basic-prof` (JavaScript functions
 * get names in perf), `perf record` of all its threads while it takes
 * `rate` events/s, then the agent restarted as before.
 */
async function profileAt(rate: number): Promise<ProfileSummary | undefined> {
  if ((await exec('sh', ['-c', 'command -v perf'])).code !== 0) {
    log('  perf is missing: no profile (apt-get install linux-perf)');
    return undefined;
  }
  const data = path.join(WORK_DIR, 'perf.data');
  await startAgent([], { NODE_OPTIONS: '--perf-basic-prof --interpreted-frames-native-stack' });
  const pid = agentPid();
  try {
    await sleep(500);
    const rec = exec('perf', ['record', '-F', '999', '-o', data, '-p', String(pid), '--', 'sleep', String(P.profileSeconds + 1)]);
    await sleep(500);
    await step(rate, P.profileSeconds);
    const r = await rec;
    if (r.code !== 0) {
      log(`  perf record failed: ${r.stderr.trim().slice(0, 500)}`);
      return undefined;
    }
    const report = async (sort: string) => (await exec('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '--sort', sort], { timeoutMs: 120_000 })).stdout;
    const dsoText = await report('dso');
    const symText = await report('dso,sym');
    fs.writeFileSync(path.join(opts.out!, 'observe-agent-perf.txt'), symText);
    return { samples: perfSamples(dsoText), categories: categorize(parsePerfReport(symText, Number.POSITIVE_INFINITY)), dsos: parsePerfReport(dsoText, 8), symbols: parsePerfReport(symText, 25) };
  } finally {
    await node!.t.stopAgent('SIGTERM');
    fs.rmSync(`/tmp/perf-${pid}.map`, { force: true });
    fs.rmSync(data, { force: true });
    await startAgent([]);
  }
}

// --- (2) CPU and memory at steady rates -----------------------------------------

async function sustain(rate: number, seconds: number): Promise<ResourceSample> {
  const pid = agentPid();
  const c0 = await counts();
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  const rss: number[] = [];
  let running = true;
  const sampler = (async () => {
    while (running) {
      rss.push(memMiB(pid).rss);
      await sleep(500);
    }
  })();
  let produced = 0;
  if (rate > 0) produced = (await producer!.call<ProducerRun>({ cmd: 'run', rate, seconds })).produced;
  else await sleep(seconds * 1000);
  // CPU over the producing time only (the drain after it is the agent's tail, timed in the ladder).
  const wall = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  running = false;
  await sampler;
  const d = await drain(c0, produced);
  const m = memMiB(pid);
  return {
    rate, seconds: wall, produced, received: d.c.received - c0.received, lost: d.c.lost - c0.lost,
    agentCpuPct: (100 * cpu) / wall, rssMiBMedian: median(rss), rssMiBMax: Math.max(...rss), rssPeakMiB: m.hwm,
  };
}

// --- (3) the datapath's cost ------------------------------------------------------

/** Pod commands in the node's cgroup, at --nice. */
const podWrap = (argv: string[]): string[] => node!.wrap(['nice', '-n', String(P.nice), ...argv]);

async function connRound(bins: Bins, clientNs: string, serverIp: string, r: number, configs: readonly ConnConfig[], hostIfs: readonly string[]): Promise<ConnSample[]> {
  const out: ConnSample[] = [];
  const order = configs.map((_, i) => configs[(i + r) % configs.length]!);
  for (const config of order) {
    await startAgent(CONFIG_ARGS[config]);
    await sleep(500);
    const ok = await probe(clientNs, podWrap, bins, serverIp, P.connPort);
    if (ok !== 'connected') throw new Error(`${config}: the client pod did not reach the server pod (${ok})`);
    const pid = agentPid();
    const c0 = await counts();
    const cpu0 = cpuSeconds(pid);
    const progs = await endpointProgIds(hostIfs);
    const bpf0 = await progRunTime(progs);
    const t0 = Date.now();
    const irq0 = interrupts();
    const x = await connRate(clientNs, podWrap, bins, serverIp, P.connPort, P.seconds, P.warmupSeconds);
    const irq1 = interrupts();
    const cpu = cpuSeconds(pid) - cpu0;
    const bpf1 = await progRunTime(progs);
    const wall = (Date.now() - t0) / 1000;
    const c1 = (await drain(c0, Number.MAX_SAFE_INTEGER, 300)).c;
    const made = Math.max(1, x.connections + x.warmupConnections + 1);
    const maps = (await node!.api.get<{ maps?: Array<{ name: string; entries: number; maxEntries: number }> }>('/v1/status')).maps ?? [];
    const agg = maps.find((m) => m.name === 'mb_agg4');
    const perConn = (k: string) => ((irq1[k] ?? Number.NaN) - (irq0[k] ?? Number.NaN)) / made;
    out.push({
      config, round: r, rate: x.rate, connections: x.connections, p50Us: x.p50Us, p99Us: x.p99Us,
      eventsPerConnection: (c1.received - c0.received) / made,
      reschedIpisPerConnection: perConn('RES'), irqWorkPerConnection: perConn('IWI'),
      agg4Entries: agg?.entries ?? Number.NaN, agg4Max: agg?.maxEntries ?? Number.NaN,
      bpfNsPerConnection: progs.length ? (bpf1.ns - bpf0.ns) / made : Number.NaN, bpfRunsPerConnection: progs.length ? (bpf1.runs - bpf0.runs) / made : Number.NaN,
      lost: c1.lost - c0.lost, agentCpuPct: (100 * cpu) / wall,
    });
  }
  return out;
}

// --- main ---------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (netns, veths, eBPF)');
  for (const f of [path.join(REPO, 'dist/cli/main.js'), path.join(P.bpfDir, 'bpf_lxc.o'), path.join(P.bpfDir, 'bench_events.o')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (make build)`);
  }
  if ((await exec('sh', ['-c', 'command -v taskset'])).code !== 0) throw new Error('taskset is missing (util-linux)');
  const started = Date.now();
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
  fs.rmSync(PIN_DIR, { recursive: true, force: true });
  const info: Record<string, unknown> = {
    ...(await machineFacts({ commit: ['git', ['-C', REPO, 'log', '-1', '--format=%h %s']] })),
    command: ['node', 'bench/observe.ts', ...process.argv.slice(2)].join(' '),
    /** Files of the working tree that differ from the commit (other work in progress built into dist/ or build/). */
    uncommitted: (await exec('git', ['-C', REPO, 'status', '--short', '--untracked-files=no'])).stdout.split('\n').filter(Boolean),
    params: P,
    cidrs: { pods: POD_CIDR, uplink: `${UPLINK}.0/24`, services: SERVICE_CIDR },
  };

  log(`==> node ${PREFIX}-m, agent pinned to CPU ${P.agentCpu}, ${P.pods} pods`);
  node = await MembraneNode.create(
    { name: `${PREFIX}-m`, podCidr: POD_CIDR, uplink: UPLINK, serviceCidr: SERVICE_CIDR, workDir: path.join(WORK_DIR, 'membrane'), pinDir: PIN_DIR },
    (n) => (node = n),
    AGENT_ARGS,
  );
  await pinAgent();
  const specs = podSpecs(P.pods);
  await node.api.post('/v1/apply', { manifest: listManifest([namespaceObject(), ...podObjects(specs)]), source: 'bench' });
  for (const s of specs) await node.addPod({ namespace: NAMESPACE, name: s.name, labels: podLabels(s) });
  const eps = await node.api.get<EndpointJSON[]>('/v1/endpoints');
  const placed: PlacedEndpoint[] = specs.map((s) => {
    const e = eps.find((x) => x.podName === s.name && x.podNamespace === NAMESPACE);
    if (!e) throw new Error(`no endpoint for pod ${s.name}`);
    return { name: s.name, role: s.role, ip: e.ipv4, id: e.id, ifindex: e.hostIfIndex, identity: e.identity ?? 0 };
  });
  await node.api.post('/v1/apply', { manifest: listManifest([...serviceObjects(placed.filter((p) => p.role === 'server').map((p) => p.ip)), policyObject()]), source: 'bench' });

  const result: Record<string, unknown> = { meta: info };
  let best: { rate: number; firstFailure: number | undefined } | undefined;
  let connSum: ReturnType<typeof summarizeConn> | undefined;
  const md: string[] = [];

  if (P.parts.includes('events') || P.parts.includes('resources')) {
    producer = new Producer(P.producerCpu);
    const evs = templates(placed, 1);
    await producer.call({ cmd: 'templates', events: evs });
    // a first short run: the agent's caches and the JIT warm up; checks the counters move
    const w = await step(5000, 1);
    if (w.received === 0) throw new Error(`the agent received none of ${w.produced} events (GET /v1/status datapath.eventsReceived)`);
    log(`  warm-up: ${w.produced} produced, ${w.received} received, ${w.lost} lost`);
    // The agent enriched them: the last flows name pods, identities and the Service (kept in the results).
    const sample: unknown[] = [];
    for await (const line of node.api.lines(`/v1/flows?last=${evs.length}`)) if (line.trim()) sample.push(JSON.parse(line));
    const flows = sample.map((r) => (r as { flow?: { source?: { pod_name?: string }; destination?: { pod_name?: string }; destination_service?: { name?: string } } }).flow).filter((f) => f !== undefined);
    const named = flows.filter((f) => f.source?.pod_name || f.destination?.pod_name).length;
    const withService = flows.filter((f) => f.destination_service?.name).length;
    log(`  enrichment: ${named}/${flows.length} of the last flows name a pod, ${withService} a service`);
    if (flows.length && named === 0) throw new Error('the agent names no pod in the flows of the templates: enrichment does not find the endpoints');
    result.enrichment = { flows: flows.length, namingAPod: named, namingAService: withService, example: sample.find((r) => (r as { flow?: { destination_service?: unknown } }).flow?.destination_service) ?? sample[0] };
    result.templates = evs.length;
  }
  if (P.parts.includes('events')) {
    log(`==> (1) events/s the agent takes without loss: ${P.rates.join(', ')} for ${P.stepSeconds} s each (producer on CPU ${P.producerCpu})`);
    const l = await ladder();
    best = l.best;
    result.ladder = l.steps;
    result.highestSustained = l.best;
    md.push(
      '### Events the agent decodes and enriches on one core',
      '',
      `Producer on CPU ${P.producerCpu}, the agent (every thread) on CPU ${P.agentCpu}; each rate for ${P.stepSeconds} s. Sustained: nothing lost, everything received, backlog at the producer's stop ≤ ${P.backlogLimit} events (a quarter of the ${MB_EVENTS_RING_RECORDS}-record ring buffer). Highest sustained: **${l.best.rate} events/s**${l.best.firstFailure !== undefined ? `; ${l.best.firstFailure} events/s was not` : ''}.`,
      '',
      ladderTable(l.steps, P.backlogLimit),
    );
  }
  if (P.parts.includes('events') && P.profile) {
    const rate = best?.firstFailure ?? Math.max(...P.rates);
    log(`==> where the agent's time goes: a CPU profile at ${rate} events/s for ${P.profileSeconds} s`);
    fs.mkdirSync(opts.out!, { recursive: true });
    const prof = await profileAt(rate);
    if (prof) {
      result.profile = { rate, ...prof };
      log(`  ${prof.samples} samples: ${prof.categories.slice(0, 6).map((f) => `${f.name} ${f.pct.toFixed(1)} %`).join(', ')}`);
      md.push(
        `Where the agent's time goes at ${rate} events/s (\`perf record -F 999\` of the agent's threads for ${P.profileSeconds} s, Node with --perf-basic-prof; self time; ${prof.samples} samples; the whole report is observe-agent-perf.txt beside the results):`,
        '',
        profileMarkdown(prof),
      );
    }
  }
  if (P.parts.includes('resources')) {
    log(`==> (2) the agent's CPU and memory: idle, ${P.sustainRates.join(', ')} events/s for ${P.sustainSeconds} s each`);
    const samples: ResourceSample[] = [];
    for (const rate of [0, ...P.sustainRates]) {
      await sleep(1000);
      const s = await sustain(rate, P.sustainSeconds);
      samples.push(s);
      log(`  ${String(rate).padStart(7)}/s: agent ${round(s.agentCpuPct)} % CPU, RSS ${round(s.rssMiBMedian)} MiB (max ${round(s.rssMiBMax)}), received ${s.received}, lost ${s.lost}`);
    }
    result.resources = samples;
    md.push('### The agent\'s CPU and memory at steady event rates', '', resourceTable(samples));
  }
  producer?.kill();
  producer = undefined;

  if (P.parts.includes('datapath')) {
    log(`==> (3) new connections between two pods: ${P.configs.map((c) => CONFIG_LABEL[c]).join(', ')}; ${P.rounds} rounds of ${P.seconds} s`);
    const bins: Bins = { tcpRr: await buildC('tcp_rr', path.join(opts.out!, 'bin')), conn: await buildC('policy_conn', path.join(opts.out!, 'bin')) };
    const pair: PodSpec[] = [{ name: 'conn-client', role: 'conn' }, { name: 'conn-server', role: 'conn' }];
    await node.api.post('/v1/apply', { manifest: listManifest(podObjects(pair)), source: 'bench' });
    const client = await node.addPod({ namespace: NAMESPACE, name: pair[0]!.name, labels: podLabels(pair[0]!) });
    const server = await node.addPod({ namespace: NAMESPACE, name: pair[1]!.name, labels: podLabels(pair[1]!) });
    const clientNs = node.netnsOf(client.name);
    await tuneClient(clientNs);
    await startServers(daemons, node.netnsOf(server.name), bins, podWrap, [P.connPort]);
    const hostIfs = (await node.api.get<EndpointJSON[]>('/v1/endpoints')).filter((e) => e.podName === client.name || e.podName === server.name).map((e) => e.hostIfName);
    bpfStats(true);
    const pass = async (configs: readonly ConnConfig[], rounds: number, busy: boolean) => {
      if (busy) spinner = spawn('chrt', ['-i', '0', 'taskset', '-c', P.agentCpu, 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
      try {
        const samples: ConnSample[] = [];
        for (let r = 0; r < rounds; r++) {
          const s = await connRound(bins, clientNs, server.ip, r, configs, hostIfs);
          samples.push(...s);
          log(`  round ${r + 1}/${rounds}${busy ? ' (agent CPU busy)' : ''}: ${s.map((x) => `${x.config} ${round(x.rate)}`).join('  ')} conn/s`);
        }
        return samples;
      } finally {
        spinner?.kill('SIGKILL');
        spinner = undefined;
      }
    };
    const common = `Client and server pods on CPU ${RR_CPU}, the agent on CPU ${P.agentCpu}, restarted with each configuration's flags; connect, 1-byte round trip, close, one at a time for ${P.seconds} s after ${P.warmupSeconds} s; rounds in rotating order; ratios are medians of per-round ratios to "events disabled" of the same round. The pair is selected by no policy (no verdict events): trace events only.`;
    const samples = await pass(P.configs, P.rounds, false);
    connSum = summarizeConn(samples);
    result.conn = { samples, summary: connSum };
    md.push('### Datapath cost: new connections between two pods', '', `${common} ${P.rounds} rounds; the agent's CPU otherwise idle.`, '', connTable(connSum));
    if (P.busyRounds > 0) {
      const busyConfigs = P.configs.filter((c) => c !== 'maximum');
      log(`==> (3b) the same with the agent's CPU busy (a SCHED_IDLE loop on CPU ${P.agentCpu}): ${busyConfigs.join(', ')}; ${P.busyRounds} rounds`);
      const busy = await pass(busyConfigs, P.busyRounds, true);
      const busySum = summarizeConn(busy);
      result.connAgentCpuBusy = { samples: busy, summary: busySum };
      md.push(
        '#### The same with the agent\'s CPU busy',
        '',
        `${common} ${P.busyRounds} rounds with a SCHED_IDLE busy loop on CPU ${P.agentCpu}: it yields to the agent at once, but the CPU never idles, so each wake-up of the agent is a reschedule IPI from the pods' CPU instead of a store to an idle (polling) CPU's flag. Shown for the wake-up cost; the aim is judged above.`,
        '',
        connTable(busySum),
      );
    }
    bpfStats(false);
    if (P.profile) {
      log(`==> where the pods' CPU goes at aggregation medium: perf record -g on CPU ${RR_CPU} for ${P.profileSeconds} s`);
      await startAgent(CONFIG_ARGS.medium);
      await sleep(500);
      const data = path.join(WORK_DIR, 'perf-dp.data');
      const rec = exec('perf', ['record', '-F', '999', '-g', '-C', String(RR_CPU), '-o', data, '--', 'sleep', String(P.profileSeconds)]);
      await connRate(clientNs, podWrap, bins, server.ip, P.connPort, P.profileSeconds + 1, 0.2);
      const r = await rec;
      if (r.code === 0) {
        const rep = (await exec('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '--sort', 'sym'], { timeoutMs: 120_000 })).stdout;
        // the callers of the top kernel symbol (an IPI's MSR write, when wake-ups dominate)
        const top = parsePerfReport(rep, 1)[0]?.name.replace(/^\[k\] /, '');
        const callers = top ? (await exec('perf', ['report', '-i', data, '--stdio', '--no-children', '-S', top, '-G'], { timeoutMs: 120_000 })).stdout : '';
        fs.writeFileSync(path.join(opts.out!, 'observe-datapath-perf.txt'), `${rep}\n\n# callers of ${top}\n${callers}`);
        const syms = parsePerfReport(rep, 25);
        result.datapathProfile = { samples: perfSamples(rep), symbols: syms };
        md.push(
          `Where the pods' CPU (${RR_CPU}) goes at aggregation medium (\`perf record -F 999 -C ${RR_CPU}\`, ${P.profileSeconds} s, self time; the whole report is observe-datapath-perf.txt beside the results):`,
          '',
          ['| function (self time) | share of CPU ' + RR_CPU + '\'s samples |', '|---|---:|', ...syms.map((x) => `| \`${x.name}\` | ${x.pct.toFixed(1)} % |`)].join('\n'),
          '',
        );
        log(`  ${syms.slice(0, 8).map((x) => `${x.name} ${x.pct.toFixed(1)} %`).join(', ')}`);
      } else log(`  perf record failed: ${r.stderr.trim().slice(0, 300)}`);
      fs.rmSync(data, { force: true });
    }
  }

  const aims = observeAims(best, connSum);
  result.aims = aims;
  result.meta = { ...info, durationS: Math.round((Date.now() - started) / 1000), loadavgAtEnd: os.loadavg().map(round) };
  const head = `Observability — ${String(info.date).slice(0, 16).replace('T', ' ')} UTC, Linux ${info.kernel}, ${info.cpus} CPUs (${info.cpuModel}), Node ${info.node}; load average ${(info.loadavgAtStart as number[])[0]} at start, ${round(os.loadavg()[0]!)} at end; commit ${String(info.commit)}\n\n\`${info.command}\`\n`;
  const text = [head, ...md, '### Aims', '', aimsMarkdown(aims)].join('\n');
  fs.mkdirSync(opts.out!, { recursive: true });
  const stamp = String(info.date).replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  fs.writeFileSync(path.join(opts.out!, `observe-${stamp}.json`), json);
  fs.writeFileSync(path.join(opts.out!, 'observe-latest.json'), json);
  fs.writeFileSync(path.join(opts.out!, 'observe-latest.md'), text);
  process.stdout.write(`\n${text}`);
  log(`==> results: ${path.join(opts.out!, `observe-${stamp}.json`)} (also observe-latest.json, observe-latest.md); ${Math.round((Date.now() - started) / 1000)} s`);
}

await runWithCleanup('observe bench', main, cleanup, log);
