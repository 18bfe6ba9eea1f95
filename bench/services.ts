// Services: Membrane vs kube-proxy's iptables mode vs kube-proxy's nftables
// mode, side by side in one run on this machine. The same pods, backends and
// client three ways:
//
//  - membrane: the agent with its socket LB (ClusterIP) and tc/XDP LB
//    (NodePort); services through `membrane apply -f` of Service and
//    EndpointSlice manifests; pods through Membrane's CNI plugin.
//  - iptables: kube-proxy's iptables rules (KUBE-SERVICES → KUBE-SVC-* →
//    KUBE-SEP-*, statistic --mode random), iptables-restore --noflush
//    --counters; pods through the bridge plugin (br_netfilter on).
//  - nftables: kube-proxy's nftables ruleset (service-ips verdict map,
//    numgen endpoint choice), nft -f; pods through the bridge plugin.
//
// Measured: new-connection rate and latency (TCP CRR) and request latency
// (TCP RR) from a client pod to one ClusterIP while 1, 1 000 and 10 000
// services exist; the time to program them all; NodePort packets per second
// from a packet generator (trafgen) in the world netns, counted where they
// arrive (the backends' IP layer): Membrane XDP, Membrane tc, iptables
// DNAT, nftables DNAT. Measures only; asserts nothing.
//
//   node bench/services.ts [--quick] [--counts 1,1000,10000] [--backends N]
//       [--rounds N] [--program-reps N] [--sides membrane,iptables,nftables]
//       [--iptables legacy|nft] [--measured-at first|middle|last] [--out DIR]
//
// Called by bench/run.sh (`make bench`), which also cleans up if this
// process dies. Results: DIR/services-<time>.json, DIR/services-latest.json
// and DIR/services-latest.md; the markdown also goes to stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseManifests } from '../src/k8s/documents.ts';
import { NODE_BIN } from '../src/sandbox/topology.ts';
import { countRules, syncRestore } from './lib/kube-proxy-iptables.ts';
import { endpointCount, makeServiceSet, type ManifestFormat, manifests, type ServiceSet, type ServiceSetSpec } from './lib/kube-services.ts';
import { type IptablesBackend, KubeProxyNode, type SvcPod } from './lib/kp-node.ts';
import { Daemons, destroyAll, exec, inNetns, runWithCleanup, sleep, machineFacts } from './lib/proc.ts';
import { round, summarize } from './lib/stats.ts';
import { type Acceleration, type MembraneProgram, MembraneServiceNode } from './lib/svc-membrane.ts';
import {
  aimsMarkdown,
  BASELINE,
  type CountResult,
  connTable,
  latencyTable,
  type PpsRound,
  ppsTable,
  programTable,
  type ProgramSample,
  type RoundStats,
  type Sender,
  type SideName,
  svcAims,
} from './lib/svc-report.ts';
import { type Bins, buildC, connRate, ECHO_PORT, flood, macOf, SINK_PORT, startBackend, tcpRR, tuneClient, ipDelivered, type Wrap, noWrap } from './lib/svc-traffic.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// --- names and addresses (never 192.0.2.0/24: the host's own network) -------
const PREFIX = 'mbk';
const WORK_DIR = '/var/lib/mbk-bench';
const PIN_DIR = '/sys/fs/bpf/mbk-bench';
const SERVICE_CIDR = '10.112.0.0/12';
/** Filler backends (never contacted): the upper half of the service CIDR, already blackholed. */
const FILLER_CIDR = '10.120.0.0/13';
const CIDRS = {
  membrane: '10.213.0.0/24',
  iptables: '10.214.0.0/24',
  nftables: '10.215.0.0/24',
};
const MEMBRANE_UPLINK = '198.18.13';
const KP_UPLINK = '198.18.14.0/24';
/** Blackholes this script owns (the Membrane topology owns its own). */
const HOST_BLACKHOLES = [CIDRS.iptables, CIDRS.nftables, KP_UPLINK, SERVICE_CIDR];

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    counts: { type: 'string' },
    backends: { type: 'string' },
    rounds: { type: 'string' },
    'program-reps': { type: 'string' },
    'measured-at': { type: 'string', default: 'middle' },
    sides: { type: 'string' },
    iptables: { type: 'string', default: 'legacy' },
    out: { type: 'string', default: path.join(HERE, 'out') },
  },
});
const quick = opts.quick ?? false;
const P = {
  counts: (opts.counts ?? (quick ? '1,100,1000' : '1,1000,10000')).split(',').map(Number),
  backends: Number(opts.backends ?? 10),
  rounds: Number(opts.rounds ?? (quick ? 2 : 5)),
  crrCount: quick ? 300 : 1000,
  crrWarmup: quick ? 50 : 200,
  rrCount: quick ? 500 : 2000,
  rrWarmup: quick ? 100 : 500,
  /** Programming repetitions at each count (each from a node without services). */
  programReps: Number(opts['program-reps'] ?? (quick ? 1 : 3)),
  /** A load slower than this is not repeated. */
  programRepeatBelowMs: 60_000,
  nodePortEvery: 10,
  ppsSeconds: quick ? 2 : 5,
  ppsWarmupSeconds: 1,
  ppsRounds: quick ? 1 : 3,
  /** trafgen's per-packet sendto (linear skbs) always; its TX ring too in the full run. */
  ppsSenders: (quick ? ['sendto'] : ['sendto', 'ring']) as Sender[],
  flows: 1024,
  iptables: opts.iptables as IptablesBackend,
  /** Where the measured service sits among the others (kube-proxy's iptables walks them in order). */
  measuredAt: opts['measured-at'] as 'first' | 'middle' | 'last',
};
const SIDES = (opts.sides ?? 'membrane,iptables,nftables').split(',') as SideName[];
if (P.iptables !== 'legacy' && P.iptables !== 'nft') throw new Error('--iptables is legacy or nft');
if (!['first', 'middle', 'last'].includes(P.measuredAt)) throw new Error('--measured-at is first, middle or last');

