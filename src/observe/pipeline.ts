// Ring-buffer record → decode → enrich → Flow → flow ring → subscribers, with
// the counters the metrics read and the kernel's lost-event count turned into
// `lost_events` records. Everything per event is synchronous and allocation-
// light: one decode, one context (shared frozen endpoint/service objects), one
// Flow, one record.
import { randomUUID } from 'node:crypto';
import { MB_DIR_EGRESS, MB_DIR_INGRESS, MB_EVENT_DROP, MB_EVENT_POLICY, MB_EVENT_TRACE, MB_EVF_NEW, MB_EVF_REPLY, POLICY_MATCHES, type RawEvent } from '../datapath/abi.ts';
import type { Enricher } from './enrich.ts';
import { decodeRaw, WallClock, type EventLog } from './events.ts';
import { buildFlow, PROTOCOL_LABELS, TRACE_SUBTYPE_NAMES } from './flow.ts';
import type { Flow, FlowRecord, LostEvents } from './flow-types.ts';
import { FlowRing, type FlowListener, type RingSelect } from './flow-ring.ts';

/** A counter keyed by label values (one entry per distinct combination). */
export interface LabeledCounts<L extends string> {
  readonly labelNames: readonly L[];
  /** [labels, value] of every combination seen. */
  entries(): Iterable<[Record<L, string>, number]>;
}

