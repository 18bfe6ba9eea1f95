// v1 Service: what the kube-proxy replacement needs — the frontend (type,
// cluster IP, ports, node ports, external IPs, load-balancer addresses), how
// backends are chosen (selector, session affinity, traffic policies) — checked
// with the rules of the Kubernetes API server (ValidateService in
// pkg/apis/core/validation, after the v1 defaults of pkg/apis/core/v1 are
// applied), so that a manifest Membrane accepts is one Kubernetes accepts.
//
// Membrane-specific restrictions, each reported with its reason:
//  - type ExternalName is not supported (a DNS alias: nothing to load-balance);
//  - IPv4 only: IPv6 addresses, ipFamilies IPv6 and RequireDualStack are
//    rejected, and addresses must be written canonically (no leading zeros,
//    which the API server still tolerates for old objects);
//  - with a nodePortRange option, nodePort must lie in it. Without one
//    (parsing, in the CLI and the agent alike) any port number passes, as in
//    the API server's validation; the agent checks its --node-port-range
//    when it allocates (src/service/allocate.ts), as the API server does.
//
// Defaults applied (as the API server does): type ClusterIP, protocol TCP,
// targetPort = port, sessionAffinity None, ClientIP timeout 10800 s,
// externalTrafficPolicy Cluster (externally reachable services only),
// internalTrafficPolicy Cluster, allocateLoadBalancerNodePorts true
// (LoadBalancer only), status ingress ipMode VIP (when ip is set).

import {
  type ObjectMeta,
  type RawObject,
  describeValue,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isObject,
  isQualifiedName,
  isValidPortName,
  isValidPortNum,
  quote,
  readBoolean,
  readInteger,
  readLabels,
  readList,
  readObject,
  readString,
} from './meta.ts';
import { type Protocol, PROTOCOLS } from './pod.ts';
import { type Checker, FieldPath } from './problems.ts';
import type { KindDefinition } from './registry.ts';

// ---------------------------------------------------------------------------
// IPv4 addresses as Kubernetes fields hold them.

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Why `value` is not an IPv4 address in canonical dotted-decimal form (empty
 * when it is). Leading zeros are refused: "010.1.1.1" reads as 10.1.1.1 to
 * Go and as 8.1.1.1 to inet_aton, so it is ambiguous.
 */
export function ipv4Problems(value: string): string[] {
  if (value.includes(':')) return ['IPv6 addresses are not supported (Membrane is IPv4-only)'];
  const m = IPV4_RE.exec(value);
  if (!m) return ['must be a valid IPv4 address (e.g. 10.9.8.7)'];
  const octets = m.slice(1);
  if (octets.some((o) => Number(o) > 255)) return ['must be a valid IPv4 address (e.g. 10.9.8.7): each part is 0-255'];
  if (octets.some((o) => o.length > 1 && o.startsWith('0'))) return ['must be a valid IPv4 address without leading zeros (e.g. 10.9.8.7)'];
  return [];
}

export function isIPv4(value: string): boolean {
  return ipv4Problems(value).length === 0;
}

/**
 * Why a valid IPv4 address cannot be a Service external IP or an endpoint
 * address (upstream ValidateNonSpecialIP): unspecified, loopback, link-local
 * or link-local multicast.
 */
export function specialIPv4Problems(value: string): string[] {
  const [a, b, c, d] = value.split('.').map(Number);
  if (a === 0 && b === 0 && c === 0 && d === 0) return ['may not be unspecified (0.0.0.0)'];
  if (a === 127) return ['may not be in the loopback range (127.0.0.0/8)'];
  if (a === 169 && b === 254) return ['may not be in the link-local range (169.254.0.0/16)'];
  if (a === 224 && b === 0 && c === 0) return ['may not be in the link-local multicast range (224.0.0.0/24)'];
  return [];
}

