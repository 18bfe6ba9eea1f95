// Datapath events from the ring buffer, decoded, counted, and kept in a
// bounded ring for the API. (Flow enrichment builds on this.)
import { DROP_REASONS, MB_EVENT_DROP, MB_EVENT_TRACE, TRACE_POINTS, event as eventCodec, type RawEvent } from '../datapath/abi.ts';

export interface DecodedEvent {
  time: string;
  type: 'drop' | 'trace' | 'unknown';
  reason: string;
  source: number;
  ifindex: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: string;
  len: number;
}

const PROTOS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

export function decodeEvent(buf: Buffer, monoToWall: (ns: bigint) => number): DecodedEvent {
  const e: RawEvent = eventCodec.decode(buf);
  const type = e.type === MB_EVENT_DROP ? 'drop' : e.type === MB_EVENT_TRACE ? 'trace' : 'unknown';
  return {
    time: new Date(monoToWall(e.ts_ns)).toISOString(),
    type,
    reason: (type === 'drop' ? DROP_REASONS[e.subtype] : TRACE_POINTS[e.subtype]) ?? `code ${e.subtype}`,
    source: e.source,
    ifindex: e.ifindex,
    saddr: e.saddr,
    daddr: e.daddr,
    sport: e.sport,
    dport: e.dport,
    proto: PROTOS[e.proto] ?? String(e.proto),
    len: e.len,
  };
}

/**
 * bpf_ktime_get_ns() is CLOCK_MONOTONIC; map it to wall-clock time with the
 * offset between the two clocks measured once.
 */
export function monotonicToWall(): (ns: bigint) => number {
  const mono = Number(process.hrtime.bigint() / 1000n) / 1000; // ms, same clock as CLOCK_MONOTONIC
  const offset = Date.now() - mono;
  return (ns: bigint) => Number(ns / 1000n) / 1000 + offset;
}

export class EventLog {
  readonly capacity: number;
  readonly #ring: DecodedEvent[] = [];
  #next = 0;
  readonly drops = new Map<string, number>();
  total = 0;

  constructor(capacity = 4096) {
    this.capacity = capacity;
  }

  add(ev: DecodedEvent): void {
    this.total++;
    if (ev.type === 'drop') this.drops.set(ev.reason, (this.drops.get(ev.reason) ?? 0) + 1);
    if (this.#ring.length < this.capacity) this.#ring.push(ev);
    else this.#ring[this.#next] = ev;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** The last n events, oldest first. */
  last(n: number): DecodedEvent[] {
    const ordered = this.#ring.length < this.capacity ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return ordered.slice(Math.max(0, ordered.length - n));
  }
}
