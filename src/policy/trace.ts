// `membrane policy trace`: would this packet pass, and which rule decides.
import type { Resolution, RuleInfo } from './resolve.ts';
import type { Judgement } from './verdict.ts';

export interface TracePeer {
  ip: string;
  /** Security identity (the endpoint's, or the ipcache's for an address). */
  identity: number;
  /** ipcache cidr_identity of the address (0: none). */
  cidrIdentity: number;
  /** Set for an endpoint of this node: its policy is judged. */
  lxcId?: number;
  /** Endpoint audit flag (MB_EP_F_AUDIT). */
  audit?: boolean;
  /** For messages: `default/web-1`, `198.18.17.5 (world)`, ... */
  name?: string;
}

export interface TraceInput {
  resolution: Resolution;
  src: TracePeer;
  dst: TracePeer;
  /** IP protocol number or name. */
  protocol: number | 'TCP' | 'UDP' | 'SCTP';
  dport: number;
  /** mb_config MB_CFG_F_POLICY_AUDIT. */
  nodeAudit?: boolean;
  /** mb_config MB_CFG_F_HOST_POLICY: judge traffic from the host (identity host, not local) to endpoints. */
  hostPolicy?: boolean;
  /** Display names of identities (labels), for messages. */
  identityName?: (id: number) => string;
}

export interface TraceStep {
  direction: 'egress' | 'ingress';
  /** The endpoint whose policy judged. */
  lxcId: number;
  endpoint: string;
  judgement: Judgement;
  rule?: RuleInfo;
  /** Why: one sentence naming the rule, or the policies that enforce default deny. */
  explanation: string;
}

export interface TraceResult {
  verdict: 'allowed' | 'denied' | 'audit';
  /** The source's egress judgement (when the source is local). */
  egress?: TraceStep;
  /** The destination's ingress judgement (when the destination is local). */
  ingress?: TraceStep;
  /** Human explanation, one line per step and the final verdict. */
  explanation: string[];
}

export function tracePolicy(input: TraceInput): TraceResult {
  throw new Error('not implemented');
}
