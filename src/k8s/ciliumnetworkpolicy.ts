// cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy →
// PolicySpec (src/policy/types.ts), with Cilium's validation
// (pkg/policy/api rule_validation) and its translation of selectors
// (pkg/policy/utils getEndpointSelector):
//  - `spec` and/or `specs`: each rule is one PolicyPart (`spec` first);
//    each must select endpoints (endpointSelector) and have at least one
//    of ingress, ingressDeny, egress, egressDeny;
//  - selector keys are `source:key` (k8s, reserved, any; no prefix = any);
//  - CiliumNetworkPolicy: the subject is confined to the policy's namespace;
//    a fromEndpoints/toEndpoints selector too, unless it names the
//    namespace label, a namespace's labels (io.cilium.k8s.namespace.labels.*)
//    or a reserved label. CiliumClusterwideNetworkPolicy: no namespace;
//    peer selectors that do not name the namespace label select only
//    endpoints that have one (Kubernetes endpoints), unless they name a
//    reserved label or the subject selects `reserved:init`;
//  - a rule with peers allows (or denies) those peers; one with only toPorts
//    applies to every peer (L4-only); `{}` matches nothing but still puts
//    its direction into default deny (the `ingress: [{}]` idiom); a peer
//    list written empty (`fromEndpoints: []`) matches nothing;
//  - peer kinds may not be combined in one rule (fromEndpoints with
//    fromCIDR, ...): Cilium refuses that too;
//  - toPorts ports: port "80", a name ("http", matched case-insensitively)
//    or "0" (every port), required; protocol TCP, UDP, SCTP or ANY
//    (default); endPort with a numeric port, port <= endPort <= 65535; at
//    most 40 ports per toPorts entry;
//  - fromCIDRSet/toCIDRSet except entries must lie inside cidr (equal is
//    allowed, as in Cilium); fromCIDR/toCIDR take a bare address as /32;
//  - enableDefaultDeny: explicit values are kept; otherwise a direction is
//    default deny when the rule has ingress (or egress) rules, allow or deny.
// Fields Cilium has but Membrane does not implement (host policies, L7,
// FQDN, services, groups, ICMP, authentication, ...) are reported as not
// supported, any other unknown field as unknown.

import { ENTITIES, type Direction, type Entity, type LabelRequirement, NAMESPACE_LABEL, type Peer, type PolicyPart, type PolicyRule, type PolicySpec, type PortProtocol, type PortSpec } from '../policy/types.ts';
import { cidrContains, parsePolicyCidr } from './cidr.ts';
import { type Unsupported, checkFields, nearest } from './fields.ts';
import { type ObjectMeta, type RawObject, DEFAULT_NAMESPACE, describeValue, isDNS1123Subdomain, isObject, isValidPortName, quote, readBoolean, readInteger, readList, readObject, readString } from './meta.ts';
import { inAnyNamespace, inNamespace } from './networkpolicy.ts';
import { type Checker, FieldPath } from './problems.ts';
import type { KindDefinition } from './registry.ts';
import { ciliumKey, readSelector, readSelectorObject } from './selector.ts';
import { forEachObject, forEachString } from './service.ts';

/** Cilium's limit of ports in one toPorts entry. */
export const MAX_PORTS = 40;

/** Entities accepted in fromEntities/toEntities: the model's, and `none` (selects nothing). */
export const CILIUM_ENTITIES: readonly string[] = [...ENTITIES, 'none'];

export const CILIUM_PROTOCOLS: readonly PortProtocol[] = ['TCP', 'UDP', 'SCTP', 'ANY'];

type Section = 'ingress' | 'ingressDeny' | 'egress' | 'egressDeny';
const SECTIONS: readonly Section[] = ['ingress', 'ingressDeny', 'egress', 'egressDeny'];

const NAMESPACE_LABELS_KEYS = ['k8s:io.cilium.k8s.namespace.labels.', 'any:io.cilium.k8s.namespace.labels.'];

const UNSUPPORTED_RULE_FIELDS: Unsupported = {
  nodeSelector: 'host policies are not supported: nodeSelector selects nodes; select endpoints with endpointSelector',
};

