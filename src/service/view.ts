// The API's view of a service (pure): its spec, its backends per port with
// their state, and its frontends as programmed (ids and flags from the map
// layout, which may differ from the wish, e.g. no Maglev table left).
import type { ServiceBackendJSON, ServiceFrontendJSON, ServiceJSON, ServiceScopeJSON } from '../agent/api-types.ts';
import { MB_LB_SCOPE_EXT, MB_LB_SCOPE_INT } from '../datapath/abi.ts';
import type { ServiceSpec } from '../k8s/service.ts';
import type { PortBackends } from './backends.ts';
import type { FrontendSpec, ScopeSpec } from './desired.ts';
import { svcFlagNames } from './flags.ts';
import { tupleNum } from './keys.ts';
import { feKey, PROTO_NUMBER, type Built } from './lbstate.ts';

/** What the view needs of a sync: the map layout, and the backend id of each backend (by tupleNum). */
export interface Programmed {
  built: Built;
  backendIds: ReadonlyMap<number, number>;
}

export function serviceView(spec: ServiceSpec, ports: readonly PortBackends[], frontends: readonly FrontendSpec[], programmed: Programmed | undefined, lbMode: 'snat' | 'dsr', warnings: readonly string[] = []): ServiceJSON {
  const built = programmed?.built;
  const scope = (f: FrontendSpec, s: ScopeSpec, n: number): ServiceScopeJSON => {
    const programmed = built?.state.frontends.get(feKey({ addr: f.ip, port: f.port, proto: PROTO_NUMBER[f.protocol], scope: n }));
    return { flags: svcFlagNames(programmed?.head?.flags ?? s.flags), backends: s.backends.map((b) => `${b.addr}:${b.port}`) };
  };
  const lbIPs = spec.type === 'LoadBalancer'
    ? [...new Set([...(spec.loadBalancerIP ? [spec.loadBalancerIP] : []), ...spec.loadBalancerIngress.filter((i) => i.ip && i.ipMode !== 'Proxy').map((i) => i.ip!)])]
    : [];
  const out: ServiceJSON = {
    namespace: spec.namespace,
    name: spec.name,
    type: spec.type,
    headless: spec.headless,
    externalIPs: [...spec.externalIPs],
    loadBalancerIPs: lbIPs,
    selector: { ...spec.selector },
    sessionAffinity: spec.sessionAffinity,
    internalTrafficPolicy: spec.internalTrafficPolicy,
    forwardingMode: spec.forwardingMode ?? lbMode,
    ports: ports.map(({ port, backends }) => ({
      name: port.name,
      protocol: port.protocol,
      port: port.port,
      targetPort: port.targetPort,
      ...(port.nodePort !== undefined ? { nodePort: port.nodePort } : {}),
      backends: backends.map((b) => {
        const j: ServiceBackendJSON = { address: b.addr, port: b.port, protocol: b.protocol, state: b.state, local: b.local, source: b.source };
        if (b.nodeName !== undefined) j.nodeName = b.nodeName;
        if (b.pod !== undefined) j.pod = b.pod;
        const id = b.protocol === 'SCTP' ? undefined : programmed?.backendIds.get(tupleNum(b.ip, b.port, PROTO_NUMBER[b.protocol]));
        if (id !== undefined) j.backendId = id;
        return j;
      }),
    })),
    frontends: frontends.map((f) => {
      const j: ServiceFrontendJSON = {
        address: f.addr,
        port: f.port,
        protocol: f.protocol,
        type: f.type,
        portName: f.portName,
        revNatId: built?.revNatOf.get(tupleNum(f.ip, f.port, PROTO_NUMBER[f.protocol])) ?? 0,
        internal: scope(f, f.int, MB_LB_SCOPE_INT),
      };
      if (f.ext) j.external = scope(f, f.ext, MB_LB_SCOPE_EXT);
      return j;
    }),
  };
  if (spec.clusterIP !== undefined) out.clusterIP = spec.clusterIP;
  if (spec.sessionAffinityTimeoutSeconds !== undefined) out.sessionAffinityTimeoutSeconds = spec.sessionAffinityTimeoutSeconds;
  if (spec.externalTrafficPolicy !== undefined) out.externalTrafficPolicy = spec.externalTrafficPolicy;
  if (warnings.length > 0) out.warnings = [...warnings];
  return out;
}
