// Tables and aims of the services benchmark, from measured results. Pure.
import { median, round } from './stats.ts';

export type SideName = 'membrane' | 'iptables' | 'nftables';
export const SIDE_NAMES: readonly SideName[] = ['membrane', 'iptables', 'nftables'];

/** Per-round statistics of one side at one service count. */
export interface RoundStats {
  /** Connections per second of the one serial client. */
  connRate: number;
  crrP50: number;
  crrP99: number;
  rrP50: number;
  rrP99: number;
  /** The same CRR to a backend pod's own IP (no service): the pod path, and what every new connection pays. */
  directP50: number;
  directP99: number;
}

export interface CountResult {
  count: number;
  rounds: Partial<Record<SideName, RoundStats[]>>;
}

/**
 * How trafgen sends: "sendto", one packet per system call, each skb linear
 * (headers in the linear area, as a NIC's receive path builds them); "ring",
 * its TX ring, skbs whose payload (the IP header included) sits in page
 * fragments.
 */
export type Sender = 'sendto' | 'ring';

export interface PpsRound {
  /** e.g. "membrane-xdp", "membrane-tc", "iptables", "nftables". */
  mode: string;
  sender: Sender;
  sent: number;
  delivered: number;
  seconds: number;
}

export interface ProgramSample {
  side: SideName;
  /** e.g. the manifest format Membrane was given. */
  variant?: string;
  count: number;
  ms: number[];
  bytes: number;
  /** Set when the later repetitions were skipped because one took too long. */
  note?: string;
}

const fmt = (x: number | undefined, unit = ''): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${round(x)}${unit ? ` ${unit}` : ''}`);
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || !Number.isFinite(a / b) ? 'n/a' : (a / b).toFixed(2));

export function medianOf(rounds: readonly RoundStats[] | undefined, k: keyof RoundStats): number | undefined {
  if (!rounds || rounds.length === 0) return undefined;
  return median(rounds.map((r) => r[k]));
}

/** Rounds (paired by index) in which `a` beat `b` on k (higher or lower is better). */
export function wins(a: readonly RoundStats[] | undefined, b: readonly RoundStats[] | undefined, k: keyof RoundStats, better: 'higher' | 'lower'): string {
  if (!a || !b) return '';
  const n = Math.min(a.length, b.length);
  let w = 0;
  for (let i = 0; i < n; i++) if (better === 'higher' ? a[i]![k] > b[i]![k] : a[i]![k] < b[i]![k]) w++;
  return `${w}/${n}`;
}

export function connTable(results: readonly CountResult[]): string {
  const lines = [
    '| services | Membrane conn/s | iptables conn/s | nftables conn/s | Membrane/iptables | Membrane/nftables | rounds Membrane ahead (ipt, nft) |',
    '|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const m = medianOf(r.rounds.membrane, 'connRate');
    const i = medianOf(r.rounds.iptables, 'connRate');
    const n = medianOf(r.rounds.nftables, 'connRate');
    lines.push(`| ${r.count} | ${fmt(m)} | ${fmt(i)} | ${fmt(n)} | ${ratio(m, i)} | ${ratio(m, n)} | ${wins(r.rounds.membrane, r.rounds.iptables, 'connRate', 'higher')}, ${wins(r.rounds.membrane, r.rounds.nftables, 'connRate', 'higher')} |`);
  }
  return `${lines.join('\n')}\n`;
}

export function latencyTable(results: readonly CountResult[]): string {
  const lines = [
    '| services | side | CRR p50 µs | CRR p99 µs | RR p50 µs | RR p99 µs | CRR to a pod IP p50 µs | CRR to a pod IP p99 µs | service − pod IP, p50 µs |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const s of SIDE_NAMES) {
      const rs = r.rounds[s];
      if (!rs) continue;
      const svc = medianOf(rs, 'crrP50');
      const direct = medianOf(rs, 'directP50');
      lines.push(
        `| ${r.count} | ${s} | ${fmt(svc)} | ${fmt(medianOf(rs, 'crrP99'))} | ${fmt(medianOf(rs, 'rrP50'))} | ${fmt(medianOf(rs, 'rrP99'))} | ${fmt(direct)} | ${fmt(medianOf(rs, 'directP99'))} | ${svc !== undefined && direct !== undefined ? fmt(svc - direct) : 'n/a'} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Median over rounds of a/b within each round (e.g. ClusterIP CRR p50 over pod-IP CRR p50 in the same round). */
export function medianRatio(rounds: readonly RoundStats[] | undefined, a: keyof RoundStats, b: keyof RoundStats): number | undefined {
  if (!rounds || rounds.length === 0) return undefined;
  return median(rounds.map((r) => r[a] / r[b]));
}

