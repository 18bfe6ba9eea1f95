// What the observability benchmark puts on its node and into the ring
// buffer. Pure: the pods' labels, a Service in front of the servers, a
// NetworkPolicy that selects them (so verdict events name a real rule), and
// the event templates the producer (bpf/bench_events.c) cycles through.
import {
  MB_DIR_EGRESS, MB_DIR_INGRESS, MB_EVENT_DROP, MB_EVENT_POLICY, MB_EVENT_TRACE, MB_EVF_NEW, MB_EVF_REPLY, MB_EVF_REPLY_KNOWN,
  MB_TRACE_FROM_NETWORK, MB_TRACE_TO_ENDPOINT, MB_TRACE_TO_STACK, type RawEvent,
} from '../../src/datapath/abi.ts';

export const NAMESPACE = 'bench';
export const SERVICE = { name: 'web', clusterIP: '10.96.26.10', port: 80, targetPort: 8080 };
/** An address outside the cluster (the topology's world side). */
export const WORLD_IP = '198.18.26.100';

const TCP = 6;
const UDP = 17;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;
const PSH = 0x08;
const MB_VERDICT_ALLOWED = 1;
const MB_POLICY_MATCH_L3_L4 = 2;
const MB_DROP_POLICY = 9;

/** Records in the ring buffer mb_events: 8-byte header + the 56-byte mb_event, in MB_EVENTS_RINGBUF_SIZE. */
export const MB_EVENTS_RING_RECORDS = (1 << 22) / 64;

export interface PodSpec {
  name: string;
  /** client/server: the event templates' pods; conn: the pair of the connection-rate runs (no policy selects it). */
  role: 'client' | 'server' | 'conn';
}

export function podLabels(p: PodSpec): Record<string, string> {
  return { app: p.name, role: p.role };
}

/** n pods, alternately client and server (n even, ≥ 2). */
export function podSpecs(n: number): Array<PodSpec & { role: 'client' | 'server' }> {
  return Array.from({ length: n }, (_, i) => ({ name: `${i % 2 === 0 ? 'client' : 'server'}-${Math.floor(i / 2)}`, role: i % 2 === 0 ? 'client' : 'server' }));
}

/** The endpoint the agent made for a pod, as GET /v1/endpoints shows it. */
export interface PlacedEndpoint {
  name: string;
  role: 'client' | 'server';
  ip: string;
  id: number;
  ifindex: number;
  identity: number;
}

export function namespaceObject(): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } };
}

export function podObjects(pods: readonly PodSpec[]): Array<Record<string, unknown>> {
  return pods.map((p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: NAMESPACE, labels: podLabels(p) }, spec: { containers: [{ name: 'main', image: 'bench' }] } }));
}

/** The Service in front of the servers (ClusterIP SERVICE.clusterIP:SERVICE.port → SERVICE.targetPort). */
export function serviceObjects(serverIps: readonly string[]): Array<Record<string, unknown>> {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: SERVICE.name, namespace: NAMESPACE }, spec: { type: 'ClusterIP', clusterIP: SERVICE.clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: SERVICE.port, targetPort: SERVICE.targetPort }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${SERVICE.name}-1`, namespace: NAMESPACE, labels: { 'kubernetes.io/service-name': SERVICE.name } },
      addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: SERVICE.targetPort }],
      endpoints: serverIps.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    },
  ];
}

/** Servers accept clients on the target port only (the verdict events' rule). */
export function policyObject(): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'servers', namespace: NAMESPACE },
    spec: { podSelector: { matchLabels: { role: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: SERVICE.targetPort }] }] },
  };
}

export function listManifest(items: ReadonlyArray<Record<string, unknown>>): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items })}\n`;
}

type Template = Omit<RawEvent, 'ts_ns'>;

/**
 * The events of one client→server connection and one client→world
 * connection as the datapath reports them at its default aggregation
 * (medium: sends and deliveries, each new TCP flag of SYN/FIN/RST once per
 * direction), plus the verdict of the server's policy, a denied attempt on
 * another port, and a UDP lookup to the world:
 *   policy-verdict ALLOWED (server ingress), to-endpoint SYN (through the
 *   Service every other connection: orig dst = the ClusterIP), SYN-ACK back,
 *   FIN each way; to-stack SYN to the world, from-network SYN-ACK; a
 *   POLICY_DENIED drop; a UDP to-stack. 12 events per client/server pair.
 * The producer gives the client side a new port every round.
 */
