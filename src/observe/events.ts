// Datapath events from the ring buffer, decoded, counted, and kept in a
// bounded ring for the API. (Flow enrichment builds on this.)
import {
  DROP_REASONS, MB_DIR_EGRESS, MB_DIR_INGRESS, MB_EVENT_DROP, MB_EVENT_POLICY, MB_EVENT_TRACE, POLICY_MATCHES, TRACE_POINTS, VERDICTS,
  event as eventCodec, type RawEvent,
} from '../datapath/abi.ts';

export type EventType = 'drop' | 'trace' | 'policy-verdict' | 'unknown';

export interface DecodedEvent {
  time: string;
  type: EventType;
  /** Drop reason, trace point, or (policy verdicts) what matched: L3-Only, L3-L4, L4-Only, all, none. */
  reason: string;
  /** Endpoint id where observed; for a policy verdict, the endpoint whose policy judged. */
  source: number;
  ifindex: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: string;
  len: number;
  /** Direction of `source`'s traffic, when known. */
  direction?: 'ingress' | 'egress';
  /** Policy verdicts: ALLOWED, DENIED or AUDIT. */
  verdict?: string;
  srcIdentity?: number;
  dstIdentity?: number;
  /** Policy verdicts (0: none matched), and POLICY_DENY drops: the agent's rule id. */
  ruleId?: number;
  /** With ruleId, added by the agent's API: the rule's name, e.g. `NetworkPolicy x/allow-a spec.ingress[0]`. */
  rule?: string;
}

export const PROTOCOL_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

function typeOf(e: RawEvent): EventType {
  if (e.type === MB_EVENT_DROP) return 'drop';
  if (e.type === MB_EVENT_TRACE) return 'trace';
  if (e.type === MB_EVENT_POLICY) return 'policy-verdict';
  return 'unknown';
}

function reasonOf(type: EventType, subtype: number): string {
  const names = type === 'drop' ? DROP_REASONS : type === 'trace' ? TRACE_POINTS : type === 'policy-verdict' ? POLICY_MATCHES : {};
  return names[subtype] ?? `code ${subtype}`;
}

export function decodeEvent(buf: Buffer, monoToWall: (ns: bigint) => number): DecodedEvent {
  const e: RawEvent = eventCodec.decode(buf);
  const type = typeOf(e);
  const out: DecodedEvent = {
    time: new Date(monoToWall(e.ts_ns)).toISOString(),
    type,
    reason: reasonOf(type, e.subtype),
    source: e.source,
    ifindex: e.ifindex,
    saddr: e.saddr,
    daddr: e.daddr,
    sport: e.sport,
    dport: e.dport,
    proto: PROTOCOL_NAMES[e.proto] ?? String(e.proto),
    len: e.len,
  };
  if (e.dir === MB_DIR_INGRESS) out.direction = 'ingress';
  else if (e.dir === MB_DIR_EGRESS) out.direction = 'egress';
  if (e.verdict !== 0) out.verdict = VERDICTS[e.verdict] ?? `code ${e.verdict}`;
  if (e.src_identity !== 0) out.srcIdentity = e.src_identity;
  if (e.dst_identity !== 0) out.dstIdentity = e.dst_identity;
  if (type === 'policy-verdict' || e.rule_id !== 0) out.ruleId = e.rule_id; // a POLICY_DENY drop names its deny rule too
  return out;
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
