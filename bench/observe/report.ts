// The observability benchmark's judgement and tables, from measured
// samples. Pure.
import { median, round } from '../lib/stats.ts';

/** One step of the event-rate ladder: the producer at `rate` for `seconds`. */
export interface RateStep {
  rate: number;
  seconds: number;
  produced: number;
  /** Records the agent handed to its pipeline during the step and the drain after it. */
  received: number;
  /** Events the datapath could not write (ring buffer full): mb_metrics reason 0xff. */
  lost: number;
  /** produced − received when the producer stopped: how far behind the agent was. */
  backlogAtEnd: number;
  /** Events the agent took per second while the producer ran ((produced − backlog at end) / seconds; lost ones not counted). */
  agentRate: number;
  /** From the producer's stop until the agent had everything (or gave up). */
  drainMs: number;
  /** The agent's CPU (user + system, all threads) over the step and the drain, % of one core. */
  agentCpuPct: number;
  /** Time the agent's threads were runnable but waited for a CPU (other work on its core), % of the step. */
  agentWaitPct: number;
  /** The agent's CPU time per million events received, seconds. */
  cpuSecondsPerMillion: number;
  rssMiB: number;
  /** The producer's kernel time per event (BPF_PROG_TEST_RUN's measure). */
  producerNsPerEvent: number;
}

/** A step is sustained: nothing lost, everything received, and the agent kept up (its backlog stayed under the limit). */
export function sustained(s: RateStep, backlogLimit: number): boolean {
  return s.lost === 0 && s.received >= s.produced && s.backlogAtEnd <= backlogLimit;
}

/** The highest sustained rate (0 when none), and the lowest rate that was not. */
export function highestSustained(steps: readonly RateStep[], backlogLimit: number): { rate: number; firstFailure: number | undefined } {
  let best = 0;
  let firstFailure: number | undefined;
  for (const s of steps) {
    if (sustained(s, backlogLimit)) best = Math.max(best, s.rate);
    else firstFailure = firstFailure === undefined ? s.rate : Math.min(firstFailure, s.rate);
  }
  return { rate: best, firstFailure };
}

export function ladderTable(steps: readonly RateStep[], backlogLimit: number): string {
  const sorted = [...steps].sort((a, b) => a.rate - b.rate);
  return [
    '| offered events/s | produced | received | lost | backlog at end | agent took events/s | drained in | agent CPU (one core) | agent waited for its CPU | CPU s per 10⁶ events | agent RSS | sustained |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...sorted.map((s) => `| ${s.rate} | ${s.produced} | ${s.received} | ${s.lost} | ${s.backlogAtEnd} | ${round(s.agentRate)} | ${round(s.drainMs)} ms | ${round(s.agentCpuPct)} % | ${round(s.agentWaitPct)} % | ${round(s.cpuSecondsPerMillion)} | ${round(s.rssMiB)} MiB | ${sustained(s, backlogLimit) ? 'yes' : 'no'} |`),
  ].join('\n') + '\n';
}

/** The agent at a steady event rate (0: idle). */
export interface ResourceSample {
  rate: number;
  seconds: number;
  produced: number;
  received: number;
  lost: number;
  agentCpuPct: number;
  rssMiBMedian: number;
  rssMiBMax: number;
  /** VmHWM at the end: the agent's peak RSS since it started. */
  rssPeakMiB: number;
}

export function resourceTable(samples: readonly ResourceSample[]): string {
  return [
    '| events/s | seconds | received | lost | agent CPU (one core) | RSS median | RSS max | RSS peak since start |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...samples.map((s) => `| ${s.rate} | ${round(s.seconds)} | ${s.received} | ${s.lost} | ${round(s.agentCpuPct)} % | ${round(s.rssMiBMedian)} MiB | ${round(s.rssMiBMax)} MiB | ${round(s.rssPeakMiB)} MiB |`),
  ].join('\n') + '\n';
}

// --- datapath cost ---------------------------------------------------------

export const CONFIGS = ['disabled', 'none', 'maximum', 'medium'] as const;
export type ConnConfig = (typeof CONFIGS)[number];

/** The agent's flags of each configuration (medium: none, it is the default). */
export const CONFIG_ARGS: Record<ConnConfig, string[]> = {
  disabled: ['--bpf-events-trace-enabled', 'false', '--bpf-events-drop-enabled', 'false', '--bpf-events-policy-verdict-enabled', 'false'],
  none: ['--monitor-aggregation', 'none'],
  maximum: ['--monitor-aggregation', 'maximum'],
  medium: [],
};

export const CONFIG_LABEL: Record<ConnConfig, string> = {
  disabled: 'events disabled',
  none: 'aggregation none',
  maximum: 'aggregation maximum',
  medium: 'aggregation medium (default)',
};

export interface ConnSample {
  config: ConnConfig;
  round: number;
  rate: number;
  connections: number;
  p50Us: number;
  p99Us: number;
  /** Events the agent received during the run (warm-up included) per connection made. */
  eventsPerConnection: number;
  /** Reschedule IPIs (all CPUs, /proc/interrupts RES) per connection made, the whole machine's. */
  reschedIpisPerConnection: number;
  /** irq_work interrupts (IWI) per connection: the ring buffer's wake-ups are irq_work. */
  irqWorkPerConnection: number;
  /** Time in the endpoints' eBPF programs (kernel bpf stats) per connection, ns; and program runs per connection. */
  bpfNsPerConnection: number;
  bpfRunsPerConnection: number;
  /** mb_agg4 (trace aggregation, LRU) entries after the run, and its capacity. */
  agg4Entries: number;
  agg4Max: number;
  lost: number;
  agentCpuPct: number;
}

