// networking.k8s.io/v1 NetworkPolicy → PolicySpec (src/policy/types.ts).
//
// Checked with the rules of the Kubernetes API server (ValidateNetworkPolicy
// in pkg/apis/networking/validation, after the v1 defaults), and translated
// the way Cilium translates NetworkPolicies into its own rules:
//  - the subject is spec.podSelector within the policy's namespace;
//  - pod label keys become `k8s:<key>`, namespace label keys
//    `k8s:io.cilium.k8s.namespace.labels.<key>`;
//  - a peer podSelector without namespaceSelector selects pods of the
//    policy's namespace; namespaceSelector alone selects every pod of the
//    matching namespaces, `{}` every namespace (any endpoint with a
//    namespace); both in one peer must both match (AND), while the peers
//    of a rule are alternatives (OR);
//  - ipBlock {cidr, except} is a CIDR peer; it may not share a peer with
//    a selector; except entries must lie strictly inside cidr;
//  - a rule with a missing or empty from/to admits every peer; missing or
//    empty ports, every port;
//  - policyTypes defaults to Ingress, plus Egress when spec.egress has at
//    least one rule (the v1 defaulting: `egress: []` does not count). Each
//    listed type puts the selected pods into default deny for that
//    direction, with no rules when its list is missing or empty. Rules of a
//    direction that policyTypes does not list are ignored, as upstream.
//  - ports: protocol TCP (default), UDP or SCTP; port a number 1-65535 or a
//    port name (IANA_SVC_NAME); endPort only with a numeric port,
//    port <= endPort <= 65535.
// Membrane's own restrictions: IPv4 only; leading zeros in addresses are
// refused; fields this API does not have are reported (not dropped).

import { type Direction, type LabelRequirement, NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX, type Peer, type PolicyRule, type PolicySpec, type PortSpec } from '../policy/types.ts';
import { cidrContains, parsePolicyCidr } from './cidr.ts';
import { checkFields, nearest } from './fields.ts';
import {
  type ObjectMeta,
  type RawObject,
  DEFAULT_NAMESPACE,
  describeValue,
  isDNS1123Subdomain,
  isObject,
  isValidPortName,
  isValidPortNum,
  quote,
  readInteger,
  readList,
  readObject,
  readString,
} from './meta.ts';
import { PROTOCOLS, type Protocol } from './pod.ts';
import { type Checker, FieldPath } from './problems.ts';
import type { KindDefinition } from './registry.ts';
import { prefixedKey, readSelector } from './selector.ts';
import { forEachObject, forEachString, readEnum } from './service.ts';

const podKey = prefixedKey('k8s:');
const namespaceKey = prefixedKey(NAMESPACE_LABELS_PREFIX);

export const POLICY_TYPES = ['Ingress', 'Egress'] as const;

/** `k8s:io.kubernetes.pod.namespace In [ns]`. */
export function inNamespace(namespace: string): LabelRequirement {
  return { key: NAMESPACE_LABEL, operator: 'In', values: [namespace] };
}

/** `k8s:io.kubernetes.pod.namespace Exists`: any endpoint that belongs to a namespace. */
export function inAnyNamespace(): LabelRequirement {
  return { key: NAMESPACE_LABEL, operator: 'Exists', values: [] };
}

function present(obj: RawObject, key: string): boolean {
  return obj[key] !== undefined && obj[key] !== null;
}

function readIPBlock(c: Checker, peer: RawObject, at: FieldPath): Peer | undefined {
  const block = readObject(c, peer, 'ipBlock', at);
  if (!block) return undefined;
  checkFields(c, block, at, ['cidr', 'except']);
  const cidrText = readString(c, block, 'cidr', at.child('cidr'), { required: true });
  if (cidrText === '') c.report(at.child('cidr'), 'required');
  if (!cidrText) return undefined;
  const cidr = parsePolicyCidr(cidrText);
  if ('error' in cidr) {
    c.report(at.child('cidr'), `invalid CIDR ${quote(cidrText)}: ${cidr.error}`);
    return undefined;
  }
  const except: string[] = [];
  forEachString(c, block, 'except', at.child('except'), (text, exceptAt) => {
    const e = parsePolicyCidr(text);
    if ('error' in e) c.report(exceptAt, `invalid CIDR ${quote(text)}: ${e.error}`);
    else if (!cidrContains(cidr.ok, e.ok) || e.ok.prefix === cidr.ok.prefix) {
      c.report(exceptAt, `${quote(text)} must be a strict subset of cidr ${quote(cidr.ok.cidr)} (inside it and smaller)`);
    } else except.push(e.ok.cidr);
  });
  return { type: 'cidr', cidr: cidr.ok.cidr, except };
}

