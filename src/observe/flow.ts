// A decoded datapath event plus what the agent knows about its addresses →
// one Hubble-shaped Flow (flow-types.ts). Pure: no agent state, no clock.
//
// Numbers and names follow Cilium/Hubble (api/v1/flow/flow.proto and
// pkg/monitor/api): monitor message types (drop 1, trace 4, policy verdict 5),
// trace sub-types (to-endpoint 0, to-stack 3, from-endpoint 5, from-network 10,
// to-network 11), DropReason codes, policy match types (0 none, 1 L3-only,
// 2 L3-L4, 3 L4-only, 4 all: a value, as Cilium sends it).
import {
  MB_DIR_EGRESS, MB_DIR_INGRESS, MB_EVENT_DROP, MB_EVENT_POLICY, MB_EVENT_TRACE, MB_EVF_REPLY, MB_EVF_REPLY_KNOWN,
  MB_TRACE_FROM_ENDPOINT, MB_TRACE_FROM_NETWORK, MB_TRACE_TO_ENDPOINT, MB_TRACE_TO_NETWORK, MB_TRACE_TO_STACK,
  MB_VERDICT_ALLOWED, MB_VERDICT_AUDIT, MB_VERDICT_DENIED, type RawEvent,
} from '../datapath/abi.ts';
import type { CiliumEventType, Flow, FlowEndpoint, FlowPolicy, FlowService, Layer4, ObservationPoint, TcpFlags, TrafficDirection, Verdict } from './flow-types.ts';

/** Cilium monitor message types (pkg/monitor/api): what `event_type.type` holds. */
export const CILIUM_MSG_DROP = 1;
export const CILIUM_MSG_TRACE = 4;
export const CILIUM_MSG_POLICY_VERDICT = 5;

/** What the enricher found for one event (enrich.ts fills it). */
export interface FlowContext {
  source: FlowEndpoint;
  destination: FlowEndpoint;
  source_service?: FlowService;
  destination_service?: FlowService;
  /** The policy rule the event names (rule_id), when known. */
  policy?: { policy: FlowPolicy; rule: string };
  interfaceName?: string;
}

/** The time fields, formatted by the caller (see WallClock in events.ts). */
export interface FlowStamp {
  /** RFC 3339 with nanoseconds. */
  time: string;
  uuid: string;
  node_name: string;
}

/** Membrane trace point → [Hubble TraceObservationPoint, Cilium trace sub-type, direction of the packet's sender connection]. */
const TRACE: Record<number, [ObservationPoint, number, TrafficDirection]> = {
  [MB_TRACE_FROM_ENDPOINT]: ['FROM_ENDPOINT', 5, 'EGRESS'],
  [MB_TRACE_TO_ENDPOINT]: ['TO_ENDPOINT', 0, 'INGRESS'],
  [MB_TRACE_TO_STACK]: ['TO_STACK', 3, 'EGRESS'],
  [MB_TRACE_FROM_NETWORK]: ['FROM_NETWORK', 10, 'INGRESS'],
  [MB_TRACE_TO_NETWORK]: ['TO_NETWORK', 11, 'EGRESS'],
};

/** Hubble's trace sub-type names (`--type trace:to-endpoint`), by Cilium sub-type. */
export const TRACE_SUBTYPE_NAMES: Record<number, string> = {
  0: 'to-endpoint', 1: 'to-proxy', 2: 'to-host', 3: 'to-stack', 4: 'to-overlay', 5: 'from-endpoint',
  6: 'from-proxy', 7: 'from-host', 8: 'from-stack', 9: 'from-overlay', 10: 'from-network', 11: 'to-network',
};

/** Membrane drop reason (abi.h MB_DROP_*) → Cilium's code and Hubble's DropReason name. */
export const DROP_REASON_CODES: Record<number, { code: number; name: string }> = {
  1: { code: 132, name: 'INVALID_SOURCE_IP' },
  2: { code: 139, name: 'UNSUPPORTED_L3_PROTOCOL' },
  3: { code: 134, name: 'INVALID_PACKET_DROPPED' },
  4: { code: 172, name: 'UNKNOWN_SENDER' },
  5: { code: 158, name: 'SERVICE_BACKEND_NOT_FOUND' },
  6: { code: 167, name: 'NO_MAPPING_FOR_NAT_MASQUERADE' },
  7: { code: 158, name: 'SERVICE_BACKEND_NOT_FOUND' }, // Cilium drops a Local-policy service without a local backend so too
  8: { code: 169, name: 'FIB_LOOKUP_FAILED' },
  9: { code: 133, name: 'POLICY_DENIED' },
  10: { code: 181, name: 'POLICY_DENY' },
  11: { code: 155, name: 'CT_MAP_INSERTION_FAILED' },
};
const POLICY_DENIED = DROP_REASON_CODES[9]!;
const POLICY_DENY = DROP_REASON_CODES[10]!;

/** Hubble's drop reason name of a Cilium code (for `--drop-reason 133`). */
export const DROP_REASON_NAMES: Record<number, string> = Object.fromEntries(Object.values(DROP_REASON_CODES).map((r) => [r.code, r.name]));

