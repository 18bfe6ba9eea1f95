// Membrane vs the Linux bridge CNI plugin, side by side in one run on this
// machine: pod-to-pod latency (TCP RR and CRR with a C and a Node client and
// server, ICMP echo), single-stream throughput (iperf3), CNI ADD/DEL latency,
// and where Membrane's ADD spends its time (kernel tracepoint timeline of
// real ADDs, and each part timed alone). Measures only; asserts nothing.
//
//   node bench/bench.ts [--quick] [--pods N] [--rounds N] [--out DIR]
//
// Called by bench/run.sh (`make bench`), which also cleans up if this
// process dies. Results: DIR/bench-<time>.json, DIR/latest.json and
// DIR/latest.md; the markdown table also goes to stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BridgeNode, BRIDGE_CIDR, MEMBRANE_CIDR, MembraneNode, SIDES, type BenchNode, type Side } from './lib/nodes.ts';
import { Daemons, destroyAll, exec, runWithCleanup, machineFacts } from './lib/proc.ts';
import { profileAdd, type ProfilePart } from './lib/profile.ts';
import { PerfRecording, perfAvailable, summarizeTimelines, timelines, type TraceSummary } from './lib/trace.ts';
import { aims, markdownAims, markdownTable, roundsRow, row, TOLERANCE, type Row } from './lib/report.ts';
import { median, round, summarize, type Summary } from './lib/stats.ts';
import { buildTcpRr, icmpRR, iperf, setupPair, tcpRR, type Pair, type Throughput } from './lib/traffic.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    pods: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string', default: path.join(HERE, 'out') },
  },
});
const quick = opts.quick ?? false;
const P = {
  pods: Number(opts.pods ?? (quick ? 10 : 100)),
  rounds: Number(opts.rounds ?? (quick ? 2 : 8)),
  rrCount: quick ? 2000 : 5000,
  rrWarmup: quick ? 500 : 1000,
  crrCount: quick ? 500 : 1000,
  crrWarmup: quick ? 50 : 200,
  msgSize: 64,
  pingCount: quick ? 200 : 500,
  pingInterval: 0.001,
  iperfSeconds: quick ? 2 : 5,
  profileN: quick ? 5 : 30,
  traceAdds: quick ? 5 : 20,
};

const log = (s: string) => process.stderr.write(`${s}\n`);
const daemons = new Daemons();
const nodes: BenchNode[] = [];
let perf: PerfRecording | undefined;

async function cleanup(): Promise<void> {
  perf?.kill();
  await daemons.killAll();
  await destroyAll(nodes, (i) => nodes[i]!.side, log);
}

interface LatencyResult {
  /** All rounds' samples pooled. */
  all: Summary;
  rounds: Summary[];
}

const TRAFFIC = ['tcp_rr_c', 'tcp_crr_c', 'tcp_rr_node', 'icmp_rr'] as const;
type TrafficKey = (typeof TRAFFIC)[number];

