// The public JSON form of flows: Hubble's field names (cilium/api/v1/flow,
// as `hubble observe -o json` prints them), so that users' jq scripts carry
// over. Fields that Membrane cannot know are left out rather than faked;
// protobuf's rules apply otherwise (enums as their names, uint64 as strings,
// absent = default).

export type Verdict = 'FORWARDED' | 'DROPPED' | 'AUDIT' | 'VERDICT_UNKNOWN';
export type TrafficDirection = 'INGRESS' | 'EGRESS' | 'TRAFFIC_DIRECTION_UNKNOWN';
/** Hubble's TraceObservationPoint names of Membrane's points. */
export type ObservationPoint = 'FROM_ENDPOINT' | 'TO_ENDPOINT' | 'TO_STACK' | 'FROM_NETWORK' | 'TO_NETWORK' | 'UNKNOWN_POINT';

export interface FlowEndpoint {
  /** Endpoint id on its node (absent for non-endpoints). */
  ID?: number;
  /** Security identity (reserved: 1 host, 2 world, …). */
  identity?: number;
  cluster_name?: string;
  namespace?: string;
  /** `k8s:app=web`, sorted, as Cilium prints labels (reserved ones: `reserved:world`). */
  labels?: string[];
  pod_name?: string;
  /** The pod's workload: Membrane has no owner references, so {name: app label, kind: 'App'}, or {name: pod, kind: 'Pod'}. */
  workloads?: { name: string; kind: string }[];
}

export interface FlowService {
  name: string;
  namespace: string;
}

export interface TcpFlags {
  FIN?: boolean;
  SYN?: boolean;
  RST?: boolean;
  PSH?: boolean;
  ACK?: boolean;
  URG?: boolean;
  ECE?: boolean;
  CWR?: boolean;
}

export interface Layer4 {
  TCP?: { source_port: number; destination_port: number; flags?: TcpFlags };
  UDP?: { source_port: number; destination_port: number };
  ICMPv4?: { type: number; code: number };
  SCTP?: { source_port: number; destination_port: number };
}

/** Cilium monitor message types: 1 drop, 4 trace, 5 policy verdict. */
export interface CiliumEventType {
  type: number;
  sub_type?: number;
}

export interface Flow {
  /** RFC 3339 with nanoseconds, as protobuf's Timestamp in JSON. */
  time: string;
  /** Unique per flow (within an agent run). */
  uuid: string;
  verdict: Verdict;
  /** Deprecated numeric drop reason (Cilium's code), only on drops. */
  drop_reason?: number;
  /** Hubble's DropReason name, e.g. POLICY_DENIED; only on drops and denied verdicts. */
  drop_reason_desc?: string;
  IP: { source: string; destination: string; ipVersion: 'IPv4' };
  l4?: Layer4;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  /** Always L3_L4 (no L7 yet). */
  Type: 'L3_L4';
  node_name: string;
  /** DNS names are not known yet: absent. */
  source_names?: string[];
  destination_names?: string[];
  /** Absent when the datapath did not know the packet's place in its connection. */
  is_reply?: boolean;
  event_type: CiliumEventType;
  source_service?: FlowService;
  destination_service?: FlowService;
  traffic_direction: TrafficDirection;
  /** Policy verdicts: what matched, as Cilium sends it (0 none, 1 L3-only, 2 L3-L4, 3 L4-only, 4 all). */
  policy_match_type?: number;
  /** Trace events: where the packet was seen. */
  trace_observation_point?: ObservationPoint;
  /** The device where observed: {index, name}. */
  interface?: { index: number; name?: string };
  /** Policies that allowed / denied it (policy verdicts and policy drops): Hubble's Policy shape. */
  egress_allowed_by?: FlowPolicy[];
  ingress_allowed_by?: FlowPolicy[];
  egress_denied_by?: FlowPolicy[];
  ingress_denied_by?: FlowPolicy[];
  /** Membrane's addition: the rule inside the policy, e.g. `NetworkPolicy demo/backend-ingress spec.ingress[0]`. */
  policy_rule?: string;
  /** Human summary, e.g. `TCP Flags: SYN`, `UDP`, `ICMPv4 EchoRequest`. */
  Summary: string;
}

export interface FlowPolicy {
  name: string;
  namespace: string;
  /** Kubernetes kind of the policy: NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy. */
  kind: string;
  labels?: string[];
  revision?: string;
}

/** Hubble's LostEvent: events that never became flows. */
export interface LostEvents {
  /** PERF_EVENT_RING_BUFFER: the datapath's ring buffer was full; HUBBLE_RING_BUFFER: a client read too slowly. */
  source: 'PERF_EVENT_RING_BUFFER' | 'HUBBLE_RING_BUFFER' | 'OBSERVER_EVENTS_QUEUE';
  num_events_lost: string;
  cpu?: { value: number };
}

/**
 * One line of `membrane observe -o json` and of GET /v1/flows: Hubble's
 * GetFlowsResponse, so `jq .flow.source.pod_name` works as with hubble.
 */
export type FlowRecord =
  | { flow: Flow; node_name: string; time: string }
  | { lost_events: LostEvents; node_name: string; time: string };