/** Checks an IPv4 address, reporting `invalid IP "x": reason` at `path`; `nonSpecial` adds the ValidateNonSpecialIP rules. */
export function checkIPv4(c: Checker, path: FieldPath, value: string, nonSpecial: boolean): boolean {
  const errs = ipv4Problems(value);
  if (errs.length === 0 && nonSpecial) errs.push(...specialIPv4Problems(value));
  if (errs.length > 0) c.report(path, `invalid IP ${quote(value)}: ${errs.join('; ')}`);
  return errs.length === 0;
}

// ---------------------------------------------------------------------------
// Reading helpers shared with EndpointSlice.

function oneOf(allowed: readonly string[]): string {
  return allowed.map((a) => quote(a)).join(', ');
}

/**
 * Reads an enumerated string field; absent, null and "" give `dflt` (the
 * API server's default). An unknown value is reported with the allowed
 * values, and a hint when only the letter case is wrong.
 */
export function readEnum<T extends string>(
  c: Checker,
  obj: RawObject,
  key: string,
  path: FieldPath,
  allowed: readonly T[],
  dflt: T,
): T | undefined {
  const v = readString(c, obj, key, path);
  if (v === undefined) return obj[key] === undefined || obj[key] === null ? dflt : undefined;
  if (v === '') return dflt;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  const near = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
  const hint = near ? ` (did you mean ${quote(near)}?)` : '';
  c.report(path, `unsupported value ${quote(v)}: must be one of ${oneOf(allowed)}${hint}`);
  return undefined;
}

/**
 * Calls `fn` for each string of the list `obj[key]`, in order, reporting
 * items that are not strings where they are. Returns the list's length
 * (undefined when absent or not a list).
 */
export function forEachString(c: Checker, obj: RawObject, key: string, path: FieldPath, fn: (value: string, at: FieldPath, index: number) => void): number | undefined {
  const list = readList(c, obj, key, path);
  list?.forEach((v, i) => {
    if (typeof v === 'string') fn(v, path.index(i), i);
    else c.report(path.index(i), `must be a string, got ${describeValue(v)}`);
  });
  return list?.length;
}

/**
 * Calls `fn` for each object of the list `obj[key]`, in order, reporting
 * items that are not objects where they are. Returns the list's length
 * (undefined when absent or not a list).
 */
export function forEachObject(c: Checker, obj: RawObject, key: string, path: FieldPath, fn: (item: RawObject, at: FieldPath, index: number) => void): number | undefined {
  const list = readList(c, obj, key, path);
  list?.forEach((v, i) => {
    if (isObject(v)) fn(v, path.index(i), i);
    else c.report(path.index(i), `must be an object, got ${describeValue(v)}`);
  });
  return list?.length;
}

/** Reads `protocol`, default TCP. */
export function readProtocol(c: Checker, obj: RawObject, path: FieldPath): Protocol | undefined {
  return readEnum(c, obj, 'protocol', path.child('protocol'), PROTOCOLS, 'TCP');
}

/** Reads an optional appProtocol (a qualified name, e.g. `http`, `kubernetes.io/h2c`). */
export function readAppProtocol(c: Checker, obj: RawObject, path: FieldPath): string | undefined {
  const v = readString(c, obj, 'appProtocol', path.child('appProtocol'));
  if (v === undefined) return undefined;
  const errs = isQualifiedName(v);
  if (errs.length > 0) {
    c.report(path.child('appProtocol'), `invalid value ${quote(v)}: ${errs.join('; ')}`);
    return undefined;
  }
  return v;
}

// ---------------------------------------------------------------------------
// Service

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';
export const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer'];

export type SessionAffinity = 'None' | 'ClientIP';
export const SESSION_AFFINITIES: readonly SessionAffinity[] = ['None', 'ClientIP'];

export type TrafficPolicy = 'Cluster' | 'Local';
export const TRAFFIC_POLICIES: readonly TrafficPolicy[] = ['Cluster', 'Local'];

