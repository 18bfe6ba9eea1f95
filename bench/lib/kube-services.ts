// The services of the services benchmark, as one plain list that each side
// turns into its own input: kube-proxy's iptables rules
// (kube-proxy-iptables.ts), kube-proxy's nftables ruleset
// (kube-proxy-nftables.ts), and Service + EndpointSlice manifests for
// `membrane apply -f` (manifests() below). Pure.
//
// The set: `count` single-port services in namespace "bench", ClusterIPs
// taken in order from the start of the service CIDR, every `nodePortEvery`-th
// one of type NodePort. The one service the traffic goes to ("measured") sits
// in the middle of the list: kube-proxy's iptables mode walks KUBE-SERVICES
// rule by rule, so the middle is its average case, neither the first rule
// (best) nor the last (worst). Its backends are the real pods of each side;
// the other services' backends are addresses no packet is ever sent to
// ("filler"), the same on every side.
import { createHash } from 'node:crypto';
import { intToIp4, ip4ToInt, parseCidr4 } from '../../src/net/ip4.ts';

export type L4 = 'tcp' | 'udp';

export interface BenchService {
  namespace: string;
  name: string;
  /** The service port's name (kube-proxy names chains after it). */
  portName: string;
  protocol: L4;
  clusterIP: string;
  port: number;
  targetPort: number;
  /** Set for type NodePort. */
  nodePort?: number;
  /** Backend IPs (all ready, all listening on targetPort). */
  endpoints: string[];
}

export interface ServiceSetSpec {
  /** Services in all, the measured ones included. */
  count: number;
  /** Backends of each filler service. */
  backends: number;
  /** ClusterIPs are taken from here, in order (network address skipped). */
  serviceCidr: string;
  /** Filler backends are taken from here, in order (never contacted). */
  fillerCidr: string;
  /** Every n-th service is a NodePort (0: none besides the measured ones). */
  nodePortEvery: number;
  /** First node port handed out. */
  nodePortBase: number;
  port: number;
  targetPort: number;
  /** The real backends (pod IPs of one side). */
  measuredEndpoints: string[];
  /** A UDP NodePort twin of the measured service, for the packet-rate test. */
  udp?: { port: number; targetPort: number };
  /** Where the measured service sits in the list (default: the middle). */
  measuredAt?: 'first' | 'middle' | 'last';
}

export interface ServiceSet {
  services: BenchService[];
  /** The TCP service the connection tests use. */
  measured: BenchService;
  /** The UDP NodePort service the packet-rate test uses, when asked for. */
  measuredUdp?: BenchService;
}

export const SERVICE_NAMESPACE = 'bench';
export const MEASURED_NAME = 'measured';
export const MEASURED_UDP_NAME = 'measured-udp';

const svcName = (i: number) => `svc-${String(i).padStart(5, '0')}`;

/** The service list; deterministic for a given spec. */
export function makeServiceSet(spec: ServiceSetSpec): ServiceSet {
  if (spec.count < 1) throw new RangeError('count must be at least 1');
  const svcNet = parseCidr4(spec.serviceCidr);
  const filler = parseCidr4(spec.fillerCidr);
  const extra = spec.udp ? 1 : 0;
  if (spec.count + extra + 1 > svcNet.size) throw new RangeError(`${spec.serviceCidr} is too small for ${spec.count} services`);
  const fillerNeeded = (spec.count - 1) * spec.backends;
  if (fillerNeeded + 1 > filler.size) throw new RangeError(`${spec.fillerCidr} is too small for ${fillerNeeded} filler backends`);
  const at = spec.measuredAt ?? 'middle';
  const mid = at === 'first' ? 0 : at === 'last' ? spec.count - 1 : Math.floor((spec.count - 1) / 2);
  let nextIp = svcNet.base + 1;
  let nextFiller = filler.base + 1;
  let nextNodePort = spec.nodePortBase;
  const services: BenchService[] = [];
  let measured: BenchService | undefined;
  let measuredUdp: BenchService | undefined;
  for (let i = 0; i < spec.count; i++) {
    if (i === mid) {
      measured = {
        namespace: SERVICE_NAMESPACE,
        name: MEASURED_NAME,
        portName: 'p80',
        protocol: 'tcp',
        clusterIP: intToIp4(nextIp++),
        port: spec.port,
        targetPort: spec.targetPort,
        nodePort: nextNodePort++,
        endpoints: [...spec.measuredEndpoints],
      };
      services.push(measured);
      if (spec.udp) {
        measuredUdp = {
          namespace: SERVICE_NAMESPACE,
          name: MEASURED_UDP_NAME,
          portName: 'u',
          protocol: 'udp',
          clusterIP: intToIp4(nextIp++),
          port: spec.udp.port,
          targetPort: spec.udp.targetPort,
          nodePort: nextNodePort++,
          endpoints: [...spec.measuredEndpoints],
        };
        services.push(measuredUdp);
      }
      continue;
    }
    const endpoints: string[] = [];
    for (let b = 0; b < spec.backends; b++) endpoints.push(intToIp4(nextFiller++));
    const s: BenchService = {
      namespace: SERVICE_NAMESPACE,
      name: svcName(i),
      portName: 'p80',
      protocol: 'tcp',
      clusterIP: intToIp4(nextIp++),
      port: spec.port,
      targetPort: spec.targetPort,
      endpoints,
    };
    if (spec.nodePortEvery > 0 && i % spec.nodePortEvery === 0) s.nodePort = nextNodePort++;
    services.push(s);
  }
  return { services, measured: measured!, ...(measuredUdp ? { measuredUdp } : {}) };
}