const UNSUPPORTED_PEERS: { readonly [D in Direction]: Unsupported } = {
  ingress: {
    fromRequires: 'not supported (requirement rules; Cilium deprecates them)',
    fromGroups: 'not supported (cloud provider groups)',
    fromNodes: 'not supported (node selectors): use the host or remote-node entity',
    icmps: 'not supported (ICMP rules)',
    authentication: 'not supported (mutual authentication)',
  },
  egress: {
    toRequires: 'not supported (requirement rules; Cilium deprecates them)',
    toServices: 'not supported (service selectors): select the service\'s pods with toEndpoints',
    toFQDNs: 'not supported (DNS-based rules need a DNS proxy)',
    toGroups: 'not supported (cloud provider groups)',
    toNodes: 'not supported (node selectors): use the host or remote-node entity',
    icmps: 'not supported (ICMP rules)',
    authentication: 'not supported (mutual authentication)',
  },
};

const UNSUPPORTED_PORT_RULE: Unsupported = {
  terminatingTLS: 'not supported (TLS interception is L7)',
  originatingTLS: 'not supported (TLS interception is L7)',
  serverNames: 'not supported (TLS SNI matching is L7)',
  listener: 'not supported (Envoy listeners are L7)',
};

const UNSUPPORTED_CIDR_RULE: Unsupported = {
  cidrGroupRef: 'not supported (CiliumCIDRGroups): write the CIDRs in cidr',
  cidrGroupSelector: 'not supported (CiliumCIDRGroups): write the CIDRs in cidr',
};

interface Context {
  /** The policy's namespace; undefined for a clusterwide policy. */
  namespace: string | undefined;
  /** The subject selects `reserved:init` (peers are then not limited to endpoints with a namespace). */
  subjectMatchesInit: boolean;
}

function present(obj: RawObject, key: string): boolean {
  return obj[key] !== undefined && obj[key] !== null;
}

function lengthOf(obj: RawObject, key: string): number {
  const v = obj[key];
  return Array.isArray(v) ? v.length : 0;
}

/** Cilium's getEndpointSelector: where a peer selector applies when it does not say. */
function confine(requirements: LabelRequirement[], ctx: Context): LabelRequirement[] {
  const keys = requirements.map((r) => r.key);
  if (keys.some((k) => k.startsWith('reserved:'))) return requirements;
  if (keys.includes(NAMESPACE_LABEL)) return requirements;
  if (ctx.namespace === undefined) return ctx.subjectMatchesInit ? requirements : [inAnyNamespace(), ...requirements];
  if (keys.some((k) => NAMESPACE_LABELS_KEYS.some((p) => k.startsWith(p)))) return requirements;
  return [inNamespace(ctx.namespace), ...requirements];
}

function readCidrRule(c: Checker, raw: RawObject, at: FieldPath): Peer | undefined {
  checkFields(c, raw, at, ['cidr', 'except'], UNSUPPORTED_CIDR_RULE);
  const text = readString(c, raw, 'cidr', at.child('cidr'), { required: !present(raw, 'cidrGroupRef') && !present(raw, 'cidrGroupSelector') });
  if (text === '') c.report(at.child('cidr'), 'required');
  if (!text) return undefined;
  const cidr = parsePolicyCidr(text);
  if ('error' in cidr) {
    c.report(at.child('cidr'), `invalid CIDR ${quote(text)}: ${cidr.error}`);
    return undefined;
  }
  const except: string[] = [];
  forEachString(c, raw, 'except', at.child('except'), (e, exceptAt) => {
    const x = parsePolicyCidr(e);
    if ('error' in x) c.report(exceptAt, `invalid CIDR ${quote(e)}: ${x.error}`);
    else if (!cidrContains(cidr.ok, x.ok)) c.report(exceptAt, `${quote(e)} must lie inside cidr ${quote(cidr.ok.cidr)}`);
    else except.push(x.ok.cidr);
  });
  return { type: 'cidr', cidr: cidr.ok.cidr, except };
}

function readEntity(c: Checker, name: string, at: FieldPath): Entity | 'none' | undefined {
  if ((ENTITIES as readonly string[]).includes(name)) return name as Entity;
  if (name === 'none') return 'none';
  if (name === 'ingress') {
    c.report(at, 'entity "ingress" is not supported (Cilium\'s Envoy ingress)');
    return undefined;
  }
  const near = nearest(name, CILIUM_ENTITIES);
  const hint = near ? ` (did you mean ${quote(near)}?)` : '';
  c.report(at, `unknown entity ${quote(name)}: must be one of ${CILIUM_ENTITIES.join(', ')}${hint}`);
  return undefined;
}

