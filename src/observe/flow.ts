// A decoded datapath event plus what the agent knows about its addresses →
// one Hubble-shaped Flow (flow-types.ts). Pure: no agent state, no clock.
import type { RawEvent } from '../datapath/abi.ts';
import type { Flow, FlowEndpoint, FlowPolicy, FlowService, ObservationPoint, TrafficDirection, Verdict } from './flow-types.ts';

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

/** The time fields, formatted by the caller (see wallclock in events.ts). */
export interface FlowStamp {
  /** RFC 3339 with nanoseconds. */
  time: string;
  uuid: string;
  node_name: string;
}

export function buildFlow(_e: RawEvent, _ctx: FlowContext, _stamp: FlowStamp): Flow {
  throw new Error('not implemented');
}

/** Hubble's Summary: `TCP Flags: SYN, ACK`, `UDP`, `ICMPv4 EchoRequest`. */
export function flowSummary(_e: RawEvent): string {
  throw new Error('not implemented');
}

export function verdictOf(_e: RawEvent): Verdict {
  throw new Error('not implemented');
}

export function observationPointOf(_tracePoint: number): ObservationPoint {
  throw new Error('not implemented');
}

export function trafficDirectionOf(_e: RawEvent): TrafficDirection {
  throw new Error('not implemented');
}
