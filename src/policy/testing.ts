// Builders of PolicySpec literals and identities for the policy unit tests.
import { endpointLabels } from '../identity/labels.ts';
import { RESERVED_IDENTITIES, type Identity } from '../identity/types.ts';
import type { ContainerPortSpec } from '../k8s/pod.ts';
import type { LocalEndpoint } from './resolve.ts';
import type { Direction, EndpointSelector, LabelRequirement, Peer, PolicyKind, PolicyPart, PolicyRule, PolicySpec, PortSpec } from './types.ts';

export function endpointIdentity(id: number, namespace: string, labels: Record<string, string>, nsLabels: Record<string, string> = {}): Identity {
  return { id, kind: 'endpoint', labels: endpointLabels(namespace, labels, nsLabels) };
}

export function req(key: string, operator: LabelRequirement['operator'], ...values: string[]): LabelRequirement {
  return { key, operator, values };
}

/** matchLabels in a namespace (k8s: keys), as the parsers write namespaced selectors. */
export function podSel(namespace: string | undefined, labels: Record<string, string> = {}): EndpointSelector {
  const requirements = Object.entries(labels).map(([k, v]) => req(`k8s:${k}`, 'In', v));
  if (namespace !== undefined) requirements.push(req('k8s:io.kubernetes.pod.namespace', 'In', namespace));
  return { requirements };
}

export const pods = (namespace: string | undefined, labels: Record<string, string> = {}): Peer => ({ type: 'endpoints', selector: podSel(namespace, labels) });
export const entity = (e: Extract<Peer, { type: 'entity' }>['entity']): Peer => ({ type: 'entity', entity: e });
export const cidr = (c: string, ...except: string[]): Peer => ({ type: 'cidr', cidr: c, except });

export function rule(direction: Direction, peers: Peer[] | 'all', ports: PortSpec[] = [], opts: { deny?: boolean; path?: string } = {}): PolicyRule {
  return { direction, deny: opts.deny ?? false, peers, ports, path: opts.path ?? `spec.${direction}${opts.deny ? 'Deny' : ''}[?]` };
}

/** Numbers the rules' paths per direction (spec.ingress[0], spec.egressDeny[1], ...) when they end in `[?]`. */
export function part(subject: EndpointSelector, defaultDeny: { ingress?: boolean; egress?: boolean }, rules: PolicyRule[], path = 'spec'): PolicyPart {
  const counts = new Map<string, number>();
  const numbered = rules.map((r) => {
    if (!r.path.endsWith('[?]')) return r;
    const field = `${r.direction}${r.deny ? 'Deny' : ''}`;
    const n = counts.get(field) ?? 0;
    counts.set(field, n + 1);
    return { ...r, path: `${path}.${field}[${n}]` };
  });
  return { subject, defaultDeny: { ingress: defaultDeny.ingress ?? false, egress: defaultDeny.egress ?? false }, rules: numbered, path };
}

export function policy(kind: PolicyKind, namespace: string | undefined, name: string, ...parts: PolicyPart[]): PolicySpec {
  const p: PolicySpec = { kind, name, parts };
  if (namespace !== undefined) p.namespace = namespace;
  return p;
}

export function endpoint(lxcId: number, identity: number, namespace: string, pod: string, ip: string, ports: ContainerPortSpec[] = []): LocalEndpoint {
  return { lxcId, identity, namespace, pod, ip, ports };
}

export const reserved = RESERVED_IDENTITIES;
