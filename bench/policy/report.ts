// Tables and aims of the policy benchmark, from measured samples. Pure.
import { median, round } from '../lib/stats.ts';

export type Side = 'membrane' | 'iptables';

/**
 * A connection-rate configuration: `rules` policies between the pair (0: no
 * policy); with `agentPaused`, Membrane's agent is stopped (SIGSTOP) during
 * the measurement, so nothing reads the datapath's events (Membrane only); or
 * the bridge without kube-router (iptables only).
 */
export type Config = { kind: 'rules'; rules: number; agentPaused?: boolean } | { kind: 'bare' };

export const configName = (c: Config): string => (c.kind === 'bare' ? 'bare' : `${c.rules === 0 ? 'none' : String(c.rules)}${c.agentPaused ? '-paused' : ''}`);
export const configLabel = (c: Config): string =>
  c.kind === 'bare' ? 'no kube-router (bridge alone)' : `${c.rules === 0 ? 'no policy' : `${c.rules} rules`}${c.agentPaused ? ', Membrane agent paused (no event reader)' : ''}`;
/** Which sides measure a configuration. */
export const configSides = (c: Config): Side[] => (c.kind === 'bare' ? ['iptables'] : c.agentPaused ? ['membrane'] : ['membrane', 'iptables']);

/** One side's measurement of one configuration in one round. */
export interface RateSample {
  round: number;
  side: Side;
  config: string;
  rate: number;
  p50Us: number;
  p99Us: number;
  connections: number;
  seconds: number;
  /** What the probes of the allowed and the denied port gave before the measurement. */
  allowed: string;
  denied: string;
  /** Membrane: CPU seconds the agent used during the measurement (it reads the datapath's events). */
  agentCpuS?: number;
  /** Membrane: datapath events the agent received per connection made (warm-up included). */
  eventsPerConn?: number;
}

/** One programming of one side (ms, spawn to exit of what was timed; `parts` broken down). */
export interface ProgramSample {
  side: Side;
  family: 'rules' | 'spread';
  /** Programming the policies from a node without any, or removing them all again. */
  action: 'program' | 'remove';
  policies: number;
  /** Membrane: how the manifest went in ("apply -f YAML", "apply -f JSON List", "API, YAML"). */
  variant: string;
  ms: number;
  parts?: Record<string, number>;
  /** Map entries / ipsets / rules afterwards, and anything else worth keeping. */
  detail?: Record<string, unknown>;
}