export type LoadBalancerIPMode = 'VIP' | 'Proxy';
export const LOAD_BALANCER_IP_MODES: readonly LoadBalancerIPMode[] = ['VIP', 'Proxy'];

/** sessionAffinityConfig.clientIP.timeoutSeconds: default and maximum (upstream). */
export const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS = 10800;
export const MAX_CLIENT_IP_TIMEOUT_SECONDS = 86400;

/** The API server's default --service-node-port-range. */
export const DEFAULT_NODE_PORT_RANGE: Readonly<NodePortRange> = { min: 30000, max: 32767 };

const ANY_PORT: Readonly<NodePortRange> = { min: 1, max: 65535 };

export interface NodePortRange {
  min: number;
  max: number;
}

export interface ServicePortSpec {
  /** DNS-1123 label; "" for the single unnamed port. Matches EndpointSlice port names. */
  name: string;
  protocol: Protocol;
  port: number;
  /** Port number on the backend, or the name of a container port (IANA_SVC_NAME) resolved per backend. Defaults to `port`. */
  targetPort: number | string;
  /** Set for NodePort and LoadBalancer services when given; absent = to be allocated. */
  nodePort?: number;
  appProtocol?: string;
}

export interface LoadBalancerIngressSpec {
  ip?: string;
  hostname?: string;
  /** Set (default VIP) when `ip` is set. */
  ipMode?: LoadBalancerIPMode;
}

export interface ServiceSpec {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  type: ServiceType;
  /** clusterIP: "None". No virtual IP; DNS returns the endpoints. */
  headless: boolean;
  /** The virtual IP when given; absent when headless or still to be allocated. */
  clusterIP?: string;
  ports: ServicePortSpec[];
  /** Pods selected as backends; empty = no selector (EndpointSlices are managed by someone else). */
  selector: Record<string, string>;
  sessionAffinity: SessionAffinity;
  /** Set iff sessionAffinity is ClientIP. */
  sessionAffinityTimeoutSeconds?: number;
  externalIPs: string[];
  /** Set iff the service is reachable from outside (NodePort, LoadBalancer, or externalIPs). */
  externalTrafficPolicy?: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** LoadBalancer with externalTrafficPolicy Local only, when given. */
  healthCheckNodePort?: number;
  /** Deprecated upstream; only meaningful for LoadBalancer. */
  loadBalancerIP?: string;
  /** Client CIDRs allowed to reach a LoadBalancer (empty = all); the datapath must enforce them. */
  loadBalancerSourceRanges: string[];
  /** Set (default true) iff type is LoadBalancer. */
  allocateLoadBalancerNodePorts?: boolean;
  /** Endpoints that are not ready still get DNS records (EndpointSlice controller input). */
  publishNotReadyAddresses: boolean;
  /** status.loadBalancer.ingress (LoadBalancer only). */
  loadBalancerIngress: LoadBalancerIngressSpec[];
  /**
   * Annotation `service.cilium.io/forwarding-mode` (Cilium's name, so that
   * manifests written for Cilium keep their meaning): how external traffic
   * reaches the backends, overriding the agent's --lb-mode. Absent = the
   * agent's default.
   */
  forwardingMode?: ForwardingMode;
}

export type ForwardingMode = 'snat' | 'dsr';
export const FORWARDING_MODES: readonly ForwardingMode[] = ['snat', 'dsr'];
/** The annotation that selects a Service's forwarding mode (as in Cilium). */
export const FORWARDING_MODE_ANNOTATION = 'service.cilium.io/forwarding-mode';