/** The peers of a rule: undefined when it names none (so the ports decide), [] when it matches none. */
function readPeers(c: Checker, raw: RawObject, at: FieldPath, direction: Direction, ctx: Context): Peer[] | undefined {
  const p = direction === 'ingress' ? 'from' : 'to';
  const fields = { endpoints: `${p}Endpoints`, cidr: `${p}CIDR`, cidrSet: `${p}CIDRSet`, entities: `${p}Entities` };
  const used = Object.values(fields).filter((f) => lengthOf(raw, f) > 0);
  if (used.length > 1) {
    c.report(at, `combining ${used.join(' and ')} in one rule is not supported (nor by Cilium): write one rule for each`);
  }

  const peers: Peer[] = [];
  const endpointsAt = at.child(fields.endpoints);
  readList(c, raw, fields.endpoints, endpointsAt)?.forEach((item, i) => {
    if (!isObject(item)) {
      c.report(endpointsAt.index(i), `must be a label selector (an object), got ${describeValue(item)}`);
      return;
    }
    const requirements = readSelectorObject(c, item, endpointsAt.index(i), ciliumKey);
    peers.push({ type: 'endpoints', selector: { requirements: confine(requirements, ctx) } });
  });
  forEachString(c, raw, fields.cidr, at.child(fields.cidr), (text, cidrAt) => {
    if (text === '') {
      c.report(cidrAt, 'must not be empty');
      return;
    }
    const cidr = parsePolicyCidr(text, { bareAddress: true });
    if ('error' in cidr) c.report(cidrAt, `invalid CIDR ${quote(text)}: ${cidr.error}`);
    else peers.push({ type: 'cidr', cidr: cidr.ok.cidr, except: [] });
  });
  forEachObject(c, raw, fields.cidrSet, at.child(fields.cidrSet), (item, setAt) => {
    const peer = readCidrRule(c, item, setAt);
    if (peer) peers.push(peer);
  });
  forEachString(c, raw, fields.entities, at.child(fields.entities), (name, entityAt) => {
    const entity = readEntity(c, name, entityAt);
    if (entity !== undefined && entity !== 'none') peers.push({ type: 'entity', entity });
  });

  const written = Object.values(fields).filter((f) => Array.isArray(raw[f]));
  if (written.length === 0) return undefined;
  // Cilium: a peer list written empty selects nothing, whatever else the rule says.
  if (written.some((f) => lengthOf(raw, f) === 0)) return [];
  return peers;
}

function readPortNumberOrName(c: Checker, raw: RawObject, at: FieldPath): number | string | undefined {
  const text = readString(c, raw, 'port', at, { required: true });
  if (text === undefined) return undefined;
  if (text === '') {
    c.report(at, 'required (write "0" for every port)');
    return undefined;
  }
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (text.length > 1 && text.startsWith('0')) c.report(at, `invalid port ${quote(text)}: must be written without leading zeros`);
    else if (n > 65535) c.report(at, `invalid port ${quote(text)}: must be between 0 (every port) and 65535, inclusive`);
    return n;
  }
  const name = text.toLowerCase();
  const errs = isValidPortName(name);
  if (errs.length > 0) {
    c.report(at, `invalid port ${quote(text)}: must be a port number (0-65535, 0 for every port) or a port name, which ${errs.join('; ')}`);
    return undefined;
  }
  return name;
}

function readProtocol(c: Checker, raw: RawObject, at: FieldPath): PortProtocol | undefined {
  const v = readString(c, raw, 'protocol', at);
  if (v === undefined) return present(raw, 'protocol') ? undefined : 'ANY';
  if (v === '') return 'ANY';
  if ((CILIUM_PROTOCOLS as readonly string[]).includes(v)) return v as PortProtocol;
  const upper = v.toUpperCase();
  if (['ICMP', 'ICMPV6', 'VRRP', 'IGMP'].includes(upper)) {
    c.report(at, `protocol ${quote(v)} is not supported: Membrane's policies match TCP, UDP and SCTP ports (or ANY of them)`);
    return undefined;
  }
  const near = nearest(v, CILIUM_PROTOCOLS);
  const hint = near ? ` (did you mean ${quote(near)}?)` : '';
  c.report(at, `unsupported value ${quote(v)}: must be one of ${CILIUM_PROTOCOLS.map((p) => quote(p)).join(', ')}${hint}`);
  return undefined;
}