/** Total endpoints of a list (kube-proxy's "large cluster mode" counts these). */
export function endpointCount(services: readonly BenchService[]): number {
  return services.reduce((n, s) => n + s.endpoints.length, 0);
}

/** kube-proxy's ServicePortName.String(): "ns/name:port" ("ns/name" when the port has no name). */
export function servicePortName(s: Pick<BenchService, 'namespace' | 'name' | 'portName'>): string {
  return `${s.namespace}/${s.name}${s.portName ? `:${s.portName}` : ''}`;
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (Go's base32.StdEncoding), padding included. */
export function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** base32(sha256(text)): what kube-proxy truncates into chain names. */
export function sha256Base32(text: string): string {
  return base32(createHash('sha256').update(text).digest());
}

/** How the manifests are written: YAML documents (`kubectl get -o yaml`, split) or one JSON List (`kubectl get -o json`). */
export type ManifestFormat = 'yaml' | 'json';

/**
 * Service + EndpointSlice manifests exactly as a cluster would export them,
 * for `membrane apply -f`: YAML, one document per object, or one JSON
 * `List` of them all. Every endpoint is ready; one slice per service.
 */
export function manifests(services: readonly BenchService[], format: ManifestFormat = 'yaml'): string {
  return format === 'json' ? jsonList(services) : yamlDocuments(services);
}

function jsonList(services: readonly BenchService[]): string {
  const items: unknown[] = [];
  for (const s of services) {
    const proto = s.protocol.toUpperCase();
    items.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace },
      spec: {
        type: s.nodePort !== undefined ? 'NodePort' : 'ClusterIP',
        clusterIP: s.clusterIP,
        ports: [{ name: s.portName, protocol: proto, port: s.port, targetPort: s.targetPort, ...(s.nodePort !== undefined ? { nodePort: s.nodePort } : {}) }],
      },
    });
    items.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${s.name}-1`, namespace: s.namespace, labels: { 'kubernetes.io/service-name': s.name } },
      addressType: 'IPv4',
      ports: [{ name: s.portName, protocol: proto, port: s.targetPort }],
      endpoints: s.endpoints.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    });
  }
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
}

function yamlDocuments(services: readonly BenchService[]): string {
  const docs: string[] = [];
  for (const s of services) {
    const proto = s.protocol.toUpperCase();
    docs.push(
      [
        'apiVersion: v1',
        'kind: Service',
        'metadata:',
        `  name: ${s.name}`,
        `  namespace: ${s.namespace}`,
        'spec:',
        `  type: ${s.nodePort !== undefined ? 'NodePort' : 'ClusterIP'}`,
        `  clusterIP: ${s.clusterIP}`,
        '  ports:',
        `  - name: ${s.portName}`,
        `    protocol: ${proto}`,
        `    port: ${s.port}`,
        `    targetPort: ${s.targetPort}`,
        ...(s.nodePort !== undefined ? [`    nodePort: ${s.nodePort}`] : []),
      ].join('\n'),
      [
        'apiVersion: discovery.k8s.io/v1',
        'kind: EndpointSlice',
        'metadata:',
        `  name: ${s.name}-1`,
        `  namespace: ${s.namespace}`,
        '  labels:',
        `    kubernetes.io/service-name: ${s.name}`,
        'addressType: IPv4',
        'ports:',
        `- name: ${s.portName}`,
        `  protocol: ${proto}`,
        `  port: ${s.targetPort}`,
        'endpoints:',
        ...s.endpoints.flatMap((ip) => [`- addresses: [${ip}]`, '  conditions: {ready: true}']),
      ].join('\n'),
    );
  }
  return `${docs.join('\n---\n')}\n`;
}

/** Host order integer of an address (re-exported for the generators' tests). */
export const ipNumber = ip4ToInt;