/**
 * The service's own share, flat or not: ClusterIP CRR p50 over the same
 * round's pod-IP CRR p50, at the largest count over at the smallest. Rounds
 * of different counts run minutes apart, and the machine's speed drifts in
 * between; within a round it hits both alike.
 */
export function relativeFlatness(results: readonly CountResult[]): Partial<Record<SideName, number>> {
  const first = results[0];
  const last = results.at(-1);
  const out: Partial<Record<SideName, number>> = {};
  if (!first || !last || first === last) return out;
  for (const s of SIDE_NAMES) {
    const a = medianRatio(first.rounds[s], 'crrP50', 'directP50');
    const b = medianRatio(last.rounds[s], 'crrP50', 'directP50');
    if (a !== undefined && b !== undefined) out[s] = b / a;
  }
  return out;
}

/** p50 at the largest count over p50 at the smallest, per side (1.00 = flat). */
export function flatness(results: readonly CountResult[], k: keyof RoundStats = 'crrP50'): Partial<Record<SideName, number>> {
  const first = results[0];
  const last = results.at(-1);
  const out: Partial<Record<SideName, number>> = {};
  if (!first || !last || first === last) return out;
  for (const s of SIDE_NAMES) {
    const a = medianOf(first.rounds[s], k);
    const b = medianOf(last.rounds[s], k);
    if (a !== undefined && b !== undefined) out[s] = b / a;
  }
  return out;
}