const log = (s: string) => process.stderr.write(`${s}\n`);
const daemons = new Daemons();

interface Side {
  name: SideName;
  nodeNs: string;
  worldNs: string;
  nodeIp: string;
  worldIp: string;
  wrap: Wrap;
  client?: SvcPod;
  backends: SvcPod[];
  set?: ServiceSet;
  addPod(name: string): Promise<SvcPod>;
  destroy(): Promise<void>;
}

const made: Side[] = [];
let membrane: MembraneServiceNode | undefined;
const kube: Partial<Record<'iptables' | 'nftables', KubeProxyNode>> = {};
let tmpDir: string | undefined;
async function cleanup(): Promise<void> {
  await daemons.killAll();
  // The agent's log outlives the run (bench/out is git-ignored).
  if (membrane && fs.existsSync(membrane.t.logFile)) {
    fs.mkdirSync(opts.out!, { recursive: true });
    fs.copyFileSync(membrane.t.logFile, path.join(opts.out!, 'services-agent.log'));
  }
  await destroyAll(made, (i) => made[i]!.name, log);
  for (const c of HOST_BLACKHOLES) await exec('ip', ['route', 'del', 'blackhole', c]);
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
}

async function makeSides(): Promise<Side[]> {
  const sides: Side[] = [];
  for (const name of SIDES) {
    if (name === 'membrane') {
      const m = await MembraneServiceNode.create(
        { name: `${PREFIX}-m`, podCidr: CIDRS.membrane, uplink: MEMBRANE_UPLINK, serviceCidr: SERVICE_CIDR, workDir: path.join(WORK_DIR, 'membrane'), pinDir: PIN_DIR },
        (n) => made.push({ name, nodeNs: n.nodeNs, worldNs: n.worldNs, nodeIp: n.nodeIp, worldIp: n.worldIp, wrap: n.wrap, backends: [], addPod: (p) => n.addPod(p), destroy: () => n.destroy() }),
        'xdp',
      );
      membrane = m;
      sides.push(made.at(-1)!);
    } else {
      const i = name === 'iptables' ? 0 : 1;
      const n = await KubeProxyNode.create(
        {
          prefix: `${PREFIX}-${name[0]}`,
          mode: name,
          iptablesBackend: P.iptables,
          podCidr: CIDRS[name],
          // The two kube-proxy nodes share 198.18.14.0/24, a /25 each.
          nodeAddr: `198.18.14.${1 + 128 * i}/25`,
          worldAddr: `198.18.14.${100 + 128 * i}/25`,
          serviceCidr: SERVICE_CIDR,
          bridge: `${PREFIX}-br${name[0]}`,
          workDir: path.join(WORK_DIR, name),
        },
        (k) => made.push({ name, nodeNs: k.nodeNs, worldNs: k.worldNs, nodeIp: k.nodeIp, worldIp: k.worldIp, wrap: noWrap, backends: [], addPod: (p) => k.addPod(p), destroy: () => k.destroy() }),
      );
      kube[name] = n;
      sides.push(made.at(-1)!);
    }
  }
  return sides;
}