const TCP_FLAG_BITS: [keyof TcpFlags, number][] = [['FIN', 0x01], ['SYN', 0x02], ['RST', 0x04], ['PSH', 0x08], ['ACK', 0x10], ['URG', 0x20], ['ECE', 0x40], ['CWR', 0x80]];
/** Hubble's order in summaries. */
const TCP_SUMMARY_ORDER: [string, number][] = [['SYN', 0x02], ['ACK', 0x10], ['PSH', 0x08], ['FIN', 0x01], ['RST', 0x04], ['URG', 0x20], ['ECE', 0x40], ['CWR', 0x80]];

/** Shared, frozen per flag byte: flows only reference them. */
const TCP_FLAGS: TcpFlags[] = [];
const TCP_SUMMARY: string[] = [];
for (let b = 0; b < 256; b++) {
  const f: TcpFlags = {};
  for (const [name, bit] of TCP_FLAG_BITS) if (b & bit) f[name] = true;
  TCP_FLAGS.push(Object.freeze(f));
  const names = TCP_SUMMARY_ORDER.filter(([, bit]) => b & bit).map(([n]) => n);
  TCP_SUMMARY.push(`TCP Flags: ${names.join(', ')}`);
}

/** ICMPv4 type (and code) names as gopacket prints them (Hubble's summary). */
const ICMP_TYPES: Record<number, string> = {
  0: 'EchoReply', 3: 'DestinationUnreachable', 4: 'SourceQuench', 5: 'Redirect', 8: 'EchoRequest', 9: 'RouterAdvertisement',
  10: 'RouterSolicitation', 11: 'TimeExceeded', 12: 'ParameterProblem', 13: 'TimestampRequest', 14: 'TimestampReply',
  15: 'InfoRequest', 16: 'InfoReply', 17: 'AddressMaskRequest', 18: 'AddressMaskReply',
};
const ICMP_CODES: Record<number, Record<number, string>> = {
  3: {
    0: 'Net', 1: 'Host', 2: 'Protocol', 3: 'Port', 4: 'FragmentationNeeded', 5: 'SourceRoutingFailed', 6: 'NetUnknown',
    7: 'HostUnknown', 8: 'SourceIsolated', 9: 'NetAdminProhibited', 10: 'HostAdminProhibited', 11: 'NetTOS', 12: 'HostTOS',
    13: 'CommAdminProhibited', 14: 'HostPrecedence', 15: 'PrecedenceCutoff',
  },
  5: { 0: 'Network', 1: 'Host', 2: 'TOS+Network', 3: 'TOS+Host' },
  11: { 0: 'TTLExceeded', 1: 'FragmentReassemblyTimeExceeded' },
  12: { 0: 'PointerIndicatesError', 1: 'MissingOption', 2: 'BadLength' },
};

function icmpName(type: number, code: number): string {
  const t = ICMP_TYPES[type];
  if (t === undefined) return `${type}(${code})`;
  const codes = ICMP_CODES[type];
  if (!codes) return t;
  return `${t}(${codes[code] ?? `Code: ${code}`})`;
}