export function programTable(samples: readonly ProgramSample[]): string {
  const lines = ['| services | side | time (median) | samples | input |', '|---:|---|---:|---|---:|'];
  for (const p of samples) {
    lines.push(`| ${p.count} | ${p.side}${p.variant ? ` (${p.variant})` : ''} | ${fmt(median(p.ms), 'ms')} | ${p.ms.map((x) => round(x)).join(', ')}${p.note ? ` (${p.note})` : ''} | ${fmt(p.bytes / 1e6, 'MB')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** Mode name of the sender-alone flood (dropped on arrival). */
export const BASELINE = 'sender alone';

export interface PpsSummary {
  mode: string;
  deliveredPps: number;
  sentPps: number;
  deliveredShare: number;
  rounds: number;
}

export function ppsSummary(rounds: readonly PpsRound[], sender: Sender = 'sendto'): PpsSummary[] {
  const mine = rounds.filter((r) => r.sender === sender);
  const modes = [...new Set(mine.map((r) => r.mode))];
  return modes.map((mode) => {
    const rs = mine.filter((r) => r.mode === mode);
    return {
      mode,
      deliveredPps: median(rs.map((r) => r.delivered / r.seconds)),
      sentPps: median(rs.map((r) => r.sent / r.seconds)),
      deliveredShare: median(rs.map((r) => (r.sent > 0 ? r.delivered / r.sent : 0))),
      rounds: rs.length,
    };
  });
}

/**
 * µs of one CPU per packet beyond the sender's own: 1/rate of a path minus
 * 1/rate of the sender alone (sender and datapath share the CPU, and every
 * path delivers all it is sent).
 */
export function costBeyondSender(s: PpsSummary | undefined, base: PpsSummary | undefined): number | undefined {
  if (!s || !base || s.deliveredShare < 0.99 || !(s.sentPps > 0) || !(base.sentPps > 0)) return undefined;
  return 1e6 / s.sentPps - 1e6 / base.sentPps;
}

export function ppsTable(rounds: readonly PpsRound[], sender: Sender = 'sendto', baseline = 'iptables'): string {
  const sum = ppsSummary(rounds, sender);
  const baseRow = sum.find((s) => s.mode === baseline);
  const alone = sum.find((s) => s.mode === BASELINE);
  const baseCost = costBeyondSender(baseRow, alone);
  const lines = [
    '| NodePort path | delivered pps (median) | sent pps | delivered/sent | ×iptables | µs per packet beyond the sender | iptables µs / this µs | rounds |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of sum) {
    if (s.mode === BASELINE) continue;
    const cost = costBeyondSender(s, alone);
    lines.push(`| ${s.mode} | ${fmt(s.deliveredPps)} | ${fmt(s.sentPps)} | ${s.deliveredShare.toFixed(2)} | ${ratio(s.deliveredPps, baseRow?.deliveredPps)} | ${fmt(cost)} | ${ratio(baseCost, cost)} | ${s.rounds} |`);
  }
  if (alone) lines.push(`| ${BASELINE} (dropped on arrival: nftables netdev ingress) | — | ${fmt(alone.sentPps)} | — | — | 0 | — | ${alone.rounds} |`);
  return `${lines.join('\n')}\n`;
}

export interface SvcAim {
  aim: string;
  met: boolean | undefined;
  evidence: string;
}

/** The issue's aims, judged on the medians (undefined: not measured in this run). */
export function svcAims(results: readonly CountResult[], programs: readonly ProgramSample[], pps: readonly PpsRound[], largest: number): SvcAim[] {
  const at = results.find((r) => r.count === largest);
  const m = medianOf(at?.rounds.membrane, 'connRate');
  const i = medianOf(at?.rounds.iptables, 'connRate');
  const n = medianOf(at?.rounds.nftables, 'connRate');
  const flat = flatness(results);
  const rel = relativeFlatness(results);
  const direct = flatness(results, 'directP50');
  const progs = programs.filter((p) => p.side === 'membrane' && p.count === largest);
  const prog = progs.length ? progs.reduce((a, b) => (median(a.ms) <= median(b.ms) ? a : b)) : undefined;
  const progMs = prog ? median(prog.ms) : undefined;
  const sum = ppsSummary(pps, 'sendto');
  const xdp = sum.find((s) => s.mode === 'membrane-xdp')?.deliveredPps;
  const ipt = sum.find((s) => s.mode === 'iptables')?.deliveredPps;
  const xdpCost = costBeyondSender(sum.find((s) => s.mode === 'membrane-xdp'), sum.find((s) => s.mode === BASELINE));
  const iptCost = costBeyondSender(sum.find((s) => s.mode === 'iptables'), sum.find((s) => s.mode === BASELINE));
  const known = (x: number | undefined) => x !== undefined && Number.isFinite(x);
  return [
    {
      aim: `connection rate at ${largest} services ≥ 2× iptables`,
      met: known(m) && known(i) ? m! >= 2 * i! : undefined,
      evidence: `Membrane ${fmt(m, 'conn/s')}, iptables ${fmt(i, 'conn/s')}: ×${ratio(m, i)}`,
    },
    {
      aim: `connection rate at ${largest} services ahead of nftables`,
      met: known(m) && known(n) ? m! > n! : undefined,
      evidence: `Membrane ${fmt(m, 'conn/s')}, nftables ${fmt(n, 'conn/s')}: ×${ratio(m, n)}`,
    },
    {
      aim: `latency flat from ${results[0]?.count ?? '?'} to ${largest} services`,
      met: rel.membrane !== undefined ? rel.membrane <= 1.1 : undefined,
      evidence:
        `ClusterIP CRR p50 relative to the same round's pod-IP CRR p50, at ${largest} over at ${results[0]?.count ?? '?'} (flat: within 10 %): ${SIDE_NAMES.filter((s) => rel[s] !== undefined).map((s) => `${s} ×${rel[s]!.toFixed(2)}`).join(', ')}. ` +
        `Raw CRR p50: ${SIDE_NAMES.filter((s) => flat[s] !== undefined).map((s) => `${s} ×${flat[s]!.toFixed(2)}`).join(', ')}; pod-IP CRR p50 (no service): ${SIDE_NAMES.filter((s) => direct[s] !== undefined).map((s) => `${s} ×${direct[s]!.toFixed(2)}`).join(', ')}`,
    },
    {
      aim: `${largest} services programmed in under 1 s`,
      met: progMs !== undefined ? progMs < 1000 : undefined,
      evidence: progs.map((p) => `membrane apply -f${p.variant ? ` (${p.variant})` : ''} → maps written: ${fmt(median(p.ms), 'ms')} (median of ${p.ms.length})`).join('; ') || 'not measured',
    },
    {
      aim: 'NodePort: XDP ≥ 3× iptables DNAT in packets per second (linear skbs, as from a NIC)',
      met: known(xdp) && known(ipt) ? xdp! >= 3 * ipt! : undefined,
      evidence: `XDP ${fmt(xdp, 'pps')}, iptables ${fmt(ipt, 'pps')}: ×${ratio(xdp, ipt)}${xdpCost !== undefined && iptCost !== undefined ? `; per packet beyond the sender: XDP ${fmt(xdpCost, 'µs')}, iptables ${fmt(iptCost, 'µs')} (×${ratio(iptCost, xdpCost)})` : ''}`,
    },
  ];
}

export function aimsMarkdown(list: readonly SvcAim[]): string {
  return `${list.map((a) => `- ${a.met === undefined ? '**not measured**' : a.met ? '**met**' : '**not met**'}: ${a.aim} — ${a.evidence}`).join('\n')}\n`;
}