export function templates(eps: readonly PlacedEndpoint[], ruleId: number): Template[] {
  const clients = eps.filter((e) => e.role === 'client');
  const servers = eps.filter((e) => e.role === 'server');
  if (!clients.length || !servers.length) throw new Error('templates need a client and a server endpoint');
  const out: Template[] = [];
  const base = (o: Partial<Template>): Template => ({
    type: MB_EVENT_TRACE, subtype: 0, source: 0, ifindex: 0, saddr: '0.0.0.0', daddr: '0.0.0.0', sport: 0, dport: 0, proto: TCP, tcp_flags: 0,
    dir: 0, verdict: 0, len: 74, src_identity: 0, dst_identity: 0, rule_id: 0, orig_daddr: '0.0.0.0', orig_dport: 0, flags: 0, ...o,
  });
  clients.forEach((c, i) => {
    const s = servers[i % servers.length]!;
    const viaService = i % 2 === 0;
    const orig = viaService ? { orig_daddr: SERVICE.clusterIP, orig_dport: SERVICE.port } : {};
    const fwd = { saddr: c.ip, daddr: s.ip, sport: 40000, dport: SERVICE.targetPort, src_identity: c.identity, dst_identity: s.identity };
    const rev = { saddr: s.ip, daddr: c.ip, sport: SERVICE.targetPort, dport: 40000, src_identity: s.identity, dst_identity: c.identity };
    out.push(
      base({ type: MB_EVENT_POLICY, subtype: MB_POLICY_MATCH_L3_L4, source: s.id, ifindex: s.ifindex, ...fwd, ...orig, tcp_flags: SYN, dir: MB_DIR_INGRESS, verdict: MB_VERDICT_ALLOWED, rule_id: ruleId, flags: MB_EVF_REPLY_KNOWN | MB_EVF_NEW }),
      base({ subtype: MB_TRACE_TO_ENDPOINT, source: s.id, ifindex: s.ifindex, ...fwd, ...orig, tcp_flags: SYN, dir: MB_DIR_INGRESS, flags: MB_EVF_REPLY_KNOWN | MB_EVF_NEW }),
      base({ subtype: MB_TRACE_TO_ENDPOINT, source: c.id, ifindex: c.ifindex, ...rev, tcp_flags: SYN | ACK, dir: MB_DIR_INGRESS, flags: MB_EVF_REPLY_KNOWN | MB_EVF_REPLY }),
      base({ subtype: MB_TRACE_TO_ENDPOINT, source: s.id, ifindex: s.ifindex, ...fwd, ...orig, tcp_flags: FIN | ACK, len: 66, dir: MB_DIR_INGRESS, flags: MB_EVF_REPLY_KNOWN }),
      base({ subtype: MB_TRACE_TO_ENDPOINT, source: c.id, ifindex: c.ifindex, ...rev, tcp_flags: FIN | ACK, len: 66, dir: MB_DIR_INGRESS, flags: MB_EVF_REPLY_KNOWN | MB_EVF_REPLY }),
      base({ subtype: MB_TRACE_TO_STACK, source: c.id, ifindex: c.ifindex, saddr: c.ip, daddr: WORLD_IP, sport: 40000, dport: 443, src_identity: c.identity, tcp_flags: SYN, dir: MB_DIR_EGRESS, flags: MB_EVF_REPLY_KNOWN | MB_EVF_NEW }),
      base({ subtype: MB_TRACE_FROM_NETWORK, ifindex: 2, saddr: WORLD_IP, daddr: c.ip, sport: 443, dport: 40000, dst_identity: c.identity, tcp_flags: SYN | ACK, flags: MB_EVF_REPLY_KNOWN | MB_EVF_REPLY }),
      base({ subtype: MB_TRACE_TO_ENDPOINT, source: c.id, ifindex: c.ifindex, saddr: WORLD_IP, daddr: c.ip, sport: 443, dport: 40000, dst_identity: c.identity, tcp_flags: PSH | ACK, len: 1400, dir: MB_DIR_INGRESS, flags: MB_EVF_REPLY_KNOWN | MB_EVF_REPLY }),
      base({ type: MB_EVENT_DROP, subtype: MB_DROP_POLICY, source: s.id, ifindex: s.ifindex, ...fwd, dport: 9090, tcp_flags: SYN, dir: MB_DIR_INGRESS }),
      base({ type: MB_EVENT_POLICY, subtype: 0, source: s.id, ifindex: s.ifindex, ...fwd, dport: 9090, tcp_flags: SYN, dir: MB_DIR_INGRESS, verdict: 2, flags: MB_EVF_REPLY_KNOWN | MB_EVF_NEW }),
      base({ subtype: MB_TRACE_TO_STACK, source: c.id, ifindex: c.ifindex, saddr: c.ip, daddr: WORLD_IP, sport: 40000, dport: 53, proto: UDP, len: 70, src_identity: c.identity, dir: MB_DIR_EGRESS, flags: MB_EVF_REPLY_KNOWN | MB_EVF_NEW }),
      base({ subtype: MB_TRACE_TO_ENDPOINT, source: s.id, ifindex: s.ifindex, ...fwd, ...orig, tcp_flags: RST, len: 54, dir: MB_DIR_INGRESS, flags: MB_EVF_REPLY_KNOWN }),
    );
  });
  return out;
}
