// What the agent knows about an event's addresses: endpoints (ID, pod,
// namespace, labels, identity), identities of other addresses (ipcache),
// services (by frontend, or by backend when socket LB left only the backend on
// the packet), policy rules, interface names. agentEnricher() caches all of it
// and rebuilds a cache only when its source changed.
import type { RawEvent } from '../datapath/abi.ts';
import type { Agent } from '../agent/daemon.ts';
import type { FlowEndpoint, FlowPolicy, FlowService } from './flow-types.ts';
import type { FlowContext } from './flow.ts';

export interface Enricher {
  /** Endpoint or peer at `ip`; `identity` is the event's (0: unknown) and is used when the address is not a local endpoint. */
  endpoint(ip: string, identity: number): FlowEndpoint;
  /** The service whose frontend is ip:port/proto (proto: IP protocol number). */
  serviceByFrontend(ip: string, port: number, proto: number): FlowService | undefined;
  /** The service that has ip:port/proto as a backend. */
  serviceByBackend(ip: string, port: number, proto: number): FlowService | undefined;
  /** A policy rule id (mb_event.rule_id) → the policy and the rule's name. */
  policyRule(ruleId: number): { policy: FlowPolicy; rule: string } | undefined;
  interfaceName(ifindex: number): string | undefined;
  /** Everything for one event (source, destination, services, policy, interface). */
  context(e: RawEvent): FlowContext;
}

/** Sources of an enricher: plain functions, so tests need no agent. */
export interface EnricherSources {
  endpoints(): { ip: string; id: number; namespace: string; pod: string; labels: Record<string, string>; identity: number }[];
  /** Labels of an identity (e.g. ['reserved:world'] or ['k8s:app=web', ...]). */
  identityLabels(id: number): string[] | undefined;
  /** The identity of a non-endpoint address (ipcache, longest prefix). */
  identityOf(ip: string): number | undefined;
  services(): { namespace: string; name: string; frontends: { ip: string; port: number; proto: number }[]; backends: { ip: string; port: number; proto: number }[] }[];
  ruleName(ruleId: number): string | undefined;
  interfaceName(ifindex: number): string | undefined;
  /** Changes whenever any of the above may have changed (caches rebuild lazily on the next event). */
  generation(): number;
}

export function createEnricher(_sources: EnricherSources): Enricher {
  throw new Error('not implemented');
}

/** The enricher of a running agent. */
export function agentEnricher(_agent: Agent): Enricher {
  throw new Error('not implemented');
}
