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

/** The event's IP addresses as dotted quads (buffer bytes are in network order). */
function ip4At(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/**
 * mb_event → RawEvent, by hand (the generic codec is several times slower and
 * this runs once per ring-buffer record). Same result as abi.ts' `event.decode`.
 */
export function decodeRaw(buf: Buffer): RawEvent {
  if (buf.length < eventCodec.size) throw new RangeError(`mb_event: ${buf.length} bytes, expected ${eventCodec.size}`);
  return {
    ts_ns: buf.readBigUInt64LE(0),
    type: buf[8]!,
    subtype: buf[9]!,
    source: buf.readUInt16LE(10),
    ifindex: buf.readUInt32LE(12),
    saddr: ip4At(buf, 16),
    daddr: ip4At(buf, 20),
    sport: buf.readUInt16BE(24),
    dport: buf.readUInt16BE(26),
    proto: buf[28]!,
    tcp_flags: buf[29]!,
    dir: buf[30]!,
    verdict: buf[31]!,
    len: buf.readUInt32LE(32),
    src_identity: buf.readUInt32LE(36),
    dst_identity: buf.readUInt32LE(40),
    rule_id: buf.readUInt32LE(44),
    orig_daddr: ip4At(buf, 48),
    orig_dport: buf.readUInt16BE(52),
    flags: buf[54]!,
  };
}

/** The GET /v1/events form of a decoded event. */
export function describeEvent(e: RawEvent, time: string): DecodedEvent {
  const type = typeOf(e);
  const out: DecodedEvent = {
    time,
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

/** A record of the ring buffer in the GET /v1/events form (tests of the programs alone read this). */
export function decodeEvent(buf: Buffer, clock: WallClock): DecodedEvent {
  const e = decodeRaw(buf);
  return describeEvent(e, clock.format(e.ts_ns));
}

/**
 * Monotonic event times → wall-clock RFC 3339 with nanoseconds
 * (`2024-11-22T10:01:02.123456789Z`), cheaply: the offset between the clocks
 * is kept as whole seconds + nanoseconds, and the date part is formatted once
 * per second. `resync()` measures the offset again (after a clock step).
 * Exact while the monotonic clock is below 2^53 ns (104 days of uptime); a few
 * nanoseconds off after that.
 */
export class WallClock {
  #offSec = 0;
  #offNs = 0;
  #prefixSec = Number.NaN;
  #prefix = '';
  /** Milliseconds since the epoch of the last `format()`ed time. */
  lastMs = 0;

  constructor(offsetNs?: bigint) {
    this.resync(offsetNs);
  }

  /** Wall minus monotonic, in ns (default: measured now). */
  resync(offsetNs?: bigint): void {
    const off = offsetNs ?? BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    const sec = off / 1_000_000_000n;
    let ns = Number(off % 1_000_000_000n);
    let s = Number(sec);
    if (ns < 0) {
      ns += 1e9;
      s -= 1;
    }
    this.#offSec = s;
    this.#offNs = ns;
  }

  format(monoNs: bigint): string {
    const t = Number(monoNs);
    let sec = Math.floor(t / 1e9);
    let ns = t - sec * 1e9 + this.#offNs;
    sec += this.#offSec;
    if (ns >= 1e9) {
      ns -= 1e9;
      sec += 1;
    }
    this.lastMs = sec * 1000 + Math.floor(ns / 1e6);
    if (sec !== this.#prefixSec) {
      this.#prefixSec = sec;
      this.#prefix = new Date(sec * 1000).toISOString().slice(0, 19);
    }
    return `${this.#prefix}.${String(ns).padStart(9, '0')}Z`;
  }
}

/** The last events for GET /v1/events; raw events are described only when read. */
export class EventLog {
  readonly capacity: number;
  readonly #ring: Array<{ raw: RawEvent; time: string }> = [];
  #next = 0;
  total = 0;

  constructor(capacity = 4096) {
    this.capacity = capacity;
  }

  /** A decoded event with its formatted time (the flow pipeline's decode, shared). */
  addRaw(raw: RawEvent, time: string): void {
    this.total++;
    if (this.#ring.length < this.capacity) this.#ring.push({ raw, time });
    else this.#ring[this.#next] = { raw, time };
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** The last n events, oldest first. */
  last(n: number): DecodedEvent[] {
    const ordered = this.#ring.length < this.capacity ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return ordered.slice(Math.max(0, ordered.length - n)).map((e) => describeEvent(e.raw, e.time));
  }
}