function readPort(c: Checker, raw: RawObject, at: FieldPath): PortSpec | undefined {
  const before = c.count;
  checkFields(c, raw, at, ['port', 'protocol', 'endPort']);
  const port = readPortNumberOrName(c, raw, at.child('port'));
  const protocol = readProtocol(c, raw, at.child('protocol'));
  const endAt = at.child('endPort');
  let endPort = readInteger(c, raw, 'endPort', endAt);
  if (endPort === 0) endPort = undefined; // Cilium's zero value: no range
  if (endPort !== undefined) {
    if (typeof port === 'string') c.report(endAt, `may not be specified when port is a name (${quote(port)}): ranges need port numbers`);
    else if (port === 0) c.report(endAt, 'may not be specified when port is "0" (every port)');
    else if (port !== undefined && endPort < port) c.report(endAt, `invalid value ${endPort}: must be greater than or equal to port (${port})`);
    else if (endPort > 65535 || endPort < 0) c.report(endAt, `invalid port ${endPort}: must be between 1 and 65535, inclusive`);
  }
  if (c.count !== before || protocol === undefined || port === undefined) return undefined;
  const spec: PortSpec = { protocol };
  if (port !== 0) spec.port = port;
  if (endPort !== undefined && typeof port === 'number' && endPort > port) spec.endPort = endPort;
  return spec;
}

function isEmptyL7(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  return isObject(v) && Object.values(v).every((x) => x === null || x === undefined || (Array.isArray(x) && x.length === 0));
}

function readToPorts(c: Checker, raw: RawObject, at: FieldPath): PortSpec[] {
  const ports: PortSpec[] = [];
  forEachObject(c, raw, 'toPorts', at, (rule, ruleAt) => {
    checkFields(c, rule, ruleAt, ['ports', 'rules'], UNSUPPORTED_PORT_RULE);
    if (!isEmptyL7(rule['rules'])) c.report(ruleAt.child('rules'), 'L7 rules are not supported yet');
    const portsAt = ruleAt.child('ports');
    const n = lengthOf(rule, 'ports');
    const wrongType = present(rule, 'ports') && !Array.isArray(rule['ports']); // reported by forEachObject
    if (n === 0 && !wrongType) c.report(portsAt, 'required: at least one port (port "0" means every port)');
    if (n > MAX_PORTS) c.report(portsAt, `too many ports (${n}): at most ${MAX_PORTS} in one toPorts entry`);
    forEachObject(c, rule, 'ports', portsAt, (p, portAt) => {
      const port = readPort(c, p, portAt);
      if (port) ports.push(port);
    });
  });
  return ports;
}

function readRule(c: Checker, raw: RawObject, at: FieldPath, section: Section, ctx: Context): PolicyRule {
  const direction: Direction = section.startsWith('ingress') ? 'ingress' : 'egress';
  const p = direction === 'ingress' ? 'from' : 'to';
  checkFields(c, raw, at, [`${p}Endpoints`, `${p}CIDR`, `${p}CIDRSet`, `${p}Entities`, 'toPorts'], UNSUPPORTED_PEERS[direction]);
  const peers = readPeers(c, raw, at, direction, ctx);
  const ports = readToPorts(c, raw, at.child('toPorts'));
  const hasPorts = lengthOf(raw, 'toPorts') > 0;
  return {
    direction,
    deny: section.endsWith('Deny'),
    // Cilium: peers named → those; only toPorts → every peer (L4-only); nothing → nothing.
    peers: peers ?? (hasPorts ? 'all' : []),
    ports,
    path: at.toString(),
  };
}

function readDefaultDeny(c: Checker, raw: RawObject, at: FieldPath): { ingress: boolean; egress: boolean } {
  const ingressRules = lengthOf(raw, 'ingress') + lengthOf(raw, 'ingressDeny') > 0;
  const egressRules = lengthOf(raw, 'egress') + lengthOf(raw, 'egressDeny') > 0;
  const cfgAt = at.child('enableDefaultDeny');
  const cfg = readObject(c, raw, 'enableDefaultDeny', cfgAt);
  if (cfg) checkFields(c, cfg, cfgAt, ['ingress', 'egress']);
  return {
    ingress: (cfg && readBoolean(c, cfg, 'ingress', cfgAt.child('ingress'))) ?? ingressRules,
    egress: (cfg && readBoolean(c, cfg, 'egress', cfgAt.child('egress'))) ?? egressRules,
  };
}