export class LabeledCounter<L extends string> implements LabeledCounts<L> {
  readonly labelNames: readonly L[];
  readonly #m = new Map<string | number, { labels: Record<L, string>; value: number }>();
  constructor(labelNames: readonly L[]) {
    this.labelNames = labelNames;
  }
  /** Adds `by` to the entry `key`; false when there is none yet (then call `add`; no closure per event). */
  inc(key: string | number, by = 1): boolean {
    const e = this.#m.get(key);
    if (!e) return false;
    e.value += by;
    return true;
  }
  /** Creates or adds to the entry `key` with these labels. */
  add(key: string | number, labels: Record<L, string>, by = 1): void {
    if (!this.inc(key, by)) this.#m.set(key, { labels: Object.freeze(labels), value: by });
  }
  *entries(): Iterable<[Record<L, string>, number]> {
    for (const e of this.#m.values()) yield [e.labels, e.value];
  }
  /** The value of the entry whose labels are all `match`'s (sum over the others). */
  get(match: Partial<Record<L, string>>): number {
    let n = 0;
    for (const e of this.#m.values()) if (Object.entries(match).every(([k, v]) => e.labels[k as L] === v)) n += e.value;
    return n;
  }
}

export interface FlowCounters {
  /** Hubble's flows_processed_total: type Trace|Drop|PolicyVerdict, subtype (trace point, e.g. `to-endpoint`; '' otherwise), verdict, protocol. */
  flows: LabeledCounts<'type' | 'subtype' | 'verdict' | 'protocol'>;
  /** Hubble's policy_verdicts_total: direction ingress|egress, match (l3-only, l3-l4, l4-only, all, none), action forwarded|dropped|audit. */
  policyVerdicts: LabeledCounts<'direction' | 'match' | 'action'>;
  /** New connections (the datapath's first packet of a connection, MB_EVF_NEW) to a service, by service and backend (`ip:port`, '' when not translated yet). */
  newConnections: LabeledCounts<'namespace' | 'service' | 'backend'>;
  /** Events lost, by source (PERF_EVENT_RING_BUFFER: the kernel ring buffer; HUBBLE_RING_BUFFER: slow API clients). */
  lostEvents: LabeledCounts<'source'>;
  /** Flows decoded since start. */
  readonly processed: number;
}

export type LostSource = LostEvents['source'];

export interface FlowPipelineOptions {
  nodeName: string;
  /** Flow buffer capacity (--flow-buffer-size). */
  capacity: number;
  enricher: Enricher;
  /** Monotonic → wall clock (default: measured now). */
  clock?: WallClock;
  /** The event log behind GET /v1/events, fed from the same decode. */
  events?: EventLog;
}

const TYPE_LABELS: Record<number, string> = { [MB_EVENT_DROP]: 'Drop', [MB_EVENT_TRACE]: 'Trace', [MB_EVENT_POLICY]: 'PolicyVerdict' };
const VERDICT_INDEX: Record<Flow['verdict'], number> = { VERDICT_UNKNOWN: 0, FORWARDED: 1, DROPPED: 2, AUDIT: 3 };

class Counters implements FlowCounters {
  readonly flows = new LabeledCounter(['type', 'subtype', 'verdict', 'protocol'] as const);
  readonly policyVerdicts = new LabeledCounter(['direction', 'match', 'action'] as const);
  readonly newConnections = new LabeledCounter(['namespace', 'service', 'backend'] as const);
  readonly lostEvents = new LabeledCounter(['source'] as const);
  processed = 0;

  count(e: RawEvent, f: Flow): void {
    this.processed++;
    const v = VERDICT_INDEX[f.verdict];
    const fk = ((e.type * 256 + e.subtype) * 256 + e.proto) * 4 + v;
    if (!this.flows.inc(fk)) {
      this.flows.add(fk, {
        type: TYPE_LABELS[e.type] ?? `type ${e.type}`,
        subtype: e.type === MB_EVENT_TRACE ? (TRACE_SUBTYPE_NAMES[f.event_type.sub_type ?? -1] ?? '') : '',
        verdict: f.verdict,
        protocol: PROTOCOL_LABELS[e.proto] ?? String(e.proto),
      });
    }
    if (e.type === MB_EVENT_POLICY) {
      const pk = (e.dir * 256 + e.subtype) * 4 + v;
      if (!this.policyVerdicts.inc(pk)) {
        this.policyVerdicts.add(pk, {
          direction: e.dir === MB_DIR_INGRESS ? 'ingress' : e.dir === MB_DIR_EGRESS ? 'egress' : 'unknown',
          match: (POLICY_MATCHES[e.subtype] ?? `match ${e.subtype}`).toLowerCase(),
          action: f.verdict.toLowerCase(),
        });
      }
    }
    if (e.flags & MB_EVF_NEW && !(e.flags & MB_EVF_REPLY) && f.destination_service) {
      const s = f.destination_service;
      // The backend: the packet's destination once translated (orig_daddr set), or when socket LB sent it there
      // (the destination is not a frontend); '' when the event was taken before translation.
      const translated = e.orig_daddr !== '0.0.0.0' || !this.isFrontend?.(e);
      const backend = translated ? `${e.daddr}:${e.dport}` : '';
      this.newConnections.add(`${s.namespace}/${s.name}|${backend}`, { namespace: s.namespace, service: s.name, backend });
    }
  }

  /** Set by the pipeline: whether the event's destination is a frontend (not translated yet). */
  isFrontend: ((e: RawEvent) => boolean) | undefined;
}

export class FlowPipeline {
  readonly nodeName: string;
  readonly ring: FlowRing;
  readonly counters: FlowCounters;
  readonly #counters: Counters;
  readonly #enricher: Enricher;
  readonly #clock: WallClock;
  readonly #events: EventLog | undefined;
  readonly #uuidPrefix = randomUUID().slice(0, 24);
  #seq = 0;
  #kernelLost: bigint | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: FlowPipelineOptions) {
    this.nodeName = opts.nodeName;
    this.ring = new FlowRing(opts.capacity);
    this.#enricher = opts.enricher;
    this.#clock = opts.clock ?? new WallClock();
    this.#events = opts.events;
    this.#counters = new Counters();
    this.#counters.isFrontend = (e) => this.#enricher.serviceByFrontend(e.daddr, e.dport, e.proto) !== undefined;
    this.counters = this.#counters;
  }

  /** One ring-buffer record (the RingBufferReader handler). */
  handleRecord(buf: Buffer): void {
    this.handleEvent(decodeRaw(buf));
  }

  /** One decoded event → its flow record (pushed to the ring and subscribers). */
  handleEvent(e: RawEvent): FlowRecord {
    const time = this.#clock.format(e.ts_ns);
    const ms = this.#clock.lastMs;
    this.#events?.addRaw(e, time);
    const flow = buildFlow(e, this.#enricher.context(e), { time, uuid: this.#uuid(), node_name: this.nodeName });
    this.#counters.count(e, flow);
    const rec: FlowRecord = { flow, node_name: this.nodeName, time };
    this.ring.push(rec, ms);
    return rec;
  }

  #uuid(): string {
    return this.#uuidPrefix + (this.#seq++).toString(16).padStart(12, '0');
  }

  /**
   * A lost_events record, counted in counters.lostEvents. The caller decides
   * where it goes: a slow client's own stream (HUBBLE_RING_BUFFER), or
   * everyone's via the ring (pollKernelLost does that for the kernel's).
   */
  lost(source: LostSource, count: bigint | number): FlowRecord {
    const n = BigInt(count);
    this.#counters.lostEvents.add(source, { source }, Number(n));
    return { lost_events: { source, num_events_lost: n.toString() }, node_name: this.nodeName, time: new Date().toISOString() };
  }

  /**
   * Kernel lost-event total (mb_metrics reason 0xff, all CPUs). The first call
   * takes the baseline (the pinned counter outlives agent restarts); after
   * that, growth becomes a PERF_EVENT_RING_BUFFER record in the ring.
   */
  pollKernelLost(total: bigint): FlowRecord | undefined {
    const prev = this.#kernelLost;
    this.#kernelLost = total;
    if (prev === undefined || total <= prev) return undefined;
    const rec = this.lost('PERF_EVENT_RING_BUFFER', total - prev);
    this.ring.push(rec, Date.now());
    return rec;
  }

  /** Polls `readTotal` every intervalMs (unref'd timer) and re-measures the clock offset every minute; returns the stop function. */
  startLostPoll(readTotal: () => bigint, intervalMs = 1000, onError: (err: unknown) => void = () => {}): () => void {
    this.stop();
    let ticks = 0;
    const tick = () => {
      try {
        this.pollKernelLost(readTotal());
        if (++ticks % Math.max(1, Math.round(60_000 / intervalMs)) === 0) this.#clock.resync();
      } catch (err) {
        onError(err);
      }
    };
    tick();
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
    return () => this.stop();
  }

  subscribe(listener: FlowListener): () => void {
    return this.ring.subscribe(listener);
  }

  select(q: RingSelect): FlowRecord[] {
    return this.ring.select(q);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