const fmt = (x: number | undefined, unit = ''): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${round(x)}${unit ? ` ${unit}` : ''}`);
const known = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);

function samples(all: readonly RateSample[], side: Side, config: string): RateSample[] {
  return all.filter((s) => s.side === side && s.config === config).sort((a, b) => a.round - b.round);
}

/** Median of the per-round ratios a/b (of `k`, the rate by default), pairing the two series by round; and in how many rounds a > b. */
export function pairedRatio(a: readonly RateSample[], b: readonly RateSample[], k: 'rate' | 'p50Us' = 'rate'): { ratio: number | undefined; ahead: number; n: number } {
  const byRound = new Map(b.map((s) => [s.round, s]));
  const ratios: number[] = [];
  let ahead = 0;
  for (const x of a) {
    const y = byRound.get(x.round);
    if (!y) continue;
    ratios.push(x[k] / y[k]);
    if (x[k] > y[k]) ahead++;
  }
  return { ratio: ratios.length ? median(ratios) : undefined, ahead, n: ratios.length };
}

export interface ConfigSummary {
  config: string;
  label: string;
  rate: Partial<Record<Side, number>>;
  p50: Partial<Record<Side, number>>;
  p99: Partial<Record<Side, number>>;
  /** Membrane / iptables, median of per-round ratios; rounds Membrane ahead. */
  vsIptables?: { ratio: number | undefined; ahead: number; n: number };
  /** Each side against its own no-policy rate, median of per-round ratios. */
  vsNone: Partial<Record<Side, number>>;
  /** Each side's p50 latency against its own no-policy p50, median of per-round ratios. */
  p50VsNone: Partial<Record<Side, number>>;
  /** Membrane's agent, CPU seconds per measurement (median). */
  agentCpuS?: number;
  /** Membrane: datapath events received per connection (median). */
  eventsPerConn?: number;
}

export function summarizeConfigs(all: readonly RateSample[], configs: readonly Config[]): ConfigSummary[] {
  return configs.map((c) => {
    const name = configName(c);
    const s: ConfigSummary = { config: name, label: configLabel(c), rate: {}, p50: {}, p99: {}, vsNone: {}, p50VsNone: {} };
    for (const side of ['membrane', 'iptables'] as const) {
      const x = samples(all, side, name);
      if (!x.length) continue;
      s.rate[side] = median(x.map((v) => v.rate));
      s.p50[side] = median(x.map((v) => v.p50Us));
      s.p99[side] = median(x.map((v) => v.p99Us));
      const none = samples(all, side, 'none');
      if (none.length) {
        s.vsNone[side] = pairedRatio(x, none).ratio;
        s.p50VsNone[side] = pairedRatio(x, none, 'p50Us').ratio;
      }
    }
    const m = samples(all, 'membrane', name);
    const i = samples(all, 'iptables', name);
    const cpu = m.map((v) => v.agentCpuS).filter(known);
    if (cpu.length) s.agentCpuS = median(cpu);
    const ev = m.map((v) => v.eventsPerConn).filter(known);
    if (ev.length) s.eventsPerConn = median(ev);
    if (m.length && i.length) s.vsIptables = pairedRatio(m, i);
    return s;
  });
}

const x3 = (v: number | undefined) => (known(v) ? `×${v.toFixed(3)}` : '');

export function connTable(sum: readonly ConfigSummary[]): string {
  const lines = [
    '| between the pair | Membrane conn/s | iptables conn/s | Membrane/iptables | rounds Membrane ahead | Membrane vs no policy | iptables vs no policy |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of sum) {
    const v = s.vsIptables;
    lines.push(`| ${s.label} | ${fmt(s.rate.membrane)} | ${fmt(s.rate.iptables)} | ${v?.ratio !== undefined ? v.ratio.toFixed(2) : ''} | ${v ? `${v.ahead}/${v.n}` : ''} | ${x3(s.vsNone.membrane)} | ${x3(s.vsNone.iptables)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** Per-connection latency (connect to echo) and the agent's CPU while measuring. */
export function latencyTable(sum: readonly ConfigSummary[]): string {
  const lines = [
    '| between the pair | Membrane p50 µs | vs no policy | Membrane p99 µs | Membrane agent CPU s per run | events per connection | iptables p50 µs | vs no policy | iptables p99 µs |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of sum) {
    lines.push(`| ${s.label} | ${fmt(s.p50.membrane)} | ${x3(s.p50VsNone.membrane)} | ${fmt(s.p99.membrane)} | ${fmt(s.agentCpuS)} | ${fmt(s.eventsPerConn)} | ${fmt(s.p50.iptables)} | ${x3(s.p50VsNone.iptables)} | ${fmt(s.p99.iptables)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** Programming samples grouped (side, family, policies, variant) with the median and the medians of the parts. */
export function programTable(all: readonly ProgramSample[]): string {
  const groups = new Map<string, ProgramSample[]>();
  for (const p of all) {
    const k = `${p.action}\u0000${p.family}\u0000${p.policies}\u0000${p.side}\u0000${p.variant}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(p);
  }
  const lines = ['| policies | side, how | n | median ms | parts (medians, ms) | afterwards |', '|---|---|---:|---:|---|---|'];
  for (const g of groups.values()) {
    const p0 = g[0]!;
    const partNames = [...new Set(g.flatMap((p) => Object.keys(p.parts ?? {})))];
    const parts = partNames.map((k) => `${k} ${fmt(median(g.map((p) => p.parts?.[k]).filter(known)))}`).join('; ');
    const detail = Object.entries(g.at(-1)!.detail ?? {})
      .map(([k, v]) => `${k} ${typeof v === 'number' ? round(v) : String(v)}`)
      .join('; ');
    lines.push(`| ${p0.action === 'remove' ? 'removing ' : ''}${p0.policies} (${p0.family}) | ${p0.side}, ${p0.variant} | ${g.length} | ${fmt(median(g.map((p) => p.ms)))} | ${parts} | ${detail} |`);
  }
  return `${lines.join('\n')}\n`;
}

export interface Aim {
  aim: string;
  met: boolean | undefined;
  evidence: string;
}

/** The issue's aims for the connection rate, at the largest rule count measured. */
export function policyAims(sum: readonly ConfigSummary[], largest: number): Aim[] {
  const top = sum.find((s) => s.config === String(largest));
  const none = sum.find((s) => s.config === 'none');
  const flat = top?.vsNone.membrane;
  const out: Aim[] = [
    {
      aim: `Membrane's new-connection rate with ${largest} rules within 5 % of no policy`,
      met: known(flat) ? flat >= 0.95 : undefined,
      evidence: `${fmt(top?.rate.membrane, 'conn/s')} against ${fmt(none?.rate.membrane, 'conn/s')} with no policy; median of the per-round ratios ×${known(flat) ? flat.toFixed(3) : 'n/a'}`,
    },
  ];
  for (const s of sum.filter((x) => x.vsIptables)) {
    const v = s.vsIptables!;
    out.push({
      aim: `ahead of iptables (kube-router) with ${s.label}`,
      met: v.ratio !== undefined ? v.ratio > 1 && v.ahead > v.n / 2 : undefined,
      evidence: `Membrane ${fmt(s.rate.membrane, 'conn/s')}, iptables ${fmt(s.rate.iptables, 'conn/s')}: ×${v.ratio?.toFixed(2) ?? 'n/a'}, ahead in ${v.ahead}/${v.n} rounds`,
    });
  }
  return out;
}

export function aimsMarkdown(list: readonly Aim[]): string {
  return `${list.map((a) => `- ${a.met === undefined ? '**not measured**' : a.met ? '**met**' : '**not met**'}: ${a.aim} — ${a.evidence}`).join('\n')}\n`;
}
