// discovery.k8s.io/v1 EndpointSlice: the backends of a Service — addresses,
// readiness, the node they run on, the pod they belong to — and the ports
// they listen on. Checked with the rules of the Kubernetes API server
// (ValidateEndpointSliceCreate in pkg/apis/discovery/validation, after the
// v1 defaults), plus what Membrane needs:
//  - addressType IPv4 only (IPv6 and FQDN slices are rejected as not
//    supported; Membrane is IPv4-only and does not resolve names);
//  - the owning Service is read from the label `kubernetes.io/service-name`
//    (set by the EndpointSlice controller); a slice without it cannot be
//    attached to a service, so the label is required;
//  - a port number, when given, must be 1-65535 (upstream leaves it
//    unchecked).
//
// Conditions follow the v1 API contract for nil values: ready nil → true,
// serving nil → true, terminating nil → false (the same reading kube-proxy
// does). Older API docs said a nil serving should "defer to ready"; the
// current contract says true, and that is what is applied here.
//
// Addresses: upstream allows 1-100 per endpoint but defines no meaning for
// any address beyond the first ("kube-proxy does not look at them"), and the
// controller always writes exactly one. All are kept; consumers should use
// `addresses[0]`.

import {
  type ObjectMeta,
  type RawObject,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isObject,
  isValidPortNum,
  quote,
  readBoolean,
  readInteger,
  readObject,
  readString,
  describeValue,
} from './meta.ts';
import type { Protocol } from './pod.ts';
import { type Checker, FieldPath } from './problems.ts';
import type { KindDefinition } from './registry.ts';
import { checkIPv4, forEachObject, readAppProtocol, readProtocol } from './service.ts';

/** The label naming the Service an EndpointSlice belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Upstream limits. */
export const MAX_ENDPOINTS = 1000;
export const MAX_ADDRESSES = 100;
export const MAX_PORTS = 20000;

export type AddressType = 'IPv4';

export interface EndpointConditions {
  /** Ready to receive traffic (nil → true). Normally: serving and not terminating. */
  ready: boolean;
  /** Able to receive traffic, regardless of terminating (nil → true). */
  serving: boolean;
  /** Being deleted (nil → false). */
  terminating: boolean;
}

/** The object behind an endpoint, usually its Pod. Kept as given (upstream does not validate it). */
export interface EndpointTargetRef {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
}

export interface EndpointSpec {
  /** IPv4 addresses, at least one; only the first has a defined meaning. */
  addresses: string[];
  conditions: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: EndpointTargetRef;
}

export interface EndpointPortSpec {
  /** "" for an unnamed port; matches the Service port's name. */
  name: string;
  /** The port on the endpoints (the Service's resolved targetPort). Absent: not restricted, no port to translate to. */
  port?: number;
  protocol: Protocol;
  appProtocol?: string;
}

export interface EndpointSliceSpec {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** The owning Service (label kubernetes.io/service-name), in the same namespace. */
  serviceName: string;
  addressType: AddressType;
  endpoints: EndpointSpec[];
  ports: EndpointPortSpec[];
}

function readConditions(c: Checker, raw: RawObject, path: FieldPath): EndpointConditions {
  const cond = readObject(c, raw, 'conditions', path) ?? {};
  return {
    ready: readBoolean(c, cond, 'ready', path.child('ready')) ?? true,
    serving: readBoolean(c, cond, 'serving', path.child('serving')) ?? true,
    terminating: readBoolean(c, cond, 'terminating', path.child('terminating')) ?? false,
  };
}