function readPeer(c: Checker, peer: RawObject, at: FieldPath, namespace: string): Peer | undefined {
  checkFields(c, peer, at, ['podSelector', 'namespaceSelector', 'ipBlock']);
  const hasPods = present(peer, 'podSelector');
  const hasNamespaces = present(peer, 'namespaceSelector');
  if (present(peer, 'ipBlock')) {
    if (hasPods || hasNamespaces) {
      c.report(at, 'may not specify both ipBlock and another peer (podSelector, namespaceSelector): write them as separate peers');
      return undefined;
    }
    return readIPBlock(c, peer, at.child('ipBlock'));
  }
  if (!hasPods && !hasNamespaces) {
    c.report(at, 'must specify a peer: podSelector, namespaceSelector (both: pods that match both) or ipBlock');
    return undefined;
  }
  const pods = readSelector(c, peer, 'podSelector', at.child('podSelector'), podKey) ?? [];
  let where: LabelRequirement[];
  if (!hasNamespaces) {
    where = [inNamespace(namespace)];
  } else {
    const namespaces = readSelector(c, peer, 'namespaceSelector', at.child('namespaceSelector'), namespaceKey) ?? [];
    where = namespaces.length === 0 ? [inAnyNamespace()] : namespaces;
  }
  return { type: 'endpoints', selector: { requirements: [...where, ...pods] } };
}

function readPortValue(c: Checker, raw: RawObject, at: FieldPath): number | string | undefined {
  const v = raw['port'];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    const errs = isValidPortNum(v);
    if (errs.length > 0) c.report(at, `invalid port ${v}: ${errs.join('; ')}`);
    return v;
  }
  if (typeof v === 'string') {
    const errs = isValidPortName(v);
    if (errs.length > 0) {
      const hint = /^\d+$/.test(v) ? `; for a port number write it without quotes (port: ${v})` : '';
      c.report(at, `invalid port name ${quote(v)}: ${errs.join('; ')}${hint}`);
    }
    return v;
  }
  c.report(at, `must be a port number or a port name, got ${describeValue(v)}`);
  return undefined;
}

function readPort(c: Checker, raw: RawObject, at: FieldPath): PortSpec | undefined {
  const before = c.count;
  checkFields(c, raw, at, ['protocol', 'port', 'endPort']);
  const protocol = readEnum<Protocol>(c, raw, 'protocol', at.child('protocol'), PROTOCOLS, 'TCP');
  const port = readPortValue(c, raw, at.child('port'));
  const endAt = at.child('endPort');
  const endPort = readInteger(c, raw, 'endPort', endAt);
  if (endPort !== undefined) {
    if (port === undefined) c.report(endAt, 'may not be specified when port is not specified');
    else if (typeof port === 'string') c.report(endAt, `may not be specified when port is a name (${quote(port)}): ranges need port numbers`);
    else {
      if (endPort < port) c.report(endAt, `invalid value ${endPort}: must be greater than or equal to port (${port})`);
      for (const m of isValidPortNum(endPort)) c.report(endAt, `invalid port ${endPort}: ${m}`);
    }
  }
  if (c.count !== before || protocol === undefined) return undefined;
  const spec: PortSpec = { protocol };
  if (port !== undefined) spec.port = port;
  if (endPort !== undefined && typeof port === 'number' && endPort > port) spec.endPort = endPort;
  return spec;
}