function serviceSet(s: Side, count: number): ServiceSet {
  return makeServiceSet(specOf(s, count));
}

function specOf(s: Side, count: number): ServiceSetSpec {
  return {
    count,
    backends: P.backends,
    serviceCidr: SERVICE_CIDR,
    fillerCidr: FILLER_CIDR,
    nodePortEvery: P.nodePortEvery,
    nodePortBase: 30000,
    port: 80,
    targetPort: ECHO_PORT,
    measuredEndpoints: s.backends.map((b) => b.ip),
    udp: { port: 53, targetPort: SINK_PORT },
    measuredAt: P.measuredAt,
  };
}

/** One full programming of a side from a node without services; ms of the timed part. */
async function program(s: Side, set: ServiceSet, prev: ServiceSet | undefined, format: ManifestFormat): Promise<{ ms: number; bytes: number; detail?: MembraneProgram }> {
  if (s.name === 'membrane') {
    if (prev) await membrane!.clear(prev.services);
    const r = await membrane!.program(set.services, format);
    const want = set.services.length;
    if (r.sync && r.sync.services < want) throw new Error(`membrane: ${r.sync.services} services programmed, ${want} applied`);
    return { ms: r.ms, bytes: r.bytes, detail: r };
  }
  const k = kube[s.name as 'iptables' | 'nftables']!;
  await k.clear();
  const r = await k.program(set.services);
  return { ms: r.ms, bytes: r.bytes };
}

/** One CRR through the ClusterIP must work before anything is measured. */
async function checkPath(s: Side, bins: Bins): Promise<void> {
  const m = s.set!.measured;
  try {
    await tcpRR(s.client!.netnsName, s.wrap, bins.tcpRr, 'crr', m.clusterIP, m.port, 5, 0, 64, 15_000);
  } catch (err) {
    throw new Error(`${s.name}: client ${s.client!.ip} cannot reach ClusterIP ${m.clusterIP}:${m.port} with ${s.set!.services.length} services: ${(err as Error).message}`);
  }
}

async function measureRound(s: Side, bins: Bins): Promise<RoundStats> {
  const m = s.set!.measured;
  const crr = await tcpRR(s.client!.netnsName, s.wrap, bins.tcpRr, 'crr', m.clusterIP, m.port, P.crrCount, P.crrWarmup);
  const rr = await tcpRR(s.client!.netnsName, s.wrap, bins.tcpRr, 'rr', m.clusterIP, m.port, P.rrCount, P.rrWarmup);
  const direct = await tcpRR(s.client!.netnsName, s.wrap, bins.tcpRr, 'crr', s.backends[0]!.ip, ECHO_PORT, P.crrCount, P.crrWarmup);
  const c = summarize(crr);
  const r = summarize(rr);
  const d = summarize(direct);
  return { connRate: connRate(crr), crrP50: c.p50, crrP99: c.p99, rrP50: r.p50, rrP99: r.p99, directP50: d.p50, directP99: d.p99 };
}

async function deliveredAt(s: Side): Promise<number> {
  let n = 0;
  for (const b of s.backends) n += await ipDelivered(b.netnsName);
  return n;
}

/**
 * The sender alone: the same flood into the iptables node, dropped as it
 * arrives (an nftables netdev ingress chain on the uplink, policy drop,
 * removed afterwards). What the other paths cost beyond it is theirs.
 */
async function ppsBaseline(s: Side, sender: Sender): Promise<PpsRound> {
  const table = 'mbk-drop';
  await inNetns(s.nodeNs, 'nft', ['-f', '-'], { input: `table netdev ${table} {\n  chain in { type filter hook ingress device "uplink" priority -500; policy drop; }\n}\n` });
  try {
    const r = await ppsRound(s, BASELINE, sender);
    return { ...r, delivered: r.sent };
  } finally {
    await inNetns(s.nodeNs, 'nft', ['delete', 'table', 'netdev', table]);
  }
}

