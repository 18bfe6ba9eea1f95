// The comparison table (markdown) and the aims, from measured results. Pure.
import { median, round } from './stats.ts';

/** Ratios within this of 1 count as equal. */
export const TOLERANCE = 0.03;

export type Verdict = 'Membrane better' | 'bridge better' | 'no clear difference';

export interface Row {
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  membrane: number;
  bridge: number;
  /** membrane / bridge */
  ratio: number;
  /** Paired rounds (same round, back to back) in which Membrane did better. */
  wins?: number;
  rounds?: number;
  /** Datapath rows decide the aims; the others (Node client/server) are shown for information. */
  informational?: boolean;
  verdict: Verdict;
}

/**
 * Better/worse needs the median ratio beyond the tolerance and, when there
 * are paired rounds, the same side ahead in most of them (otherwise one lucky
 * or unlucky round could decide).
 */
export function verdict(r: Pick<Row, 'better' | 'ratio' | 'wins' | 'rounds'>): Verdict {
  const membraneAhead = r.better === 'lower' ? r.ratio < 1 - TOLERANCE : r.ratio > 1 + TOLERANCE;
  const bridgeAhead = r.better === 'lower' ? r.ratio > 1 + TOLERANCE : r.ratio < 1 - TOLERANCE;
  const majority = (w: number) => r.wins === undefined || r.rounds === undefined || w * 2 > r.rounds;
  if (membraneAhead && majority(r.wins ?? 0)) return 'Membrane better';
  if (bridgeAhead && majority((r.rounds ?? 0) - (r.wins ?? 0))) return 'bridge better';
  return 'no clear difference';
}

export function row(metric: string, unit: string, better: Row['better'], membrane: number, bridge: number): Row {
  const base = { metric, unit, better, membrane: round(membrane), bridge: round(bridge), ratio: Number((membrane / bridge).toFixed(2)) };
  return { ...base, verdict: verdict(base) };
}

/** A row from per-round values: the median of the rounds on each side, and the paired wins. */
export function roundsRow(metric: string, unit: string, better: Row['better'], membrane: readonly number[], bridge: readonly number[], informational = false): Row {
  const r = row(metric, unit, better, median(membrane), median(bridge));
  const rounds = Math.min(membrane.length, bridge.length);
  let wins = 0;
  for (let i = 0; i < rounds; i++) if (better === 'lower' ? membrane[i]! < bridge[i]! : membrane[i]! > bridge[i]!) wins++;
  const out: Row = { ...r, wins, rounds, ...(informational ? { informational } : {}) };
  return { ...out, verdict: verdict(out) };
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| metric | Membrane | bridge | Membrane/bridge | rounds Membrane better | verdict |',
    '|---|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.metric} (${r.better} is better)${r.informational ? ' ¹' : ''} | ${fmt(r.membrane)} ${r.unit} | ${fmt(r.bridge)} ${r.unit} | ${r.ratio.toFixed(2)} | ${r.rounds !== undefined ? `${r.wins}/${r.rounds}` : ''} | ${r.verdict} |`,
    ),
  ];
  if (rows.some((r) => r.informational)) lines.push('', '¹ application view (Node client and server): shown, not used to judge the aims — see bench/README.md.');
  return `${lines.join('\n')}\n`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? String(x) : 'n/a';
}

export interface Aim {
  aim: string;
  met: boolean;
  evidence: string;
}

/** The issue's aims, judged on the datapath rows' verdicts. */
export function aims(rows: readonly Row[], addP50Ms: number): Aim[] {
  const dp = rows.filter((r) => !r.informational && Number.isFinite(r.ratio));
  const lat = (stat: string) => dp.filter((r) => r.better === 'lower' && r.unit === 'µs' && r.metric.endsWith(stat));
  const tput = dp.filter((r) => r.better === 'higher');
  const list = (rs: readonly Row[]) => rs.map((r) => `${r.metric} ×${r.ratio.toFixed(2)}${r.rounds !== undefined ? ` (${r.wins}/${r.rounds})` : ''}: ${r.verdict}`).join('; ');
  const noneWorse = (rs: readonly Row[]) => rs.length > 0 && rs.every((r) => r.verdict !== 'bridge better');
  return [
    { aim: 'p50 pod-to-pod latency at least equal to the bridge', met: noneWorse(lat('p50')), evidence: list(lat('p50')) },
    { aim: 'peer redirect beats the bridge: every p50 latency clearly lower', met: lat('p50').length > 0 && lat('p50').every((r) => r.verdict === 'Membrane better'), evidence: list(lat('p50')) },
    { aim: 'p99 pod-to-pod latency at least equal to the bridge', met: noneWorse(lat('p99')), evidence: list(lat('p99')) },
    { aim: 'single-stream throughput at least equal to the bridge', met: noneWorse(tput), evidence: list(tput) },
    { aim: 'CNI ADD p50 under 50 ms', met: addP50Ms < 50, evidence: `Membrane ADD p50 ${round(addP50Ms)} ms` },
  ];
}

export function markdownAims(list: readonly Aim[]): string {
  return `${list.map((a) => `- ${a.met ? '**met**' : '**not met**'}: ${a.aim} — ${a.evidence}`).join('\n')}\n`;
}