/** Reads the forwarding-mode annotation (other annotations are ignored, as everywhere). */
function readForwardingMode(c: Checker, raw: RawObject): ForwardingMode | undefined {
  const meta = raw['metadata'];
  if (!isObject(meta)) return undefined;
  const annotations = meta['annotations'];
  if (!isObject(annotations) || !Object.hasOwn(annotations, FORWARDING_MODE_ANNOTATION)) return undefined;
  const v = annotations[FORWARDING_MODE_ANNOTATION];
  if (v === '' || v === null) return undefined; // empty: the agent's default
  const path = FieldPath.root().child('metadata').child('annotations').key(FORWARDING_MODE_ANNOTATION);
  return readEnum(c, annotations, FORWARDING_MODE_ANNOTATION, path, FORWARDING_MODES, 'snat');
}

export interface ServiceValidationOptions {
  nodePortRange?: NodePortRange;
}

function isHeadless(clusterIP: string | undefined): boolean {
  return clusterIP === 'None';
}

/** Reads clusterIP / clusterIPs / ipFamilies / ipFamilyPolicy; returns the effective clusterIP ("None", an IPv4, or undefined). */
function readClusterIP(c: Checker, spec: RawObject, specPath: FieldPath): string | undefined {
  const ipPath = specPath.child('clusterIP');
  const ipsPath = specPath.child('clusterIPs');
  let clusterIP = readString(c, spec, 'clusterIP', ipPath);
  if (clusterIP === '') clusterIP = undefined;
  if (clusterIP !== undefined && clusterIP !== 'None') {
    const errs = ipv4Problems(clusterIP);
    if (errs.length > 0) {
      c.report(ipPath, `invalid value ${quote(clusterIP)}: must be empty, "None", or a valid IPv4 address; ${errs.join('; ')}`);
      clusterIP = undefined;
    }
  }

  const ips: string[] = [];
  const rawIPs = spec['clusterIPs'];
  const several = Array.isArray(rawIPs) && rawIPs.length > 1;
  forEachString(c, spec, 'clusterIPs', ipsPath, (ip, at, i) => {
    ips.push(ip);
    // With more than one value the dual-stack error below says it all.
    if (several || (i === 0 && ip === 'None')) return;
    const errs = ipv4Problems(ip);
    if (errs.length > 0) c.report(at, `invalid IP ${quote(ip)}: ${errs.join('; ')}`);
  });
  if (ips.length > 1) {
    c.report(ipsPath, `dual-stack is not supported (Membrane is IPv4-only): must hold at most one address, got ${ips.length}`);
  }
  const first = ips[0];
  if (first !== undefined) {
    const given = spec['clusterIP'];
    if (typeof given === 'string' && given !== '') {
      if (first !== given) c.report(ipsPath, `first value ${quote(first)} must match clusterIP (${quote(given)})`);
    } else if (given === undefined || given === null || given === '') {
      // The API server fills clusterIP from clusterIPs[0] on create.
      clusterIP = first === 'None' || isIPv4(first) ? first : undefined;
    }
  }

  const famPath = specPath.child('ipFamilies');
  forEachString(c, spec, 'ipFamilies', famPath, (f, at) => {
    if (f === 'IPv4') return;
    if (f === 'IPv6') c.report(at, 'IPv6 is not supported (Membrane is IPv4-only)');
    else c.report(at, `unsupported value ${quote(f)}: must be one of "IPv4", "IPv6"`);
  });
  const policyPath = specPath.child('ipFamilyPolicy');
  const policy = readEnum(c, spec, 'ipFamilyPolicy', policyPath, ['SingleStack', 'PreferDualStack', 'RequireDualStack'], 'SingleStack');
  if (policy === 'RequireDualStack') c.report(policyPath, '"RequireDualStack" is not supported (Membrane is IPv4-only): use "SingleStack" or "PreferDualStack"');
  return clusterIP;
}

