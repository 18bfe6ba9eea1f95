// What the load balancer should hold (pure): every frontend of every Service
// port with, per lookup scope, its flags and the backends that get new
// connections, and every backend the frontends know (whatever its state).
//
// Frontends of a TCP or UDP service port (SCTP is skipped with a warning):
//   ClusterIP:port                        scope INT              CLUSTER_IP
//   nodeIp:nodePort                       scopes EXT and INT     NODEPORT
//   each externalIP:port                  scopes EXT and INT     EXTERNAL_IP
//   each LoadBalancer IP:port             scopes EXT and INT     LOADBALANCER
// (LoadBalancer IPs: spec.loadBalancerIP and status ingress IPs, except
// ingress with ipMode Proxy, whose traffic reaches the node through the
// load balancer's proxy, as kube-proxy does.)
//
// Scope EXT is what the node devices see (tc/XDP): backends per
// externalTrafficPolicy, Maglev choice, SNAT or DSR. Scope INT is the socket
// LB of the node and its pods: backends per internalTrafficPolicy, random
// choice. A Local policy keeps only this node's backends and sets LOCAL.
// Only active backends get slots; sessionAffinity ClientIP sets AFFINITY
// with its timeout in both scopes.
import {
  MB_SVC_F_AFFINITY, MB_SVC_F_CLUSTER_IP, MB_SVC_F_DSR, MB_SVC_F_EXTERNAL_IP, MB_SVC_F_LOADBALANCER, MB_SVC_F_LOCAL,
  MB_SVC_F_MAGLEV, MB_SVC_F_NODEPORT, type BackendState,
} from '../datapath/abi.ts';
import type { ServiceSpec, TrafficPolicy } from '../k8s/service.ts';
import { serviceName } from './allocate.ts';
import type { BackendSpec, PortBackends } from './backends.ts';
import { ip4Num, tupleNum } from './keys.ts';
import { TupleIndex } from './tuple-index.ts';

export type FrontendType = 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';
export type LbProtocol = 'TCP' | 'UDP';

export const FRONTEND_FLAG: Record<FrontendType, number> = {
  ClusterIP: MB_SVC_F_CLUSTER_IP,
  NodePort: MB_SVC_F_NODEPORT,
  ExternalIP: MB_SVC_F_EXTERNAL_IP,
  LoadBalancer: MB_SVC_F_LOADBALANCER,
};

export interface ScopeSpec {
  /** MB_SVC_F_* */
  flags: number;
  /** Seconds, with MB_SVC_F_AFFINITY; else 0. */
  affinityTimeout: number;
  /** The backends that get new connections, in slot order (slot i+1 = backends[i]). */
  backends: DesiredBackend[];
}

export interface FrontendSpec {
  /** namespace/name of the Service */
  service: string;
  portName: string;
  type: FrontendType;
  addr: string;
  /** addr as a host-order number */
  ip: number;
  port: number;
  protocol: LbProtocol;
  /** Per-packet LB on the node devices; absent for ClusterIP. */
  ext?: ScopeSpec;
  /** Socket LB for the node and its pods. */
  int: ScopeSpec;
}

export interface DesiredBackend {
  addr: string;
  ip: number;
  port: number;
  protocol: LbProtocol;
  /** The best state any service port gives it. */
  state: BackendState;
  local: boolean;
  /** Its mb_lb4_backend id, set when the state is laid out (buildState); 0 before. */
  id: number;
}

export interface DesiredState {
  frontends: FrontendSpec[];
  /** Every backend of a frontend, once per address:port/protocol. */
  backends: DesiredBackend[];
  warnings: LbWarning[];
}

/** Something that is not programmed as asked, and why. */
export interface LbWarning {
  /** namespace/name, when it concerns one service */
  service?: string;
  message: string;
}

export interface DesiredConfig {
  /** NodePort address; '' = no NodePort frontends. */
  nodeIp: string;
  /** The agent's --lb-mode; a Service's forwarding-mode annotation overrides it. */
  lbMode: 'snat' | 'dsr';
}

export interface ServiceInput {
  spec: ServiceSpec;
  ports: PortBackends[];
}

const RANK: Record<BackendState, number> = { active: 2, terminating: 1, maintenance: 0 };

/**
 * The port's backends that get new connections under a traffic policy
 * (`merged[i]` is `all[i]` as a DesiredBackend); `merged` itself when that
 * is all of them (the common case: no copy).
 */
function scopeBackends(all: readonly BackendSpec[], merged: DesiredBackend[], policy: TrafficPolicy | undefined): DesiredBackend[] {
  let i = 0;
  while (i < all.length && all[i]!.state === 'active' && (policy !== 'Local' || all[i]!.local)) i++;
  if (i === all.length) return merged;
  const out = merged.slice(0, i);
  for (; i < all.length; i++) {
    const b = all[i]!;
    if (b.state === 'active' && (policy !== 'Local' || b.local)) out.push(merged[i]!);
  }
  return out;
}

export function frontendKey(f: { addr: string; port: number; protocol: string }): string {
  return `${f.addr}:${f.port}/${f.protocol}`;
}

export const PROTO_NUM: Record<LbProtocol, number> = { TCP: 6, UDP: 17 };