function readSubject(c: Checker, raw: RawObject, at: FieldPath, namespace: string | undefined): LabelRequirement[] {
  const selAt = at.child('endpointSelector');
  const hostPolicy = present(raw, 'nodeSelector'); // reported as not supported
  const requirements = readSelector(c, raw, 'endpointSelector', selAt, ciliumKey, {
    required: !hostPolicy,
    requiredHint: '(use endpointSelector: {} to select every endpoint)',
  }) ?? [];
  if (namespace === undefined) return requirements;
  for (const r of requirements) {
    if (r.key === NAMESPACE_LABEL && r.operator === 'In' && !r.values.includes(namespace)) {
      c.report(selAt, `selects namespace ${r.values.map((v) => quote(v)).join(', ')}, but a CiliumNetworkPolicy applies only to endpoints of its own namespace ${quote(namespace)}: use a CiliumClusterwideNetworkPolicy`);
    }
  }
  return [inNamespace(namespace), ...requirements];
}

function readPart(c: Checker, raw: RawObject, at: FieldPath, namespace: string | undefined): PolicyPart {
  checkFields(c, raw, at, ['endpointSelector', ...SECTIONS, 'enableDefaultDeny', 'labels', 'description', 'log'], UNSUPPORTED_RULE_FIELDS);
  const subject = readSubject(c, raw, at, namespace);
  const ctx: Context = { namespace, subjectMatchesInit: subject.some((r) => r.key === 'reserved:init') };
  if (SECTIONS.every((s) => lengthOf(raw, s) === 0)) {
    c.report(at, `must have at least one rule in ${SECTIONS.join(', ')} (ingress: [{}] puts endpoints into default deny for ingress)`);
  }
  const rules: PolicyRule[] = [];
  for (const section of SECTIONS) {
    forEachObject(c, raw, section, at.child(section), (item, ruleAt) => rules.push(readRule(c, item, ruleAt, section, ctx)));
  }
  // Informational fields, checked for shape only.
  readString(c, raw, 'description', at.child('description'));
  readList(c, raw, 'labels', at.child('labels'));
  readObject(c, raw, 'log', at.child('log'));
  return { subject: { requirements: subject }, defaultDeny: readDefaultDeny(c, raw, at), rules, path: at.toString() };
}

function validateCilium(kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy', c: Checker, raw: RawObject, meta: ObjectMeta): PolicySpec {
  const namespace = kind === 'CiliumNetworkPolicy' ? (meta.namespace ?? DEFAULT_NAMESPACE) : undefined;
  const result: PolicySpec = namespace === undefined ? { kind, name: meta.name, parts: [] } : { kind, namespace, name: meta.name, parts: [] };
  const root = FieldPath.root();
  if (!present(raw, 'spec') && !present(raw, 'specs')) {
    c.report(root.child('spec'), 'required: a policy needs spec or specs (a list of rules)');
  } else if (!present(raw, 'spec') && Array.isArray(raw['specs']) && raw['specs'].length === 0) {
    c.report(root.child('specs'), 'must have at least one rule');
  }
  const spec = readObject(c, raw, 'spec', root.child('spec'));
  if (spec) result.parts.push(readPart(c, spec, root.child('spec'), namespace));
  forEachObject(c, raw, 'specs', root.child('specs'), (item, at) => result.parts.push(readPart(c, item, at, namespace)));
  return result;
}

export function validateCiliumNetworkPolicy(c: Checker, raw: RawObject, meta: ObjectMeta): PolicySpec {
  return validateCilium('CiliumNetworkPolicy', c, raw, meta);
}

export function validateCiliumClusterwideNetworkPolicy(c: Checker, raw: RawObject, meta: ObjectMeta): PolicySpec {
  return validateCilium('CiliumClusterwideNetworkPolicy', c, raw, meta);
}

export const ciliumNetworkPolicyKind: KindDefinition<'CiliumNetworkPolicy', PolicySpec> = {
  kind: 'CiliumNetworkPolicy',
  apiVersions: ['cilium.io/v2'],
  namespaced: true,
  name: isDNS1123Subdomain,
  validate: validateCiliumNetworkPolicy,
};

export const ciliumClusterwideNetworkPolicyKind: KindDefinition<'CiliumClusterwideNetworkPolicy', PolicySpec> = {
  kind: 'CiliumClusterwideNetworkPolicy',
  apiVersions: ['cilium.io/v2'],
  namespaced: false,
  name: isDNS1123Subdomain,
  validate: validateCiliumClusterwideNetworkPolicy,
};