function readTargetRef(c: Checker, raw: RawObject, path: FieldPath): EndpointTargetRef | undefined {
  const ref = readObject(c, raw, 'targetRef', path);
  if (!ref) return undefined;
  const out: EndpointTargetRef = {};
  for (const key of ['kind', 'namespace', 'name', 'uid'] as const) {
    const v = readString(c, ref, key, path.child(key));
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

function readEndpoint(c: Checker, raw: RawObject, path: FieldPath, checkAddresses: boolean): EndpointSpec | undefined {
  const before = c.count;
  const addrPath = path.child('addresses');
  const rawAddrs = raw['addresses'];
  const addresses: string[] = [];
  if (rawAddrs === undefined || rawAddrs === null || (Array.isArray(rawAddrs) && rawAddrs.length === 0)) {
    c.report(addrPath, 'required: must contain at least 1 address');
  } else if (!Array.isArray(rawAddrs)) {
    c.report(addrPath, `must be a list, got ${describeValue(rawAddrs)}`);
  } else if (rawAddrs.length > MAX_ADDRESSES) {
    c.report(addrPath, `must have at most ${MAX_ADDRESSES} addresses, got ${rawAddrs.length}`);
  } else {
    rawAddrs.forEach((a, i) => {
      if (typeof a !== 'string') c.report(addrPath.index(i), `must be a string, got ${describeValue(a)}`);
      else if (!checkAddresses || checkIPv4(c, addrPath.index(i), a, true)) addresses.push(a);
    });
  }

  const conditions = readConditions(c, raw, path.child('conditions'));

  const hostname = readString(c, raw, 'hostname', path.child('hostname'));
  if (hostname !== undefined) {
    const errs = isDNS1123Label(hostname);
    if (errs.length > 0) c.report(path.child('hostname'), `invalid hostname ${quote(hostname)}: ${errs.join('; ')}`);
  }
  const nodeName = readString(c, raw, 'nodeName', path.child('nodeName'));
  if (nodeName !== undefined) {
    const errs = isDNS1123Subdomain(nodeName);
    if (errs.length > 0) c.report(path.child('nodeName'), `invalid node name ${quote(nodeName)}: ${errs.join('; ')}`);
  }
  const zone = readString(c, raw, 'zone', path.child('zone'));
  const targetRef = readTargetRef(c, raw, path.child('targetRef'));

  if (c.count !== before) return undefined;
  const ep: EndpointSpec = { addresses, conditions };
  if (hostname !== undefined) ep.hostname = hostname;
  if (nodeName !== undefined) ep.nodeName = nodeName;
  if (zone !== undefined && zone !== '') ep.zone = zone;
  if (targetRef !== undefined) ep.targetRef = targetRef;
  return ep;
}

function readEndpointPort(c: Checker, raw: RawObject, path: FieldPath, index: number, names: Map<string, number>): EndpointPortSpec | undefined {
  const before = c.count;
  const name = readString(c, raw, 'name', path.child('name')) ?? '';
  if (name !== '') {
    const errs = isDNS1123Label(name);
    if (errs.length > 0) c.report(path.child('name'), `invalid name ${quote(name)}: ${errs.join('; ')}`);
  }
  const first = names.get(name);
  if (first !== undefined) {
    c.report(path.child('name'), name === '' ? `duplicate unnamed port (also ports[${first}]): every port but one needs a name` : `duplicate port name ${quote(name)} (also ports[${first}])`);
  } else {
    names.set(name, index);
  }
  const port = readInteger(c, raw, 'port', path.child('port'));
  if (port !== undefined) {
    for (const m of isValidPortNum(port)) c.report(path.child('port'), `invalid port ${port}: ${m}`);
  }
  const protocol = readProtocol(c, raw, path);
  const appProtocol = readAppProtocol(c, raw, path);
  if (c.count !== before || protocol === undefined) return undefined;
  const ep: EndpointPortSpec = { name, protocol };
  if (port !== undefined) ep.port = port;
  if (appProtocol !== undefined) ep.appProtocol = appProtocol;
  return ep;
}

function readServiceName(c: Checker, raw: RawObject, meta: ObjectMeta): string {
  const path = FieldPath.root().child('metadata').child('labels').key(SERVICE_NAME_LABEL);
  const value = meta.labels[SERVICE_NAME_LABEL];
  if (value === undefined) {
    const rawMeta = raw['metadata'];
    const rawLabels = isObject(rawMeta) ? rawMeta['labels'] : undefined;
    // An invalid label value was already reported by the metadata check.
    if (!(isObject(rawLabels) && Object.hasOwn(rawLabels, SERVICE_NAME_LABEL))) {
      c.report(path, 'required: Membrane attaches an EndpointSlice to the Service named by this label');
    }
    return '';
  }
  const errs = isDNS1035Label(value);
  if (errs.length > 0) {
    c.report(path, `invalid Service name ${quote(value)}: ${errs.join('; ')}`);
    return '';
  }
  return value;
}

/**
 * Validates the EndpointSlice-specific part of an object (addressType,
 * endpoints, ports, the service-name label). Reports every problem to `c`;
 * the result is only meaningful when nothing was reported.
 */
export function validateEndpointSlice(c: Checker, raw: RawObject, meta: ObjectMeta): EndpointSliceSpec {
  const root = FieldPath.root();
  const serviceName = readServiceName(c, raw, meta);

  const atPath = root.child('addressType');
  const addressType = readString(c, raw, 'addressType', atPath);
  let ipv4 = false;
  if (addressType === undefined || addressType === '') {
    if (addressType === '' || raw['addressType'] === undefined || raw['addressType'] === null) c.report(atPath, 'required');
  } else if (addressType === 'IPv4') {
    ipv4 = true;
  } else if (addressType === 'IPv6' || addressType === 'FQDN') {
    c.report(atPath, `${quote(addressType)} is not supported: Membrane is IPv4-only and load-balances to IP addresses; only "IPv4" slices are accepted`);
  } else {
    c.report(atPath, `unsupported value ${quote(addressType)}: must be one of "IPv4", "IPv6", "FQDN"`);
  }

  const endpoints: EndpointSpec[] = [];
  const epPath = root.child('endpoints');
  const rawEndpoints = raw['endpoints'];
  if (Array.isArray(rawEndpoints) && rawEndpoints.length > MAX_ENDPOINTS) {
    c.report(epPath, `must have at most ${MAX_ENDPOINTS} endpoints, got ${rawEndpoints.length}`);
  } else {
    // Addresses are checked against the address type only when it is IPv4 (the
    // slice is rejected anyway otherwise; checking them would only add noise).
    forEachObject(c, raw, 'endpoints', epPath, (item, path) => {
      const ep = readEndpoint(c, item, path, ipv4);
      if (ep) endpoints.push(ep);
    });
  }

  const ports: EndpointPortSpec[] = [];
  const portsPath = root.child('ports');
  const rawPorts = raw['ports'];
  if (Array.isArray(rawPorts) && rawPorts.length > MAX_PORTS) {
    c.report(portsPath, `must have at most ${MAX_PORTS} ports, got ${rawPorts.length}`);
  } else {
    const names = new Map<string, number>();
    forEachObject(c, raw, 'ports', portsPath, (item, path, i) => {
      const p = readEndpointPort(c, item, path, i, names);
      if (p) ports.push(p);
    });
  }

  return {
    namespace: meta.namespace ?? 'default',
    name: meta.name,
    labels: meta.labels,
    serviceName,
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}

export const endpointSliceKind: KindDefinition<'EndpointSlice', EndpointSliceSpec> = {
  kind: 'EndpointSlice',
  apiVersions: ['discovery.k8s.io/v1'],
  namespaced: true,
  name: isDNS1123Subdomain,
  validate: validateEndpointSlice,
};