function readTargetPort(c: Checker, raw: RawObject, path: FieldPath, port: number | undefined): number | string | undefined {
  const v = raw['targetPort'];
  // Upstream defaults a zero or empty targetPort to the port.
  if (v === undefined || v === null || v === 0 || v === '') return port;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) {
      c.report(path, `must be an integer or a port name, got ${describeValue(v)}`);
      return undefined;
    }
    const errs = isValidPortNum(v);
    if (errs.length > 0) {
      c.report(path, `invalid port ${v}: ${errs.join('; ')}`);
      return undefined;
    }
    return v;
  }
  if (typeof v === 'string') {
    const errs = isValidPortName(v);
    if (errs.length > 0) {
      const hint = /^\d+$/.test(v) ? `; for a port number write it without quotes (targetPort: ${v})` : '';
      c.report(path, `invalid port name ${quote(v)}: ${errs.join('; ')}${hint}`);
      return undefined;
    }
    return v;
  }
  c.report(path, `must be an integer or a port name, got ${describeValue(v)}`);
  return undefined;
}

interface PortContext {
  type: ServiceType | undefined;
  requireName: boolean;
  names: Map<string, number>;
  nodePortRange: NodePortRange;
}

function readServicePort(c: Checker, raw: RawObject, path: FieldPath, index: number, ctx: PortContext): ServicePortSpec | undefined {
  const before = c.count;
  const name = readString(c, raw, 'name', path.child('name')) ?? '';
  if (name === '') {
    if (ctx.requireName && (raw['name'] === undefined || raw['name'] === null || raw['name'] === '')) {
      c.report(path.child('name'), 'required when the service has more than one port');
    }
  } else {
    const errs = isDNS1123Label(name);
    if (errs.length > 0) {
      c.report(path.child('name'), `invalid name ${quote(name)}: ${errs.join('; ')}`);
    } else {
      const first = ctx.names.get(name);
      if (first !== undefined) c.report(path.child('name'), `duplicate port name ${quote(name)} (also ports[${first}])`);
      else ctx.names.set(name, index);
    }
  }

  const port = readInteger(c, raw, 'port', path.child('port'), { required: true });
  if (port !== undefined) {
    for (const m of isValidPortNum(port)) c.report(path.child('port'), `invalid port ${port}: ${m}`);
  }
  const protocol = readProtocol(c, raw, path);
  const targetPort = readTargetPort(c, raw, path.child('targetPort'), port);

  let nodePort = readInteger(c, raw, 'nodePort', path.child('nodePort'));
  if (nodePort === 0) nodePort = undefined;
  if (nodePort !== undefined) {
    const { min, max } = ctx.nodePortRange;
    if (ctx.type === 'ClusterIP') c.report(path.child('nodePort'), 'may not be used when type is "ClusterIP"');
    else if (nodePort < min || nodePort > max) c.report(path.child('nodePort'), `invalid port ${nodePort}: must be in the node port range ${min}-${max}`);
  }
  const appProtocol = readAppProtocol(c, raw, path);

  if (c.count !== before || port === undefined || protocol === undefined || targetPort === undefined) return undefined;
  const sp: ServicePortSpec = { name, protocol, port, targetPort };
  if (nodePort !== undefined) sp.nodePort = nodePort;
  if (appProtocol !== undefined) sp.appProtocol = appProtocol;
  return sp;
}

function readPorts(c: Checker, spec: RawObject, specPath: FieldPath, type: ServiceType | undefined, headless: boolean, range: NodePortRange): ServicePortSpec[] {
  const portsPath = specPath.child('ports');
  const rawPorts = spec['ports'];
  const count = Array.isArray(rawPorts) ? rawPorts.length : 0;
  if (!headless && (rawPorts === undefined || rawPorts === null || (Array.isArray(rawPorts) && count === 0))) {
    c.report(portsPath, 'required (at least one port; only a headless service, clusterIP "None", may have none)');
  }
  const ctx: PortContext = { type, requireName: count > 1, names: new Map(), nodePortRange: range };
  const ports: ServicePortSpec[] = [];
  const byPort = new Map<string, number>();
  const byNodePort = new Map<string, number>();
  forEachObject(c, spec, 'ports', portsPath, (raw, path, i) => {
    const sp = readServicePort(c, raw, path, i, ctx);
    if (!sp) return;
    const key = `${sp.port}/${sp.protocol}`;
    const first = byPort.get(key);
    if (first !== undefined) c.report(path, `duplicate port ${key} (also ports[${first}])`);
    else byPort.set(key, i);
    if (sp.nodePort !== undefined) {
      const nkey = `${sp.nodePort}/${sp.protocol}`;
      const nfirst = byNodePort.get(nkey);
      if (nfirst !== undefined) c.report(path.child('nodePort'), `duplicate node port ${nkey} (also ports[${nfirst}])`);
      else byNodePort.set(nkey, i);
    }
    ports.push(sp);
  });
  return ports;
}