async function ppsRound(s: Side, mode: string, sender: Sender): Promise<PpsRound> {
  const u = s.set!.measuredUdp!;
  const f = { worldNs: s.worldNs, srcMac: await macOf(s.worldNs, 'eth0'), srcIp: s.worldIp, dstMac: await macOf(s.nodeNs, 'uplink'), dstIp: s.nodeIp, dport: u.nodePort!, flows: P.flows, seconds: P.ppsWarmupSeconds, sender };
  await flood(f, tmpDir!); // warm-up: every flow known to conntrack before counting
  await sleep(200);
  const before = await deliveredAt(s);
  const r = await flood({ ...f, seconds: P.ppsSeconds }, tmpDir!);
  await sleep(200);
  const delivered = (await deliveredAt(s)) - before;
  return { mode, sender, sent: r.sent, delivered, seconds: r.seconds };
}

async function meta(): Promise<Record<string, unknown>> {
  return {
    ...(await machineFacts({
      iptables: [P.iptables === 'nft' ? 'iptables-nft' : 'iptables-legacy', ['--version']],
      nft: ['nft', ['--version']],
      trafgen: ['trafgen', ['--version']],
    })),
    params: P,
    sides: SIDES,
    cidrs: { ...CIDRS, service: SERVICE_CIDR, filler: FILLER_CIDR, membraneUplink: `${MEMBRANE_UPLINK}.0/24`, kubeProxyUplink: KP_UPLINK },
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (netns, veths, eBPF, netfilter)');
  for (const f of ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', path.join(HERE, '..', 'dist/cli/main.js'), path.join(HERE, '..', 'build/bpf/bpf_sock.o')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (make setup installs and builds everything)`);
  }
  for (const cmd of ['trafgen', 'nft', P.iptables === 'nft' ? 'iptables-nft-restore' : 'iptables-legacy-restore', 'ethtool', 'taskset']) {
    if ((await exec('sh', ['-c', `command -v ${cmd}`])).code !== 0) throw new Error(`${cmd} is missing (apt-get install netsniff-ng nftables iptables ethtool util-linux)`);
  }
  const started = Date.now();
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-`));
  for (const c of HOST_BLACKHOLES) await exec('ip', ['route', 'replace', 'blackhole', c]);
  const bins: Bins = { tcpRr: await buildC('tcp_rr', path.join(opts.out!, 'bin')), udpSink: await buildC('udp_sink', path.join(opts.out!, 'bin')) };

  log(`==> nodes: ${SIDES.join(', ')}`);
  const sides = await makeSides();
  const info = await meta();
  log(`==> pods: a client and ${P.backends} backends on each node`);
  for (const s of sides) {
    s.client = await s.addPod('client');
    await tuneClient(s.client.netnsName);
    for (let b = 0; b < P.backends; b++) {
      const pod = await s.addPod(`be${b}`);
      s.backends.push(pod);
      await startBackend(daemons, pod.netnsName, bins, s.wrap);
    }
  }

  const results: CountResult[] = [];
  const programs: ProgramSample[] = [];
  const membraneDetail: Array<{ count: number; format: ManifestFormat } & MembraneProgram> = [];
  const pps: PpsRound[] = [];
  let breakdown: Record<string, number> | undefined;
  const prevSet = new Map<SideName, ServiceSet>();
  const largest = Math.max(...P.counts);

  for (const count of P.counts) {
    log(`==> ${count} services × ${P.backends} backends`);
    for (const s of sides) {
      s.set = serviceSet(s, count);
      // Membrane takes both exports of a cluster: YAML documents, and one JSON List (the last one stays).
      for (const format of s.name === 'membrane' ? (['yaml', 'json'] as const) : (['yaml'] as const)) {
        const sample: ProgramSample = { side: s.name, ...(s.name === 'membrane' ? { variant: format === 'json' ? 'JSON List' : 'YAML' } : {}), count, ms: [], bytes: 0 };
        for (let rep = 0; rep < P.programReps; rep++) {
          const r = await program(s, s.set, prevSet.get(s.name), format);
          prevSet.set(s.name, s.set);
          sample.ms.push(r.ms);
          sample.bytes = r.bytes;
          if (r.detail) membraneDetail.push({ count, format, ...r.detail });
          if (r.ms > P.programRepeatBelowMs && rep + 1 < P.programReps) {
            sample.note = `not repeated: one load takes over ${P.programRepeatBelowMs / 1000} s`;
            break;
          }
        }
        programs.push(sample);
        log(`  program ${`${s.name}${sample.variant ? ` (${sample.variant})` : ''}`.padEnd(22)} ${sample.ms.map((x) => `${round(x)} ms`).join(', ')}`);
      }
      await checkPath(s, bins);
    }
    if (membrane && count === largest) breakdown = await membraneBreakdown(sides.find((s) => s.name === 'membrane')!);

    const cr: CountResult = { count, rounds: {} };
    for (let r = 0; r < P.rounds; r++) {
      // Rotate who goes first, so drift on the machine hits every side alike.
      const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
      const line: string[] = [];
      for (const s of order) {
        const st = await measureRound(s, bins);
        (cr.rounds[s.name] ??= []).push(st);
        line.push(`${s.name} ${round(st.connRate)} conn/s CRR p50 ${round(st.crrP50)} µs (pod IP ${round(st.directP50)}) RR p50 ${round(st.rrP50)} µs`);
      }
      log(`  round ${r + 1}/${P.rounds}: ${line.join('; ')}`);
    }
    results.push(cr);

    if (count === largest) {
      log(`==> NodePort packets per second (trafgen, ${P.flows} flows, ${P.ppsSeconds} s) while ${count} services exist`);
      let accel: Acceleration = membrane?.acceleration ?? 'xdp';
      const measure = async (s: Side, mode: string) => {
        for (const sender of P.ppsSenders) {
          const res = await ppsRound(s, mode, sender);
          pps.push(res);
          log(`  ${res.mode.padEnd(13)} ${res.sender.padEnd(6)} ${round(res.delivered / res.seconds)} pps delivered of ${round(res.sent / res.seconds)} sent`);
        }
      };
      for (let r = 0; r < P.ppsRounds; r++) {
        for (const s of sides) {
          if (s.name === 'membrane') {
            // Both modes every round; the agent restarts to switch (the services stay).
            for (const a of [accel, accel === 'xdp' ? 'none' : 'xdp'] as Acceleration[]) {
              if (membrane!.acceleration !== a) await membrane!.startAgent(a);
              await measure(s, a === 'xdp' ? 'membrane-xdp' : 'membrane-tc');
            }
            accel = membrane!.acceleration;
          } else {
            await measure(s, s.name);
            if (s.name === 'iptables') {
              for (const sender of P.ppsSenders) {
                const res = await ppsBaseline(s, sender);
                pps.push(res);
                log(`  ${'sender alone'.padEnd(13)} ${res.sender.padEnd(6)} ${round(res.sent / res.seconds)} pps sent (dropped on arrival)`);
              }
            }
          }
        }
      }
    }
  }

  // --- report ----------------------------------------------------------------
  const aims = svcAims(results, programs, pps, largest);
  const iptRules = countRules(syncRestore(sides[0]!.set!.services, { clusterCidr: CIDRS.iptables }));
  const md = [
    `Services: Membrane vs kube-proxy (iptables ${P.iptables}, nftables) — ${String(info.date).slice(0, 16).replace('T', ' ')} UTC, Linux ${info.kernel}, ${info.cpus} CPUs (${info.cpuModel}), Node ${info.node}; load average ${(info.loadavgAtStart as number[])[0]} at start, ${round(os.loadavg()[0]!)} at end`,
    '',
    `One client pod, one ClusterIP with ${P.backends} backend pods (the ${P.measuredAt} of the list), amid ${P.counts.join(' / ')} services of ${P.backends} backends (every ${P.nodePortEvery}th a NodePort; ${endpointCount(sides[0]!.set!.services)} endpoints and ${iptRules.rules} iptables rules in ${iptRules.chains} chains at ${largest}). ` +
      `Medians over ${P.rounds} rounds (sides rotate who goes first); CRR: ${P.crrCount} connections per round (connect + 64-byte round trip; rate = 1/mean), RR: ${P.rrCount} round trips on one connection; "to a pod IP": the same CRR to one backend's own address, no service.`,
    '',
    '### New connections to one ClusterIP',
    '',
    connTable(results),
    '### Latency',
    '',
    latencyTable(results),
    `### Programming ${largest} services (and the smaller counts), from a node without services`,
    '',
    programTable(programs),
    breakdown ? `Membrane, where the time of one apply of ${largest} services goes (ms): ${Object.entries(breakdown).map(([k, v]) => `${k} ${round(v)}`).join('; ')}\n` : '',
    `### NodePort packets per second (UDP, ${P.flows} flows, ${P.ppsSeconds} s per round, ${P.ppsRounds} rounds, counted at the backends' IP layer)`,
    '',
    ...P.ppsSenders.flatMap((sender) => [
      sender === 'sendto' ? 'trafgen, one sendto() per packet (linear skbs, as a NIC driver builds them):' : "trafgen's TX ring (paged skbs: the IP header outside the linear area):",
      '',
      pps.length ? ppsTable(pps, sender) : '(not measured)\n',
    ]),
    '### Aims',
    '',
    aimsMarkdown(aims),
  ].join('\n');
  const result = {
    meta: { ...info, durationS: Math.round((Date.now() - started) / 1000), loadavgAtEnd: os.loadavg().map(round) },
    aims,
    connections: results,
    programs,
    membranePrograms: membraneDetail,
    membraneBreakdownMs: breakdown ?? null,
    pps,
  };
  fs.mkdirSync(opts.out!, { recursive: true });
  const stamp = String(info.date).replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  fs.writeFileSync(path.join(opts.out!, `services-${stamp}.json`), json);
  fs.writeFileSync(path.join(opts.out!, 'services-latest.json'), json);
  fs.writeFileSync(path.join(opts.out!, 'services-latest.md'), md);
  process.stdout.write(`\n${md}`);
  log(`==> results: ${path.join(opts.out!, `services-${stamp}.json`)} (also services-latest.json, services-latest.md); ${result.meta.durationS} s`);
}

