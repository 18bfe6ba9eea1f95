// Ring-buffer record → decode → enrich → Flow → flow ring → subscribers, with
// the counters the metrics read and the kernel's lost-event count turned into
// `lost_events` records.
import type { RawEvent } from '../datapath/abi.ts';
import type { Enricher } from './enrich.ts';
import type { EventLog } from './events.ts';
import type { FlowRecord } from './flow-types.ts';
import { FlowRing, type FlowListener, type RingSelect } from './flow-ring.ts';

/** A counter keyed by label values (one entry per distinct combination). */
export interface LabeledCounts<L extends string> {
  readonly labelNames: readonly L[];
  /** [labels, value] of every combination seen. */
  entries(): Iterable<[Record<L, string>, number]>;
}

export interface FlowCounters {
  /** Hubble's flows_processed_total: type Trace|Drop|PolicyVerdict, subtype (trace point, '' otherwise), verdict, protocol. */
  flows: LabeledCounts<'type' | 'subtype' | 'verdict' | 'protocol'>;
  /** Hubble's policy_verdicts_total: direction ingress|egress, match (l3-only, l3-l4, l4-only, all, none), action forwarded|dropped|audit. */
  policyVerdicts: LabeledCounts<'direction' | 'match' | 'action'>;
  /** New connections (first packet, not a reply) by service and backend (`ip:port`). */
  newConnections: LabeledCounts<'namespace' | 'service' | 'backend'>;
  /** lost_events records by source (PERF_EVENT_RING_BUFFER …) and the events they stand for. */
  lostEvents: LabeledCounts<'source'>;
  /** Records decoded (flows) since start. */
  readonly processed: number;
}

export interface FlowPipelineOptions {
  nodeName: string;
  /** Flow buffer capacity (--flow-buffer-size). */
  capacity: number;
  enricher: Enricher;
  /** Monotonic ns (bpf_ktime_get_ns) → wall clock; default: measured now. */
  clock?: { wallNs(monoNs: bigint): bigint } ;
  /** The legacy event log behind GET /v1/events, fed from the same decode. */
  events?: EventLog;
}

export class FlowPipeline {
  readonly nodeName: string;
  readonly ring: FlowRing;
  readonly counters: FlowCounters;
  constructor(opts: FlowPipelineOptions) {
    this.nodeName = opts.nodeName;
    this.ring = new FlowRing(opts.capacity);
    throw new Error('not implemented');
  }
  /** One ring-buffer record (the RingBufferReader handler). */
  handleRecord(_buf: Buffer): void {
    throw new Error('not implemented');
  }
  /** One decoded event → its flow record (pushed to the ring and subscribers). */
  handleEvent(_e: RawEvent): FlowRecord {
    throw new Error('not implemented');
  }
  /** Emits a lost_events record (e.g. HUBBLE_RING_BUFFER from a slow API client, counted here too). */
  lost(_source: 'PERF_EVENT_RING_BUFFER' | 'HUBBLE_RING_BUFFER' | 'OBSERVER_EVENTS_QUEUE', _count: bigint | number): FlowRecord {
    throw new Error('not implemented');
  }
  /** Kernel lost-event total (mb_metrics reason 0xff, all CPUs); a lost_events record when it grew since the last call. */
  pollKernelLost(_total: bigint): void {
    throw new Error('not implemented');
  }
  /** Polls `readTotal` every intervalMs (unref'd timer); returns the stop function. */
  startLostPoll(_readTotal: () => bigint, _intervalMs?: number): () => void {
    throw new Error('not implemented');
  }
  subscribe(listener: FlowListener): () => void {
    return this.ring.subscribe(listener);
  }
  select(q: RingSelect): FlowRecord[] {
    return this.ring.select(q);
  }
  stop(): void {
    throw new Error('not implemented');
  }
}