function readSessionAffinity(c: Checker, spec: RawObject, specPath: FieldPath): { affinity?: SessionAffinity; timeout?: number } {
  const affinity = readEnum(c, spec, 'sessionAffinity', specPath.child('sessionAffinity'), SESSION_AFFINITIES, 'None');
  const cfgPath = specPath.child('sessionAffinityConfig');
  const cfg = readObject(c, spec, 'sessionAffinityConfig', cfgPath);
  if (affinity === 'None') {
    if (cfg) c.report(cfgPath, 'must not be set when sessionAffinity is "None"');
    return { affinity };
  }
  if (affinity !== 'ClientIP') return {};
  let timeout = DEFAULT_CLIENT_IP_TIMEOUT_SECONDS;
  const clientIP = cfg ? readObject(c, cfg, 'clientIP', cfgPath.child('clientIP')) : undefined;
  if (clientIP) {
    const tPath = cfgPath.child('clientIP').child('timeoutSeconds');
    const t = readInteger(c, clientIP, 'timeoutSeconds', tPath);
    if (t !== undefined) {
      if (t < 1 || t > MAX_CLIENT_IP_TIMEOUT_SECONDS) {
        c.report(tPath, `invalid value ${t}: must be between 1 and ${MAX_CLIENT_IP_TIMEOUT_SECONDS} (one day), inclusive`);
      } else {
        timeout = t;
      }
    }
  }
  return { affinity, timeout };
}

function readLoadBalancerIngress(c: Checker, raw: RawObject, type: ServiceType | undefined): LoadBalancerIngressSpec[] {
  const statusPath = FieldPath.root().child('status');
  const status = readObject(c, raw, 'status', statusPath);
  if (!status) return [];
  const lbPath = statusPath.child('loadBalancer');
  const lb = readObject(c, status, 'loadBalancer', lbPath);
  if (!lb) return [];
  const ingPath = lbPath.child('ingress');
  const rawIngress = lb['ingress'];
  if (Array.isArray(rawIngress) && rawIngress.length > 0 && type !== undefined && type !== 'LoadBalancer') {
    c.report(ingPath, 'may only be used when spec.type is "LoadBalancer"');
    return [];
  }
  const out: LoadBalancerIngressSpec[] = [];
  forEachObject(c, lb, 'ingress', ingPath, (item, path) => {
    const before = c.count;
    const entry: LoadBalancerIngressSpec = {};
    const ip = readString(c, item, 'ip', path.child('ip'));
    if (ip !== undefined && ip !== '' && checkIPv4(c, path.child('ip'), ip, false)) entry.ip = ip;
    const hostname = readString(c, item, 'hostname', path.child('hostname'));
    if (hostname !== undefined && hostname !== '') {
      const errs = isDNS1123Subdomain(hostname);
      if (IPV4_RE.test(hostname)) errs.push('must be a DNS name, not an IP address');
      if (errs.length > 0) c.report(path.child('hostname'), `invalid value ${quote(hostname)}: ${errs.join('; ')}`);
      else entry.hostname = hostname;
    }
    const modeSet = item['ipMode'] !== undefined && item['ipMode'] !== null;
    if (modeSet && (ip === undefined || ip === '')) {
      c.report(path.child('ipMode'), 'may not be specified when ip is not set');
    } else if (ip !== undefined && ip !== '') {
      const mode = readEnum(c, item, 'ipMode', path.child('ipMode'), LOAD_BALANCER_IP_MODES, 'VIP');
      if (mode !== undefined) entry.ipMode = mode;
    }
    if (c.count === before) out.push(entry);
  });
  return out;
}