async function meta(): Promise<Record<string, unknown>> {
  const brNf = await exec('nsenter', ['--net=/var/run/netns/mbb-b-node', '--', 'sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']).catch(() => ({ stdout: '' }));
  return {
    ...(await machineFacts({ iperf3: ['iperf3', ['--version']], ping: ['ping', ['-V']] })),
    bridgeNfCallIptables: brNf.stdout.trim(),
    params: P,
    cidrs: { membrane: MEMBRANE_CIDR, bridge: BRIDGE_CIDR },
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (netns, veths, eBPF)');
  for (const f of ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', path.join(HERE, '..', 'dist/cli/main.js')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (make setup installs and builds everything)`);
  }
  const started = Date.now();
  log(`==> nodes: membrane (mbb-m-node, ${MEMBRANE_CIDR}) and bridge (mbb-b-node, ${BRIDGE_CIDR})`);
  const m = await MembraneNode.create((n) => nodes.push(n));
  const b = await BridgeNode.create((n) => nodes.push(n));
  const bySide: Record<Side, BenchNode> = { membrane: m, bridge: b };
  const info = await meta();

  // --- 1. traffic ----------------------------------------------------------
  log('==> pod pairs (client → server) on each node');
  const tcpRrBin = await buildTcpRr(path.join(opts.out!, 'bin'));
  if (!tcpRrBin) log('  no C compiler built bench/tcp_rr.c: the C TCP RR/CRR rows will be n/a');
  const pairs: Record<Side, Pair> = { membrane: await setupPair(m, daemons, tcpRrBin), bridge: await setupPair(b, daemons, tcpRrBin) };
  const emptySamples = () => Object.fromEntries(TRAFFIC.map((k) => [k, [] as number[][]])) as Record<TrafficKey, number[][]>;
  const samples: Record<Side, Record<TrafficKey, number[][]>> = { membrane: emptySamples(), bridge: emptySamples() };
  const tests: Record<TrafficKey, ((p: Pair) => Promise<number[]>) | undefined> = {
    tcp_rr_c: tcpRrBin ? (p) => tcpRR(p, 'rr', P.rrCount, P.rrWarmup, P.msgSize, tcpRrBin) : undefined,
    tcp_crr_c: tcpRrBin ? (p) => tcpRR(p, 'crr', P.crrCount, P.crrWarmup, P.msgSize, tcpRrBin) : undefined,
    tcp_rr_node: (p) => tcpRR(p, 'rr', P.rrCount, P.rrWarmup, P.msgSize),
    icmp_rr: (p) => icmpRR(p, P.pingCount, P.pingInterval),
  };
  const tput: Record<Side, Throughput[]> = { membrane: [], bridge: [] };
  for (let r = 0; r < P.rounds; r++) {
    // Alternate which side goes first, so drift on the machine hits both alike.
    const order: Side[] = r % 2 === 0 ? [...SIDES] : [...SIDES].reverse();
    log(`==> traffic round ${r + 1}/${P.rounds} (${order.join(' then ')} for each test)`);
    for (const k of TRAFFIC) {
      const test = tests[k];
      if (!test) continue;
      for (const s of order) samples[s][k].push(await test(pairs[s]));
      log(`  ${k.padEnd(12)} ${order.map((s) => `${s} p50 ${summarize(samples[s][k].at(-1)!).p50} µs`).join(', ')}`);
    }
    for (const s of order) tput[s].push(await iperf(pairs[s], P.iperfSeconds));
    log(`  iperf3   ${order.map((s) => `${s} ${(tput[s].at(-1)!.bps / 1e9).toFixed(2)} Gbit/s`).join(', ')}`);
  }
  const latency = (s: Side, k: TrafficKey): LatencyResult => ({ all: summarize(samples[s][k].flat()), rounds: samples[s][k].map((x) => summarize(x)) });

  // --- 2. CNI ADD / DEL ----------------------------------------------------
  log(`==> CNI ADD of ${P.pods} pods on each node, interleaved`);
  const addMs: Record<Side, number[]> = { membrane: [], bridge: [] };
  const delMs: Record<Side, number[]> = { membrane: [], bridge: [] };
  const made: Record<Side, string[]> = { membrane: [], bridge: [] };
  for (let i = 0; i < P.pods; i++) {
    const order: Side[] = i % 2 === 0 ? [...SIDES] : [...SIDES].reverse();
    for (const s of order) {
      const { pod, ms } = await bySide[s].addPod(`p${String(i).padStart(3, '0')}`);
      addMs[s].push(ms);
      made[s].push(pod.name);
    }
    if ((i + 1) % 25 === 0) log(`  ${i + 1} pods: ADD p50 so far ${SIDES.map((s) => `${s} ${summarize(addMs[s]).p50.toFixed(1)} ms`).join(', ')}`);
  }
  // --- 3. timeline of more Membrane ADDs, from kernel tracepoints ------------
  // Done while the 100 pods above still exist, so the conditions match.
  let trace: (TraceSummary & { runtimeMs: Summary }) | undefined;
  if (await perfAvailable()) {
    log(`==> timeline of ${P.traceAdds} more Membrane ADDs (perf record: sched + syscall tracepoints)`);
    perf = await PerfRecording.start(path.join(os.tmpdir(), `mbb-perf-${process.pid}.data`));
    const traced = [];
    const tracedMs: number[] = [];
    try {
      for (let i = 0; i < P.traceAdds; i++) {
        const { pod, ms } = await m.addPod(`t${String(i).padStart(2, '0')}`);
        traced.push(pod);
        tracedMs.push(ms);
      }
    } finally {
      const evs = await perf.stop();
      perf = undefined;
      for (const pod of traced) await m.delPod(pod);
      trace = { ...summarizeTimelines(timelines(evs, m.agentPid!)), runtimeMs: summarize(tracedMs) };
    }
    for (const ph of trace.phases) log(`  ${ph.key.padEnd(22)} p50 ${ph.ms.p50.toFixed(2)} ms`);
  } else {
    log('==> perf not found: no tracepoint timeline of ADD');
  }

  log(`==> CNI DEL of the ${P.pods} pods on each node, interleaved`);
  for (let i = 0; i < P.pods; i++) {
    const order: Side[] = i % 2 === 0 ? [...SIDES] : [...SIDES].reverse();
    for (const s of order) {
      const pod = bySide[s].pods.get(made[s][i]!)!;
      delMs[s].push(await bySide[s].delPod(pod));
    }
  }

  // --- 4. the parts of Membrane's ADD, each timed alone -------------------------
  log(`==> parts of Membrane's ADD, each alone (${P.profileN} samples per part)`);
  const profile: ProfilePart[] = await profileAdd(m, b, P.profileN, log);

  // --- report ----------------------------------------------------------------
  // Traffic rows: the median over rounds of each round's statistic (robust to
  // a round disturbed by other load on the machine), plus paired wins.
  const per = (k: TrafficKey, stat: 'p50' | 'p99') => (s: Side) => latency(s, k).rounds.map((r) => r[stat]);
  const tRow = (metric: string, k: TrafficKey, stat: 'p50' | 'p99') => roundsRow(metric, 'µs', 'lower', per(k, stat)('membrane'), per(k, stat)('bridge'), k === 'tcp_rr_node');
  const rows: Row[] = [
    tRow('TCP RR p50', 'tcp_rr_c', 'p50'),
    tRow('TCP RR p99', 'tcp_rr_c', 'p99'),
    tRow('TCP CRR p50', 'tcp_crr_c', 'p50'),
    tRow('TCP CRR p99', 'tcp_crr_c', 'p99'),
    tRow('TCP RR, Node client+server, p50', 'tcp_rr_node', 'p50'),
    tRow('TCP RR, Node client+server, p99', 'tcp_rr_node', 'p99'),
    tRow('ICMP echo p50', 'icmp_rr', 'p50'),
    tRow('ICMP echo p99', 'icmp_rr', 'p99'),
    roundsRow('iperf3 1 stream', 'Gbit/s', 'higher', tput.membrane.map((t) => t.bps / 1e9), tput.bridge.map((t) => t.bps / 1e9)),
    row('CNI ADD p50', 'ms', 'lower', summarize(addMs.membrane).p50, summarize(addMs.bridge).p50),
    row('CNI ADD p99', 'ms', 'lower', summarize(addMs.membrane).p99, summarize(addMs.bridge).p99),
    row('CNI DEL p50', 'ms', 'lower', summarize(delMs.membrane).p50, summarize(delMs.bridge).p50),
    row('CNI DEL p99', 'ms', 'lower', summarize(delMs.membrane).p99, summarize(delMs.bridge).p99),
  ];
  const aimList = aims(rows, summarize(addMs.membrane).p50);
  const profileTable = [
    '| part of Membrane ADD | per ADD | p50 ms | p99 ms |',
    '|---|---:|---:|---:|',
    ...profile.map((p) => `| ${p.what} | ${p.perAdd || '—'} | ${round(p.ms.p50)} | ${round(p.ms.p99)} |`),
  ].join('\n');
  const traceTable = trace
    ? [
        `| phase of a Membrane ADD (perf tracepoints, ${trace.adds} ADDs) | p50 ms | p99 ms |`,
        '|---|---:|---:|',
        ...trace.phases.map((p) => `| ${p.what} | ${round(p.ms.p50)} | ${round(p.ms.p99)} |`),
        ...trace.children.map((c, i) => `| agent child ${i + 1} (${c.exec}): fork → exec / exec → exit | ${round(c.forkMs.p50)} / ${round(c.runMs.p50)} | ${round(c.forkMs.p99)} / ${round(c.runMs.p99)} |`),
        `| agent fsync() calls: ${round(trace.fsyncsPerAdd)} per ADD, each | ${round(trace.fsyncMs.p50)} | ${round(trace.fsyncMs.p99)} |`,
        `| the same ADDs as timed by the runtime (spawn to result) | ${round(trace.runtimeMs.p50)} | ${round(trace.runtimeMs.p99)} |`,
        '',
      ].join('\n')
    : '';
  const md = [
    `Membrane vs bridge CNI — ${String(info.date).slice(0, 16).replace('T', ' ')} UTC, Linux ${info.kernel}, ${info.cpus} CPUs (${info.cpuModel}), Node ${info.node}; load average ${(info.loadavgAtStart as number[])[0]} at start, ${round(os.loadavg()[0]!)} at end`,
    '',
    `Traffic: median over ${P.rounds} rounds (sides alternate who goes first) of each round's p50/p99 or throughput; CNI: ${P.pods} ADDs then ${P.pods} DELs per side, interleaved. ` +
      `Verdict: a side is better when the ratio is beyond ±${TOLERANCE * 100}% and, for traffic, it was ahead in most rounds.`,
    '',
    markdownTable(rows),
    markdownAims(aimList),
    profileTable,
    '',
    traceTable,
  ].join('\n');

  const result = {
    meta: { ...info, durationS: Math.round((Date.now() - started) / 1000), loadavgAtEnd: os.loadavg().map(round) },
    table: rows,
    aims: aimList,
    traffic: Object.fromEntries(
      SIDES.map((s) => [s, {
        ...Object.fromEntries(TRAFFIC.map((k) => [`${k}_us`, latency(s, k)])),
        iperf3: { rounds: tput[s].map((t) => ({ gbps: round(t.bps / 1e9), retransmits: t.retransmits })), medianGbps: round(median(tput[s].map((t) => t.bps)) / 1e9) },
      }]),
    ),
    cni: Object.fromEntries(SIDES.map((s) => [s, { addMs: summarize(addMs[s]), delMs: summarize(delMs[s]), addSamplesMs: addMs[s].map(round), delSamplesMs: delMs[s].map(round) }])),
    profile,
    addTimeline: trace ?? null,
  };
  fs.mkdirSync(opts.out!, { recursive: true });
  const stamp = String(info.date).replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  fs.writeFileSync(path.join(opts.out!, `bench-${stamp}.json`), json);
  fs.writeFileSync(path.join(opts.out!, 'latest.json'), json);
  fs.writeFileSync(path.join(opts.out!, 'latest.md'), md);
  process.stdout.write(`\n${md}`);
  log(`==> results: ${path.join(opts.out!, `bench-${stamp}.json`)} (also latest.json, latest.md); ${result.meta.durationS} s`);
}

await runWithCleanup('bench', main, cleanup, log);