export interface ConnSummary {
  config: ConnConfig;
  rate: number;
  p50Us: number;
  p99Us: number;
  eventsPerConnection: number;
  reschedIpisPerConnection: number;
  irqWorkPerConnection: number;
  bpfNsPerConnection: number;
  /** Median over rounds of bpfNsPerConnection / the events-disabled one of the same round. */
  bpfRatio: number;
  agentCpuPct: number;
  lost: number;
  /** Median over rounds of rate / the events-disabled rate of the same round. */
  ratio: number;
  /** Median over rounds of p50 latency / the events-disabled p50 of the same round. */
  p50Ratio: number;
  /** Rounds in which this configuration's rate was below the disabled one's. */
  slowerRounds: number;
  rounds: number;
}

export function summarizeConn(samples: readonly ConnSample[]): ConnSummary[] {
  const rounds = [...new Set(samples.map((s) => s.round))];
  const base = new Map(samples.filter((s) => s.config === 'disabled').map((s) => [s.round, s.rate]));
  const baseBpf = new Map(samples.filter((s) => s.config === 'disabled').map((s) => [s.round, s.bpfNsPerConnection]));
  const baseP50 = new Map(samples.filter((s) => s.config === 'disabled').map((s) => [s.round, s.p50Us]));
  return CONFIGS.filter((c) => samples.some((s) => s.config === c)).map((config) => {
    const mine = samples.filter((s) => s.config === config);
    const ratios = mine.filter((s) => base.has(s.round)).map((s) => s.rate / base.get(s.round)!);
    return {
      config,
      rate: median(mine.map((s) => s.rate)),
      p50Us: median(mine.map((s) => s.p50Us)),
      p99Us: median(mine.map((s) => s.p99Us)),
      eventsPerConnection: median(mine.map((s) => s.eventsPerConnection)),
      reschedIpisPerConnection: median(mine.map((s) => s.reschedIpisPerConnection)),
      irqWorkPerConnection: median(mine.map((s) => s.irqWorkPerConnection)),
      bpfNsPerConnection: median(mine.map((s) => s.bpfNsPerConnection)),
      bpfRatio: ratios.length ? median(mine.filter((s) => baseBpf.has(s.round)).map((s) => s.bpfNsPerConnection / baseBpf.get(s.round)!)) : Number.NaN,
      agentCpuPct: median(mine.map((s) => s.agentCpuPct)),
      lost: mine.reduce((a, s) => a + s.lost, 0),
      ratio: ratios.length ? median(ratios) : Number.NaN,
      p50Ratio: ratios.length ? median(mine.filter((s) => baseP50.has(s.round)).map((s) => s.p50Us / baseP50.get(s.round)!)) : Number.NaN,
      slowerRounds: mine.filter((s) => base.has(s.round) && s.rate < base.get(s.round)!).length,
      rounds: Math.min(rounds.length, ratios.length),
    };
  });
}

export function connTable(sum: readonly ConnSummary[]): string {
  return [
    '| configuration | connections/s | vs events disabled | cost | rounds slower | p50 | p50 vs events disabled | p99 | eBPF time per connection | vs events disabled | events per connection | reschedule IPIs per connection | irq_work per connection | lost | agent CPU (one core) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...sum.map((s) =>
      `| ${CONFIG_LABEL[s.config]} | ${round(s.rate)} | ${s.ratio.toFixed(3)} | ${s.config === 'disabled' ? '' : `${(100 * (1 - s.ratio)).toFixed(1)} %`} | ${s.config === 'disabled' ? '' : `${s.slowerRounds}/${s.rounds}`} | ${round(s.p50Us)} µs | ${s.p50Ratio.toFixed(3)} | ${round(s.p99Us)} µs | ${round(s.bpfNsPerConnection)} ns | ${s.bpfRatio.toFixed(2)} | ${round(s.eventsPerConnection)} | ${round(s.reschedIpisPerConnection)} | ${round(s.irqWorkPerConnection)} | ${s.lost} | ${round(s.agentCpuPct)} % |`),
  ].join('\n') + '\n';
}

export interface Aim {
  aim: string;
  met: boolean | undefined;
  evidence: string;
}

export function observeAims(ladder: { rate: number; firstFailure: number | undefined } | undefined, conn: readonly ConnSummary[] | undefined, aimRate = 200_000, aimCost = 0.05): Aim[] {
  const out: Aim[] = [];
  if (ladder) {
    out.push({
      aim: `the agent decodes and enriches at least ${aimRate} events/s on one core without loss`,
      met: ladder.rate >= aimRate,
      evidence: `highest sustained rate ${ladder.rate} events/s${ladder.firstFailure !== undefined ? `; first rate not sustained ${ladder.firstFailure} events/s` : ' (every offered rate was sustained: the ladder ended there)'}`,
    });
  }
  const medium = conn?.find((s) => s.config === 'medium');
  if (medium) {
    out.push({
      aim: `observation at the default aggregation costs under ${aimCost * 100} % of the pod-to-pod connection rate`,
      met: 1 - medium.ratio < aimCost,
      evidence: `connection rate, aggregation medium / events disabled ×${medium.ratio.toFixed(3)} (cost ${(100 * (1 - medium.ratio)).toFixed(1)} %, slower in ${medium.slowerRounds}/${medium.rounds} rounds); p50 connection latency ×${medium.p50Ratio.toFixed(3)}; time in the endpoints' eBPF programs per connection ×${medium.bpfRatio.toFixed(2)} (${Math.round(medium.bpfNsPerConnection)} ns)`,
    });
  }
  return out;
}

export function aimsMarkdown(list: readonly Aim[]): string {
  return `${list.map((a) => `- ${a.met === undefined ? '**not measured**' : a.met ? '**met**' : '**not met**'}: ${a.aim} — ${a.evidence}`).join('\n')}\n`;
}