function readSourceRanges(c: Checker, spec: RawObject, specPath: FieldPath, type: ServiceType | undefined): string[] {
  const path = specPath.child('loadBalancerSourceRanges');
  const raw = spec['loadBalancerSourceRanges'];
  if (Array.isArray(raw) && raw.length > 0 && type !== undefined && type !== 'LoadBalancer') {
    c.report(path, 'may only be used when type is "LoadBalancer"');
    return [];
  }
  const out: string[] = [];
  forEachString(c, spec, 'loadBalancerSourceRanges', path, (r, at) => {
    // Upstream tolerates surrounding spaces here (a leftover of the annotation form).
    const text = r.trim();
    const slash = text.indexOf('/');
    const addr = slash < 0 ? text : text.slice(0, slash);
    const len = slash < 0 ? '' : text.slice(slash + 1);
    const errs = slash < 0 ? ['must be a CIDR (e.g. 10.0.0.0/8)'] : ipv4Problems(addr);
    if (errs.length === 0 && !(/^\d{1,2}$/.test(len) && Number(len) <= 32 && (len.length === 1 || !len.startsWith('0')))) {
      errs.push('prefix length must be 0-32');
    }
    if (errs.length > 0) c.report(at, `invalid CIDR ${quote(r)}: ${errs.join('; ')}`);
    else out.push(text);
  });
  return out;
}

/**
 * Validates the Service-specific part of an object (its `spec` and
 * `status.loadBalancer`). Reports every problem to `c`; the result is only
 * meaningful when nothing was reported.
 */