export const PROTOCOL_LABELS: Record<number, string> = { 1: 'ICMPv4', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** Hubble's Summary: `TCP Flags: SYN, ACK`, `UDP`, `ICMPv4 EchoRequest`. */
export function flowSummary(e: RawEvent): string {
  switch (e.proto) {
    case 6:
      return TCP_SUMMARY[e.tcp_flags]!;
    case 17:
      return 'UDP';
    case 132:
      return 'SCTP';
    case 1:
      return `ICMPv4 ${icmpName(e.dport >>> 8, e.dport & 0xff)}`;
    default:
      return 'IPv4';
  }
}

export function verdictOf(e: RawEvent): Verdict {
  switch (e.type) {
    case MB_EVENT_TRACE:
      return 'FORWARDED';
    case MB_EVENT_DROP:
      return 'DROPPED';
    case MB_EVENT_POLICY:
      return e.verdict === MB_VERDICT_ALLOWED ? 'FORWARDED' : e.verdict === MB_VERDICT_DENIED ? 'DROPPED' : e.verdict === MB_VERDICT_AUDIT ? 'AUDIT' : 'VERDICT_UNKNOWN';
    default:
      return 'VERDICT_UNKNOWN';
  }
}

export function observationPointOf(tracePoint: number): ObservationPoint {
  return TRACE[tracePoint]?.[0] ?? 'UNKNOWN_POINT';
}

function isReply(e: RawEvent): boolean | undefined {
  return e.flags & MB_EVF_REPLY_KNOWN ? (e.flags & MB_EVF_REPLY) !== 0 : undefined;
}

/**
 * The direction of the connection, as Hubble reports it: a trace point's own
 * direction (leaving an endpoint or the node: EGRESS; arriving: INGRESS),
 * reversed for a known reply (a reply arriving at the client belongs to the
 * client's EGRESS connection); a drop's or verdict's as the datapath judged it.
 */
export function trafficDirectionOf(e: RawEvent): TrafficDirection {
  let d: TrafficDirection;
  if (e.type === MB_EVENT_TRACE) d = TRACE[e.subtype]?.[2] ?? 'TRAFFIC_DIRECTION_UNKNOWN';
  else return e.dir === MB_DIR_EGRESS ? 'EGRESS' : e.dir === MB_DIR_INGRESS ? 'INGRESS' : 'TRAFFIC_DIRECTION_UNKNOWN';
  if (d !== 'TRAFFIC_DIRECTION_UNKNOWN' && isReply(e) === true) d = d === 'EGRESS' ? 'INGRESS' : 'EGRESS';
  return d;
}

function layer4(e: RawEvent): Layer4 | undefined {
  switch (e.proto) {
    case 6:
      return { TCP: { source_port: e.sport, destination_port: e.dport, flags: TCP_FLAGS[e.tcp_flags]! } };
    case 17:
      return { UDP: { source_port: e.sport, destination_port: e.dport } };
    case 132:
      return { SCTP: { source_port: e.sport, destination_port: e.dport } };
    case 1:
      return { ICMPv4: { type: e.dport >>> 8, code: e.dport & 0xff } };
    default:
      return undefined;
  }
}

const UNKNOWN_TYPE: CiliumEventType = Object.freeze({ type: 0 });

/** event_type objects, shared and frozen per (type, sub_type). */
const EVENT_TYPES = new Map<number, CiliumEventType>();
function eventType(type: number, subType: number | undefined): CiliumEventType {
  const k = type * 65536 + (subType ?? 65535);
  let t = EVENT_TYPES.get(k);
  if (!t) EVENT_TYPES.set(k, (t = Object.freeze(subType === undefined ? { type } : { type, sub_type: subType })));
  return t;
}

export function buildFlow(e: RawEvent, ctx: FlowContext, stamp: FlowStamp): Flow {
  const verdict = verdictOf(e);
  const f: Flow = {
    time: stamp.time,
    uuid: stamp.uuid,
    verdict,
    IP: { source: e.saddr, destination: e.daddr, ipVersion: 'IPv4' },
    source: ctx.source,
    destination: ctx.destination,
    Type: 'L3_L4',
    node_name: stamp.node_name,
    event_type: UNKNOWN_TYPE,
    traffic_direction: trafficDirectionOf(e),
    Summary: flowSummary(e),
  };
  const l4 = layer4(e);
  if (l4) f.l4 = l4;
  const reply = isReply(e);
  if (reply !== undefined) f.is_reply = reply;
  if (ctx.source_service) f.source_service = ctx.source_service;
  if (ctx.destination_service) f.destination_service = ctx.destination_service;
  if (e.ifindex !== 0) f.interface = ctx.interfaceName === undefined ? { index: e.ifindex } : { index: e.ifindex, name: ctx.interfaceName };

  const ingress = f.traffic_direction === 'INGRESS' || (f.traffic_direction === 'TRAFFIC_DIRECTION_UNKNOWN' && e.dir === MB_DIR_INGRESS);
  switch (e.type) {
    case MB_EVENT_TRACE: {
      f.event_type = eventType(CILIUM_MSG_TRACE, TRACE[e.subtype]?.[1] ?? e.subtype);
      f.trace_observation_point = observationPointOf(e.subtype);
      break;
    }
    case MB_EVENT_DROP: {
      const r = DROP_REASON_CODES[e.subtype];
      const code = r?.code ?? e.subtype;
      f.event_type = eventType(CILIUM_MSG_DROP, code);
      f.drop_reason = code;
      f.drop_reason_desc = r?.name ?? 'DROP_REASON_UNKNOWN';
      if (ctx.policy && (e.subtype === 9 || e.subtype === 10)) {
        if (ingress) f.ingress_denied_by = [ctx.policy.policy];
        else f.egress_denied_by = [ctx.policy.policy];
        f.policy_rule = ctx.policy.rule;
      }
      break;
    }
    case MB_EVENT_POLICY: {
      f.event_type = eventType(CILIUM_MSG_POLICY_VERDICT, 0);
      f.policy_match_type = e.subtype;
      const denied = e.verdict === MB_VERDICT_DENIED || e.verdict === MB_VERDICT_AUDIT;
      if (e.verdict === MB_VERDICT_DENIED) {
        // A deny rule names itself (rule_id); no rule: nothing allowed it (default deny).
        const r = e.rule_id !== 0 ? POLICY_DENY : POLICY_DENIED;
        f.drop_reason = r.code;
        f.drop_reason_desc = r.name;
      }
      if (ctx.policy) {
        const list = [ctx.policy.policy];
        if (denied) {
          if (ingress) f.ingress_denied_by = list;
          else f.egress_denied_by = list;
        } else if (ingress) f.ingress_allowed_by = list;
        else f.egress_allowed_by = list;
        f.policy_rule = ctx.policy.rule;
      }
      break;
    }
    default:
      f.event_type = eventType(e.type, undefined);
  }
  return f;
}

/** For tests and callers that want the verdict name of a Membrane policy verdict code. */
export function isPolicyDrop(e: RawEvent): boolean {
  return e.type === MB_EVENT_DROP && (e.subtype === 9 || e.subtype === 10);
}
