// `membrane policy trace`: would this packet pass, and which rule decides.
// The same judge as the datapath (verdict.ts) over the resolved entries:
// the source's egress (when it is an endpoint of this node), then the
// destination's ingress (when it is one). Traffic from the host (identity
// host, not an endpoint) to an endpoint is not judged unless host policy is
// on, as in to_endpoint.
import { MB_ID_ANY, MB_ID_CIDR_MIN, MB_ID_HOST } from '../datapath/abi.ts';
import { MembraneError } from '../errors.ts';
import { reservedName } from '../identity/types.ts';
import { PROTOCOL_NUMBERS, protocolName } from './ports.ts';
import type { EndpointPolicy, Resolution, RuleInfo } from './resolve.ts';
import { judge, PolicyTable, type Judgement } from './verdict.ts';

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
  /** For messages: `default/web-1`, `198.18.17.5 (world)`, ...; default: the endpoint's namespace/pod, else the address. */
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
  /** Display names of identities (labels), for messages; default: reserved names and numbers. */
  identityName?: (id: number) => string;
}

export interface TraceStep {
  direction: 'egress' | 'ingress';
  /** The endpoint whose policy judged. */
  lxcId: number;
  endpoint: string;
  judgement: Judgement;
  /** The rule of the deciding entry (absent: no entry decided). */
  rule?: RuleInfo;
  /** Set when the datapath does not judge this step at all (host traffic without host policy). */
  skipped?: string;
  /** Why: one sentence naming the rule, or the policies that enforce default deny. */
  explanation: string;
}

export interface TraceResult {
  verdict: 'allowed' | 'denied' | 'audit';
  protocol: number;
  dport: number;
  /** The source's egress judgement (when the source is local). */
  egress?: TraceStep;
  /** The destination's ingress judgement (when the destination is local). */
  ingress?: TraceStep;
  /** Human explanation, one line per step and the final verdict. */
  explanation: string[];
}

function defaultIdentityName(id: number): string {
  if (id === MB_ID_ANY) return 'any';
  const r = reservedName(id);
  if (r) return `reserved:${r}`;
  return id >= MB_ID_CIDR_MIN ? `CIDR identity ${id}` : `identity ${id}`;
}

function policyLabel(p: { kind: string; namespace?: string; name: string }): string {
  return `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`;
}

function listText(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function tracePolicy(input: TraceInput): TraceResult {
  const proto = typeof input.protocol === 'number' ? input.protocol : PROTOCOL_NUMBERS[input.protocol];
  const idName = input.identityName ?? defaultIdentityName;
  const lines: string[] = [];
  const endpointOf = (p: TracePeer, side: string): EndpointPolicy | undefined => {
    if (p.lxcId === undefined) return undefined;
    const ep = input.resolution.endpoints.get(p.lxcId);
    if (!ep) throw new MembraneError('NOT_FOUND', `${side}: endpoint ${p.lxcId} is not in the policy resolution`);
    return ep;
  };
  const nameOf = (p: TracePeer, ep: EndpointPolicy | undefined) => p.name ?? (ep ? `${ep.namespace}/${ep.pod}` : p.ip);
  const srcEp = endpointOf(input.src, 'source');
  const dstEp = endpointOf(input.dst, 'destination');
  const srcName = nameOf(input.src, srcEp);
  const dstName = nameOf(input.dst, dstEp);
  const what = `${protocolName(proto)}${input.dport ? `/${input.dport}` : ''}`;

  const step = (direction: 'egress' | 'ingress', ep: EndpointPolicy, self: TracePeer, selfName: string, remote: TracePeer, remoteName: string): TraceStep => {
    const enforced = direction === 'ingress' ? ep.ingressEnforced : ep.egressEnforced;
    const j = judge(new PolicyTable(ep.entries), {
      lxcId: ep.lxcId,
      direction,
      enforced,
      audit: self.audit === true || input.nodeAudit === true,
      identity: remote.identity,
      cidrIdentity: remote.cidrIdentity,
      proto,
      dport: input.dport,
    });
    const rule = j.ruleId !== 0 ? input.resolution.rules.get(j.ruleId) : undefined;
    const s: TraceStep = { direction, lxcId: ep.lxcId, endpoint: selfName, judgement: j, explanation: '' };
    if (rule) s.rule = rule;
    const remoteText = `${remoteName} (${idName(remote.identity)}${remote.cidrIdentity ? `, ${idName(remote.cidrIdentity)}` : ''})`;
    const head = `${direction} of ${selfName} ${direction === 'egress' ? 'to' : 'from'} ${remoteText} ${what}`;
    const ruleText = rule?.name ?? `rule ${j.ruleId}`;
    const via = j.via === undefined ? '' : j.via === 'any' ? 'any identity' : idName(j.entry!.key.identity);
    const audit = j.verdict === 'audit' ? '; audit mode: the packet passes' : '';
    if (!j.enforced) {
      const selecting = ep.policies.map(policyLabel);
      s.explanation = `${head}: allowed — no policy enforces ${direction} on ${selfName}${selecting.length ? ` (selected by ${listText(selecting)}, none with default deny for ${direction})` : ''}`;
    } else if (j.dropReason === 0) {
      s.explanation = `${head}: allowed by ${ruleText} (${j.matchName}, via ${via})`;
    } else if (j.ruleId !== 0) {
      s.explanation = `${head}: denied by ${ruleText} (deny rule, ${j.matchName}, via ${via})${audit}`;
    } else {
      const enforcing = ep.policies.filter((p) => (direction === 'ingress' ? p.ingress : p.egress)).map(policyLabel);
      s.explanation = `${head}: no rule allows it: default deny since ${listText(enforcing)} ${enforcing.length === 1 ? 'selects' : 'select'} ${selfName} for ${direction}${audit}`;
    }
    return s;
  };

  const result: TraceResult = { verdict: 'allowed', protocol: proto, dport: input.dport, explanation: lines };
  if (srcEp) {
    result.egress = step('egress', srcEp, input.src, srcName, input.dst, dstName);
    lines.push(result.egress.explanation);
  }
  if (dstEp) {
    if (!srcEp && input.src.identity === MB_ID_HOST && !input.hostPolicy) {
      const s: TraceStep = {
        direction: 'ingress',
        lxcId: dstEp.lxcId,
        endpoint: dstName,
        judgement: judge(new PolicyTable([]), { lxcId: dstEp.lxcId, direction: 'ingress', enforced: false, audit: false, identity: MB_ID_HOST, cidrIdentity: 0, proto, dport: input.dport }),
        skipped: 'traffic from the host is not judged (host policy is off)',
        explanation: `ingress of ${dstName} from ${srcName} (${idName(MB_ID_HOST)}) ${what}: allowed — traffic from the host is not judged (host policy is off)`,
      };
      result.ingress = s;
    } else {
      result.ingress = step('ingress', dstEp, input.dst, dstName, input.src, srcName);
    }
    lines.push(result.ingress.explanation);
  }
  const verdicts = [result.egress, result.ingress].filter((s) => s !== undefined).map((s) => s.judgement.verdict);
  result.verdict = verdicts.includes('denied') ? 'denied' : verdicts.includes('audit') ? 'audit' : 'allowed';
  if (!srcEp && !dstEp) lines.push(`neither ${srcName} nor ${dstName} is an endpoint of this node: no policy of this node judges it`);
  lines.push(`verdict: ${result.verdict.toUpperCase()}`);
  return result;
}