export function validateService(c: Checker, raw: RawObject, meta: ObjectMeta, opts: ServiceValidationOptions = {}): ServiceSpec {
  const specPath = FieldPath.root().child('spec');
  const spec = readObject(c, raw, 'spec', specPath) ?? {};
  const result: ServiceSpec = {
    namespace: meta.namespace ?? 'default',
    name: meta.name,
    labels: meta.labels,
    type: 'ClusterIP',
    headless: false,
    ports: [],
    selector: {},
    sessionAffinity: 'None',
    externalIPs: [],
    internalTrafficPolicy: 'Cluster',
    loadBalancerSourceRanges: [],
    publishNotReadyAddresses: false,
    loadBalancerIngress: [],
  };

  const typePath = specPath.child('type');
  const rawType = spec['type'];
  if (rawType === 'ExternalName') {
    c.report(typePath, '"ExternalName" is not supported: it is a DNS alias (CNAME) with nothing to load-balance; use "ClusterIP", "NodePort" or "LoadBalancer"');
    return result;
  }
  const type = readEnum(c, spec, 'type', typePath, SERVICE_TYPES, 'ClusterIP');
  if (type !== undefined) result.type = type;

  const clusterIP = readClusterIP(c, spec, specPath);
  const headless = isHeadless(clusterIP);
  result.headless = headless;
  if (clusterIP !== undefined && !headless) result.clusterIP = clusterIP;
  if (headless && (type === 'NodePort' || type === 'LoadBalancer')) {
    const at = spec['clusterIP'] === 'None' ? specPath.child('clusterIP') : specPath.child('clusterIPs').index(0);
    c.report(at, `may not be "None" for ${type} services`);
  }

  result.ports = readPorts(c, spec, specPath, type, headless, opts.nodePortRange ?? ANY_PORT);
  result.selector = readLabels(c, spec, 'selector', specPath.child('selector'));

  const { affinity, timeout } = readSessionAffinity(c, spec, specPath);
  if (affinity !== undefined) result.sessionAffinity = affinity;
  if (timeout !== undefined) result.sessionAffinityTimeoutSeconds = timeout;

  const extPath = specPath.child('externalIPs');
  forEachString(c, spec, 'externalIPs', extPath, (ip, at) => {
    if (checkIPv4(c, at, ip, true)) result.externalIPs.push(ip);
  });

  // Upstream ExternallyAccessible: NodePort, LoadBalancer, or ClusterIP with external IPs.
  const external = type === 'NodePort' || type === 'LoadBalancer' || (type === 'ClusterIP' && Array.isArray(spec['externalIPs']) && spec['externalIPs'].length > 0);
  const etpPath = specPath.child('externalTrafficPolicy');
  if (external) {
    const etp = readEnum(c, spec, 'externalTrafficPolicy', etpPath, TRAFFIC_POLICIES, 'Cluster');
    if (etp !== undefined) result.externalTrafficPolicy = etp;
  } else if (type !== undefined && spec['externalTrafficPolicy'] !== undefined && spec['externalTrafficPolicy'] !== null && spec['externalTrafficPolicy'] !== '') {
    c.report(etpPath, 'may only be set for externally-accessible services (type "NodePort" or "LoadBalancer", or with externalIPs)');
  }
  const itp = readEnum(c, spec, 'internalTrafficPolicy', specPath.child('internalTrafficPolicy'), TRAFFIC_POLICIES, 'Cluster');
  if (itp !== undefined) result.internalTrafficPolicy = itp;

  const hcPath = specPath.child('healthCheckNodePort');
  const hc = readInteger(c, spec, 'healthCheckNodePort', hcPath);
  if (hc !== undefined && hc !== 0) {
    if (type !== undefined && !(type === 'LoadBalancer' && result.externalTrafficPolicy === 'Local')) {
      c.report(hcPath, 'may only be set when type is "LoadBalancer" and externalTrafficPolicy is "Local"');
    } else {
      const errs = isValidPortNum(hc);
      if (errs.length > 0) c.report(hcPath, `invalid port ${hc}: ${errs.join('; ')}`);
      else result.healthCheckNodePort = hc;
    }
  }

  const lbIP = readString(c, spec, 'loadBalancerIP', specPath.child('loadBalancerIP'));
  if (lbIP !== undefined && lbIP !== '' && checkIPv4(c, specPath.child('loadBalancerIP'), lbIP, false)) result.loadBalancerIP = lbIP;
  result.loadBalancerSourceRanges = readSourceRanges(c, spec, specPath, type);

  const allocPath = specPath.child('allocateLoadBalancerNodePorts');
  const alloc = readBoolean(c, spec, 'allocateLoadBalancerNodePorts', allocPath);
  if (type === 'LoadBalancer') result.allocateLoadBalancerNodePorts = alloc ?? true;
  else if (alloc !== undefined && type !== undefined) c.report(allocPath, 'may only be used when type is "LoadBalancer"');

  result.publishNotReadyAddresses = readBoolean(c, spec, 'publishNotReadyAddresses', specPath.child('publishNotReadyAddresses')) ?? false;
  result.loadBalancerIngress = readLoadBalancerIngress(c, raw, type);
  const mode = readForwardingMode(c, raw);
  if (mode !== undefined) result.forwardingMode = mode;
  return result;
}

/** Whether clients outside the cluster can reach the service (upstream ExternallyAccessible). */
export function isExternallyAccessible(s: Pick<ServiceSpec, 'type' | 'externalIPs'>): boolean {
  return s.type === 'NodePort' || s.type === 'LoadBalancer' || (s.type === 'ClusterIP' && s.externalIPs.length > 0);
}

export const serviceKind: KindDefinition<'Service', ServiceSpec> = {
  kind: 'Service',
  apiVersions: ['v1'],
  namespaced: true,
  name: isDNS1035Label,
  validate: (c, raw, meta) => validateService(c, raw, meta),
};