/** The frontend addresses of a service port other than the ClusterIP and NodePort ones. */
function externalAddrs(s: ServiceSpec): Array<{ addr: string; type: FrontendType }> {
  const out: Array<{ addr: string; type: FrontendType }> = [];
  for (const ip of s.externalIPs) out.push({ addr: ip, type: 'ExternalIP' });
  if (s.type === 'LoadBalancer') {
    if (s.loadBalancerIP) out.push({ addr: s.loadBalancerIP, type: 'LoadBalancer' });
    for (const ing of s.loadBalancerIngress) if (ing.ip && ing.ipMode !== 'Proxy') out.push({ addr: ing.ip, type: 'LoadBalancer' });
  }
  return out;
}

/** The desired load-balancer state of `services` (any order; processed by namespace/name). */
export function desiredState(services: readonly ServiceInput[], cfg: DesiredConfig): DesiredState {
  const frontends: FrontendSpec[] = [];
  const byKey = new Map<number, FrontendSpec>();
  const backends: DesiredBackend[] = [];
  let expected = 0;
  for (const s of services) for (const p of s.ports) expected += p.backends.length;
  const backendIndex = new TupleIndex(expected); // tuple → index in backends + 1
  const warnings: LbWarning[] = [];
  const sorted = services.map((input) => ({ name: serviceName(input.spec), input }));
  sorted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  for (const { name, input: { spec: s, ports } } of sorted) {
    if (s.headless || s.clusterIP === undefined) continue;
    const affinity = s.sessionAffinity === 'ClientIP' ? MB_SVC_F_AFFINITY : 0;
    const timeout = affinity ? (s.sessionAffinityTimeoutSeconds ?? 0) : 0;
    const dsr = (s.forwardingMode ?? cfg.lbMode) === 'dsr' ? MB_SVC_F_DSR : 0;
    const extLocal = s.externalTrafficPolicy === 'Local' ? MB_SVC_F_LOCAL : 0;
    const intLocal = s.internalTrafficPolicy === 'Local' ? MB_SVC_F_LOCAL : 0;
    const extra = externalAddrs(s);
    if (s.loadBalancerSourceRanges.length > 0) {
      warnings.push({ service: name, message: `loadBalancerSourceRanges (${s.loadBalancerSourceRanges.join(', ')}) are not enforced: every client can reach the LoadBalancer frontends` });
    }

    for (const { port: p, backends: all } of ports) {
      if (p.protocol === 'SCTP') {
        warnings.push({ service: name, message: `port ${p.name || p.port} (${p.port}/SCTP): SCTP is not load-balanced (TCP and UDP only); skipped` });
        continue;
      }
      const protocol: LbProtocol = p.protocol;
      const proto = PROTO_NUM[protocol];
      const merged = new Array<DesiredBackend>(all.length);
      for (let i = 0; i < all.length; i++) {
        const b = all[i]!;
        const at = backendIndex.get(b.ip, b.port, proto);
        let m = at === 0 ? undefined : backends[at - 1]!;
        if (!m) {
          m = { addr: b.addr, ip: b.ip, port: b.port, protocol, state: b.state, local: b.local, id: 0 };
          backends.push(m);
          backendIndex.set(b.ip, b.port, proto, backends.length);
        } else {
          if (RANK[b.state] > RANK[m.state]) m.state = b.state;
          m.local ||= b.local;
        }
        merged[i] = m;
      }
      const intBackends = scopeBackends(all, merged, s.internalTrafficPolicy);
      const extBackends = s.externalTrafficPolicy === s.internalTrafficPolicy || s.externalTrafficPolicy === undefined ? intBackends : scopeBackends(all, merged, s.externalTrafficPolicy);
      const make = (type: FrontendType, addr: string, port: number, external: boolean): void => {
        const ip = ip4Num(addr);
        const key = tupleNum(ip, port, proto);
        const prev = byKey.get(key);
        if (prev) {
          if (prev.service !== name) warnings.push({ service: name, message: `frontend ${frontendKey({ addr, port, protocol })} (${type}) is already Service ${prev.service}'s (${prev.type}); ${prev.service} keeps it` });
          return;
        }
        const f: FrontendSpec = {
          service: name,
          portName: p.name,
          type,
          addr,
          ip,
          port,
          protocol,
          int: { flags: FRONTEND_FLAG[type] | affinity | intLocal, affinityTimeout: timeout, backends: intBackends },
        };
        if (external) f.ext = { flags: FRONTEND_FLAG[type] | affinity | MB_SVC_F_MAGLEV | dsr | extLocal, affinityTimeout: timeout, backends: extBackends };
        byKey.set(key, f);
        frontends.push(f);
      };
      make('ClusterIP', s.clusterIP, p.port, false);
      if (p.nodePort !== undefined && s.type !== 'ClusterIP') {
        if (cfg.nodeIp) make('NodePort', cfg.nodeIp, p.nodePort, true);
        else warnings.push({ service: name, message: `NodePort ${p.nodePort}/${protocol} is not served: the node has no address for NodePorts (give the agent --node-ip or --devices)` });
      }
      for (const e of extra) make(e.type, e.addr, p.port, true);
    }
  }
  return { frontends, backends, warnings };
}