function readRules(c: Checker, spec: RawObject, specPath: FieldPath, direction: Direction, namespace: string): PolicyRule[] {
  const peerField = direction === 'ingress' ? 'from' : 'to';
  const rules: PolicyRule[] = [];
  forEachObject(c, spec, direction, specPath.child(direction), (raw, at) => {
    checkFields(c, raw, at, [peerField, 'ports']);
    const peerList = readList(c, raw, peerField, at.child(peerField));
    let peers: Peer[] | 'all' = 'all';
    if (peerList && peerList.length > 0) {
      const list: Peer[] = [];
      peerList.forEach((item, i) => {
        const peerAt = at.child(peerField).index(i);
        if (!isObject(item)) c.report(peerAt, `must be an object, got ${describeValue(item)}`);
        else {
          const peer = readPeer(c, item, peerAt, namespace);
          if (peer) list.push(peer);
        }
      });
      peers = list;
    }
    const ports: PortSpec[] = [];
    forEachObject(c, raw, 'ports', at.child('ports'), (p, portAt) => {
      const port = readPort(c, p, portAt);
      if (port) ports.push(port);
    });
    rules.push({ direction, deny: false, peers, ports, path: at.toString() });
  });
  return rules;
}

/** policyTypes, defaulted as the v1 API does. */
function readPolicyTypes(c: Checker, spec: RawObject, specPath: FieldPath): { ingress: boolean; egress: boolean } {
  const at = specPath.child('policyTypes');
  const list = readList(c, spec, 'policyTypes', at);
  if (!list || list.length === 0) {
    const egress = spec['egress'];
    return { ingress: true, egress: Array.isArray(egress) && egress.length > 0 };
  }
  if (list.length > POLICY_TYPES.length) {
    c.report(at, 'may not specify more than two policyTypes');
    return { ingress: false, egress: false };
  }
  const types = { ingress: false, egress: false };
  const allowed = POLICY_TYPES.map((t) => quote(t)).join(', ');
  list.forEach((v, i) => {
    if (v === 'Ingress') types.ingress = true;
    else if (v === 'Egress') types.egress = true;
    else if (typeof v !== 'string') c.report(at.index(i), `must be a string, got ${describeValue(v)}`);
    else {
      const near = nearest(v, POLICY_TYPES);
      c.report(at.index(i), `unsupported value ${quote(v)}: must be one of ${allowed}${near ? ` (did you mean ${quote(near)}?)` : ''}`);
    }
  });
  return types;
}

/**
 * Validates a NetworkPolicy's spec into a PolicySpec with one part.
 * Problems are reported to `c`; the result is only meaningful without any.
 */
export function validateNetworkPolicy(c: Checker, raw: RawObject, meta: ObjectMeta): PolicySpec {
  const namespace = meta.namespace ?? DEFAULT_NAMESPACE;
  const result: PolicySpec = { kind: 'NetworkPolicy', namespace, name: meta.name, parts: [] };
  const specPath = FieldPath.root().child('spec');
  const spec = readObject(c, raw, 'spec', specPath, { required: true });
  if (!spec) return result;
  checkFields(c, spec, specPath, ['podSelector', 'policyTypes', 'ingress', 'egress']);

  const pods = readSelector(c, spec, 'podSelector', specPath.child('podSelector'), podKey, {
    required: true,
    requiredHint: '(use podSelector: {} to select every pod of the namespace)',
  });
  const types = readPolicyTypes(c, spec, specPath);
  const ingress = readRules(c, spec, specPath, 'ingress', namespace);
  const egress = readRules(c, spec, specPath, 'egress', namespace);
  result.parts.push({
    subject: { requirements: [inNamespace(namespace), ...(pods ?? [])] },
    defaultDeny: types,
    rules: [...(types.ingress ? ingress : []), ...(types.egress ? egress : [])],
    path: specPath.toString(),
  });
  return result;
}

export const networkPolicyKind: KindDefinition<'NetworkPolicy', PolicySpec> = {
  kind: 'NetworkPolicy',
  apiVersions: ['networking.k8s.io/v1'],
  namespaced: true,
  name: isDNS1123Subdomain,
  validate: validateNetworkPolicy,
};