/**
 * Where one apply of the largest set goes: the CLI process in all, the same
 * manifest posted straight to the agent, the agent's sync (compute + map
 * writes, from its status), and, timed here, parsing and validating the
 * manifest (what the CLI does locally before sending, and the agent again)
 * and a bare Node start.
 */
async function membraneBreakdown(s: Side): Promise<Record<string, number>> {
  const m = membrane!;
  const set = s.set!;
  const text = manifests(set.services);
  const p0 = process.hrtime.bigint();
  parseManifests(text, 'bench');
  const parseMs = Number(process.hrtime.bigint() - p0) / 1e6;
  const jsonText = manifests(set.services, 'json');
  const j0 = process.hrtime.bigint();
  parseManifests(jsonText, 'bench');
  const parseJsonMs = Number(process.hrtime.bigint() - j0) / 1e6;
  await m.clear(set.services);
  const direct = await m.programDirect(set.services);
  const st = await m.status();
  await m.clear(set.services);
  const directJson = await m.programDirect(set.services, 'json');
  const nodeStart = await exec('nsenter', [`--net=/var/run/netns/${m.nodeNs}`, '--', NODE_BIN, '-e', '0']);
  // The same count without NodePorts: no Maglev tables to build.
  await m.clear(set.services);
  const plain = makeServiceSet({ ...specOf(s, set.services.length - 1), nodePortEvery: 0 });
  await m.programDirect(plain.services);
  const st2 = await m.status();
  await m.clear(plain.services);
  const cli = await m.program(set.services);
  const sync = st.services.lastSync;
  return {
    'membrane apply -f of YAML (CLI process, spawn to exit)': cli.ms,
    'of which: agent API call alone (POST /v1/apply of the YAML)': direct.ms,
    'of which: agent sync, desired state + plan': sync?.computeMs ?? Number.NaN,
    'of which: agent sync, map writes': sync?.writeMs ?? Number.NaN,
    'map entries written': sync?.writes ?? Number.NaN,
    'Maglev tables built': sync?.maglevTables ?? Number.NaN,
    'parse + validate the YAML once, in this process (the CLI does it, then the agent)': parseMs,
    'agent API call alone with the same as one JSON List': directJson.ms,
    'parse + validate the JSON List once, in this process': parseJsonMs,
    'bare node start (node -e 0)': nodeStart.ms,
    'same count without NodePorts (no Maglev tables): agent sync, desired state + plan': st2.services.lastSync?.computeMs ?? Number.NaN,
    'same count without NodePorts: agent sync, map writes': st2.services.lastSync?.writeMs ?? Number.NaN,
  };
}

await runWithCleanup('services bench', main, cleanup, log);
